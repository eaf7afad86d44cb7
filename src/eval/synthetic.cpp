#include "vernier/synthetic.hpp"

#include <cmath>
#include <numbers>

namespace vernier {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }

double Rng::normal() {
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double Rng::student_t(int dof) {
  double chi2 = 0.0;
  for (int i = 0; i < dof; ++i) {
    const double z = normal();
    chi2 += z * z;
  }
  return normal() / std::sqrt(chi2 / dof);
}

std::vector<float> synthetic_matrix(const SyntheticSpec& spec) {
  Rng rng(spec.seed);
  std::vector<double> row_gain(static_cast<size_t>(spec.rows));
  for (auto& g : row_gain) g = std::exp(spec.row_spread * rng.normal());
  std::vector<double> col_gain(static_cast<size_t>(spec.cols), 1.0);
  const int64_t outliers = static_cast<int64_t>(std::ceil(spec.outlier_fraction * static_cast<double>(spec.cols)));
  for (int64_t i = 0; i < outliers; ++i) {
    col_gain[static_cast<size_t>(rng.next() % static_cast<uint64_t>(spec.cols))] = spec.outlier_gain;
  }
  // Student-t with dof > 2 has variance dof / (dof - 2): normalise so `scale` is the RMS.
  const double t_std = spec.tail_dof > 2 ? std::sqrt(spec.tail_dof / (spec.tail_dof - 2.0)) : 1.0;
  std::vector<float> w(static_cast<size_t>(spec.rows * spec.cols));
  for (int64_t r = 0; r < spec.rows; ++r) {
    for (int64_t c = 0; c < spec.cols; ++c) {
      const double v = rng.student_t(spec.tail_dof) / t_std;
      w[static_cast<size_t>(r * spec.cols + c)] =
          static_cast<float>(spec.scale * row_gain[static_cast<size_t>(r)] * col_gain[static_cast<size_t>(c)] * v);
    }
  }
  return w;
}

std::vector<SyntheticTensor> synthetic_llama_block(int64_t dim, int64_t ffn, int64_t kv_dim, uint64_t seed) {
  struct Shape { const char* name; int64_t rows, cols; };
  // GGUF shapes are (out, in): rows = output features, cols = input features.
  const Shape shapes[] = {
      {"blk.0.attn_q.weight", dim, dim},   {"blk.0.attn_k.weight", kv_dim, dim},
      {"blk.0.attn_v.weight", kv_dim, dim}, {"blk.0.attn_output.weight", dim, dim},
      {"blk.0.ffn_gate.weight", ffn, dim}, {"blk.0.ffn_up.weight", ffn, dim},
      {"blk.0.ffn_down.weight", dim, ffn},
  };
  std::vector<SyntheticTensor> out;
  uint64_t s = seed;
  for (const Shape& sh : shapes) {
    SyntheticSpec spec;
    spec.rows = sh.rows;
    spec.cols = sh.cols;
    spec.seed = splitmix64(s);
    out.push_back({sh.name, sh.rows, sh.cols, synthetic_matrix(spec)});
  }
  return out;
}

}  // namespace vernier
