// Internal: a Highway translation unit's kernel for a target bit, among the ones it compiled
// (HWY_CHOOSE_* gives nullptr for a target this build did not compile). Used in each *_simd.cpp's
// HWY_ONCE part.
#pragma once

#include <hwy/detect_targets.h>

#include <cstdint>

namespace vernier::kernels {

template <class Fn>
Fn for_target(int64_t target, Fn avx3_dl, Fn avx3, Fn avx2) {
  if (target == HWY_AVX3_DL) return avx3_dl;
  if (target == HWY_AVX3) return avx3;
  if (target == HWY_AVX2) return avx2;
  return nullptr;
}

}  // namespace vernier::kernels
