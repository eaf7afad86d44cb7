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

  // llama.cpp's rule on every row's values of the block starting at input column c0
  template <class Column>
  void find_block(int64_t c0, Column column) {
    std::vector<float> tile(static_cast<size_t>(rows * len));
    for (int64_t k = 0; k < len; ++k) {
      const float* col = column(c0 + k);
      for (int64_t r = 0; r < rows; ++r) tile[static_cast<size_t>(r * len + k)] = col[r];
    }
    parallel_for(rows, threads, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) {
        codes->quantize_block(tile.data() + r * len, block(r, c0 / len), importance ? importance + c0 : nullptr,
                              sigma2[static_cast<size_t>(r)]);
      }
    });
  }
  template <class Column>
  void find_static(Column column) {
    for (int64_t g = 0; g < bpr; ++g) find_block(g * len, column);
  }
  template <class Column>
  void find(int64_t i, int64_t, Column column) {
    find_block(i, column);  // without act order the sweep's order is the input's
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
  detail::GptqPrepared p = detail::gptq_prepare(w, hessian, opt);
  std::vector<float> diag_h(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) diag_h[static_cast<size_t>(c)] = hessian[static_cast<size_t>(c * cols + c)];

  GgmlRule rule;
  rule.codes = ti.codes;
  rule.len = ti.block_size;
  rule.rows = rows;
  rule.cols = cols;
  rule.bpr = cols / ti.block_size;
  rule.block_bytes = ti.block_bytes;
  rule.threads = std::max(1, opt.threads);
  rule.importance = ti.importance ? diag_h.data() : nullptr;
  rule.sigma2.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) rule.sigma2[static_cast<size_t>(r)] = ggml::row_sigma2(w.data + r * cols, cols);
  rule.blocks.assign(static_cast<size_t>(rows * rule.bpr * rule.block_bytes), 0);
  rule.code.assign(static_cast<size_t>(rows * cols), 0);
  if (opt.static_groups) rule.find_static([&](int64_t c) { return p.column(c); });
  detail::gptq_factorise(p, hessian, opt, name);
  detail::gptq_sweep(p, opt, rule);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < rule.bpr; ++g) ti.codes->set_codes(rule.block(r, g), rule.code.data() + r * cols + g * rule.len);
  }

  GptqResult res;
  res.damp = p.damp;
  res.damp_raises = p.damp_raises;
  res.dead_columns = p.dead_columns;
  res.blocks = std::move(rule.blocks);
  std::vector<float> back(static_cast<size_t>(rows * cols));
  ggml_dequantize(type, res.blocks.data(), back.data(), rows * cols);
  res.loss = hessian_loss(w.data, back.data(), rows, cols, hessian);
  std::vector<uint8_t> rtn(res.blocks.size());
  ggml_quantize_threads(type, w.data, rtn.data(), rows, cols, rule.importance, rule.threads);
  ggml_dequantize(type, rtn.data(), back.data(), rows * cols);
  res.rtn_loss = hessian_loss(w.data, back.data(), rows, cols, hessian);
  return res;
}

}  // namespace vernier
