#include "vernier/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>

#include <unistd.h>

#include "core/thread_pool.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"
#include "vernier/quantize.hpp"

namespace vernier {

namespace {
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Reads n floats once: the F32 dot kernel of the current path with both operands the same buffer
// (the second load of each line hits L1), so the loop is as wide as the best SIMD path.
double read_floats(const float* p, size_t n) {
  double s = 0;
  constexpr size_t kChunk = 1 << 20;
  for (size_t i = 0; i < n; i += kChunk) s += kernel_dot(ggml_type::F32, p + i, p + i, static_cast<int64_t>(std::min(kChunk, n - i)));
  return s;
}

// Copies of a weight matrix to rotate through so that one pass over them all is several times the
// last-level cache: otherwise a matrix that fits in L3 (33 MB of Q4_K at 4096 x 14336 on a 32 MiB
// L3) is timed from cache, not from memory.
int64_t copies_needed(uint64_t bytes) {
  long l3 = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 <= 0) l3 = 32L << 20;
  const uint64_t want = 4 * static_cast<uint64_t>(l3);
  return static_cast<int64_t>(std::max<uint64_t>(1, (want + bytes - 1) / bytes));
}
}  // namespace

namespace {
// A buffer far larger than the last-level cache and one timed streaming read of it over t threads.
class ReadProbe {
 public:
  ReadProbe(uint64_t bytes, int max_threads) : words_(static_cast<size_t>(bytes / 4)), buf_(words_) {
    // first touch: pages faulted in by the threads that will read them
    auto touch = [&](int64_t t) {
      const size_t b = words_ * static_cast<size_t>(t) / static_cast<size_t>(max_threads);
      const size_t e = words_ * static_cast<size_t>(t + 1) / static_cast<size_t>(max_threads);
      for (size_t i = b; i < e; ++i) buf_[i] = static_cast<float>(i & 1023) * 1e-3f;
    };
    ThreadPool::shared().run(max_threads, max_threads, touch);
  }
  double gbs(int t) {  // one pass, 1e9 bytes/s
    std::vector<double> sums(static_cast<size_t>(t));
    auto task = [&](int64_t i) {
      const size_t b = words_ * static_cast<size_t>(i) / static_cast<size_t>(t);
      const size_t e = words_ * static_cast<size_t>(i + 1) / static_cast<size_t>(t);
      sums[static_cast<size_t>(i)] = read_floats(buf_.data() + b, e - b);
    };
    const auto t0 = Clock::now();
    ThreadPool::shared().run(t, t, task);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    for (double v : sums) sink_ = sink_ + v;
    return static_cast<double>(words_ * 4) / s / 1e9;
  }

 private:
  size_t words_;
  std::vector<float> buf_;
  volatile double sink_ = 0;
};
}  // namespace

std::vector<BandwidthResult> measure_read_bandwidth(const std::vector<int>& threads, uint64_t bytes, int repetitions) {
  ReadProbe probe(bytes, *std::max_element(threads.begin(), threads.end()));
  std::vector<BandwidthResult> out;
  for (int t : threads) {
    std::vector<double> gbs;
    for (int r = 0; r < std::max(repetitions, 3); ++r) gbs.push_back(probe.gbs(t));
    out.push_back({t, median(gbs)});
  }
  return out;
}

std::vector<WeightType> default_bench_types() {
  std::vector<WeightType> out;
  for (const WeightType& w : weight_types())
    if (w.is_ggml() ? kernel_supports(w.ggml()) : kernel_supports(w.as_scheme())) out.push_back(w);
  return out;
}

std::vector<MatmulBenchResult> bench_matmul(const BenchOptions& opt, const std::vector<BandwidthResult>& bandwidth) {
  std::vector<MatmulBenchResult> out;
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  const int max_threads = *std::max_element(opt.threads.begin(), opt.threads.end());
  MatmulWorkspace ws;
  std::unique_ptr<ReadProbe> probe;
  if (opt.paired_bandwidth_bytes > 0) probe = std::make_unique<ReadProbe>(opt.paired_bandwidth_bytes, max_threads);
  for (const auto& [m, k] : opt.shapes) {
    std::vector<float> wf(static_cast<size_t>(m * k));
    for (auto& v : wf) v = nd(rng);
    const int64_t max_batch = *std::max_element(opt.batches.begin(), opt.batches.end());
    std::vector<float> x(static_cast<size_t>(max_batch * k)), y(static_cast<size_t>(max_batch * m));
    for (auto& v : x) v = nd(rng) * 50.0f;
    // Times one product per (batch, threads), rotating over the copies; median of the repetitions.
    const auto measure = [&](const std::string& name, const std::string& act, const WeightType& type, uint64_t bytes, int64_t copies,
                             const auto& run) {
      for (int64_t batch : opt.batches) {
        for (int t : opt.threads) {
          if (opt.progress) {
            opt.progress(name + " " + std::to_string(m) + "x" + std::to_string(k) + " batch " + std::to_string(batch) + ", " +
                         std::to_string(t) + " thread(s)");
          }
          run(0, batch, t);  // warm-up
          std::vector<double> times, ratios, paired;
          const auto start = Clock::now();
          int64_t copy = 1 % copies;
          for (int r = 0; r < opt.repetitions; ++r, copy = (copy + 1) % copies) {
            const auto t0 = Clock::now();
            run(copy, batch, t);
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            times.push_back(s);
            if (probe) {  // the bandwidth right after this product, under the same load from neighbours
              paired.push_back(probe->gbs(t));
              ratios.push_back(static_cast<double>(bytes) / s / 1e9 / paired.back());
            }
            if (r >= 2 && std::chrono::duration<double>(Clock::now() - start).count() > opt.min_seconds) break;
          }
          MatmulBenchResult res;
          res.name = name;
          res.type = type;
          res.activations = act;
          res.m = m;
          res.k = k;
          res.batch = batch;
          res.threads = t;
          res.seconds = median(times);
          res.weight_bytes = bytes;
          res.gbs = static_cast<double>(bytes) / res.seconds / 1e9;
          res.gflops = 2.0 * static_cast<double>(m * k * batch) / res.seconds / 1e9;
          if (probe) {
            res.paired_bandwidth_gbs = median(paired);
            res.ratio_to_bandwidth = median(ratios);
          } else {
            for (const auto& b : bandwidth)
              if (b.threads == t && b.gbs > 0) res.ratio_to_bandwidth = res.gbs / b.gbs;
          }
          out.push_back(res);
        }
      }
    };
    for (const WeightType& wt : opt.types) {
      if (wt.is_scheme()) {
        const Scheme& scheme = wt.as_scheme();
        const std::string name = wt.name();
        if (!kernel_supports(scheme)) throw_usage("no weight-only kernel to benchmark for " + name);
        if (opt.progress) opt.progress("quantizing " + std::to_string(m) + "x" + std::to_string(k) + " to " + name);
        const QuantizedTensor q0 = quantize(TensorView{wf.data(), m, k, "bench"}, scheme);
        const uint64_t bytes = q0.codes.size() + 4 * (q0.scales.size() + q0.zero_points.size());
        const int64_t copies = copies_needed(bytes);
        std::vector<QuantizedTensor> qs(static_cast<size_t>(copies), q0);
        for (const Activations act : opt.scheme_activations) {
          if (act != Activations::f32 && opt.dedicated_only && !dedicated_kernel_available(q0, act)) continue;
          if (act == Activations::q8_0 && k % 32 != 0) continue;
          measure(name, activations_name(act), wt, bytes, copies, [&](int64_t copy, int64_t batch, int t) {
            matmul(qs[static_cast<size_t>(copy)], x.data(), batch, y.data(), t, ws, act);
          });
        }
        continue;
      }
      const GgmlType type = wt.ggml();
      const GgmlTypeInfo& ti = wt.ggml_info();
      if (!kernel_supports(type) || !ggml_can_quantize(type)) throw_usage("no kernel to benchmark for type " + std::string(ti.name));
      if (k % ti.block_size != 0) continue;
      if (opt.progress) opt.progress("quantizing " + std::to_string(m) + "x" + std::to_string(k) + " to " + std::string(ti.name));
      const int64_t row_bytes = *ggml_row_bytes(ti, k);
      const auto bytes = static_cast<size_t>(row_bytes * m);
      const int64_t copies = copies_needed(bytes);
      std::vector<uint8_t> w(bytes * static_cast<size_t>(copies));
      ggml_quantize_threads(type, wf.data(), w.data(), m, k, nullptr, max_threads);
      for (int64_t c = 1; c < copies; ++c) std::memcpy(w.data() + c * bytes, w.data(), bytes);
      std::vector<PreparedMatrix> prepared;  // as the runtime holds them (Q4_0 repacked eight rows at a time)
      for (int64_t c = 0; c < copies; ++c) prepared.push_back(prepare_matrix(type, w.data() + c * bytes, m, k));
      measure(std::string(ti.name), wt.activations(), wt, bytes, copies, [&](int64_t copy, int64_t batch, int t) {
        matmul(prepared[static_cast<size_t>(copy)], x.data(), batch, y.data(), t, ws);
      });
    }
  }
  return out;
}

}  // namespace vernier
