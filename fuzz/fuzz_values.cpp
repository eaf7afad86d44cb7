// The command line's value lists and names: weight types and schemes (int4-asym-g128, nf4-b64-dq,
// Q4_K), GGUF file types, methods, layouts, byte sizes (24GiB, 5GB), shard sizes, parameter counts
// (7B) and explain's number lists. The first byte picks the parser; the rest is the text.
// (--tensor-type's regex is left to std::regex: it is the user's own pattern, not read from a file.)
#include "fuzz_common.hpp"
#include "vernier/ggml_mixture.hpp"
#include "vernier/hf_checkpoint.hpp"
#include "vernier/hf_layout.hpp"
#include "vernier/quant_method.hpp"
#include "vernier/quantize.hpp"
#include "vernier/units.hpp"
#include "vernier/weight_type.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  if (n < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, n - 1);
  vernier::fuzz::expect_clean([&] {
    switch (data[0] % 9) {
      case 0: {
        const vernier::WeightType t = vernier::parse_weight_type(text);
        (void)vernier::parse_weight_type(t.name());  // a name read back is the same type
        break;
      }
      case 1: (void)vernier::parse_scheme(text); break;
      case 2: (void)vernier::find_gguf_file_type(text); break;
      case 3: (void)vernier::find_method(text); break;
      case 4: (void)vernier::parse_hf_layout(text); break;
      case 5: (void)vernier::parse_bytes(text); break;
      case 6: (void)vernier::parse_shard_size(text); break;
      case 7: (void)vernier::parse_value_list(text, "--values"); break;
      case 8: (void)vernier::parse_param_count(text); break;
    }
  });
  return 0;
}
