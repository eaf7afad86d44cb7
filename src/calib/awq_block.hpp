// One LLaMA block's AWQ (awq_model.hpp): statistics, scale searches, folding and clipping, in two
// halves that a pipeline can run separately — the attention (Q/K/V scales into attn_norm, O's into V's
// rows) and the FFN (gate/up's into ffn_norm, down's into up's rows). AWQ's pipeline runs both halves
// on the float block (the authors' order: every search on the unscaled weights); AWQ+GPTQ runs each
// half just before GPTQ quantizes it, on the inputs GPTQ then sees.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "calib_runtime.hpp"
#include "vernier/awq_model.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier::calib {

class AwqBlock {
 public:
  enum Half { attention, ffn };
  // The block's weights are read from m (the source, unscaled); rep collects the searches' reports.
  AwqBlock(const Model& m, WindowRuntime& wr, int64_t layer, const AwqModelOptions& opt, AwqModelReport& rep);
  ~AwqBlock();
  AwqBlock(const AwqBlock&) = delete;
  AwqBlock& operator=(const AwqBlock&) = delete;

  // One pass of every window (x: windows × ctx × dim, not modified) through the block as the runtime
  // holds it now, up to down's input: the statistics of the halves asked for (mean |x|, mean x², the clip
  // sample, the Hessians the searches use, the FFN's input).
  void collect(const std::vector<float>& x, bool attention_half, bool ffn_half);
  // The half's scale searches against the float half's output on x (the runtime's matrices of the half
  // must be the source's: the Q/K/V candidates are swapped in and the source's put back), then the
  // scales folded into the block's weights and norms.
  void search(Half h, const std::vector<float>& x);
  // The half's clip search on its folded weights (Q and K are not clipped), where the options ask for it.
  void clip(Half h);
  // The half's tensors as they now are: its matrices and its norm, float32, held (parked where the
  // options name a folder). Moves them out: call once per half, after search and clip.
  std::vector<ModelTensor> take(Half h);
  // The block's weights as they now are, the target's quantizer applied (round to nearest with the
  // scheme or the GGML types, importance x²/s²): for propagate_quantized. Call before take.
  std::vector<ModelTensor> rounded();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace vernier::calib
