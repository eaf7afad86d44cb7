// Next-token sampling with llama.cpp's default chain and flag meanings: repetition penalty over the
// last tokens, then top-k, top-p (nucleus), min-p, temperature, and a draw from what is left.
// Temperature 0 is greedy (the argmax after the penalty), as llama.cpp's `--temp 0`.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vernier/synthetic.hpp"

namespace vernier {

struct SamplerOptions {
  double temp = 0.8;            // <= 0: greedy
  int64_t top_k = 40;           // <= 0: off
  double top_p = 0.95;          // >= 1: off
  double min_p = 0.05;          // <= 0: off; keeps tokens with p >= min_p · p(most likely)
  double repeat_penalty = 1.0;  // 1: off; a seen token's logit is divided by it when positive, multiplied when not
  int64_t repeat_last_n = 64;   // how many of the last tokens the penalty looks at (0: none, -1: all given)
};

// Throws a usage Error naming the flag (--temp, --top-k, …) whose value is out of range.
void validate(const SamplerOptions& o);

// One token from `logits`; `history` is every token so far (prompt and generated), the last
// repeat_last_n of which the penalty applies to. Pure apart from `rng`, which a sampled (temp > 0)
// call advances by exactly one draw.
int32_t sample_token(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o, Rng& rng);

// The candidates the chain keeps before the draw and their probabilities (after temperature), most
// likely first: what sample_token draws from. For tests and for explaining a choice.
struct Candidate {
  int32_t token;
  double p;
};
std::vector<Candidate> sampler_candidates(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o);

}  // namespace vernier
