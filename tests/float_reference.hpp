// A second, deliberately different implementation of the float formats, read straight off the
// specifications, for the codec tests:
//   * decoding by the textbook formula (-1)^s × 2^(e - bias) × (1 + m / 2^M), or 2^(1 - bias) × m / 2^M
//     for subnormals, in double;
//   * encoding by searching the sorted table of every representable magnitude for the nearest one,
//     ties going to the even code, and overflow decided as IEEE 754 does: round as if the exponent
//     were unbounded, so the candidate above the largest finite value is max + ulp(max).
// It shares no code with src/formats.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "vernier/float_codecs.hpp"

namespace vernier::testref {

struct FloatSpec {
  int exp_bits;
  int man_bits;
  int bias;
  bool ieee_specials;  // all-ones exponent is Inf/NaN; else only the all-ones code is NaN (E4M3 fn)
};

inline constexpr FloatSpec kFp16{5, 10, 15, true};
inline constexpr FloatSpec kBf16{8, 7, 127, true};
inline constexpr FloatSpec kE4M3{4, 3, 7, false};
inline constexpr FloatSpec kE5M2{5, 2, 15, true};

inline int total_bits(const FloatSpec& s) { return 1 + s.exp_bits + s.man_bits; }

enum class CodeClass { finite, inf, nan };

inline CodeClass classify(const FloatSpec& s, uint32_t code) {
  const uint32_t mag = code & ((1u << (total_bits(s) - 1)) - 1);
  const uint32_t e = mag >> s.man_bits;
  const uint32_t m = mag & ((1u << s.man_bits) - 1);
  const uint32_t emax = (1u << s.exp_bits) - 1;
  if (s.ieee_specials && e == emax) return m == 0 ? CodeClass::inf : CodeClass::nan;
  if (!s.ieee_specials && e == emax && m == (1u << s.man_bits) - 1) return CodeClass::nan;
  return CodeClass::finite;
}

inline double decode(const FloatSpec& s, uint32_t code) {
  const int nb = total_bits(s);
  const bool neg = (code >> (nb - 1)) & 1;
  const uint32_t mag = code & ((1u << (nb - 1)) - 1);
  const int e = static_cast<int>(mag >> s.man_bits);
  const double m = static_cast<double>(mag & ((1u << s.man_bits) - 1));
  double v;
  switch (classify(s, code)) {
    case CodeClass::nan: return std::numeric_limits<double>::quiet_NaN();
    case CodeClass::inf: v = std::numeric_limits<double>::infinity(); break;
    case CodeClass::finite:
      v = e == 0 ? std::ldexp(m / std::ldexp(1.0, s.man_bits), 1 - s.bias)
                 : std::ldexp(1.0 + m / std::ldexp(1.0, s.man_bits), e - s.bias);
  }
  return neg ? -v : v;
}

// Every finite non-negative magnitude code in increasing order (codes are monotonic in magnitude).
inline std::vector<uint32_t> finite_magnitudes(const FloatSpec& s) {
  std::vector<uint32_t> out;
  for (uint32_t c = 0; c < (1u << (total_bits(s) - 1)); ++c) {
    if (classify(s, c) == CodeClass::finite) out.push_back(c);
  }
  return out;
}

struct Encoded {
  bool overflow = false;  // the result exceeds the largest finite value
  bool is_nan = false;
  bool negative = false;
  uint32_t magnitude = 0;  // valid when !overflow && !is_nan
};

inline Encoded encode(const FloatSpec& s, const std::vector<uint32_t>& mags, double x, Rounding rounding) {
  Encoded r;
  if (std::isnan(x)) { r.is_nan = true; return r; }
  r.negative = std::signbit(x);
  const double a = std::fabs(x);
  const uint32_t max_code = mags.back();
  const double max_v = decode(s, max_code);
  const double above = max_v + std::ldexp(1.0, static_cast<int>((max_code >> s.man_bits)) - s.bias - s.man_bits);
  if (std::isinf(a)) { r.overflow = true; return r; }
  // last magnitude <= a
  size_t lo = 0, hi = mags.size();
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    (decode(s, mags[mid]) <= a ? lo : hi) = mid;
  }
  const double vlo = decode(s, mags[lo]);
  if (rounding == Rounding::toward_zero) {
    r.magnitude = mags[lo];
    return r;  // IEEE: toward zero never overflows to Inf (the caller maps this to max)
  }
  const bool at_top = lo + 1 == mags.size();
  const double vhi = at_top ? above : decode(s, mags[lo + 1]);
  const uint32_t chi = at_top ? max_code + 1 : mags[lo + 1];
  if (a == vlo) { r.magnitude = mags[lo]; return r; }
  const double dlo = a - vlo, dhi = vhi - a;
  uint32_t pick;
  if (dlo < dhi) pick = mags[lo];
  else if (dhi < dlo) pick = chi;
  else pick = (mags[lo] & 1) == 0 ? mags[lo] : chi;  // tie: the even code
  if (at_top && pick == chi) { r.overflow = true; return r; }
  if (a > above) { r.overflow = true; return r; }
  r.magnitude = pick;
  return r;
}

// Inputs that exercise every rounding boundary of the format: each representable magnitude, each
// midpoint between neighbours (the ties), the float32 values just either side of each midpoint, and
// the region past the largest finite value; all with both signs, plus zeros, Inf and NaN.
inline std::vector<float> boundary_sweep(const FloatSpec& s) {
  const auto mags = finite_magnitudes(s);
  std::vector<float> out;
  const auto push_both = [&](float v) { out.push_back(v); out.push_back(-v); };
  for (size_t i = 0; i < mags.size(); ++i) {
    const double a = decode(s, mags[i]);
    const double b = i + 1 < mags.size()
                         ? decode(s, mags[i + 1])
                         : a + std::ldexp(1.0, static_cast<int>(mags[i] >> s.man_bits) - s.bias - s.man_bits);
    const float mid = static_cast<float>((a + b) / 2);  // exact: one bit more than the format has
    push_both(static_cast<float>(a));
    push_both(mid);
    push_both(std::nextafter(mid, 0.0f));
    push_both(std::nextafter(mid, std::numeric_limits<float>::infinity()));
    push_both(std::nextafter(static_cast<float>(a), std::numeric_limits<float>::infinity()));
    if (i + 1 == mags.size()) {
      push_both(static_cast<float>(b));
      push_both(static_cast<float>(2 * b));
      push_both(std::numeric_limits<float>::max());
    }
  }
  push_both(std::numeric_limits<float>::denorm_min());
  push_both(std::numeric_limits<float>::min());
  push_both(std::numeric_limits<float>::infinity());
  out.push_back(0.0f);
  out.push_back(-0.0f);
  out.push_back(std::numeric_limits<float>::quiet_NaN());
  return out;
}

}  // namespace vernier::testref
