// vernier/perplexity.hpp — perplexity with llama.cpp's protocol, so figures compare with llama-perplexity.
//
// The whole text is tokenized once with BOS in front; it is cut into non-overlapping chunks of ctx
// tokens (as many whole chunks as fit, or --chunks), the first token of every chunk is replaced by
// BOS, each chunk is run from position 0, and only the second half is scored: the logits at positions
// ctx/2 .. ctx−2 predict the tokens at ctx/2+1 .. ctx−1. PPL = exp(mean NLL), with llama.cpp's standard
// error estimate.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "vernier/model.hpp"

namespace vernier {

struct PerplexityOptions {
  int64_t ctx = 512;
  int64_t max_chunks = 0;  // 0: all
  int threads = 0;
  std::function<void(int64_t chunk, int64_t chunks, double ppl_so_far)> progress;
};

struct PerplexityResult {
  double ppl = 0, ppl_stderr = 0;
  int64_t text_tokens = 0, chunks = 0, scored = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // every evaluated position
};

PerplexityResult perplexity(const Model& m, const std::string& text, const PerplexityOptions& opt);

}  // namespace vernier
