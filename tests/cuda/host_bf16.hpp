// bfloat16 on the host for the CUDA tests (plain programs, no CPU library): round to nearest even (no NaN
// among the test values) and back.
#pragma once

#include <cstdint>
#include <cstring>

namespace vernier_cuda_test {
inline uint16_t to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return static_cast<uint16_t>((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}
inline float from_bf16(uint16_t h) {
  const uint32_t b = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
}  // namespace vernier_cuda_test
