// W4A16 version 3: fewer instructions per byte.
//
// What versions 1 and 2 taught (docs/kernels-cuda.md): at m = 1 the H200 must issue at most ~120
// instructions per warp per 512-byte chunk of codes to stream at 80% of its read bandwidth (4.3 TB/s over
// 132 SMs × 4 schedulers × 1.98 GHz ≈ 4 bytes per issued instruction), and version 1 spent ~130: each
// 32-column part loaded and unpacked its own scale and zero points and had its own fresh accumulator.
// Version 2's asynchronous copies added instructions and did not help. Here a warp takes units of two
// adjacent chunks (128 columns) and, where the group size allows (a multiple of 64 or 128, or one group
// per row), loads the metadata and runs the fresh accumulator once per span of 64 or 128 columns instead
// of per 32 — the same arithmetic (a span lies inside one group), ~40% fewer instructions.
#include "w4a16_common.cuh"

namespace vernier::cuda::w4 {
namespace {
constexpr int kUnitsInFlight = 2;  // units a warp loads at once: 4 chunks, 64 bytes per lane

template <typename T>
__device__ __forceinline__ uint4 load_x8(const T* xrow, int64_t k0, int64_t k, bool vec) {
  if (vec && k0 + 8 <= k) return __ldg(reinterpret_cast<const uint4*>(xrow + k0));
  uint16_t h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = k0 + e < k ? __ldg(reinterpret_cast<const unsigned short*>(xrow) + k0 + e) : 0;
  return make_uint4(h[0] | (uint32_t{h[1]} << 16), h[2] | (uint32_t{h[3]} << 16), h[4] | (uint32_t{h[5]} << 16), h[6] | (uint32_t{h[7]} << 16));
}

// SPAN: columns that share one group's metadata and one fresh accumulator (32, 64 or 128).
template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN>
__global__ void __launch_bounds__(kWarps * 32) kernel(const Args p) {
  using T = typename Types<A>::T;
  constexpr int kSpans = 128 / SPAN, kPartsPerSpan = SPAN / 32;
  __shared__ float red[kWarps][NT][32][4];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, i = lane & 3;
  const int rt = blockIdx.x;
  const int chunks = static_cast<int>(p.chunks), units = (chunks + 1) / 2;
  const uint4* tile = p.codes + static_cast<int64_t>(rt) * chunks * 32 + lane;
  const uint32_t* tile_scales = p.scales + static_cast<int64_t>(rt) * p.groups * 8 + g;
  const uint2* tile_zeros = reinterpret_cast<const uint2*>(p.zeros + static_cast<int64_t>(rt) * p.groups);
  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
  const T* xrow[NT];
  bool has[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int row = nt * 8 + g;  // this lane's activation row: the B fragment's column
    has[nt] = row < p.m;
    xrow[nt] = static_cast<const T*>(p.x) + static_cast<int64_t>(has[nt] ? row : 0) * p.k + 8 * i;
  }
  for (int u0 = warp; u0 < units; u0 += kWarps * kUnitsInFlight) {
    uint4 q[kUnitsInFlight][2];
#pragma unroll
    for (int uu = 0; uu < kUnitsInFlight; ++uu) {
#pragma unroll
      for (int ci = 0; ci < 2; ++ci) {
        const int c = 2 * (u0 + uu * kWarps) + ci;
        q[uu][ci] = c < chunks ? load_stream(tile + c * 32) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int uu = 0; uu < kUnitsInFlight; ++uu) {
      const int unit = u0 + uu * kWarps;
      if (unit >= units) break;
#pragma unroll
      for (int sp = 0; sp < kSpans; ++sp) {
        const int part0 = unit * 4 + sp * kPartsPerSpan;  // 32-column parts
        if (part0 / 2 >= chunks) break;  // the last unit's missing chunk
        const int32_t gi = group_of_part(p, static_cast<uint32_t>(part0));
        const float2 s = scale_pair(__ldg(tile_scales + gi * 8));
        uint32_t z_lo, z_hi;
        zero_pairs<A, ASYM>(ASYM ? __ldg(tile_zeros + gi) : make_uint2(0, 0), g, z_lo, z_hi);
        float part[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) part[nt][0] = part[nt][1] = part[nt][2] = part[nt][3] = 0.0f;
#pragma unroll
        for (int j = 0; j < kPartsPerSpan; ++j) {
          const int pi = sp * kPartsPerSpan + j;  // part in the unit: chunk pi / 2, half pi % 2
          if ((unit * 2 + pi / 2) >= chunks) break;
          const int64_t col0 = static_cast<int64_t>(part0 + j) * 32;
          uint4 xv[NT];
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) xv[nt] = has[nt] ? load_x8(xrow[nt], col0, p.k - 8 * i, p.xvec) : make_uint4(0, 0, 0, 0);
#pragma unroll
          for (int t = 0; t < 2; ++t) {
            uint32_t a[4];
            fragment<A>(word(q[uu][pi / 2], 2 * (pi % 2) + t), z_lo, z_hi, a);
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) mma<A>(part[nt], a, word(xv[nt], 2 * t), word(xv[nt], 2 * t + 1));
          }
        }
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          acc[nt][0] = fmaf(s.x, part[nt][0], acc[nt][0]);
          acc[nt][1] = fmaf(s.x, part[nt][1], acc[nt][1]);
          acc[nt][2] = fmaf(s.y, part[nt][2], acc[nt][2]);
          acc[nt][3] = fmaf(s.y, part[nt][3], acc[nt][3]);
        }
      }
    }
  }
  epilogue<A, NT, F32OUT>(p, acc, red);
}

struct Launch {
  const Args& p;
  int64_t row_tiles;
  cudaStream_t st;
  int span;
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    const dim3 grid(static_cast<unsigned>(row_tiles)), block(kWarps * 32);
    if (span == 128) kernel<A, ASYM, NT, F32OUT, 128><<<grid, block, 0, st>>>(p);
    else if (span == 64) kernel<A, ASYM, NT, F32OUT, 64><<<grid, block, 0, st>>>(p);
    else kernel<A, ASYM, NT, F32OUT, 32><<<grid, block, 0, st>>>(p);
  }
};
}  // namespace

void launch_v3(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st) {
  // a span must lie inside one group: 128 where groups are multiples of 128 or one per row, else 64 or 32
  const int span = p.groups == 1 || p.group % 128 == 0 ? 128 : p.group % 64 == 0 ? 64 : 32;
  dispatch(Launch{p, row_tiles, st, span}, act, asym, f32_out, nt);
}

}  // namespace vernier::cuda::w4
