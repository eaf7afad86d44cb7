// The W4A16 kernels' shared pieces (w4a16_v*.cu): the 16-bit types and their magic numbers, the tensor-core
// step, the code-to-fragment conversion, the launch arguments and the epilogue that sums the warps' parts.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "vernier/cuda_w4.hpp"

namespace vernier::cuda::w4 {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA W4A16: ") + what + ": " + cudaGetErrorString(e));
}

constexpr int kWarps = 8;  // warps per block, all on one row tile, splitting its chunks

// What every version takes (device pointers; the tiles of cuda_w4.hpp).
struct Args {
  const uint4* codes;
  const uint32_t* scales;
  const uint64_t* zeros;
  const void* x;  // m × k, 16-bit
  void* y;        // m × n, float32 or 16-bit
  int64_t n, k, m, chunks, groups, group;
  bool xvec;      // x rows are 16-byte aligned (k % 8 == 0): vector loads
  // The group of 32-column part q (column 32q) is min(q / d, groups − 1), d = parts per group, by a
  // multiply-high with part_magic = ⌈2^32 / d⌉: exact for q, d < 2^16 (k < 2^21), since then
  // q · (part_magic · d − 2^32) < 2^32. part_magic 0: d = 1. (A 64-bit division here costs ~100 instructions.)
  uint32_t part_magic;
  int32_t last_group;
  float* ws;            // split-K partial sums (version 4): row_tiles × splits × 512
  unsigned* counters;   // split-K arrivals per row tile, 0 between products
};

__device__ __forceinline__ int32_t group_of_part(const Args& p, uint32_t part) {
  const uint32_t q = p.part_magic ? __umulhi(part, p.part_magic) : part;
  return min(static_cast<int32_t>(q), p.last_group);
}

template <Act A>
struct Types;
template <>
struct Types<Act::bf16> {
  using T = __nv_bfloat16;
  static constexpr uint32_t kMagic = 0x43004300u;  // bf16 128.0 in both halves
};
template <>
struct Types<Act::f16> {
  using T = __half;
  static constexpr uint32_t kMagic = 0x64006400u;  // fp16 1024.0 in both halves
};

__device__ __forceinline__ uint4 load_stream(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

// cp.async: 16/8/4-byte copies from global into shared memory, committed and waited for per thread
__device__ __forceinline__ void cp16_cg(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src));
}
// src_bytes 0 fills the 16 bytes with zeros (nothing is read)
__device__ __forceinline__ void cp16_ca(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp8_ca(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp4_ca(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void wait_all_but() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

__device__ __forceinline__ uint32_t lop_magic(uint32_t v, uint32_t magic) {
  uint32_t r;
  // (v & 0x000F000F) | magic in one LOP3 (immLut 0xEA: (a & b) | c)
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(v), "r"(0x000F000Fu), "r"(magic));
  return r;
}

template <Act A>
__device__ __forceinline__ uint32_t sub2(uint32_t a, uint32_t b) {
  uint32_t r;
  if constexpr (A == Act::bf16) {
    asm("sub.rn.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
  } else {
    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
  }
  return r;
}

template <Act A>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (A == Act::bf16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// 8 activations of row `xrow` from column k0 (zeros past k), as 4 words of 16-bit pairs.
template <typename T>
__device__ __forceinline__ uint4 load_x8(const T* xrow, int64_t k0, int64_t k, bool vec) {
  if (vec && k0 + 8 <= k) return __ldg(reinterpret_cast<const uint4*>(xrow + k0));
  uint16_t h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    h[e] = k0 + e < k ? __ldg(reinterpret_cast<const unsigned short*>(xrow) + k0 + e) : 0;
  }
  return make_uint4(h[0] | (uint32_t{h[1]} << 16), h[2] | (uint32_t{h[3]} << 16), h[4] | (uint32_t{h[5]} << 16),
                    h[6] | (uint32_t{h[7]} << 16));
}

__device__ __forceinline__ uint32_t word(const uint4& v, int s) { return s == 0 ? v.x : s == 1 ? v.y : s == 2 ? v.z : v.w; }


// The 4 A-fragment registers of one mma step from its code word: pairs (u − z) for rows g (registers 0, 2)
// and g + 8 (1, 3), exact in 16 bits.
template <Act A>
__device__ __forceinline__ void fragment(uint32_t w, uint32_t z_lo, uint32_t z_hi, uint32_t (&a)[4]) {
  constexpr uint32_t kMagic = Types<A>::kMagic;
  a[0] = sub2<A>(lop_magic(w, kMagic), z_lo);        // rows g: elements 0, 1
  a[1] = sub2<A>(lop_magic(w >> 4, kMagic), z_hi);   // rows g + 8: elements 2, 3
  a[2] = sub2<A>(lop_magic(w >> 8, kMagic), z_lo);   // rows g: elements 4, 5
  a[3] = sub2<A>(lop_magic(w >> 12, kMagic), z_hi);  // rows g + 8: elements 6, 7
}

// This lane's activation rows, one per n-tile: row nt·8 + g (the B fragment's column), from column `offset`;
// has[nt] is false past m (those lanes feed zeros).
template <Act A, int NT>
__device__ __forceinline__ void activation_rows(const Args& p, int g, int offset, const typename Types<A>::T* (&xrow)[NT], bool (&has)[NT]) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int row = nt * 8 + g;
    has[nt] = row < p.m;
    xrow[nt] = static_cast<const typename Types<A>::T*>(p.x) + static_cast<int64_t>(has[nt] ? row : 0) * p.k + offset;
  }
}

template <int NT>
__device__ __forceinline__ void zero(float (&c)[NT][4]) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.0f;
}

// acc += scale · part: rows g (c0, c1) take s.x, rows g + 8 (c2, c3) s.y; one FMA rounding each.
template <int NT>
__device__ __forceinline__ void scale_add(float (&acc)[NT][4], const float (&part)[NT][4], float2 s) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    acc[nt][0] = fmaf(s.x, part[nt][0], acc[nt][0]);
    acc[nt][1] = fmaf(s.x, part[nt][1], acc[nt][1]);
    acc[nt][2] = fmaf(s.y, part[nt][2], acc[nt][2]);
    acc[nt][3] = fmaf(s.y, part[nt][3], acc[nt][3]);
  }
}

// Two mma steps (32 columns) of code word pair (w0, w1) against each n-tile's 8 activations.
template <Act A, int NT>
__device__ __forceinline__ void two_steps(uint32_t w0, uint32_t w1, uint32_t z_lo, uint32_t z_hi, const uint4 (&xv)[NT], float (&part)[NT][4]) {
#pragma unroll
  for (int t = 0; t < 2; ++t) {
    uint32_t a[4];
    fragment<A>(t == 0 ? w0 : w1, z_lo, z_hi, a);
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) mma<A>(part[nt], a, word(xv[nt], 2 * t), word(xv[nt], 2 * t + 1));
  }
}

// The zero-point pairs (magic + z in both halves) of rows g and g + 8 from a group's 16 zero nibbles.
template <Act A, bool ASYM>
__device__ __forceinline__ void zero_pairs(uint2 zw, int g, uint32_t& z_lo, uint32_t& z_hi) {
  constexpr uint32_t kMagic = Types<A>::kMagic;
  if constexpr (ASYM) {
    const uint32_t zl = (zw.x >> (4 * g)) & 15u, zh = (zw.y >> (4 * g)) & 15u;  // rows 0…7 in the low word, 8…15 high
    z_lo = kMagic + (zl | (zl << 16));
    z_hi = kMagic + (zh | (zh << 16));
  } else {
    z_lo = z_hi = kMagic + 0x00080008u;  // magic + 8 (exact: 128 + 8 and 1024 + 8)
  }
}

__device__ __forceinline__ float2 scale_pair(uint32_t sp) {
  return make_float2(__half2float(__ushort_as_half(static_cast<unsigned short>(sp & 0xFFFFu))),
                     __half2float(__ushort_as_half(static_cast<unsigned short>(sp >> 16))));
}

// One output: float32, or rounded once to the activations' type.
template <Act A, bool F32OUT>
__device__ __forceinline__ void store_out(const Args& p, int64_t at, float v) {
  if constexpr (F32OUT) {
    static_cast<float*>(p.y)[at] = v;
  } else if constexpr (A == Act::bf16) {
    static_cast<__nv_bfloat16*>(p.y)[at] = __float2bfloat16_rn(v);
  } else {
    static_cast<__half*>(p.y)[at] = __float2half_rn(v);
  }
}

// The 8 warps' partial sums (acc: this lane's C fragments) added in shared memory in a fixed order (no
// atomics), and the tile's outputs written: C fragment c0, c1 at row lane/4, columns 2(lane%4) + {0, 1};
// c2, c3 at row lane/4 + 8.
template <Act A, int NT, bool F32OUT>
__device__ __forceinline__ void epilogue(const Args& p, float (&acc)[NT][4], float (&red)[kWarps][NT][32][4]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int j = 0; j < 4; ++j) red[warp][nt][lane][j] = acc[nt][j];
  __syncthreads();
  const int64_t rt = blockIdx.x;
  for (int idx = threadIdx.x; idx < NT * 32 * 4; idx += kWarps * 32) {
    const int nt = idx / 128, l = (idx / 4) % 32, j = idx % 4;
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) s += red[w][nt][l][j];
    const int64_t row = rt * 16 + (l >> 2) + (j >> 1) * 8, tok = nt * 8 + 2 * (l & 3) + (j & 1);
    if (row < p.n && tok < p.m) store_out<A, F32OUT>(p, tok * p.n + row, s);
  }
}

// Every (activation type, mode, n-tiles, output type) instance of a version: L::run<A, ASYM, NT, F32OUT>().
template <class L, Act A, bool ASYM, bool F32OUT>
void by_nt(const L& l, int nt) {
  switch (nt) {
    case 1: l.template run<A, ASYM, 1, F32OUT>(); break;
    case 2: l.template run<A, ASYM, 2, F32OUT>(); break;
    case 3: l.template run<A, ASYM, 3, F32OUT>(); break;
    default: l.template run<A, ASYM, 4, F32OUT>(); break;
  }
}
template <class L, Act A>
void by_mode(const L& l, bool asym, bool f32_out, int nt) {
  if (asym) {
    if (f32_out) by_nt<L, A, true, true>(l, nt);
    else by_nt<L, A, true, false>(l, nt);
  } else {
    if (f32_out) by_nt<L, A, false, true>(l, nt);
    else by_nt<L, A, false, false>(l, nt);
  }
}
template <class L>
void dispatch(const L& l, Act act, bool asym, bool f32_out, int nt) {
  if (act == Act::bf16) by_mode<L, Act::bf16>(l, asym, f32_out, nt);
  else by_mode<L, Act::f16>(l, asym, f32_out, nt);
}

// Launchers, one per version: nt = n-tiles of 8 activation rows (1…4), m ≤ 8·nt.
void launch_v1(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st);
void launch_v2(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st);
void launch_v3(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st);
void launch_v4(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, int splits, bool prefetch, cudaStream_t st);
void launch_v6(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, int splits, cudaStream_t st);
// Resident blocks per SM of a version-4 instance (for the split-K choice).
int blocks_per_sm_v4(const Args& p, Act act, bool asym, bool f32_out, int nt, bool split);

}  // namespace vernier::cuda::w4
