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

namespace {
// The column gains of synthetic_rows: outlier columns drawn from the matrix's own stream.
std::vector<double> column_gains(const SyntheticSpec& spec) {
  uint64_t x = spec.seed ^ 0x5bd1e9955bd1e995ull;
  Rng rng(splitmix64(x));
  std::vector<double> g(static_cast<size_t>(spec.cols), 1.0);
  const int64_t outliers = static_cast<int64_t>(std::ceil(spec.outlier_fraction * static_cast<double>(spec.cols)));
  for (int64_t i = 0; i < outliers; ++i) g[static_cast<size_t>(rng.next() % static_cast<uint64_t>(spec.cols))] = spec.outlier_gain;
  return g;
}
}  // namespace

void synthetic_rows(const SyntheticSpec& spec, int64_t r0, int64_t r1, float* out) {
  const std::vector<double> col_gain = column_gains(spec);
  const int dof = spec.tail_dof;
  const double t_std = dof > 2 ? std::sqrt(dof / (dof - 2.0)) : 1.0;
  for (int64_t r = r0; r < r1; ++r) {
    uint64_t x = spec.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(r);
    Rng rng(splitmix64(x));
    const double row = spec.scale * std::exp(spec.row_spread * rng.normal()) / t_std;
    float* o = out + (r - r0) * spec.cols;
    for (int64_t c = 0; c < spec.cols; c += 2) {
      // Box–Muller's pair: two independent normals from two uniforms
      double u1 = rng.uniform();
      while (u1 <= 0.0) u1 = rng.uniform();
      const double rad = std::sqrt(-2.0 * std::log(u1)), ang = 2.0 * std::numbers::pi * rng.uniform();
      const double z[2] = {rad * std::cos(ang), rad * std::sin(ang)};
      for (int k = 0; k < 2 && c + k < spec.cols; ++k) {
        double chi2 = 0.0;
        if (dof % 2 == 0) {
          double prod = 1.0;
          for (int i = 0; i < dof / 2; ++i) {
            double u = rng.uniform();
            while (u <= 0.0) u = rng.uniform();
            prod *= u;
          }
          chi2 = -2.0 * std::log(prod);
        } else {
          for (int i = 0; i < dof; ++i) {
            const double n = rng.normal();
            chi2 += n * n;
          }
        }
        const double t = dof > 0 ? z[k] / std::sqrt(chi2 / dof) : z[k];
        o[c + k] = static_cast<float>(row * col_gain[static_cast<size_t>(c + k)] * t);
      }
    }
  }
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
