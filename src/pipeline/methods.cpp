// The quantization methods that need no more than the weights and per-column importance: rtn and
// imatrix.
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/quant_method.hpp"

namespace vernier {

namespace {
class Rtn : public QuantMethod {
 public:
  std::string_view name() const override { return "rtn"; }
  void quantize_ggml(const TensorView& w, const TensorStats&, GgmlType t, std::span<uint8_t> out, int threads) const override {
    ggml_quantize_threads(t, w.data, out.data(), w.rows, w.cols, nullptr, threads);
  }
  QuantizedTensor quantize_scheme(const TensorView& w, const TensorStats&, const Scheme& s) const override {
    return quantize(w, s);
  }
};

class Imatrix : public QuantMethod {
 public:
  std::string_view name() const override { return "imatrix"; }
  bool needs_importance() const override { return true; }
  // A matrix the importance matrix has no entry for is quantized as rtn does (llama-quantize's rule).
  void quantize_ggml(const TensorView& w, const TensorStats& st, GgmlType t, std::span<uint8_t> out, int threads) const override {
    ggml_quantize_threads(t, w.data, out.data(), w.rows, w.cols, st.importance, threads);
  }
  QuantizedTensor quantize_scheme(const TensorView& w, const TensorStats& st, const Scheme& s) const override {
    if (st.importance) {
      throw_usage("tensor '" + std::string(w.name) + "': the imatrix method weighs the scale searches of GGML types; " +
                  scheme_name(s) + " has none (use rtn, or a GGML type)");
    }
    return quantize(w, s);
  }
};
}  // namespace

const QuantMethod& rtn_method() {
  static const Rtn m;
  return m;
}

const QuantMethod& imatrix_method() {
  static const Imatrix m;
  return m;
}

std::string method_names() { return "rtn, imatrix"; }

const QuantMethod& find_method(std::string_view name) {
  if (name == "rtn") return rtn_method();
  if (name == "imatrix") return imatrix_method();
  throw_usage("unknown method '" + std::string(name) + "' (methods: " + method_names() + ")");
}

}  // namespace vernier
