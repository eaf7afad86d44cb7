// The weight-only GEMV's layout (vernier/cuda_wo.hpp): validation, the repack, and the host reference.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "vernier/cuda_wo.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/nf4.hpp"

namespace vernier::cuda {

namespace {
[[noreturn]] void bad(const std::string& name, const std::string& what) { throw std::invalid_argument(name + ": " + what); }

// weights per 16-byte chunk of codes
int64_t chunk_values(WoFormat f) { return f == WoFormat::nf4 ? 32 : 16; }
}  // namespace

const char* wo_format_name(WoFormat f) {
  switch (f) {
    case WoFormat::int8: return "int8";
    case WoFormat::fp8_e4m3: return "fp8_e4m3";
    case WoFormat::nf4: return "nf4";
  }
  return "?";
}

int64_t WoSource::groups() const { return group == 0 ? 1 : (cols + group - 1) / group; }

size_t WoLayout::bytes() const {
  return codes.size() + scales.size() * 4 + zeros.size() + dq_codes.size() + dq_absmax.size() * 4;
}

WoLayout pack_wo(const WoSource& w, const std::string& name) {
  const std::string fmt = wo_format_name(w.format);
  if (w.rows <= 0 || w.cols <= 0) bad(name, "a " + fmt + " matrix needs rows and columns (got " + std::to_string(w.rows) + " × " + std::to_string(w.cols) + ")");
  const int64_t cv = chunk_values(w.format);
  if (w.group < 0 || (w.group != 0 && w.group % cv != 0)) {
    bad(name, fmt + " on the GPU takes groups of a multiple of " + std::to_string(cv) + " values or one per row; got " + std::to_string(w.group));
  }
  // the kernel's group index is a multiply-high division, exact below 2^16 chunks per row
  if ((w.cols + cv - 1) / cv >= (int64_t{1} << 16)) bad(name, std::to_string(w.cols) + " columns; the kernel takes fewer than " + std::to_string(cv << 16));
  const int64_t groups = w.groups(), n = w.rows * w.cols, ng = w.rows * groups;
  if (static_cast<int64_t>(w.codes.size()) != n) bad(name, "expected " + std::to_string(n) + " codes, got " + std::to_string(w.codes.size()));
  const bool dq = w.format == WoFormat::nf4 && !w.dq_codes.empty();
  const bool asym = w.format == WoFormat::int8 && !w.symmetric;
  if (dq) {
    if (!w.scales.empty()) bad(name, "NF4 with double quantization stores absmax codes, not scales");
    if (static_cast<int64_t>(w.dq_codes.size()) != ng) bad(name, "expected " + std::to_string(ng) + " absmax codes, got " + std::to_string(w.dq_codes.size()));
    if (w.dq_block <= 0) bad(name, "double quantization block of " + std::to_string(w.dq_block) + " absmax values");
    const int64_t blocks = (ng + w.dq_block - 1) / w.dq_block;
    if (static_cast<int64_t>(w.dq_absmax.size()) != blocks) bad(name, "expected " + std::to_string(blocks) + " double-quantization blocks, got " + std::to_string(w.dq_absmax.size()));
    for (float a : w.dq_absmax) {
      if (!std::isfinite(a)) bad(name, "a double-quantization block absmax is not finite");
    }
    if (!std::isfinite(w.dq_offset)) bad(name, "the double-quantization offset is not finite");
  } else if (static_cast<int64_t>(w.scales.size()) != ng) {
    bad(name, "expected " + std::to_string(ng) + " scales (" + std::to_string(w.rows) + " rows × " + std::to_string(groups) + " groups), got " + std::to_string(w.scales.size()));
  }
  for (size_t i = 0; i < w.scales.size(); ++i) {
    if (!std::isfinite(w.scales[i])) bad(name, "scale " + std::to_string(i) + " is not finite");
  }
  if (asym && static_cast<int64_t>(w.zeros.size()) != ng) bad(name, "expected " + std::to_string(ng) + " zero points, got " + std::to_string(w.zeros.size()));
  if (!asym && !w.zeros.empty()) bad(name, "zero points are for INT8 with zero points only");

  WoLayout l;
  l.format = w.format;
  l.rows = w.rows;
  l.cols = w.cols;
  l.group = w.group == 0 ? w.cols : w.group;
  l.groups = groups;
  l.asym = asym;
  l.dq = dq;
  const int64_t chunks = (w.cols + cv - 1) / cv;
  l.row_bytes = chunks * 16;
  // padding: codes of weight zero where the format has one fixed (INT8 with zero points: 128); the kernel
  // reads activations of 0 past the last column, so the padding never contributes either way
  const uint8_t pad = w.format == WoFormat::nf4 ? 7 : w.format == WoFormat::fp8_e4m3 ? 0 : 128;
  l.codes.assign(static_cast<size_t>(w.rows * l.row_bytes), w.format == WoFormat::nf4 ? uint8_t{0x77} : pad);
  for (int64_t r = 0; r < w.rows; ++r) {
    uint8_t* dst = l.codes.data() + r * l.row_bytes;
    const uint8_t* src = w.codes.data() + r * w.cols;
    for (int64_t k = 0; k < w.cols; ++k) {
      const uint8_t c = src[k];
      switch (w.format) {
        case WoFormat::int8:
          // symmetric: q + 128 with zero point 128, so one unsigned path serves both modes
          dst[k] = w.symmetric ? static_cast<uint8_t>(static_cast<int>(static_cast<int8_t>(c)) + 128) : c;
          break;
        case WoFormat::fp8_e4m3:
          if ((c & 0x7F) == 0x7F) bad(name, "FP8 E4M3 code at row " + std::to_string(r) + ", column " + std::to_string(k) + " is NaN");
          dst[k] = c;
          break;
        case WoFormat::nf4:
          if (c > 15) bad(name, "NF4 code " + std::to_string(c) + " at row " + std::to_string(r) + ", column " + std::to_string(k) + " (expected 0..15)");
          dst[k / 2] = static_cast<uint8_t>(k % 2 == 0 ? (dst[k / 2] & 0xF0) | c : (dst[k / 2] & 0x0F) | (c << 4));
          break;
      }
    }
  }
  l.scales = w.scales;
  if (asym) l.zeros = w.zeros;
  if (dq) {
    l.dq_codes = w.dq_codes;
    l.dq_absmax = w.dq_absmax;
    l.dq_block = w.dq_block;
    l.dq_offset = w.dq_offset;
  }
  return l;
}

double wo_weight(const WoLayout& l, int64_t r, int64_t k) {
  // padding columns (k ≥ cols, up to the padded row) belong to the row's last group, as in the kernel
  const int64_t gi = r * l.groups + std::min(k / l.group, l.groups - 1);
  const uint8_t* row = l.codes.data() + r * l.row_bytes;
  switch (l.format) {
    case WoFormat::int8: {
      const int z = l.asym ? l.zeros[static_cast<size_t>(gi)] : 128;
      return static_cast<double>(l.scales[static_cast<size_t>(gi)]) * (static_cast<int>(row[k]) - z);
    }
    case WoFormat::fp8_e4m3:
      return static_cast<double>(l.scales[static_cast<size_t>(gi)]) * fp8_e4m3_to_float(row[k]);
    case WoFormat::nf4: {
      const int code = k % 2 == 0 ? row[k / 2] & 15 : row[k / 2] >> 4;
      float absmax;
      if (l.dq) {
        // as the kernel: one float32 product, then one float32 sum (no fused multiply-add)
        const float p = dynamic8_decode(l.dq_codes[static_cast<size_t>(gi)]) * l.dq_absmax[static_cast<size_t>(gi / l.dq_block)];
        absmax = p + l.dq_offset;
      } else {
        absmax = l.scales[static_cast<size_t>(gi)];
      }
      return static_cast<double>(absmax) * nf4_decode(static_cast<uint8_t>(code));
    }
  }
  return 0;
}

void wo_reference(const WoLayout& l, const float* x, int64_t m, double* y) {
  std::vector<double> w(static_cast<size_t>(l.cols));
  for (int64_t r = 0; r < l.rows; ++r) {
    for (int64_t k = 0; k < l.cols; ++k) w[static_cast<size_t>(k)] = wo_weight(l, r, k);
    for (int64_t b = 0; b < m; ++b) {
      double s = 0;
      for (int64_t k = 0; k < l.cols; ++k) s += w[static_cast<size_t>(k)] * x[b * l.cols + k];
      y[b * l.rows + r] = s;
    }
  }
}

}  // namespace vernier::cuda
