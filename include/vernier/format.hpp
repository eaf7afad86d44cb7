// vernier/format.hpp — the one registry of numeric formats.
//
// The CLI's format list, `vernier formats`, the tests and the benchmarks all iterate over kFormats, so
// a new format is one codec file and one row here. Facts in a row are checked against the codecs by
// the tests (levels by enumeration, max/min by decoding the extreme codes).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vernier {

enum class FormatId : uint8_t {
  f32, f16, bf16, fp8_e4m3, fp8_e5m2,
  int8, int7, int6, int5, int4, int3, int2,
  uint8, uint7, uint6, uint5, uint4, uint3, uint2,
  nf4,
};

enum class FormatKind : uint8_t {
  floating,  // a binary float: value = code's float value (times a scale, for FP8)
  integer,   // an affine integer code: value = (q - zero_point) * scale
  lookup,    // a table of levels: value = level[q] * scale (NF4)
};

struct FormatInfo {
  FormatId id;
  std::string_view name;
  FormatKind kind;
  int bits;
  bool is_signed;
  double max_finite;     // largest finite value (integers: the largest code)
  double min_normal;     // smallest positive normal (integers/NF4: smallest positive code/level)
  double min_subnormal;  // smallest positive subnormal; 0 where the format has none
  uint64_t levels;       // distinct finite values (+0 and -0 counted once)
  double step_near_one;  // gap between 1.0 and its neighbour: floats, the next value above (machine
                         // epsilon); integer and NF4 codes, the next level below when the scale puts
                         // the top code at 1.0 (absmax scaling)
  std::string_view role;
};

inline constexpr std::array<FormatInfo, 20> kFormats = {{
    {FormatId::f32, "fp32", FormatKind::floating, 32, true, 3.4028234663852886e38,
     1.1754943508222875e-38, 1.401298464324817e-45, 4278190079ull, 0x1p-23,
     "reference and master weights; activations and accumulators"},
    {FormatId::f16, "fp16", FormatKind::floating, 16, true, 65504.0, 0x1p-14, 0x1p-24, 63487,
     0x1p-10, "GPU inference weights and activations; overflows past 65504"},
    {FormatId::bf16, "bf16", FormatKind::floating, 16, true, 3.3895313892515355e38, 0x1p-126,
     0x1p-133, 65279, 0x1p-7, "training and inference: fp32's range, 8 significant bits"},
    {FormatId::fp8_e4m3, "fp8_e4m3", FormatKind::floating, 8, true, 448.0, 0x1p-6, 0x1p-9, 253,
     0x1p-3, "H100/Ada weights and activations with a per-tensor/channel scale"},
    {FormatId::fp8_e5m2, "fp8_e5m2", FormatKind::floating, 8, true, 57344.0, 0x1p-14, 0x1p-16, 247,
     0x1p-2, "gradients and KV cache: wide range, coarse steps"},
    {FormatId::int8, "int8", FormatKind::integer, 8, true, 127, 1, 0, 256, 1.0 / 127,
     "W8A8 and weight-only inference with per-channel scales; KV cache"},
    {FormatId::int7, "int7", FormatKind::integer, 7, true, 63, 1, 0, 128, 1.0 / 63,
     "mixed-precision layers"},
    {FormatId::int6, "int6", FormatKind::integer, 6, true, 31, 1, 0, 64, 1.0 / 31,
     "mixed-precision layers"},
    {FormatId::int5, "int5", FormatKind::integer, 5, true, 15, 1, 0, 32, 1.0 / 15,
     "mixed-precision layers"},
    {FormatId::int4, "int4", FormatKind::integer, 4, true, 7, 1, 0, 16, 1.0 / 7,
     "weight-only LLM inference with per-group scales (GPTQ, AWQ)"},
    {FormatId::int3, "int3", FormatKind::integer, 3, true, 3, 1, 0, 8, 1.0 / 3,
     "aggressive weight-only; needs error compensation (GPTQ)"},
    {FormatId::int2, "int2", FormatKind::integer, 2, true, 1, 1, 0, 4, 1.0,
     "extreme compression; needs error compensation"},
    {FormatId::uint8, "uint8", FormatKind::integer, 8, false, 255, 1, 0, 256, 1.0 / 255,
     "asymmetric codes with a zero point (activations after ReLU)"},
    {FormatId::uint7, "uint7", FormatKind::integer, 7, false, 127, 1, 0, 128, 1.0 / 127,
     "asymmetric codes with a zero point"},
    {FormatId::uint6, "uint6", FormatKind::integer, 6, false, 63, 1, 0, 64, 1.0 / 63,
     "asymmetric codes with a zero point"},
    {FormatId::uint5, "uint5", FormatKind::integer, 5, false, 31, 1, 0, 32, 1.0 / 31,
     "asymmetric codes with a zero point"},
    {FormatId::uint4, "uint4", FormatKind::integer, 4, false, 15, 1, 0, 16, 1.0 / 15,
     "GPTQ/AWQ packed weights with zero points"},
    {FormatId::uint3, "uint3", FormatKind::integer, 3, false, 7, 1, 0, 8, 1.0 / 7,
     "asymmetric codes with a zero point"},
    {FormatId::uint2, "uint2", FormatKind::integer, 2, false, 3, 1, 0, 4, 1.0 / 3,
     "asymmetric codes with a zero point"},
    {FormatId::nf4, "nf4", FormatKind::lookup, 4, true, 1.0, 0.07958029955625534, 0, 16,
     1.0 - 0.7229568362236023, "QLoRA base weights (bitsandbytes); normal-shaped blocks"},
}};

const FormatInfo& format_info(FormatId id);
// Looks a format up by name, case-insensitive, with the aliases f32/float32, f16/half/float16,
// bfloat16, e4m3/fp8, e5m2. Returns nullptr for an unknown name.
const FormatInfo* find_format(std::string_view name);
// Like find_format, but throws a usage Error that lists every valid name.
const FormatInfo& require_format(std::string_view name);
std::string format_names();  // "fp32, fp16, …, nf4"

}  // namespace vernier
