// Test helper for the Python interop tests: exposes vernier's scalar float codecs on files.
//   vernier_codec_dump decode FORMAT OUT          every code's float32 value, code order
//   vernier_codec_dump encode FORMAT MODE IN OUT  float32 input → codes (uint8, or uint16 LE);
//                                                 MODE is sat or nonsat (round to nearest even)
// FORMAT: fp16, bf16, fp8_e4m3, fp8_e5m2.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "vernier/float_codecs.hpp"

using namespace vernier;

namespace {
int bits_of(const std::string& f) {
  if (f == "fp16" || f == "bf16") return 16;
  if (f == "fp8_e4m3" || f == "fp8_e5m2") return 8;
  return 0;
}

float decode(const std::string& f, uint32_t c) {
  if (f == "fp16") return fp16_to_float(static_cast<uint16_t>(c));
  if (f == "bf16") return bf16_to_float(static_cast<uint16_t>(c));
  if (f == "fp8_e4m3") return fp8_e4m3_to_float(static_cast<uint8_t>(c));
  return fp8_e5m2_to_float(static_cast<uint8_t>(c));
}

uint32_t encode(const std::string& f, float x, Saturation s) {
  if (f == "fp16") return fp16_from_float(x, Rounding::nearest_even, s);
  if (f == "bf16") return bf16_from_float(x, Rounding::nearest_even, s);
  if (f == "fp8_e4m3") return fp8_e4m3_from_float(x, s);
  return fp8_e5m2_from_float(x, s);
}

int usage() {
  std::fprintf(stderr, "usage: vernier_codec_dump decode FORMAT OUT | encode FORMAT sat|nonsat IN OUT\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string cmd = argv[1], fmt = argv[2];
  const int bits = bits_of(fmt);
  if (bits == 0) return usage();
  if (cmd == "decode" && argc == 4) {
    std::vector<float> out(1u << bits);
    for (uint32_t c = 0; c < out.size(); ++c) out[c] = decode(fmt, c);
    std::ofstream o(argv[3], std::ios::binary);
    o.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size() * 4));
    return o ? 0 : 1;
  }
  if (cmd == "encode" && argc == 6) {
    const std::string mode = argv[3];
    if (mode != "sat" && mode != "nonsat") return usage();
    const Saturation s = mode == "sat" ? Saturation::saturate : Saturation::non_saturating;
    std::ifstream in(argv[4], std::ios::binary);
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t n = raw.size() / 4;
    std::vector<uint8_t> out(n * static_cast<size_t>(bits / 8));
    for (size_t i = 0; i < n; ++i) {
      float x;
      std::memcpy(&x, raw.data() + 4 * i, 4);
      const uint32_t c = encode(fmt, x, s);
      if (bits == 8) {
        out[i] = static_cast<uint8_t>(c);
      } else {
        out[2 * i] = static_cast<uint8_t>(c & 0xff);
        out[2 * i + 1] = static_cast<uint8_t>(c >> 8);
      }
    }
    std::ofstream o(argv[5], std::ios::binary);
    o.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return o ? 0 : 1;
  }
  return usage();
}
