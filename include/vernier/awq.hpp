// vernier/awq.hpp — AWQ's pieces as pure functions (Lin et al., 2023; the authors' auto_scale and
// auto_clip, as AutoAWQ runs them).
//
// Scale search: for a group of matrices that read one input, per input channel s = x̄^α (x̄ = mean |x|
// over the calibration tokens), or with duo scaling x̄^α / (w̄^(1−α) + 1e-4) (w̄ = the channel's mean
// |w| relative to its quantization group's max), clamped at 1e-4, then divided by √(max s · min s)
// so that the scales straddle 1; α = i / grid, i = 0 … grid − 1. Each candidate's weights are
// Q(W·diag s)·diag(s)⁻¹ — the scaled weights quantized, then unscaled, which is what the model
// computes once 1/s is folded into the operation that makes the input. α = 0 gives s = 1: round to
// nearest.
//
// Clip search: per output row and quantization group, the group's max |w| shrunk by 1 − i / grid for
// i < max_shrink · grid (1.0, 0.95, … 0.55 at the defaults), the weights clamped to ± that bound and
// quantized; the bound whose group output over a sample of calibration tokens, Σ_k x_k·q_k, is
// nearest (least squared error, the first of equals) to the unclipped Σ_k x_k·w_k is kept.
//
// Quantizer: AWQ's own for asymmetric schemes (Scheme::range = AsymRange::min_max; quantize.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vernier/quantize.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

struct AwqOptions {
  int grid = 20;             // scale candidates α = i / grid, and the clip ratios' step 1 / grid
  bool duo = false;          // AutoAWQ's duo scaling (x̄^α / w̄^(1−α))
  bool clip = true;
  double max_shrink = 0.5;   // clip ratios 1 − i / grid for i < max_shrink · grid
  int64_t clip_tokens = 512; // the clip search's sample: every (tokens / clip_tokens)-th token
};

// Elements per quantization group of a row of `cols` under s (per channel: the row). Throws a usage
// Error for schemes AWQ does not serve (per tensor, non-integer formats).
int64_t awq_group_len(const Scheme& s, int64_t cols);

// The candidate scales for α (see above); w_mean is used only with duo. Inf and NaN become 1.
std::vector<float> awq_candidate_scales(std::span<const float> x_mean, std::span<const float> w_mean, float alpha, bool duo);

// The scale search over α = i / grid (the first α with the least loss; α = 0 is s = 1, round to
// nearest): loss(s) is the output error of the candidate's weights Q(W·diag s)·diag(s)⁻¹. Throws a
// bad_input Error naming `what` if no candidate has a finite loss.
struct AwqSearch {
  std::vector<float> s;
  double alpha = 0, loss_before = 0, loss_after = 0;
};
AwqSearch awq_search_scales(const std::string& what, std::span<const float> x_mean, std::span<const float> w_mean, const AwqOptions& opt,
                            const std::function<double(const std::vector<float>& s)>& loss);

// w̄ over the rows of several matrices of `cols` columns (stacked): per column the mean over rows of
// |w| / (max |w| of its group + 1e-6).
std::vector<float> awq_weight_mean(std::span<const TensorView> ws, int64_t group_len);

// Q(W·diag s)·diag(s)⁻¹ into out (rows × cols) under an integer scheme's quantizer.
void awq_fake_quantize(const TensorView& w, std::span<const float> s, const Scheme& scheme, float* out);

// W·diag(s) in place (columns), or diag(s)⁻¹·W (rows divided).
void scale_columns(float* w, int64_t rows, int64_t cols, std::span<const float> s);
void divide_rows(float* w, int64_t rows, int64_t cols, std::span<const float> s);

struct AwqClipResult {
  std::vector<float> bound;            // per (row, group): the clip bound applied (max |w| · ratio)
  double mean_ratio = 1.0;             // the chosen ratios' mean
  double loss_before = 0, loss_after = 0;  // Σ over rows and groups of the sample's squared error, ratio 1 and chosen
};
// The clip search on w (rows × cols, row-major) with sampled inputs x (n × cols, the inputs as the
// scaled weights see them), clamping w in place to the chosen bounds, under an integer scheme's
// quantizer (its groups) — or any group quantizer: `quantize` decodes the n values of one group that
// starts at column col0 as the target stores them.
AwqClipResult awq_clip(float* w, int64_t rows, int64_t cols, const float* x, int64_t n, const Scheme& scheme, const AwqOptions& opt,
                       int threads);
using AwqGroupQuantizer = std::function<void(const float* values, int64_t n, int64_t col0, float* out)>;
AwqClipResult awq_clip(float* w, int64_t rows, int64_t cols, const float* x, int64_t n, int64_t group_len,
                       const AwqGroupQuantizer& quantize, const AwqOptions& opt, int threads);

// Q(W·diag s)·diag(s)⁻¹ with llama.cpp's quantizer for a GGML type (rows of whole blocks), weighted by
// the scaled inputs' importance x2_mean / s² (mean squared activation per column) when x2_mean is given.
void awq_fake_quantize_ggml(const TensorView& w, std::span<const float> s, GgmlType type, const float* x2_mean, float* out);

// Σ_r Δw_r · H · Δw_rᵀ for Δw (rows × cols) and a symmetric H (cols × cols): the output error
// ‖Δw·X‖² of a linear layer whose inputs have H = XᵀX (scaled as H is).
double quadratic_loss(const float* dw, int64_t rows, int64_t cols, const float* h);

}  // namespace vernier
