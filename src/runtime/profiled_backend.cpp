// The profiling backend (backend.hpp): each call of the wrapped backend timed and counted.
#include <chrono>

#include "vernier/backend.hpp"

namespace vernier {

const char* BackendProfile::name(int op) {
  static const char* const names[kOps] = {"matrix products", "RMSNorm", "RoPE", "attention", "SwiGLU", "residual add"};
  return op >= 0 && op < kOps ? names[op] : "?";
}

double BackendProfile::total() const {
  double s = 0;
  for (double v : seconds) s += v;
  return s;
}

namespace {
class ProfiledBackend final : public Backend {
 public:
  ProfiledBackend(std::unique_ptr<Backend> inner, BackendProfile& p) : inner_(std::move(inner)), p_(p) {}
  std::string name() const override { return inner_->name(); }
  PreparedMatrix prepare(GgmlType type, const void* data, int64_t rows, int64_t cols) override {
    return inner_->prepare(type, data, rows, cols);
  }
  PreparedMatrix prepare(const PackedTensor& w) override { return inner_->prepare(w); }
  void matmul(std::span<const MatmulJob> jobs, const float* x, int64_t n) override {
    for (const MatmulJob& j : jobs) p_.weight_bytes += j.m->resident_bytes();
    timed(BackendProfile::matmul, [&] { inner_->matmul(jobs, x, n); });
  }
  void rmsnorm(float* out, const float* x, const float* w, int64_t n, int64_t d, float eps) override {
    timed(BackendProfile::rmsnorm, [&] { inner_->rmsnorm(out, x, w, n, d, eps); });
  }
  void rope(float* v, int64_t n, int64_t width, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos0) override {
    timed(BackendProfile::rope, [&] { inner_->rope(v, n, width, head_dim, rope_dim, theta, pos0); });
  }
  void attention(const AttentionArgs& a) override {
    timed(BackendProfile::attention, [&] { inner_->attention(a); });
  }
  void swiglu(float* gate, const float* up, int64_t n) override {
    timed(BackendProfile::swiglu, [&] { inner_->swiglu(gate, up, n); });
  }
  void add(float* x, const float* y, int64_t n) override {
    timed(BackendProfile::add, [&] { inner_->add(x, y, n); });
  }

 private:
  template <class F>
  void timed(int op, F f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    p_.seconds[op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++p_.calls[op];
  }
  std::unique_ptr<Backend> inner_;
  BackendProfile& p_;
};
}  // namespace

std::unique_ptr<Backend> make_profiled_backend(std::unique_ptr<Backend> inner, BackendProfile& profile) {
  return std::make_unique<ProfiledBackend>(std::move(inner), profile);
}

}  // namespace vernier
