// The weight-only GEMV (vernier/cuda_wo.hpp): INT8, FP8 E4M3 and NF4 codes times 16-bit activations.
//
// Work split: a block takes R consecutive rows and all of their columns; its warps split the columns into
// 16-byte chunks (warp w, lane l: chunks 32w + l, then + 32·warps, …), so each warp reads 512 contiguous bytes
// of each of its R rows per step, and R rows share one load of the activations (the reason for R: at batch 1
// the activations cost as much L1 traffic per weight as the codes do HBM bytes, and NF4's table lookup costs
// more). Two steps' loads are in flight before the first is used. A block's warps meet once at the end in
// shared memory (no atomics): lane sums by butterfly, warp sums in warp order.
//
// Decoding, per format, exact into float32:
//   INT8  (u, z): the byte b placed under the float exponent of 2^23 (one PRMT) is 2^23 + b exactly, minus
//         (2^23 + z) is u − z exactly: two instructions, no int→float conversion (a quarter-rate unit).
//   FP8   cvt.rn.f16x2.e4m3x2 turns two codes into two FP16 values (exact: E4M3 ⊂ FP16), then to float32.
//   NF4   a 16-entry float32 table in shared memory: 16 words in 16 banks, so 32 lanes' lookups never conflict.
// Each chunk's products are summed in float32 (16 or 32 FMAs in order) and scaled by the group's scale with
// one FMA into the row's running sum, as the reference budget in the tests assumes.
#include <cuda_fp8.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "vernier/cuda_wo.hpp"
#include "vernier/nf4.hpp"
#include "w4a16_common.cuh"

namespace vernier::cuda {

namespace {
using w4::check;
constexpr int kMaxWarps = 8;

struct WoArgs {
  const uint8_t* codes;
  const float* scales;
  const uint8_t* zeros;
  const uint8_t* dq_codes;
  const float* dq_absmax;
  const void* x;  // this pass's first activation row
  void* y;        // this pass's first output row
  int64_t rows, cols, row_bytes, groups;
  uint64_t group_magic;  // g = (c · group_magic) >> 32 for chunk c: ⌈2^32 / chunks per group⌉ (exact for c < 2^16)
  int32_t chunks, nb, dq_shift;  // chunks per row; activation rows in this pass; log2 of the dq block
  float dq_offset;
  bool f32_out, xvec;
};

__constant__ float kNf4Table[16];
__constant__ float kDynamic8Table[256];

template <WoFormat F>
__host__ __device__ constexpr int chunk_values() {
  return F == WoFormat::nf4 ? 32 : 16;
}
// rows per block: 4 while the activations of a chunk fit 32 registers, else 2
template <WoFormat F, int B>
__host__ __device__ constexpr int rows_per_block() {
  return B * chunk_values<F>() <= 32 ? 4 : 2;
}

template <Act A>
__device__ __forceinline__ float2 pair_to_float2(uint32_t p) {
  if constexpr (A == Act::bf16) {
    return make_float2(__uint_as_float(p << 16), __uint_as_float(p & 0xFFFF0000u));
  } else {
    __half2 h;
    memcpy(&h, &p, 4);
    return __half22float2(h);
  }
}

template <Act A>
__device__ __forceinline__ float one_to_float(uint16_t v) {
  if constexpr (A == Act::bf16) {
    return __uint_as_float(static_cast<uint32_t>(v) << 16);
  } else {
    return __half2float(__ushort_as_half(v));
  }
}

// The W activations of chunk c for B rows (rows past the pass's count repeat its last row; their sums are
// not stored). Columns past the matrix read as 0 (their codes are padding of weight 0).
template <Act A, int B, int W>
__device__ __forceinline__ void load_x(const WoArgs& a, int c, float (&xf)[B][W]) {
  const uint16_t* x = static_cast<const uint16_t*>(a.x);
  const int64_t k0 = static_cast<int64_t>(c) * W;
#pragma unroll
  for (int b = 0; b < B; ++b) {
    const uint16_t* xr = x + static_cast<int64_t>(min(b, a.nb - 1)) * a.cols + k0;
    if (a.xvec && k0 + W <= a.cols) {
#pragma unroll
      for (int v = 0; v < W / 8; ++v) {
        const uint4 q = __ldg(reinterpret_cast<const uint4*>(xr) + v);
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 f = pair_to_float2<A>(w[i]);
          xf[b][8 * v + 2 * i] = f.x;
          xf[b][8 * v + 2 * i + 1] = f.y;
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < W; ++j) xf[b][j] = k0 + j < a.cols ? one_to_float<A>(xr[j]) : 0.0f;
    }
  }
}

// Σ_j w_j·x[b][j] over one chunk for each b (the chunk's codes q), the weights' integer or unscaled values.
template <WoFormat F, int B, int W>
__device__ __forceinline__ void chunk_dot(const uint4& q, float zf, const float (&xf)[B][W], const float* lut, float (&part)[B]) {
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int b = 0; b < B; ++b) part[b] = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (F == WoFormat::int8) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float v = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7440u + j)) - zf;
#pragma unroll
        for (int b = 0; b < B; ++b) part[b] = fmaf(v, xf[b][4 * i + j], part[b]);
      }
    } else if constexpr (F == WoFormat::fp8_e4m3) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const __half2_raw r = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(w[i] >> (16 * h)), __NV_E4M3);
        __half2 hh;
        memcpy(&hh, &r, 4);
        const float2 v = __half22float2(hh);
#pragma unroll
        for (int b = 0; b < B; ++b) {
          part[b] = fmaf(v.x, xf[b][4 * i + 2 * h], part[b]);
          part[b] = fmaf(v.y, xf[b][4 * i + 2 * h + 1], part[b]);
        }
      }
    } else {
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const float v = lut[(w[i] >> (4 * n)) & 15u];
#pragma unroll
        for (int b = 0; b < B; ++b) part[b] = fmaf(v, xf[b][8 * i + n], part[b]);
      }
    }
  }
}

// the sum over the warp's 32 lanes (butterfly), in every lane
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// y[o] = v, in float32 or rounded once to the activations' 16-bit type
template <Act A>
__device__ __forceinline__ void store_out(const WoArgs& a, int64_t o, float v) {
  if (a.f32_out) {
    static_cast<float*>(a.y)[o] = v;
  } else if constexpr (A == Act::bf16) {
    static_cast<__nv_bfloat16*>(a.y)[o] = __float2bfloat16_rn(v);
  } else {
    static_cast<__half*>(a.y)[o] = __float2half_rn(v);
  }
}

// D: steps whose loads are issued before the first of them is used (4: version 4; 2: every other version).
template <WoFormat F, bool ASYM, bool DQ, int B, Act A, int D>
__global__ void __launch_bounds__(kMaxWarps * 32) wo_gemv(const WoArgs a) {
  constexpr int W = chunk_values<F>(), R = rows_per_block<F, B>();
  __shared__ float lut[16];
  __shared__ float dmap[DQ ? 256 : 1];
  __shared__ float red[kMaxWarps][R][B];
  if constexpr (F == WoFormat::nf4) {
    if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Table[threadIdx.x];
    if constexpr (DQ) {
      for (int i = threadIdx.x; i < 256; i += blockDim.x) dmap[i] = kDynamic8Table[i];
    }
    __syncthreads();
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  // one row group per block (versions 1, 3–6), or a persistent grid that walks the row groups (version 7)
  const int64_t row_groups = (a.rows + R - 1) / R;
  for (int64_t rg = blockIdx.x; rg < row_groups; rg += gridDim.x) {
    const int64_t row0 = rg * R;
    const int stride = warps * 32;
    float acc[R][B];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
    }
    // rows past the matrix read row 0 again (never stored): no branch around the loads
    const uint8_t* rowp[R];
#pragma unroll
    for (int r = 0; r < R; ++r) rowp[r] = a.codes + (row0 + r < a.rows ? row0 + r : 0) * a.row_bytes;

    // one chunk: its group's scale (and zero) per row, the products, the scaled sum
    auto consume = [&](int c, const uint4 (&q)[R]) {
      float xf[B][W];
      load_x<A, B, W>(a, c, xf);
      const int64_t g = static_cast<int64_t>((static_cast<uint64_t>(c) * a.group_magic) >> 32);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t rr = row0 + r < a.rows ? row0 + r : 0, gi = rr * a.groups + g;
        float s, zf = 0.0f;
        if constexpr (F == WoFormat::nf4 && DQ) {
          s = __fadd_rn(__fmul_rn(dmap[__ldg(a.dq_codes + gi)], __ldg(a.dq_absmax + (gi >> a.dq_shift))), a.dq_offset);
        } else {
          s = __ldg(a.scales + gi);
        }
        if constexpr (F == WoFormat::int8) zf = 8388608.0f + (ASYM ? static_cast<float>(__ldg(a.zeros + gi)) : 128.0f);
        float part[B];
        chunk_dot<F, B, W>(q[r], zf, xf, lut, part);
#pragma unroll
        for (int b = 0; b < B; ++b) acc[r][b] = fmaf(s, part[b], acc[r][b]);
      }
    };

    for (int c = warp * 32 + lane; c < a.chunks; c += D * stride) {
      uint4 q[D][R];
#pragma unroll
      for (int d = 0; d < D; ++d) {
        if (d == 0 || c + d * stride < a.chunks) {
#pragma unroll
          for (int r = 0; r < R; ++r) q[d][r] = w4::load_stream(reinterpret_cast<const uint4*>(rowp[r]) + c + d * stride);
        }
      }
#pragma unroll
      for (int d = 0; d < D; ++d) {
        if (d == 0 || c + d * stride < a.chunks) consume(c + d * stride, q[d]);
      }
    }

#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int b = 0; b < B; ++b) {
        const float v = warp_sum(acc[r][b]);
        if (lane == 0) red[warp][r][b] = v;
      }
    }
    __syncthreads();
    if (threadIdx.x < R * B) {
      const int r = threadIdx.x / B, b = threadIdx.x % B;
      const int64_t row = row0 + r;
      if (row < a.rows && b < a.nb) {
        float v = 0.0f;
        for (int w = 0; w < warps; ++w) v += red[w][r][b];
        store_out<A>(a, static_cast<int64_t>(b) * a.rows + row, v);
      }
    }
    if (rg + gridDim.x < row_groups) __syncthreads();  // red is written again by the next row group
  }
}


// Version 2: every warp streams its own row groups (R rows × all columns, no cross-warp sum) through a
// per-lane cp.async pipeline kStages steps deep — the codes, scales and zero points (or NF4's absmax codes
// and blocks) of step t + kStages − 1 are in flight while step t is multiplied — over a persistent grid of
// the chip's resident warps, so loads never wait for a block's start or its end. A lane reads back only
// the bytes its own copies wrote: cp.async.wait_group orders them, no barrier is needed.
constexpr int kStages = 4;
constexpr int kV2Warps = 4;

template <WoFormat F, bool ASYM, bool DQ, int B>
struct Stage {
  static constexpr int R = rows_per_block<F, B>();
  static constexpr int kCodes = 0;                      // [R][32] × 16 B
  static constexpr int kScales = R * 512;               // [R][32] × 4 B: scale, or NF4 dq block absmax
  static constexpr int kWords = kScales + R * 128;      // [R][32] × 4 B: the word holding the zero point / absmax code
  static constexpr int kBytes = kWords + ((ASYM || DQ) ? R * 128 : 0);
};

template <WoFormat F, bool ASYM, bool DQ, int B, Act A>
__global__ void __launch_bounds__(kV2Warps * 32) wo_gemv_v2(const WoArgs a) {
  constexpr int W = chunk_values<F>();
  using St = Stage<F, ASYM, DQ, B>;
  constexpr int R = St::R;
  extern __shared__ __align__(16) unsigned char stages[];
  __shared__ float lut[16];
  __shared__ float dmap[DQ ? 256 : 1];
  if constexpr (F == WoFormat::nf4) {
    if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Table[threadIdx.x];
    if constexpr (DQ) {
      for (int i = threadIdx.x; i < 256; i += blockDim.x) dmap[i] = kDynamic8Table[i];
    }
    __syncthreads();
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  unsigned char* mine = stages + warp * (kStages * St::kBytes);
  const uint32_t mine_s = static_cast<uint32_t>(__cvta_generic_to_shared(mine));
  const int64_t groups_total = (a.rows + R - 1) / R, step_g = static_cast<int64_t>(gridDim.x) * kV2Warps;
  const int T = (a.chunks + 31) / 32;
  int64_t ig = static_cast<int64_t>(blockIdx.x) * kV2Warps + warp, cg = ig;  // issue and consume positions
  int it = 0, ct = 0, islot = 0, cslot = 0;

  auto issue = [&]() {
    if (ig < groups_total) {
      const int c = 32 * it + lane;
      const uint32_t base = mine_s + islot * St::kBytes;
      if (c < a.chunks) {
        const int64_t g = static_cast<int64_t>((static_cast<uint64_t>(c) * a.group_magic) >> 32);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const int64_t row = ig * R + r;
          if (row < a.rows) {
            const int64_t gi = row * a.groups + g;
            w4::cp16_cg(base + St::kCodes + (r * 32 + lane) * 16, a.codes + row * a.row_bytes + static_cast<int64_t>(c) * 16);
            if constexpr (DQ) {
              w4::cp4_ca(base + St::kScales + (r * 32 + lane) * 4, a.dq_absmax + (gi >> a.dq_shift));
              w4::cp4_ca(base + St::kWords + (r * 32 + lane) * 4, a.dq_codes + (gi & ~int64_t{3}));
            } else {
              w4::cp4_ca(base + St::kScales + (r * 32 + lane) * 4, a.scales + gi);
              if constexpr (ASYM) w4::cp4_ca(base + St::kWords + (r * 32 + lane) * 4, a.zeros + (gi & ~int64_t{3}));
            }
          }
        }
      }
      if (++it == T) {
        it = 0;
        ig += step_g;
      }
      islot = islot + 1 == kStages ? 0 : islot + 1;
    }
    w4::commit();  // an empty group past the end keeps the count
  };

  float acc[R][B];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
  }
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) issue();
  while (cg < groups_total) {
    issue();
    w4::wait_all_but<kStages - 1>();
    const int c = 32 * ct + lane;
    if (c < a.chunks) {
      const unsigned char* st = mine + cslot * St::kBytes;
      const int64_t g = static_cast<int64_t>((static_cast<uint64_t>(c) * a.group_magic) >> 32);
      float xf[B][W];
      load_x<A, B, W>(a, c, xf);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t gi = (cg * R + r) * a.groups + g;
        const uint4 q = *reinterpret_cast<const uint4*>(st + St::kCodes + (r * 32 + lane) * 16);
        float s = *reinterpret_cast<const float*>(st + St::kScales + (r * 32 + lane) * 4), zf = 0.0f;
        if constexpr (DQ) {
          const uint32_t word = *reinterpret_cast<const uint32_t*>(st + St::kWords + (r * 32 + lane) * 4);
          s = __fadd_rn(__fmul_rn(dmap[(word >> (8 * (gi & 3))) & 0xFFu], s), a.dq_offset);
        }
        if constexpr (F == WoFormat::int8) {
          float z = 128.0f;
          if constexpr (ASYM) z = static_cast<float>((*reinterpret_cast<const uint32_t*>(st + St::kWords + (r * 32 + lane) * 4) >> (8 * (gi & 3))) & 0xFFu);
          zf = 8388608.0f + z;
        }
        float part[B];
        chunk_dot<F, B, W>(q, zf, xf, lut, part);
#pragma unroll
        for (int b = 0; b < B; ++b) acc[r][b] = fmaf(s, part[b], acc[r][b]);
      }
    }
    cslot = cslot + 1 == kStages ? 0 : cslot + 1;
    if (++ct == T) {  // the row group is done: the lanes' sums, stored by lane 0
#pragma unroll
      for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int b = 0; b < B; ++b) {
          const float v = warp_sum(acc[r][b]);
          acc[r][b] = 0.0f;
          const int64_t row = cg * R + r;
          if (lane == 0 && row < a.rows && b < a.nb) {
            store_out<A>(a, static_cast<int64_t>(b) * a.rows + row, v);
          }
        }
      }
      ct = 0;
      cg += step_g;
    }
  }
  w4::wait_all_but<0>();  // no copy outlives the block
}

template <WoFormat F, bool ASYM, bool DQ, int B, Act A>
void launch_v2_act(const WoArgs& a, int sms, cudaStream_t s) {
  constexpr int R = rows_per_block<F, B>();
  const int smem = kV2Warps * kStages * Stage<F, ASYM, DQ, B>::kBytes;
  auto kernel = wo_gemv_v2<F, ASYM, DQ, B, A>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "shared memory size");
  int per_sm = 0;
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kV2Warps * 32, smem), "occupancy");
  const int64_t groups = (a.rows + R - 1) / R;
  const int64_t blocks = std::min<int64_t>((groups + kV2Warps - 1) / kV2Warps, static_cast<int64_t>(std::max(per_sm, 1)) * sms);
  kernel<<<static_cast<unsigned>(blocks), kV2Warps * 32, smem, s>>>(a);
}

template <WoFormat F, bool ASYM, bool DQ, int B>
void launch_v2_b(const WoArgs& a, Act act, int sms, cudaStream_t s) {
  if (act == Act::bf16) {
    launch_v2_act<F, ASYM, DQ, B, Act::bf16>(a, sms, s);
  } else {
    launch_v2_act<F, ASYM, DQ, B, Act::f16>(a, sms, s);
  }
}

// Versions 1 and 3–7 are one kernel. Version 1: as many warps as a row has 32-chunk steps, up to 8, two
// steps in flight. Versions 3–7 ask for at least 4 (3, 4), 8 (5, 7) or 16 (6) chunks per lane and row:
// fewer warps per block, so more blocks per SM and a longer stream per lane (at K = 8192 version 1 gives
// each lane 2), with 2 steps in flight, or 4 (version 4). Version 7 is version 5 on a persistent grid
// (persistent_sms > 0: the blocks that fit on the chip at once, walking the row groups). Measured on the
// H200 (docs/kernels-cuda.md): 5 is the fastest for INT8 and FP8, 3 for NF4 (whose table lookups make a
// longer stream per lane cost more than the extra blocks save).
template <WoFormat F, bool ASYM, bool DQ, int B, int D>
void launch_b(const WoArgs& a, Act act, int chunks_per_lane, cudaStream_t s, int persistent_sms = 0) {
  constexpr int R = rows_per_block<F, B>();
  const int per_warp = 32 * chunks_per_lane;
  const int warps = std::clamp((a.chunks + per_warp - 1) / per_warp, 1, kMaxWarps);
  const auto kernel = act == Act::bf16 ? wo_gemv<F, ASYM, DQ, B, Act::bf16, D> : wo_gemv<F, ASYM, DQ, B, Act::f16, D>;
  int64_t blocks = (a.rows + R - 1) / R;
  if (persistent_sms > 0) {
    int per_sm = 0;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, warps * 32, 0), "occupancy");
    blocks = std::min<int64_t>(blocks, static_cast<int64_t>(std::max(per_sm, 1)) * persistent_sms);
  }
  kernel<<<static_cast<unsigned>(blocks), static_cast<unsigned>(warps * 32), 0, s>>>(a);
}

template <WoFormat F, bool ASYM, bool DQ, int B>
void launch_version(const WoArgs& a, Act act, int version, int sms, cudaStream_t s) {
  if (version == 2) {
    launch_v2_b<F, ASYM, DQ, B>(a, act, sms, s);
  } else if (version == 3) {
    launch_b<F, ASYM, DQ, B, 2>(a, act, 4, s);
  } else if (version == 4) {
    launch_b<F, ASYM, DQ, B, 4>(a, act, 4, s);
  } else if (version == 5) {
    launch_b<F, ASYM, DQ, B, 2>(a, act, 8, s);
  } else if (version == 6) {
    launch_b<F, ASYM, DQ, B, 2>(a, act, 16, s);
  } else if (version == 7) {
    launch_b<F, ASYM, DQ, B, 2>(a, act, 8, s, sms);
  } else {
    launch_b<F, ASYM, DQ, B, 2>(a, act, 1, s);
  }
}

template <WoFormat F, bool ASYM, bool DQ>
void launch(const WoArgs& a, Act act, int version, int sms, cudaStream_t s) {
  if (a.nb == 1) {
    launch_version<F, ASYM, DQ, 1>(a, act, version, sms, s);
  } else if (a.nb == 2 || F == WoFormat::nf4) {
    launch_version<F, ASYM, DQ, 2>(a, act, version, sms, s);
  } else {
    if constexpr (F != WoFormat::nf4) launch_version<F, ASYM, DQ, 4>(a, act, version, sms, s);
  }
}

void put(void** dst, size_t* n, const void* src, size_t bytes, cudaMemcpyKind kind) {
  *n = bytes;
  if (bytes == 0) return;
  check(cudaMalloc(dst, bytes), "cudaMalloc");
  check(cudaMemcpy(*dst, src, bytes, kind), "copy");
}

// The formats' tables into the current device's constant memory (1 KiB; every construction, so any device
// a matrix is made on has them).
void upload_tables() {
  check(cudaMemcpyToSymbol(kNf4Table, kNf4Levels.data(), sizeof(float) * 16), "NF4 table");
  check(cudaMemcpyToSymbol(kDynamic8Table, dynamic8_map().data(), sizeof(float) * 256), "dynamic map");
}
}  // namespace

WoMatrix::WoMatrix(const WoLayout& l)
    : format_(l.format), rows_(l.rows), cols_(l.cols), groups_(l.groups), group_(l.group), row_bytes_(l.row_bytes), dq_block_(l.dq_block),
      asym_(l.asym), dq_(l.dq), dq_offset_(l.dq_offset), bytes_(l.bytes()) {
  if (l.dq && (l.dq_block & (l.dq_block - 1)) != 0) throw std::invalid_argument("weight-only GEMV: double-quantization blocks must be a power of two");
  upload_tables();
  int dev = 0;
  check(cudaGetDevice(&dev), "current device");
  check(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, dev), "multiprocessor count");
  try {
    put(&codes_.p, &codes_.n, l.codes.data(), l.codes.size(), cudaMemcpyHostToDevice);
    put(&scales_.p, &scales_.n, l.scales.data(), l.scales.size() * 4, cudaMemcpyHostToDevice);
    // byte arrays padded to whole words: version 2 copies the word that holds a byte
    std::vector<uint8_t> zeros = l.zeros, dqc = l.dq_codes;
    zeros.resize((zeros.size() + 3) / 4 * 4);
    dqc.resize((dqc.size() + 3) / 4 * 4);
    put(&zeros_.p, &zeros_.n, zeros.data(), zeros.size(), cudaMemcpyHostToDevice);
    put(&dq_codes_.p, &dq_codes_.n, dqc.data(), dqc.size(), cudaMemcpyHostToDevice);
    put(&dq_absmax_.p, &dq_absmax_.n, l.dq_absmax.data(), l.dq_absmax.size() * 4, cudaMemcpyHostToDevice);
  } catch (...) {
    release();
    throw;
  }
}

WoMatrix WoMatrix::clone() const {
  WoMatrix c;
  c.format_ = format_;
  c.rows_ = rows_;
  c.cols_ = cols_;
  c.groups_ = groups_;
  c.group_ = group_;
  c.row_bytes_ = row_bytes_;
  c.dq_block_ = dq_block_;
  c.asym_ = asym_;
  c.dq_ = dq_;
  c.dq_offset_ = dq_offset_;
  c.bytes_ = bytes_;
  c.sms_ = sms_;
  put(&c.codes_.p, &c.codes_.n, codes_.p, codes_.n, cudaMemcpyDeviceToDevice);
  put(&c.scales_.p, &c.scales_.n, scales_.p, scales_.n, cudaMemcpyDeviceToDevice);
  put(&c.zeros_.p, &c.zeros_.n, zeros_.p, zeros_.n, cudaMemcpyDeviceToDevice);
  put(&c.dq_codes_.p, &c.dq_codes_.n, dq_codes_.p, dq_codes_.n, cudaMemcpyDeviceToDevice);
  put(&c.dq_absmax_.p, &c.dq_absmax_.n, dq_absmax_.p, dq_absmax_.n, cudaMemcpyDeviceToDevice);
  return c;
}

WoMatrix::WoMatrix(WoMatrix&& o) noexcept
    : format_(o.format_), rows_(o.rows_), cols_(o.cols_), groups_(o.groups_), group_(o.group_), row_bytes_(o.row_bytes_), dq_block_(o.dq_block_),
      asym_(o.asym_), dq_(o.dq_), dq_offset_(o.dq_offset_), bytes_(o.bytes_), sms_(o.sms_), codes_(o.codes_), scales_(o.scales_), zeros_(o.zeros_),
      dq_codes_(o.dq_codes_), dq_absmax_(o.dq_absmax_) {
  o.codes_ = o.scales_ = o.zeros_ = o.dq_codes_ = o.dq_absmax_ = Buf{};
}

void WoMatrix::release() {
  for (Buf* b : {&codes_, &scales_, &zeros_, &dq_codes_, &dq_absmax_}) {
    if (b->p) cudaFree(b->p);
    *b = Buf{};
  }
}

WoMatrix::~WoMatrix() { release(); }

void WoMatrix::multiply(const void* x, Act act, int64_t m, void* y, bool f32_out, void* stream, int version) const {
  if (version < 0 || version > kWoVersions) throw std::invalid_argument("weight-only GEMV: version " + std::to_string(version) + " (1…" + std::to_string(kWoVersions) + ", 0: the default)");
  if (version == 0) version = wo_default_version(format_);
  if (m < 1) throw std::invalid_argument("weight-only GEMV: m must be at least 1");
  if (!x || !y) throw std::invalid_argument("weight-only GEMV: null activations or outputs");
  const int cv = format_ == WoFormat::nf4 ? 32 : 16;
  const int pass = format_ == WoFormat::nf4 ? 2 : 4;
  const int cpg = static_cast<int>(group_ / cv);  // chunks per group (the last group of a row may be shorter)
  WoArgs a{};
  a.codes = static_cast<const uint8_t*>(codes_.p);
  a.scales = static_cast<const float*>(scales_.p);
  a.zeros = static_cast<const uint8_t*>(zeros_.p);
  a.dq_codes = static_cast<const uint8_t*>(dq_codes_.p);
  a.dq_absmax = static_cast<const float*>(dq_absmax_.p);
  a.rows = rows_;
  a.cols = cols_;
  a.row_bytes = row_bytes_;
  a.groups = groups_;
  a.chunks = static_cast<int32_t>(row_bytes_ / 16);
  // one group per row: always group 0 (its chunks per group need not divide the padded row)
  a.group_magic = groups_ == 1 ? 0 : ((uint64_t{1} << 32) + static_cast<uint64_t>(cpg) - 1) / static_cast<uint64_t>(cpg);
  int shift = 0;
  while ((int64_t{1} << shift) < dq_block_) ++shift;
  a.dq_shift = shift;
  a.dq_offset = dq_offset_;
  a.f32_out = f32_out;
  a.xvec = cols_ % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const size_t ysize = f32_out ? 4 : 2;
  auto s = static_cast<cudaStream_t>(stream);
  for (int64_t b0 = 0; b0 < m; b0 += pass) {
    a.nb = static_cast<int32_t>(std::min<int64_t>(pass, m - b0));
    a.x = static_cast<const uint16_t*>(x) + b0 * cols_;
    a.y = static_cast<char*>(y) + static_cast<size_t>(b0 * rows_) * ysize;
    switch (format_) {
      case WoFormat::int8:
        asym_ ? launch<WoFormat::int8, true, false>(a, act, version, sms_, s) : launch<WoFormat::int8, false, false>(a, act, version, sms_, s);
        break;
      case WoFormat::fp8_e4m3:
        launch<WoFormat::fp8_e4m3, false, false>(a, act, version, sms_, s);
        break;
      case WoFormat::nf4:
        dq_ ? launch<WoFormat::nf4, false, true>(a, act, version, sms_, s) : launch<WoFormat::nf4, false, false>(a, act, version, sms_, s);
        break;
    }
  }
  check(cudaGetLastError(), "weight-only GEMV launch");
}

}  // namespace vernier::cuda
