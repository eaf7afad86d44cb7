// vernier/synthetic.hpp — seeded, LLaMA-shaped synthetic weights for the demo, tests and benchmarks.
//
// Real LLM weight matrices are not Gaussian with one scale: values are heavy-tailed, rows (output
// channels) have ranges that differ by several times, and a few input channels carry outliers an
// order of magnitude larger than the rest (the "emergent features" that make per-tensor INT8 fail).
// synthetic_matrix() builds exactly those three traits from a seed, with a generator that gives the
// same numbers on every platform (no std:: distributions, whose output is implementation-defined).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vernier {

// xoshiro256** seeded through splitmix64: small, fast, identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();   // [0, 1)
  double normal();    // standard normal (Box–Muller)
  double student_t(int dof);

 private:
  uint64_t s_[4];
};

struct SyntheticSpec {
  int64_t rows = 256;
  int64_t cols = 256;
  uint64_t seed = 1;
  double scale = 0.02;           // typical weight RMS
  int tail_dof = 6;              // Student-t degrees of freedom for the heavy tails
  double row_spread = 0.3;       // row gains are exp(N(0, row_spread²))
  double outlier_fraction = 0.004;  // share of input columns that carry outliers
  double outlier_gain = 6.0;     // those columns are this many times larger
};

std::vector<float> synthetic_matrix(const SyntheticSpec& spec);

// Rows [r0, r1) of a matrix with synthetic_matrix's distribution (not its numbers), made row by row:
// each row draws from its own stream seeded by (seed, row), so any split of the rows over threads
// gives the same matrix, and a Student-t of even dof 2k takes one normal and k uniforms
// (chi-square with 2k dof = -2 ln(U1...Uk)) instead of 2k + 1 normals: about 5x faster. For
// `vernier synth`, whose models reach tens of GiB. out holds (r1 - r0) * cols values.
void synthetic_rows(const SyntheticSpec& spec, int64_t r0, int64_t r1, float* out);

struct SyntheticTensor {
  std::string name;  // GGUF-style name, e.g. blk.0.attn_q.weight
  int64_t rows, cols;
  std::vector<float> data;
};

// One LLaMA block's weight matrices (q, k, v, o, gate, up, down) for a model of width dim, FFN width
// ffn and kv_dim = KV heads × head dim, each with its own seed derived from `seed`.
std::vector<SyntheticTensor> synthetic_llama_block(int64_t dim, int64_t ffn, int64_t kv_dim, uint64_t seed);

}  // namespace vernier
