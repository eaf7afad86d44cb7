// vernier/imatrix.hpp — importance matrices as llama.cpp's llama-imatrix writes them.
//
// GGUF format (general.type = "imatrix"): per weight matrix "<name>.in_sum2" (the sum over calibration
// tokens of each input column's squared activation) and "<name>.counts" (how many tokens); the weight
// of column j is in_sum2[j] / counts, or 1 where the tensor saw no tokens (llama-quantize's reading).
// Legacy .dat: int32 entry count; per entry int32 name length, name, int32 ncall, int32 nval, nval
// float32 values (already scaled so value / ncall is the mean); optionally int32 chunk count, int32
// dataset name length and the name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vernier {

struct ImportanceMatrix {
  std::map<std::string, std::vector<float>> weights;  // tensor name → one weight per input column
  std::vector<std::string> datasets;
  int64_t chunks = 0;
  const std::vector<float>* find(const std::string& tensor) const;
};

// Reads either format (chosen by the GGUF magic). Throws a bad_input Error naming the file for a
// truncated or inconsistent file, and for non-finite weights (naming the tensor).
ImportanceMatrix load_imatrix(const std::string& path);

}  // namespace vernier
