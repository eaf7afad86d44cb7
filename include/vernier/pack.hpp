// vernier/pack.hpp — b-bit codes in bytes (b = 1..8), the LSB-first layout quantize.hpp documents.
#pragma once

#include <cstdint>

namespace vernier {

constexpr int64_t packed_bytes(int64_t count, int bits) { return (count * bits + 7) / 8; }

// Writes n codes (each masked to `bits` bits) into out (packed_bytes(n, bits) bytes, zeroed first).
void pack_codes(const int32_t* codes, int64_t n, int bits, uint8_t* out);
// Reads n codes; sign_extend turns each b-bit field into a two's complement value.
void unpack_codes(const uint8_t* in, int64_t n, int bits, bool sign_extend, int32_t* codes);
int32_t unpack_code(const uint8_t* in, int64_t index, int bits, bool sign_extend);

}  // namespace vernier
