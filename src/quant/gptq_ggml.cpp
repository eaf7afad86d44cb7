// GPTQ into llama.cpp's GGML block types (gptq.hpp, gptq_ggml): the rule of gptq_sweep.hpp whose
// groups are the type's blocks, whose parameters are the block's stored scales from llama.cpp's own
// scale search (the registry row's GgmlBlockCodes, src/quant/ggml/codes.hpp), and whose codes are the
// nearest levels under them.
#include <cstring>
#include <string>
#include <vector>

#include "ggml/codes.hpp"
#include "ggml/types.hpp"
#include "gptq_sweep.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/gptq.hpp"
#include "vernier/parallel.hpp"

namespace vernier {

namespace {
struct GgmlRule {
  const GgmlBlockCodes* codes = nullptr;
  int64_t len = 0, rows = 0, cols = 0, bpr = 0, block_bytes = 0;
  int threads = 1;
  const float* importance = nullptr;  // diag H in the input's order (nullptr: the type has no importance path)
  std::vector<float> sigma2;          // each row's σ² for the row-level importance weights (ggml::row_sigma2)
  std::vector<uint8_t> blocks;        // rows × bpr blocks: the result
  std::vector<uint8_t> code;          // rows × cols codes, input order

  uint8_t* block(int64_t r, int64_t g) { return blocks.data() + (r * bpr + g) * block_bytes; }

  // llama.cpp's rule on every row's values of the block starting at input column c0 (value(r, k) for
  // k in [c0, c0 + len))
  template <class Value>
  void find_block(int64_t c0, Value value) {
    parallel_for(rows, threads, [&](int64_t r0, int64_t r1, int) {
      std::vector<float> x(static_cast<size_t>(len));
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t k = 0; k < len; ++k) x[static_cast<size_t>(k)] = value(r, c0 + k);
        codes->quantize_block(x.data(), block(r, c0 / len), importance ? importance + c0 : nullptr, sigma2[static_cast<size_t>(r)]);
      }
    });
  }
  template <class Value>
  void find_static(Value value) {
    for (int64_t g = 0; g < bpr; ++g) find_block(g * len, value);
  }
  template <class Value>
  void find(int64_t i, int64_t, Value value) {
    find_block(i, value);  // without act order the sweep's order is the input's
  }
  float quantize(int64_t, int64_t c, int64_t r, float x) {
    const GgmlValueGrid g = codes->grid(block(r, c / len), static_cast<int>(c % len));
    const int k = g.nearest(x);
    code[static_cast<size_t>(r * cols + c)] = static_cast<uint8_t>(k);
    return g.value(k);
  }
};
}  // namespace

bool gptq_can_make(GgmlType type) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  return ti && ti->codes;
}

GptqResult gptq_quantize_ggml(const TensorView& w, std::span<const float> hessian, GgmlType type, const GptqOptions& opt) {
  std::vector<float> h(hessian.begin(), hessian.end());
  const GptqHessian f = gptq_factorise(h, w.cols, opt, std::string(w.name));
  return gptq_quantize_ggml(w, f, type, opt);
}

GptqResult gptq_quantize_ggml(const TensorView& w, const GptqHessian& h, GgmlType type, const GptqOptions& opt,
                              const GptqRowsRead& rows_read) {
  const GgmlTypeInfo& ti = ggml_info(type);
  const std::string name(w.name);
  if (!ti.codes) throw_usage("GPTQ makes the GGML block types Q4_0 … Q8_0, Q2_K … Q6_K, IQ4_NL and IQ4_XS; not " + std::string(ti.name));
  if (w.cols % ti.block_size != 0) {
    throw_usage("tensor '" + name + "': rows of " + std::to_string(w.cols) + " values are not whole " + std::string(ti.name) + " blocks of " +
                std::to_string(ti.block_size));
  }
  if (opt.act_order && !opt.static_groups) {
    throw_usage("tensor '" + name + "': a GGUF row has no column permutation (g_idx): act order into " + std::string(ti.name) +
                " needs static groups");
  }
  const int64_t rows = w.rows, cols = w.cols;
  GgmlRule rule;
  rule.codes = ti.codes;
  rule.len = ti.block_size;
  rule.rows = rows;
  rule.cols = cols;
  rule.bpr = cols / ti.block_size;
  rule.block_bytes = ti.block_bytes;
  rule.threads = std::max(1, opt.threads);
  rule.importance = ti.importance ? h.h_diag.data() : nullptr;
  rule.sigma2.resize(static_cast<size_t>(rows));
  detail::GptqWork wk = detail::gptq_work(w, h, rows_read, [&](int64_t r, const float* row) {
    rule.sigma2[static_cast<size_t>(r)] = ggml::row_sigma2(row, cols);  // over the original row, as llama.cpp
  });
  rule.blocks.assign(static_cast<size_t>(rows * rule.bpr * rule.block_bytes), 0);
  rule.code.assign(static_cast<size_t>(rows * cols), 0);
  if (opt.static_groups) rule.find_static(detail::InputOrder(wk, h));
  detail::gptq_sweep(wk, h, opt, rule);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < rule.bpr; ++g) ti.codes->set_codes(rule.block(r, g), rule.code.data() + r * cols + g * rule.len);
  }
  rule.code = {};

  GptqResult res;
  res.damp = h.damp;
  res.damp_raises = h.damp_raises;
  res.dead_columns = h.dead_columns;
  res.blocks = std::move(rule.blocks);
  res.values = detail::gptq_values(std::move(wk), h);
  // llama.cpp's quantizer with the same importance, a few rows at a time
  std::vector<uint8_t> rtn_rows;
  const auto rtn = [&](int64_t r0, int64_t m, float* out) {
    rtn_rows.resize(static_cast<size_t>(m * *ggml_row_bytes(ti, cols)));
    ggml_quantize_threads(type, w.data + r0 * cols, rtn_rows.data(), m, cols, rule.importance, rule.threads);
    ggml_dequantize(type, rtn_rows.data(), out, m * cols);
  };
  detail::gptq_losses(w, h, rtn, rows_read, res);
  return res;
}

}  // namespace vernier
