// Attention's two products on a SIMD path, per Highway target: the scores S[r][t] = scale · q_r·k_t
// and the weighted sums O[r] = Σ_t P[r][t] · v_t. Each output element is computed by one fixed
// sequence of operations that depends only on the head width and the target — never on how many
// query rows or keys the call holds, where a row sits in it, or the thread that runs it — so a prompt
// split into batches gives the same bits as the whole prompt (a BLAS sgemm's rounding depends on the
// product's shape: OpenBLAS's Haswell kernel, chosen on Zen 5, differs with M and with N mod 8).
//  - a score: lane-wise fused multiply-adds over the head in steps of one vector (the tail masked to
//    0), then the target's ReduceSum, times scale; blocks of 4 rows × 4 keys share their loads;
//  - a weighted sum: per element of the head, fused multiply-adds in key order t = 0 … count−1 (the
//    row's causal count: the keys after it are not read at all), 4 rows at a time sharing the value
//    loads. The scalar path keeps reference_attention (cpu_backend.cpp).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>

#include "dot.hpp"

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Up to kR query rows times up to four keys from key t: each score's lane-wise fused multiply-adds over
// the head (vectors, then the tail under a mask), its ReduceSum and the scale — the same operations
// for a score whatever block it is in.
constexpr int64_t kR = 4;
template <class D>
void ScoreBlock(D d, const float* const* q, int64_t rows, const float* k, int64_t k_stride, int64_t t, int64_t keys, int64_t hd,
                float scale, float* const* s) {
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t full = hd / N * N;
  const auto tail = hn::FirstN(d, static_cast<size_t>(hd - full));
  using V = hn::Vec<D>;
  V acc[kR][4];
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::Zero(d);
  const float* kt[4];
  for (int64_t j = 0; j < 4; ++j) kt[j] = k + (t + std::min(j, keys - 1)) * k_stride;
  int64_t e = 0;
  for (; e < full; e += N) {
    V kv[4];
    for (int64_t j = 0; j < 4; ++j) kv[j] = hn::LoadU(d, kt[j] + e);
    for (int64_t r = 0; r < kR; ++r) {
      if (r >= rows) break;
      const V x = hn::LoadU(d, q[r] + e);
      for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::MulAdd(x, kv[j], acc[r][j]);
    }
  }
  if (e < hd) {
    V kv[4];
    for (int64_t j = 0; j < 4; ++j) kv[j] = hn::MaskedLoad(tail, d, kt[j] + e);
    for (int64_t r = 0; r < kR; ++r) {
      if (r >= rows) break;
      const V x = hn::MaskedLoad(tail, d, q[r] + e);
      for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::MulAdd(x, kv[j], acc[r][j]);
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < keys; ++j) s[r][t + j] = hn::GetLane(hn::SumOfLanes(d, acc[r][j])) * scale;
}

void AttnScores(const float* q, int64_t q_stride, const int64_t* counts, int64_t m, const float* k, int64_t k_stride, int64_t hd,
                float scale, float* s, int64_t s_stride) {
  const hn::ScalableTag<float> d;
  for (int64_t r0 = 0; r0 < m; r0 += kR) {
    const int64_t rows = std::min(kR, m - r0);
    const float* qr[kR];
    float* sr[kR];
    int64_t common = counts[r0];
    for (int64_t r = 0; r < rows; ++r) {
      qr[r] = q + (r0 + r) * q_stride;
      sr[r] = s + (r0 + r) * s_stride;
      common = std::min(common, counts[r0 + r]);
    }
    int64_t t = 0;
    for (; t < common; t += 4) ScoreBlock(d, qr, rows, k, k_stride, t, std::min<int64_t>(4, common - t), hd, scale, sr);
    for (int64_t r = 0; r < rows; ++r)  // each row's keys past the block's common ones
      for (int64_t u = common; u < counts[r0 + r]; u += 4)
        ScoreBlock(d, qr + r, 1, k, k_stride, u, std::min<int64_t>(4, counts[r0 + r] - u), hd, scale, sr + r);
  }
}

// Elements e0 … e0 + 4N − 1 (to the head's end) of up to kR rows: fused multiply-adds in key order
// from key 0 to each row's own count, then stored.
template <class D>
void ValuesBlock(D d, const float* const* p, const int64_t* counts, int64_t rows, const float* v, int64_t v_stride, int64_t e0,
                 int64_t width, float* const* o) {
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  M mask[4];
  for (int64_t j = 0; j < 4; ++j) mask[j] = hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(width - j * N, 0, N)));
  const bool whole = width == 4 * N;
  V acc[kR][4];
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::Zero(d);
  int64_t common = counts[0];
  for (int64_t r = 1; r < rows; ++r) common = std::min(common, counts[r]);
  const auto load = [&](const float* row, int64_t j) {
    return whole ? hn::LoadU(d, row + e0 + j * N) : hn::MaskedLoad(mask[j], d, row + e0 + j * N);
  };
  for (int64_t t = 0; t < common; ++t) {
    const float* vt = v + t * v_stride;
    V x[4];
    for (int64_t j = 0; j < 4; ++j) x[j] = load(vt, j);
    for (int64_t r = 0; r < kR; ++r) {
      if (r >= rows) break;
      const V w = hn::Set(d, p[r][t]);
      for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::MulAdd(w, x[j], acc[r][j]);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = common; t < counts[r]; ++t) {
      const V w = hn::Set(d, p[r][t]);
      for (int64_t j = 0; j < 4; ++j) acc[r][j] = hn::MulAdd(w, load(v + t * v_stride, j), acc[r][j]);
    }
    for (int64_t j = 0; j < 4; ++j) hn::BlendedStore(acc[r][j], mask[j], d, o[r] + e0 + j * N);
  }
}

void AttnValues(const float* p, int64_t p_stride, const int64_t* counts, int64_t m, const float* v, int64_t v_stride, int64_t hd,
                float* out, int64_t out_stride) {
  const hn::ScalableTag<float> d;
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r0 = 0; r0 < m; r0 += kR) {
    const int64_t rows = std::min(kR, m - r0);
    const float* pr[kR];
    float* orow[kR];
    for (int64_t r = 0; r < rows; ++r) {
      pr[r] = p + (r0 + r) * p_stride;
      orow[r] = out + (r0 + r) * out_stride;
    }
    for (int64_t e0 = 0; e0 < hd; e0 += 4 * N) ValuesBlock(d, pr, counts + r0, rows, v, v_stride, e0, std::min(4 * N, hd - e0), orow);
  }
}

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "for_target.hpp"
namespace vernier::kernels {
AttnScoresFn attn_scores_fn(int64_t target) {
  return for_target<AttnScoresFn>(target, HWY_CHOOSE_AVX3_DL(AttnScores), HWY_CHOOSE_AVX3(AttnScores), HWY_CHOOSE_AVX2(AttnScores));
}
AttnValuesFn attn_values_fn(int64_t target) {
  return for_target<AttnValuesFn>(target, HWY_CHOOSE_AVX3_DL(AttnValues), HWY_CHOOSE_AVX3(AttnValues), HWY_CHOOSE_AVX2(AttnValues));
}
}  // namespace vernier::kernels
#endif
