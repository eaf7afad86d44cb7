// vernier/quant_method.hpp — the method seam of the quantize pipeline.
//
// A method is a pure function of one weight matrix, the statistics collected for it and the target
// WeightType → the stored matrix (GGML blocks, or a scheme's codes and scales). It does no I/O and
// keeps no state between calls; the pipelines (quantize_model.hpp: a GGUF file, one tensor in memory
// at a time; quantize_in_memory.hpp: a Model for the runtime) stream tensors through it.
//
//   rtn      round to nearest: each block's or group's own scale search (llama.cpp's for GGML types,
//            absmax / min-max for vernier's schemes), no statistics
//   imatrix  llama.cpp's importance-weighted scale searches (GGML types that have them), from the
//            per-column mean squared activations (imatrix.hpp)
// GPTQ (a Hessian per input group) and AWQ (activation scales) plug in here as further methods.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/quantize.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

// What calibration collected for one matrix; every member may be empty.
struct TensorStats {
  const float* importance = nullptr;  // one weight per input column (imatrix)
};

class QuantMethod {
 public:
  virtual ~QuantMethod() = default;
  virtual std::string_view name() const = 0;
  virtual bool needs_importance() const { return false; }
  // GGML target: w's rows into `out` (rows × row bytes of t), rows split over `threads` (the bytes do
  // not depend on it).
  virtual void quantize_ggml(const TensorView& w, const TensorStats& stats, GgmlType t, std::span<uint8_t> out,
                             int threads) const = 0;
  // Scheme target.
  virtual QuantizedTensor quantize_scheme(const TensorView& w, const TensorStats& stats, const Scheme& s) const = 0;
};

const QuantMethod& rtn_method();
const QuantMethod& imatrix_method();
const QuantMethod& find_method(std::string_view name);  // "rtn", "imatrix"; throws a usage Error naming them
std::string method_names();

}  // namespace vernier
