// W4A16 version 2: every lane runs its own cp.async pipeline, kStages chunks deep.
//
// What version 1 taught: the codes were in flight, but each 32-column part then waited on its own scale,
// zero-point and activation loads, one after the other. Here everything a lane needs for a chunk — its 16
// bytes of codes, its two 16-byte activation vectors per n-tile, its scale word and zero points of the
// chunk's two parts — is copied asynchronously into the lane's own slots of shared memory, kStages − 1
// chunks ahead of the one it computes. A lane reads back only what it copied itself, so it needs no
// barrier: cp.async.wait_group alone orders the copy before the use. The codes bypass L1 (.cg: read once);
// the activations and scales go through it (.ca: every row tile reads them).
#include "w4a16_common.cuh"


namespace vernier::cuda::w4 {
namespace {
constexpr int kStages = 4;

// One chunk's slot for one warp, lane-major in each field (16-byte fields: conflict-free).
template <int NT, bool ASYM>
struct Slot {
  static constexpr int kCodes = 0;                       // 32 × 16 B
  static constexpr int kX = 512;                         // [part][nt] × 32 × 16 B
  static constexpr int kScales = kX + 2 * NT * 512;      // [part] × 32 × 4 B
  static constexpr int kZeros = kScales + 2 * 128;       // [part] × 32 × 8 B
  static constexpr int kBytes = kZeros + (ASYM ? 2 * 256 : 0);
};

template <Act A, bool ASYM, int NT, bool F32OUT>
__global__ void __launch_bounds__(kWarps * 32) kernel(const Args p) {
  using T = typename Types<A>::T;
  using S = Slot<NT, ASYM>;
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ float red[kWarps][NT][32][4];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, i = lane & 3;
  const int64_t rt = blockIdx.x;
  const uint4* tile = p.codes + rt * p.chunks * 32;
  const uint32_t* tile_scales = p.scales + rt * p.groups * 8;
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem)) + warp * kStages * S::kBytes;
  const T* x = static_cast<const T*>(p.x);

  // copies chunk c (this warp's j-th) into slot j % kStages; always one commit, so the group count is j
  const auto issue = [&](int64_t c, int slot) {
    if (c < p.chunks) {
      const uint32_t s = base + slot * S::kBytes;
      cp16_cg(s + S::kCodes + lane * 16, tile + c * 32 + lane);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t col0 = c * 64 + 32 * h;
        const int32_t gi = group_of_part(p, static_cast<uint32_t>(2 * c + h));
        cp4_ca(s + S::kScales + h * 128 + lane * 4, tile_scales + gi * 8 + g);
        if constexpr (ASYM) cp8_ca(s + S::kZeros + h * 256 + lane * 8, p.zeros + rt * p.groups + gi);
        const int64_t k0 = col0 + 8 * i;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint32_t dst = s + S::kX + (h * NT + nt) * 512 + lane * 16;
          const int64_t row = nt * 8 + g;
          if (row >= p.m || k0 >= p.k) {
            cp16_ca(dst, p.x, 0);  // zeros
          } else if (p.xvec && k0 + 8 <= p.k) {
            cp16_ca(dst, x + row * p.k + k0, 16);
          } else {  // the matrix's last, partial chunk or unaligned rows: element by element, synchronously
            const unsigned short* xr = reinterpret_cast<const unsigned short*>(x + row * p.k);
            uint32_t w[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const uint32_t lo = k0 + 2 * e < p.k ? xr[k0 + 2 * e] : 0, hi = k0 + 2 * e + 1 < p.k ? xr[k0 + 2 * e + 1] : 0;
              w[e] = lo | (hi << 16);
            }
            asm volatile("st.shared.v4.u32 [%0], {%1,%2,%3,%4};" ::"r"(dst), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]));
          }
        }
      }
    }
    commit();
  };

  float acc[NT][4];
  zero<NT>(acc);
#pragma unroll
  for (int j = 0; j < kStages - 1; ++j) issue(warp + static_cast<int64_t>(j) * kWarps, j);
  for (int64_t j = 0;; ++j) {
    const int64_t c = warp + j * kWarps;
    if (c >= p.chunks) break;
    issue(c + static_cast<int64_t>(kStages - 1) * kWarps, static_cast<int>((j + kStages - 1) % kStages));
    wait_all_but<kStages - 1>();  // chunk j's group is complete
    const uint32_t s = base + static_cast<int>(j % kStages) * S::kBytes;
    uint4 q;
    asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(q.x), "=r"(q.y), "=r"(q.z), "=r"(q.w) : "r"(s + S::kCodes + lane * 16));
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t sp;
      asm volatile("ld.shared.u32 %0, [%1];" : "=r"(sp) : "r"(s + S::kScales + h * 128 + lane * 4));
      const float2 sc = scale_pair(sp);
      uint2 zw = make_uint2(0, 0);
      if constexpr (ASYM) asm volatile("ld.shared.v2.u32 {%0,%1}, [%2];" : "=r"(zw.x), "=r"(zw.y) : "r"(s + S::kZeros + h * 256 + lane * 8));
      uint32_t z_lo, z_hi;
      zero_pairs<A, ASYM>(zw, g, z_lo, z_hi);
      uint4 xv[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];"
                     : "=r"(xv[nt].x), "=r"(xv[nt].y), "=r"(xv[nt].z), "=r"(xv[nt].w)
                     : "r"(s + S::kX + (h * NT + nt) * 512 + lane * 16));
      }
      float part[NT][4];
      zero<NT>(part);
      two_steps<A, NT>(word(q, 2 * h), word(q, 2 * h + 1), z_lo, z_hi, xv, part);
      scale_add<NT>(acc, part, sc);
    }
  }
  wait_all_but<0>();
  epilogue<A, NT, F32OUT>(p, acc, red);
}

struct Launch {
  const Args& p;
  int64_t row_tiles;
  cudaStream_t st;
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    constexpr int bytes = kWarps * kStages * Slot<NT, ASYM>::kBytes;
    check(cudaFuncSetAttribute(kernel<A, ASYM, NT, F32OUT>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), "shared memory limit");
    kernel<A, ASYM, NT, F32OUT><<<static_cast<unsigned>(row_tiles), kWarps * 32, bytes, st>>>(p);
  }
};
}  // namespace

void launch_v2(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st) {
  dispatch(Launch{p, row_tiles, st}, act, asym, f32_out, nt);
}

}  // namespace vernier::cuda::w4
