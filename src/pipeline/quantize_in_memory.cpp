// quantize_in_memory: the blocks' linear layers to one WeightType, kept in memory for the runtime.
#include "vernier/quantize_in_memory.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/metrics.hpp"

namespace vernier {

namespace {
constexpr std::string_view kLinear[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                                        "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};

ErrorStats error_of(const float* x, const std::vector<float>& back) {
  ErrorAccumulator acc;
  acc.add({x, back.size()}, back);
  return acc.result();
}
}  // namespace

bool is_block_linear(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string_view::npos || dot == 4) return false;
  for (size_t i = 4; i < dot; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  const std::string_view rest = name.substr(dot + 1);
  return std::find(std::begin(kLinear), std::end(kLinear), rest) != std::end(kLinear);
}

Model quantize_in_memory(const Model& m, const InMemoryOptions& opt, InMemoryReport* report) {
  const QuantMethod& method = opt.method ? *opt.method : rtn_method();
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const WeightType& wt = opt.type;
  if (method.needs_importance() && !opt.imatrix) throw_usage("the " + std::string(method.name()) + " method needs an importance matrix");
  Model out = m;
  size_t count = 0;
  for (const ModelTensor& t : m.tensors) count += is_block_linear(t.name) ? 1 : 0;
  if (count == 0) throw_bad_input(m.path + ": no block linear layers (blk.N.attn_q.weight, …) to quantize");
  size_t index = 0;
  std::vector<float> x;
  for (ModelTensor& t : out.tensors) {
    if (!is_block_linear(t.name)) continue;
    if (opt.progress) opt.progress(index++, count, t.name);
    if (t.ne.size() != 2) throw_bad_input(m.path + ": tensor '" + t.name + "' is not a matrix");
    const int64_t cols = t.ne[0], rows = t.ne[1];
    x.resize(static_cast<size_t>(rows * cols));
    read_f32(t, x);  // F32/F16/BF16/F64 sources; a quantized source is refused here by name
    for (size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i])) {
        throw_bad_input(m.path + ": tensor '" + t.name + "': element " + std::to_string(i) + " (row " +
                        std::to_string(static_cast<int64_t>(i) / cols) + ") is " + (std::isnan(x[i]) ? "NaN" : "Inf"));
      }
    }
    TensorStats st;
    if (opt.imatrix) {
      if (const std::vector<float>* w = opt.imatrix->find(t.name)) {
        if (static_cast<int64_t>(w->size()) != cols) {
          throw_bad_input("importance matrix entry '" + t.name + "' has " + std::to_string(w->size()) +
                          " weights, the tensor has rows of " + std::to_string(cols));
        }
        st.importance = w->data();
      }
    }
    const TensorView view{x.data(), rows, cols, t.name};
    InMemoryTensor r{t.name, t.type, rows, cols, 0, 0, 0};
    std::vector<float> back(x.size());
    if (wt.is_scheme()) {
      QuantizedTensor q = method.quantize_scheme(view, st, wt.as_scheme());
      dequantize(q, back);
      r.bytes = q.storage_bytes();
      t = held_tensor(t.name, QuantizedLinear{std::move(q), {}});  // kept as stored: nothing widened
    } else {
      const GgmlTypeInfo& ti = wt.ggml_info();
      const auto row_bytes = ggml_row_bytes(ti, cols);
      if (!row_bytes) {
        throw_usage(m.path + ": tensor '" + t.name + "' has rows of " + std::to_string(cols) + " values, not a multiple of " +
                    std::string(ti.name) + "'s block of " + std::to_string(ti.block_size));
      }
      std::vector<uint8_t> bytes(static_cast<size_t>(*row_bytes * rows));
      method.quantize_ggml(view, st, ti.type, bytes, threads);
      ggml_dequantize(ti.type, bytes.data(), back.data(), rows * cols);
      r.bytes = bytes.size();
      t = held_ggml_tensor(t.name, t.ne, ti.type, std::move(bytes));
    }
    t.release = nullptr;
    const ErrorStats e = error_of(x.data(), back);
    if (!std::isfinite(e.mse)) {  // finite weights (checked above) whose stored form is not: a scale overflowed
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      throw_bad_input(m.path + ": tensor '" + t.name + "': " + wt.name() + " cannot store it: its largest |weight| " + std::to_string(amax) +
                      " overflows the type's scale, so the stored weights are not finite");
    }
    r.rmse = e.rmse;
    r.sqnr_db = e.sqnr_db;
    if (report) {
      report->bytes += r.bytes;
      report->elements += rows * cols;
      report->tensors.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace vernier
