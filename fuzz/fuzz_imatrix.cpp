// Importance matrices in both formats: llama-imatrix's GGUF (in_sum2/counts per tensor) and the
// legacy .dat (entry count, then name, calls, values per entry); the first 4 bytes decide which.
#include "fuzz_common.hpp"
#include "vernier/imatrix.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  const std::string path = vernier::fuzz::put("imatrix", data, n);
  vernier::fuzz::expect_clean([&] { (void)vernier::load_imatrix(path); });
  return 0;
}
