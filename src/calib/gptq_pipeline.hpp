// The GPTQ block pipeline with a rewrite hook (gptq_model.hpp): AWQ+GPTQ's way in.
#pragma once

#include <functional>
#include <vector>

#include "calib_runtime.hpp"
#include "vernier/gptq_model.hpp"

namespace vernier::calib {

// Called as GPTQ reaches block l's Q/K/V group (g = attn_in) and its gate/up group (g = ffn_in), with the
// runtime as GPTQ has left it (the blocks before l and the groups before g quantized) and the block's
// inputs x: returns float tensors that replace the source's for the half that g starts (its matrices and
// its norm), which GPTQ then quantizes in their place. An empty result keeps the source's.
using HalfRewrite = std::function<std::vector<ModelTensor>(int64_t l, InputGroup g, WindowRuntime& wr, const std::vector<float>& x)>;

Model gptq_pipeline(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt, GptqModelReport* report,
                    const HalfRewrite& rewrite);

}  // namespace vernier::calib
