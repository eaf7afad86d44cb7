// The W4A16 kernel's tiles (vernier/cuda_w4.hpp): the repack, its inverse for tests, the host reference.
// Pure C++ (no CUDA): built with the CPU library and tested in the normal suite.
#include <cmath>
#include <stdexcept>

#include "vernier/cuda_w4.hpp"
#include "vernier/float_codecs.hpp"

namespace vernier::cuda {

namespace {
constexpr int64_t kRowTile = 16, kChunk = 64, kLanes = 32, kWords = 4;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::invalid_argument("W4A16 repack of " + name + ": " + what);
}

// Where fragment element e (0..7) of lane l's step t in chunk c lies: row offset in the tile and column.
struct Place {
  int64_t row, col;
};
Place place(int64_t c, int t, int lane, int e) {
  const int g = lane >> 2, i = lane & 3;
  // m16n8k16 A fragment: elements 0,1 row g; 2,3 row g+8; 4,5 row g; 6,7 row g+8. Elements 0..3 take
  // logical k 2i, 2i+1 and 4..7 take 2i+8, 2i+9; here logical (2i + j) ↦ physical 4(t&1) + j and
  // (2i + 8 + j) ↦ 4(t&1) + 2 + j, inside the lane's 8 columns 64c + 32(t >> 1) + 8i + [0, 8).
  const int row = g + ((e >> 1) & 1) * 8;
  const int j = (e & 1) + ((e >> 2) & 1) * 2;
  return {row, c * kChunk + 32 * (t >> 1) + 8 * i + 4 * (t & 1) + j};
}

// Nibble position of fragment element e in its word: element 2r at nibble r, 2r + 1 at nibble r + 4.
int nibble_of(int e) { return (e >> 1) + (e & 1) * 4; }

int64_t group_of(const W4Tiles& t, int64_t col) {
  return std::min(col / t.group, t.groups - 1);  // the padding columns belong to the last group
}
}  // namespace

size_t W4Tiles::bytes() const { return codes.size() * 4 + scales.size() * 4 + zeros.size() * 8; }

W4Tiles pack_w4_tiles(const W4Source& w, const std::string& name) {
  if (w.rows < 1 || w.cols < 1) fail(name, "needs at least one row and one column, got " + std::to_string(w.rows) + " × " + std::to_string(w.cols));
  const int64_t group = w.group == 0 ? w.cols : w.group;
  if (w.group != 0 && (w.group < 32 || w.group % 32 != 0)) {
    fail(name, "group size " + std::to_string(w.group) + " is not a multiple of 32 (the kernel scales 32 columns at a time)");
  }
  const int64_t groups = (w.cols + group - 1) / group;
  const auto n = static_cast<size_t>(w.rows * w.cols), ng = static_cast<size_t>(w.rows * groups);
  if (w.codes.size() != n) fail(name, "expected " + std::to_string(n) + " codes, got " + std::to_string(w.codes.size()));
  if (w.scales.size() != ng) fail(name, "expected " + std::to_string(ng) + " scales (rows × groups), got " + std::to_string(w.scales.size()));
  if (!w.zeros.empty() && w.zeros.size() != ng) fail(name, "expected " + std::to_string(ng) + " zero points, got " + std::to_string(w.zeros.size()));
  for (size_t i = 0; i < n; ++i) {
    if (w.codes[i] > 15) fail(name, "code " + std::to_string(w.codes[i]) + " at row " + std::to_string(i / w.cols) + ", column " + std::to_string(i % w.cols) + " is not 4-bit");
  }
  std::vector<uint16_t> half(ng);
  for (size_t i = 0; i < ng; ++i) {
    const float s = w.scales[i];
    half[i] = fp16_from_float(s);
    if (!std::isfinite(s) || fp16_to_float(half[i]) != s) {
      fail(name, "scale " + std::to_string(s) + " of row " + std::to_string(i / groups) + ", group " + std::to_string(i % groups) +
                     " is not exactly an FP16 value (the kernel stores FP16 scales, as GPTQ and AWQ checkpoints do)");
    }
    if (!w.zeros.empty() && w.zeros[i] > 15) fail(name, "zero point " + std::to_string(w.zeros[i]) + " of row " + std::to_string(i / groups) + " is not 4-bit");
  }
  if (!w.perm.empty()) {
    if (w.perm.size() != static_cast<size_t>(w.cols)) fail(name, "act-order permutation has " + std::to_string(w.perm.size()) + " entries for " + std::to_string(w.cols) + " columns");
    std::vector<bool> seen(static_cast<size_t>(w.cols), false);
    for (const int32_t p : w.perm) {
      if (p < 0 || p >= w.cols || seen[static_cast<size_t>(p)]) fail(name, "act-order permutation is not a permutation of 0…" + std::to_string(w.cols - 1) + " (entry " + std::to_string(p) + ")");
      seen[static_cast<size_t>(p)] = true;
    }
  }

  W4Tiles t;
  t.rows = w.rows;
  t.cols = w.cols;
  t.row_tiles = (w.rows + kRowTile - 1) / kRowTile;
  t.chunks = (w.cols + kChunk - 1) / kChunk;
  t.group = group;
  t.groups = groups;
  t.asym = !w.zeros.empty();
  t.perm = w.perm;
  const auto zero_at = [&](int64_t r, int64_t g) -> uint32_t { return t.asym ? w.zeros[static_cast<size_t>(r * groups + g)] : 8u; };
  t.codes.assign(static_cast<size_t>(t.row_tiles * t.chunks * kLanes * kWords), 0);
  for (int64_t rt = 0; rt < t.row_tiles; ++rt) {
    for (int64_t c = 0; c < t.chunks; ++c) {
      uint32_t* out = &t.codes[static_cast<size_t>((rt * t.chunks + c) * kLanes * kWords)];
      for (int lane = 0; lane < kLanes; ++lane) {
        for (int s = 0; s < kWords; ++s) {
          uint32_t word = 0;
          for (int e = 0; e < 8; ++e) {
            const Place p = place(c, s, lane, e);
            const int64_t r = rt * kRowTile + p.row;
            uint32_t u = 8;  // padding rows: symmetric zero (their scale is 0 too)
            if (r < w.rows) u = p.col < w.cols ? w.codes[static_cast<size_t>(r * w.cols + p.col)] : zero_at(r, groups - 1);
            word |= u << (4 * nibble_of(e));
          }
          out[lane * kWords + s] = word;
        }
      }
    }
  }
  t.scales.assign(static_cast<size_t>(t.row_tiles * groups * 8), 0);
  if (t.asym) t.zeros.assign(static_cast<size_t>(t.row_tiles * groups), 0);
  for (int64_t rt = 0; rt < t.row_tiles; ++rt) {
    for (int64_t g = 0; g < groups; ++g) {
      uint64_t z = 0;
      for (int p = 0; p < kRowTile; ++p) {
        const int64_t r = rt * kRowTile + p;
        const uint16_t h = r < w.rows ? half[static_cast<size_t>(r * groups + g)] : 0;
        uint32_t& word = t.scales[static_cast<size_t>((rt * groups + g) * 8 + (p & 7))];
        word |= static_cast<uint32_t>(h) << (p < 8 ? 0 : 16);
        if (r < w.rows) z |= static_cast<uint64_t>(zero_at(r, g)) << (4 * p);
      }
      if (t.asym) t.zeros[static_cast<size_t>(rt * groups + g)] = z;
    }
  }
  return t;
}

W4Entry w4_tiles_entry(const W4Tiles& t, int64_t r, int64_t k) {
  if (r < 0 || r >= t.rows || k < 0 || k >= t.cols) throw std::out_of_range("w4_tiles_entry: outside the matrix");
  const int64_t rt = r / kRowTile, c = k / kChunk, p = r % kRowTile;
  // invert place(): the lane and step that hold (p, k)
  const int64_t off = k % kChunk, s = 2 * (off / 32) + ((off % 8) / 4), i = (off % 32) / 8, j = off % 4;
  const int g = static_cast<int>(p % 8), lane = 4 * g + static_cast<int>(i);
  const int e = static_cast<int>((p / 8) * 2 + (j & 1) + (j >> 1) * 4);
  const uint32_t word = t.codes[static_cast<size_t>(((rt * t.chunks + c) * kLanes + lane) * kWords + s)];
  W4Entry out{};
  out.code = static_cast<uint8_t>((word >> (4 * nibble_of(e))) & 15u);
  const int64_t gi = group_of(t, k);
  const uint32_t sw = t.scales[static_cast<size_t>((rt * t.groups + gi) * 8 + g)];
  out.scale = fp16_to_float(static_cast<uint16_t>(p < 8 ? sw & 0xFFFFu : sw >> 16));
  out.zero = t.asym ? static_cast<uint8_t>((t.zeros[static_cast<size_t>(rt * t.groups + gi)] >> (4 * p)) & 15u) : 8;
  return out;
}

void w4_reference(const W4Source& w, const float* x, int64_t m, double* y) {
  const int64_t group = w.group == 0 ? w.cols : w.group, groups = (w.cols + group - 1) / group;
  for (int64_t b = 0; b < m; ++b) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double sum = 0;
      for (int64_t k = 0; k < w.cols; ++k) {
        const auto gi = static_cast<size_t>(r * groups + k / group);
        const double z = w.zeros.empty() ? 8.0 : w.zeros[gi];
        const int64_t in = w.perm.empty() ? k : w.perm[static_cast<size_t>(k)];
        sum += static_cast<double>(w.scales[gi]) * (w.codes[static_cast<size_t>(r * w.cols + k)] - z) * x[b * w.cols + in];
      }
      y[b * w.rows + r] = sum;
    }
  }
}

}  // namespace vernier::cuda
