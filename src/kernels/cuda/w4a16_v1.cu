// W4A16 version 1: registers only. Each warp loads 4 chunks' codes (16 bytes per lane each) at once, then
// for each 32-column part loads its scale, zero points and activations and runs two mma steps. Correct, and
// kept for what it teaches (docs/kernels-cuda.md has the measurements).
#include "w4a16_common.cuh"

namespace vernier::cuda::w4 {
namespace {
constexpr int kUnroll = 4;

template <Act A, bool ASYM, int NT, bool F32OUT>
__global__ void __launch_bounds__(kWarps * 32) kernel(const Args p) {
  using T = typename Types<A>::T;
  __shared__ float red[kWarps][NT][32][4];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, i = lane & 3;
  const int64_t rt = blockIdx.x;
  const uint4* tile = p.codes + rt * p.chunks * 32;
  const uint32_t* tile_scales = p.scales + rt * p.groups * 8;
  float acc[NT][4];
  zero<NT>(acc);
  const T* xrow[NT];
  bool has[NT];
  activation_rows<A, NT>(p, g, 0, xrow, has);
  for (int64_t c0 = warp; c0 < p.chunks; c0 += kWarps * kUnroll) {
    uint4 q[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + u * kWarps;
      q[u] = c < p.chunks ? load_stream(tile + c * 32 + lane) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + u * kWarps;
      if (c >= p.chunks) break;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t col0 = c * 64 + 32 * h;
        const int32_t gi = group_of_part(p, static_cast<uint32_t>(2 * c + h));
        const float2 s = scale_pair(__ldg(tile_scales + gi * 8 + g));
        uint32_t z_lo, z_hi;
        zero_pairs<A, ASYM>(ASYM ? __ldg(reinterpret_cast<const uint2*>(p.zeros + rt * p.groups + gi)) : make_uint2(0, 0), g, z_lo, z_hi);
        uint4 xv[NT];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) xv[nt] = has[nt] ? load_x8(xrow[nt], col0 + 8 * i, p.k, p.xvec) : make_uint4(0, 0, 0, 0);
        float part[NT][4];
        zero<NT>(part);
        two_steps<A, NT>(word(q[u], 2 * h), word(q[u], 2 * h + 1), z_lo, z_hi, xv, part);
        scale_add<NT>(acc, part, s);
      }
    }
  }
  epilogue<A, NT, F32OUT>(p, acc, red);
}

struct Launch {
  const Args& p;
  int64_t row_tiles;
  cudaStream_t st;
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    kernel<A, ASYM, NT, F32OUT><<<static_cast<unsigned>(row_tiles), kWarps * 32, 0, st>>>(p);
  }
};
}  // namespace

void launch_v1(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st) {
  dispatch(Launch{p, row_tiles, st}, act, asym, f32_out, nt);
}

}  // namespace vernier::cuda::w4
