// Internal: a CPU kernel path — the kernel table of one instruction set — and how a KernelContext
// names one.
#pragma once

#include <cstdint>
#include <string>

#include "dot.hpp"
#include "x16.hpp"
#include "vernier/kernels.hpp"

namespace vernier::kernels {

struct Path {
  std::string name;
  DotTable table;            // the reference's entries where the target has no kernel of its own
  int64_t target = 0;        // Highway target bit; 0 for the scalar reference
  X8Kernels x8;              // eight-row kernels, where the path has them
  X16Kernels x16;            // sixteen-row tile kernels (AVX-512 VNNI), preferred to x8 where set
  ExpSumFn exp_sum = nullptr;  // attention's softmax numerators (nullptr: std::exp, the reference)
  SiluMulFn silu_mul = nullptr;  // the FFN's SiLU(gate) · up (nullptr: std::exp, the reference)
  AttnScoresFn attn_scores = nullptr;  // attention's Q·Kᵀ (nullptr: the plain loops of kernels.hpp)
  AttnValuesFn attn_values = nullptr;  // attention's P·V (nullptr: the plain loops)
  bool vnni() const { return name == "avx3_vnni"; }
};

// "auto", "scalar" or a path name this build and CPU have; nullptr otherwise.
const Path* find_path(std::string_view name);
const Path& path_of(const KernelContext& ctx);

}  // namespace vernier::kernels
