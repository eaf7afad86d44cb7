// AVX-512 kernels outside Highway for vernier's 4-bit integer codes (groups of a multiple of 128
// values) against activations that are not float32: bfloat16 (AVX512-BF16) and Q8_0 (AVX512-VNNI).
// Raw intrinsics in sections compiled for the extension by target pragma (Highway 1.0.3 has no
// target with AVX512-BF16, and its AVX3_DL target names the VEX avxvnni, see dot_vnni.cpp); each
// is used only where the CPU reports the extension.
//
// Why: with float32 activations every weight costs one FMA lane, and this machine's FMA
// throughput (≈ 16 lanes per 1.7–2 cycles per core, measured) caps a 4-bit product near 10–12 GB/s
// of codes per core. vdpbf16ps multiplies two values per float lane per instruction, vpdpbusd four
// per int32 lane.
//
// BF16. Decoding needs no shuffle and no conversion: 64 bytes of codes are 32 words of four nibbles,
// and nibble s of a word, masked and OR-ed with 0x4300, is the bfloat16 of 128 + u (0x4300 is 128.0
// and the lowest of its 7 mantissa bits weighs 1 there, so u ∈ [0, 15] lands exactly). One
// vpternlogd does mask and OR (and a signed format's flip); a shift selects the nibble. The 32 lanes
// of vector s hold elements 4k + s, the order x arrives in (XLayout::bf16_words128). Per group the
// kernel sums (128 + c)·x (products of bfloat16 values are exact in float32; vdpbf16ps accumulates
// in float32, round to nearest even, denormal inputs read as zero) and subtracts (128 + z)·X_g with
// X_g the group's sum of the rounded x, then scales: the offset costs about 143/8 more
// reassociation error than the float32 kernels, far inside the rounding of x itself (2^-9).
//
// Q8_0 (W4A8). 64 bytes of codes: the low nibbles (AND) are the even elements, the high ones (shift,
// AND) the odd; x arrives as the even elements' int8 codes, the odd ones', and one float scale per
// int32 lane (XLayout::q8_split128). Two vpdpbusd (u8 code × s8 activation, four per lane) give
// each lane an exact integer sum over 8 values of one Q8_0 block; converted and multiplied by its
// block's scale it joins the group's float sum, which the group scale multiplies; the zero point
// comes off as s·z·X_g (X_g the sum of the dequantized activations), as in the float kernels.
// GCC 12's avx512fintrin.h placeholders trip these warnings (see weight_only_simd.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <utility>

#include "weight_only.hpp"

// What both kernels share (plain AVX-512, so that either extension's code may inline it).
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl")
namespace vernier::kernels {
namespace {
// Each row's running total: per group the scale times the group's integer-offset sum, and the
// zero-point term s·(offset + z)·X_g kept apart and taken off once at the end.
template <int R>
struct RowTotals {
  __m512 total[R];
  float zero_term[R];
  RowTotals() {
    for (int r = 0; r < R; ++r) {
      total[r] = _mm512_setzero_ps();
      zero_term[r] = 0.0f;
    }
  }
  inline void add_group(const WoDesc& d, int64_t row, int64_t j, const __m512* group_sum, float offset, float xsum_j) {
    for (int r = 0; r < R; ++r) {
      const int64_t g = d.group_of(row + r, j);
      const float z = static_cast<float>(d.zeros ? d.zeros[g] : d.fixed_zero);
      total[r] = _mm512_fmadd_ps(_mm512_set1_ps(d.scales[g]), group_sum[r], total[r]);
      zero_term[r] += d.scales[g] * ((offset + z) * xsum_j);
    }
  }
  inline void finish(float* out) const {
    for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(total[r]) - zero_term[r];
  }
};
}  // namespace
}  // namespace vernier::kernels
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")
namespace vernier::kernels {
namespace {

// base = 0x4300 | flip: (n & 15) XOR base is the bfloat16 of 128 + (u XOR flip) (the nibble and
// 0x4300 share no bit), so a signed format's flip costs nothing. Ternary-logic table 0x6A = (A & B) ^ C.
template <int S, int R>
inline void Step(const __m512i* c, __m512i base, const uint16_t* xw, __m512 (*acc)[2]) {
  const auto x = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xw + 32 * S));
  for (int r = 0; r < R; ++r) {
    __m512i w;
    if constexpr (S == 3) {
      w = _mm512_xor_si512(_mm512_srli_epi16(c[r], 12), base);  // the top nibble needs no mask
    } else {
      const __m512i n = S > 0 ? _mm512_srli_epi16(c[r], 4 * S) : c[r];
      w = _mm512_ternarylogic_epi32(n, _mm512_set1_epi16(15), base, 0x6A);
    }
    acc[r][S & 1] = _mm512_dpbf16_ps(acc[r][S & 1], reinterpret_cast<__m512bh>(w), x);
  }
}
template <int R, int... S>
inline void Block(const __m512i* c, __m512i base, const uint16_t* xw, __m512 (*acc)[2], std::integer_sequence<int, S...>) {
  (Step<S, R>(c, base, xw, acc), ...);
}

struct Bf16Kernel {
  static constexpr int kRows = 4;
  template <int R>
  static void Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out) {
    const auto* xw = reinterpret_cast<const uint16_t*>(x);
    const int64_t L = d.group_len;
    const __m512i base = _mm512_set1_epi16(static_cast<int16_t>(0x4300 | d.flip));
    RowTotals<R> totals;
    for (int64_t j = 0; j < d.groups_per_row; ++j) {
      __m512 acc[R][2];
      for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
      for (int64_t i = j * L; i < (j + 1) * L; i += 128) {
        __m512i c[R];
        for (int r = 0; r < R; ++r) {
          // the next R rows' line at this column (see PrefetchNextRows in weight_only_simd.cpp)
          _mm_prefetch(reinterpret_cast<const char*>(codes + (r + R) * d.row_bytes + i / 2), _MM_HINT_T0);
          c[r] = _mm512_loadu_si512(codes + r * d.row_bytes + i / 2);
        }
        Block<R>(c, base, xw + i, acc, std::make_integer_sequence<int, 4>());
      }
      __m512 sum[R];
      for (int r = 0; r < R; ++r) sum[r] = _mm512_add_ps(acc[r][0], acc[r][1]);
      totals.add_group(d, row, j, sum, 128.0f, xsum[j]);
    }
    totals.finish(out);
  }
};

// The same products for one row and up to 8 tokens: a 128-value step's codes decoded once serve
// every token (the prompt's products), and each (row, token) gets exactly the operations
// Bf16Kernel::Rows gives it alone — two accumulators by step parity, the same group totals — so a
// token's results are the same bits in a batch as on its own.
template <int T>
void Bf16TokensT(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, int64_t x_stride, const float* xsum,
                 int64_t xsum_stride, float* out, int64_t out_stride) {
  const int64_t L = d.group_len;
  const __m512i base = _mm512_set1_epi16(static_cast<int16_t>(0x4300 | d.flip));
  RowTotals<1> totals[T];
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    __m512 acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (int64_t i = j * L; i < (j + 1) * L; i += 128) {
      const __m512i c = _mm512_loadu_si512(codes + i / 2);
      for (int s = 0; s < 4; ++s) {
        const __m512i w = s == 3 ? _mm512_xor_si512(_mm512_srli_epi16(c, 12), base)
                                 : _mm512_ternarylogic_epi32(s > 0 ? _mm512_srli_epi16(c, 4 * s) : c, _mm512_set1_epi16(15), base, 0x6A);
        for (int t = 0; t < T; ++t) {
          const auto xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(reinterpret_cast<const uint16_t*>(x + t * x_stride) + i + 32 * s));
          acc[t][s & 1] = _mm512_dpbf16_ps(acc[t][s & 1], reinterpret_cast<__m512bh>(w), xv);
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m512 sum = _mm512_add_ps(acc[t][0], acc[t][1]);
      totals[t].add_group(d, row, j, &sum, 128.0f, xsum[t * xsum_stride + j]);
    }
  }
  for (int t = 0; t < T; ++t) totals[t].finish(out + t * out_stride);
}
void Bf16Tokens(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, int64_t x_stride, const float* xsum,
                int64_t xsum_stride, int tokens, float* out, int64_t out_stride) {
  switch (tokens) {
    case 1: return Bf16TokensT<1>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 2: return Bf16TokensT<2>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 3: return Bf16TokensT<3>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 4: return Bf16TokensT<4>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 5: return Bf16TokensT<5>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 6: return Bf16TokensT<6>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    case 7: return Bf16TokensT<7>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
    default: return Bf16TokensT<8>(d, codes, row, x, x_stride, xsum, xsum_stride, out, out_stride);
  }
}

}  // namespace

bool bf16_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
}

WoKernels wo_bf16_kernels(const WoDesc& d) {
  static const bool supported = bf16_supported();
  if (!supported || d.kind != WoKind::integer || d.bits != 4 || d.group_len % 128 != 0 || d.cols % d.group_len != 0) return {};
  WoKernels k = EntryPoints<Bf16Kernel>(XLayout::bf16_words128);
  k.tokens = Bf16Tokens;
  k.tokens_at_once = 8;
  return k;
}

}  // namespace vernier::kernels
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
namespace vernier::kernels {
namespace {

struct Q8Kernel {
  static constexpr int kRows = 4;
  template <int R>
  static void Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out) {
    const auto* a = reinterpret_cast<const uint8_t*>(x);
    const int64_t L = d.group_len;
    const __m512i m = _mm512_set1_epi8(15), flip = _mm512_set1_epi8(static_cast<char>(d.flip * 0x11));
    RowTotals<R> totals;
    for (int64_t j = 0; j < d.groups_per_row; ++j) {
      __m512 acc[R];
      for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
      for (int64_t i = j * L; i < (j + 1) * L; i += 128) {
        const uint8_t* blk = a + i / 128 * kQ8SplitBytes;
        const __m512i xe = _mm512_loadu_si512(blk), xo = _mm512_loadu_si512(blk + 64);
        const __m512 dv = _mm512_loadu_ps(reinterpret_cast<const float*>(blk + 128));
        for (int r = 0; r < R; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(codes + (r + R) * d.row_bytes + i / 2), _MM_HINT_T0);
          const __m512i c = _mm512_xor_si512(_mm512_loadu_si512(codes + r * d.row_bytes + i / 2), flip);
          const __m512i lo = _mm512_and_si512(c, m), hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), m);
          const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xe), hi, xo);
          acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dv, acc[r]);
        }
      }
      totals.add_group(d, row, j, acc, 0.0f, xsum[j]);
    }
    totals.finish(out);
  }
};

}  // namespace

WoKernels wo_q8_vnni_kernels(const WoDesc& d) {
  if (d.kind != WoKind::integer || d.bits != 4 || d.group_len % 128 != 0 || d.cols % d.group_len != 0) return {};
  return EntryPoints<Q8Kernel>(XLayout::q8_split128);
}

}  // namespace vernier::kernels
#pragma GCC pop_options
