#include "vernier/pack.hpp"

#include <cstring>

namespace vernier {

void pack_codes(const int32_t* codes, int64_t n, int bits, uint8_t* out) {
  const int64_t nbytes = packed_bytes(n, bits);
  if (bits == 8) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(codes[i]);
    return;
  }
  std::memset(out, 0, static_cast<size_t>(nbytes));
  const uint32_t mask = (1u << bits) - 1;
  if (bits == 4) {  // the common case: two codes a byte, even element in the low nibble
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
      out[i / 2] = static_cast<uint8_t>((codes[i] & 0xf) | ((codes[i + 1] & 0xf) << 4));
    }
    if (i < n) out[i / 2] = static_cast<uint8_t>(codes[i] & 0xf);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t v = static_cast<uint32_t>(codes[i]) & mask;
    const int64_t bit = i * bits;
    const int64_t byte = bit / 8;
    const int shift = static_cast<int>(bit % 8);
    out[byte] |= static_cast<uint8_t>(v << shift);
    if (shift + bits > 8) out[byte + 1] |= static_cast<uint8_t>(v >> (8 - shift));
  }
}

int32_t unpack_code(const uint8_t* in, int64_t index, int bits, bool sign_extend) {
  const int64_t bit = index * bits;
  const int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  uint32_t v = in[byte] >> shift;
  if (shift + bits > 8) v |= static_cast<uint32_t>(in[byte + 1]) << (8 - shift);
  v &= (1u << bits) - 1;
  if (sign_extend && (v >> (bits - 1))) return static_cast<int32_t>(v) - (1 << bits);
  return static_cast<int32_t>(v);
}

void unpack_codes(const uint8_t* in, int64_t n, int bits, bool sign_extend, int32_t* codes) {
  if (bits == 8) {
    for (int64_t i = 0; i < n; ++i) {
      codes[i] = sign_extend ? static_cast<int8_t>(in[i]) : static_cast<int32_t>(in[i]);
    }
    return;
  }
  if (bits == 4) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t v = (in[i / 2] >> ((i & 1) * 4)) & 0xf;
      codes[i] = sign_extend && (v & 8) ? v - 16 : v;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) codes[i] = unpack_code(in, i, bits, sign_extend);
}

}  // namespace vernier
