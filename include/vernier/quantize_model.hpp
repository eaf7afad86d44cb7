// vernier/quantize_model.hpp — a whole model to a quantized GGUF, as llama-quantize makes it.
//
// Tensors are visited in llama.cpp's order, each gets the type the mixture rules choose
// (ggml_mixture.hpp), rows are quantized in parallel with the importance weights of their tensor, and
// the file is streamed one tensor at a time through an atomic writer. Metadata: the source's (or,
// for Hugging Face and llama2.c sources, what convert writes), then general.quantization_version and
// general.file_type, then quantize.imatrix.* when an importance matrix was used — as llama-quantize.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/ggml_mixture.hpp"
#include "vernier/imatrix.hpp"
#include "vernier/model.hpp"
#include "vernier/quant_method.hpp"

namespace vernier {

struct QuantizeModelOptions {
  const GgufFileType* file_type = nullptr;
  MixtureOptions mixture;          // has_imatrix: also set by `imatrix` (a calibrated method sets it itself)
  const ImportanceMatrix* imatrix = nullptr;
  std::string imatrix_path;        // written as quantize.imatrix.file
  const QuantMethod* method = nullptr;  // nullptr: imatrix with an importance matrix, else rtn
  int threads = 0;                 // 0: all hardware threads
  bool allow_requantize = false;   // accept already-quantized input tensors
  bool allow_nonfinite = false;    // accept NaN/Inf weights
  bool overwrite = false;
  // called before each tensor: index, count, name, bytes of float32 input processed so far
  std::function<void(size_t, size_t, const std::string&, uint64_t)> progress;
};

struct QuantizedTensorReport {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::string reason;
  GgmlType planned = GgmlType::F32;  // the type planned before falling back (== type when it did not)
  bool quantized = false;            // false: copied as it is (norms, kept tensors)
  int64_t elements = 0, row = 0;     // row: values per row (ne[0]), what a block type must divide
  uint64_t bytes = 0;
  double rmse = 0, sqnr_db = 0;
  bool used_imatrix = false;
};

struct QuantizeModelReport {
  std::vector<QuantizedTensorReport> tensors;
  uint64_t total_bytes = 0;
  int64_t total_elements = 0;
  double seconds = 0;
  int threads = 1;
  double bits_per_weight() const { return total_elements ? 8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_elements) : 0; }
};

QuantizeModelReport quantize_model(const Model& m, const std::string& path, const QuantizeModelOptions& opt);

// The type each tensor of m gets (llama.cpp's order), as quantize_model plans it: what a calibrated
// method (GPTQ) needs to know before it quantizes the block matrices itself. A tensor already of its
// planned type is copied by quantize_model as it is (llama-quantize's rule), which is how such a
// method's blocks reach the file unchanged.
std::vector<MixtureChoice> plan_model_mixture(const Model& m, const QuantizeModelOptions& opt);

}  // namespace vernier
