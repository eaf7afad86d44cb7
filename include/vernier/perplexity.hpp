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
#include <span>
#include <string>

#include "vernier/kernels.hpp"
#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

// llama_cpp: llama-perplexity's protocol — chunks of ctx tokens, the first replaced by BOS (where the
// tokenizer adds one), the second half of each chunk scored. windows: the GPTQ/AWQ papers' (and
// transformers') protocol — the text tokenized once, consecutive windows of ctx tokens as they are,
// every position after the first of a window scored.
enum class PplProtocol : uint8_t { llama_cpp, windows };
PplProtocol parse_ppl_protocol(std::string_view name);  // "llama.cpp", "windows"; throws a usage Error
std::string_view ppl_protocol_name(PplProtocol p);

struct PerplexityOptions {
  PplProtocol protocol = PplProtocol::llama_cpp;
  int64_t ctx = 512;
  int64_t max_chunks = 0;  // 0: all
  int threads = 0;
  std::string isa;               // kernel path of both runtimes ("auto", "scalar", …; "": the process default)
  KvType kv = KvType::f32;       // the model's KV cache (a base model always keeps f32)
  int64_t batch = 512;           // tokens per forward pass (a chunk of ctx − 1 tokens takes ⌈/batch⌉)
  Activations activations = Activations::f32;  // of the model's weight-only (scheme) matrices
  // Base logits: --save-logits writes this model's logits at every scored position to a file, which
  // a later run reads with base_logits in place of running a base model (the KL divergence of
  // llama-perplexity's --kl-divergence-base workflow). The file (vernier's own, see docs/runtime.md):
  // "VRNLGT01", u32 vocab, ctx, chunks, 0; the chunks' int32 tokens; float32 logits per scored position.
  std::string save_logits, base_logits;
  bool overwrite = false;
  std::function<void(int64_t chunk, int64_t chunks, double ppl_so_far)> progress;
};

// Statistics of the KL divergence from a base model's next-token distribution, over the scored
// positions (llama-perplexity --kl-divergence's figures).
struct KldStats {
  double mean = 0, mean_stderr = 0, median = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double same_top1 = 0;        // fraction of positions where both models' most likely token agree
  double rms_delta_p = 0;      // RMS of p_model(target) − p_base(target)
  double base_ppl = 0, ppl_ratio = 0, ppl_difference = 0;
};

struct PerplexityResult {
  double ppl = 0, ppl_stderr = 0;
  bool has_kld = false;
  KldStats kld;
  int64_t text_tokens = 0, chunks = 0, scored = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // every evaluated position
  uint64_t kv_bytes_per_token = 0;
  uint64_t weight_bytes = 0;           // the model's weights as stored (packed codes, scales, norms)
  uint64_t resident_weight_bytes = 0;  // what the runtime holds and the kernels read
  std::string kernel_isa;              // the kernel path the runtimes ran on
};

// KL(base ‖ model) of the two next-token distributions given by their logits (log-softmax in double,
// llama.cpp's way); `same_top`, if given, is set when both put their maximum on the same token.
double kl_divergence(std::span<const float> base_logits, std::span<const float> logits, bool* same_top = nullptr);

// With `base` (or options.base_logits), both models run on the same tokens and the result carries the KL divergence of the
// model's distribution from the base's at every scored position.
PerplexityResult perplexity(const Model& m, const std::string& text, const PerplexityOptions& opt,
                            const Model* base = nullptr);

}  // namespace vernier
