// The W4A16 kernel against the host reference (double sums of scale·(u − zero)·x over the 16-bit
// activations' values), on shapes around its tiles (16 rows, 64 columns, 8 activation rows per n-tile,
// 32 per pass), every group size it takes (32, 64, 128, one per row) with groups cut short at the
// matrix's edge, symmetric and asymmetric codes, act order, bfloat16 and FP16 activations, float32 and
// 16-bit outputs, and degenerate groups (all at the zero point, one outlier group, tiny scales).
//
// Budget per output, derived: every product (u − z)·x is exact in float32 (an integer below 16 times a
// 16-bit float), so the only errors are sums: a tensor-core step adds 16 products into its accumulator (at
// most 17 terms; counted twice for the truncating adds Hopper's tensor cores may use, so 34 roundings of
// 2^-24), the group scale's FMA (1), the running sum over the warp's 32-column parts (one FMA each) and the
// 8 warps' partial sums (8): |error| ≤ γ_n · Σ|s·(u − z)·x|, plus the output's rounding to bfloat16 (2^-8
// of |y|) or FP16 (2^-11 of |y|, and half its smallest subnormal).
//
// A plain program (no test framework): it builds on the GPU machine with nvcc and CMake alone (the
// standalone project in src/kernels/cuda/). Exit code 77 where no device exists ("skipped" to CTest).
// VERNIER_CUDA_QUICK=1 runs a subset (for compute-sanitizer, which is slow).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "host_bf16.hpp"
#include "vernier/cuda.hpp"
#include "vernier/cuda_w4.hpp"
#include "vernier/float_codecs.hpp"

namespace {
using vernier::cuda::Act;
int passed = 0, failed = 0;

using vernier_cuda_test::from_bf16;
using vernier_cuda_test::to_bf16;

struct Case {
  int64_t n, k, m, group;
  bool asym, perm;
  Act act;
  bool f32_out;
  const char* kind = "normal";
};

// Waits for the product and copies its outputs back; a kernel error fails the case.
bool finished(const vernier::cuda::DeviceBuffer& dy, std::vector<uint8_t>& raw) {
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("FAIL: kernel error %s\n", cudaGetErrorString(cudaGetLastError()));
    ++failed;
    return false;
  }
  dy.download(raw.data(), raw.size());
  return true;
}

// The outputs of one version against the reference and its budget; prints one line.
void judge(const Case& c, int version, const std::vector<uint8_t>& raw, const std::vector<double>& ref, const std::vector<double>& mag) {
  const int64_t chunks = (c.k + 63) / 64;
  const double nr = 34 + 1 + 2.0 * ((chunks + 7) / 8) + 8, u = std::ldexp(1.0, -24), gamma = nr * u / (1 - nr * u);
  const double out_u = c.f32_out ? 0.0 : c.act == Act::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
  const double out_abs = c.f32_out || c.act == Act::bf16 ? 0.0 : std::ldexp(1.0, -25);
  int bad = 0, unwritten = 0;
  double worst = 0, num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double v;
    if (c.f32_out) {
      float f;
      std::memcpy(&f, &raw[i * 4], 4);
      v = f;
    } else {
      uint16_t h;
      std::memcpy(&h, &raw[i * 2], 2);
      v = c.act == Act::bf16 ? from_bf16(h) : vernier::fp16_to_float(h);
    }
    if (std::isnan(v)) {
      ++unwritten;
      continue;
    }
    const double err = std::fabs(v - ref[i]), lim = gamma * mag[i] + out_u * (std::fabs(ref[i]) + gamma * mag[i]) + out_abs + 1e-300;
    worst = std::max(worst, err / lim);
    num += err * err;
    den += ref[i] * ref[i];
    if (!(err <= lim)) ++bad;
  }
  const bool ok = bad == 0 && unwritten == 0;
  // version 4x / 5x / 6x: version 4, 5 or 6 with x blocks per row tile
  std::printf("%-4s v%d %5lld x %-5lld m %-3lld %-4s %s%s %s→%s %-10s worst %.3f of the budget, rel. error %.2e%s\n", ok ? "ok" : "FAIL",
              version, static_cast<long long>(c.n), static_cast<long long>(c.k), static_cast<long long>(c.m),
              c.group ? ("g" + std::to_string(c.group)).c_str() : "chan", c.asym ? "asym" : "sym ", c.perm ? " act-order" : "",
              c.act == Act::bf16 ? "bf16" : "f16", c.f32_out ? "f32" : "16", c.kind, worst, den > 0 ? std::sqrt(num / den) : 0.0,
              unwritten ? (" — " + std::to_string(unwritten) + " outputs unwritten").c_str() : "");
  (ok ? passed : failed)++;
}

void run(const Case& c, std::mt19937& rng) {
  vernier::cuda::W4Source w;
  w.rows = c.n;
  w.cols = c.k;
  w.group = c.group;
  const int64_t g = c.group == 0 ? c.k : c.group, groups = (c.k + g - 1) / g;
  std::uniform_int_distribution<int> code(0, 15);
  std::uniform_real_distribution<float> sd(0.002f, 0.05f);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  w.codes.resize(static_cast<size_t>(c.n * c.k));
  for (auto& v : w.codes) v = static_cast<uint8_t>(code(rng));
  w.scales.resize(static_cast<size_t>(c.n * groups));
  for (auto& s : w.scales) s = vernier::fp16_to_float(vernier::fp16_from_float(sd(rng)));
  if (c.asym) {
    w.zeros.resize(w.scales.size());
    for (auto& z : w.zeros) z = static_cast<uint8_t>(code(rng));
  }
  const std::string kind = c.kind;
  if (kind == "zero-group") {  // row 0's first group all at its zero point
    for (int64_t k = 0; k < std::min(g, c.k); ++k) w.codes[static_cast<size_t>(k)] = c.asym ? w.zeros[0] : 8;
  } else if (kind == "outlier") {  // one group's scale 2^10 times the rest
    w.scales[w.scales.size() / 2] = vernier::fp16_to_float(vernier::fp16_from_float(40.0f));
  } else if (kind == "tiny") {  // FP16 subnormal scales
    for (auto& s : w.scales) s = vernier::fp16_to_float(static_cast<uint16_t>(1 + code(rng)));
  }
  if (c.perm) {
    w.perm.resize(static_cast<size_t>(c.k));
    std::iota(w.perm.begin(), w.perm.end(), 0);
    std::shuffle(w.perm.begin(), w.perm.end(), rng);
  }
  // activations: 16-bit values, the reference multiplies exactly those
  std::vector<uint16_t> xh(static_cast<size_t>(c.m * c.k));
  std::vector<float> xf(xh.size());
  for (size_t i = 0; i < xh.size(); ++i) {
    const float v = nd(rng);
    xh[i] = c.act == Act::bf16 ? to_bf16(v) : vernier::fp16_from_float(v);
    xf[i] = c.act == Act::bf16 ? from_bf16(xh[i]) : vernier::fp16_to_float(xh[i]);
  }
  std::vector<double> ref(static_cast<size_t>(c.m * c.n)), mag(ref.size());
  vernier::cuda::w4_reference(w, xf.data(), c.m, ref.data());
  {  // Σ|terms| per output: the reference of |weights| times |x|
    vernier::cuda::W4Source a = w;
    std::vector<float> ax(xf.size());
    for (size_t i = 0; i < xf.size(); ++i) ax[i] = std::fabs(xf[i]);
    for (size_t i = 0; i < a.codes.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) / c.k, gi = (static_cast<int64_t>(i) % c.k) / g;
      const int z = c.asym ? a.zeros[static_cast<size_t>(r * groups + gi)] : 8;
      a.codes[i] = static_cast<uint8_t>(std::abs(a.codes[i] - z));
    }
    a.zeros.assign(a.scales.size(), 0);
    vernier::cuda::w4_reference(a, ax.data(), c.m, mag.data());
  }

  vernier::cuda::W4Matrix dev(vernier::cuda::pack_w4_tiles(w, "test"));
  const size_t out_elem = c.f32_out ? 4 : 2;
  vernier::cuda::DeviceBuffer dx(xh.size() * 2), dy(ref.size() * out_elem);
  dx.upload(xh.data(), xh.size() * 2);
  std::vector<uint8_t> poison(ref.size() * out_elem, 0xFF);  // NaN in every output type
  std::vector<uint8_t> raw(poison.size());
  for (int version = 1; version <= vernier::cuda::kW4Versions; ++version) {
    dy.upload(poison.data(), poison.size());
    dev.multiply(dx.data(), c.act, c.m, dy.data(), c.f32_out, nullptr, version);
    if (!finished(dy, raw)) return;
    judge(c, version, raw, ref, mag);
  }
  // versions 4–6's split-K on this matrix too, at split counts around its unit count (empty slices included),
  // twice each: the arrival counters must be back at 0 after every product
  const int64_t units = (c.k + 127) / 128;
  for (const int splits : {2, 3, static_cast<int>(std::min<int64_t>(units + 1, 64))}) {
    if (splits < 2 || (splits > units + 1)) continue;
    dev.force_splits(splits);
    for (int rep = 0; rep < 6; ++rep) {  // versions 4, 5 and 6, twice each
      dy.upload(poison.data(), poison.size());
      dev.multiply(dx.data(), c.act, c.m, dy.data(), c.f32_out, nullptr, 4 + rep / 2);
      if (!finished(dy, raw)) return;
      judge(c, (4 + rep / 2) * 10 + splits, raw, ref, mag);
    }
  }
}
}  // namespace

int main() {
  std::string why;
  if (!vernier::cuda::device_available(&why)) {
    std::printf("skipped: no CUDA device to run the kernels on (%s)\n", why.c_str());
    return 77;
  }
  std::printf("device: %s\n", vernier::cuda::device_name().c_str());
  const bool quick = std::getenv("VERNIER_CUDA_QUICK") != nullptr;
  std::mt19937 rng(11);
  // shapes around the tiles, every group size, both modes, both activation types
  for (const Act act : {Act::bf16, Act::f16}) {
    for (const int64_t group : {32, 64, 128, 0}) {
      for (const bool asym : {false, true}) {
        const std::vector<int64_t> ns = quick ? std::vector<int64_t>{17} : std::vector<int64_t>{1, 16, 17, 33};
        const std::vector<int64_t> ks = quick ? std::vector<int64_t>{200} : std::vector<int64_t>{64, 96, 200, 1024};
        const std::vector<int64_t> ms = quick ? std::vector<int64_t>{1, 9} : std::vector<int64_t>{1, 8, 9};
        for (const int64_t n : ns)
          for (const int64_t k : ks)
            for (const int64_t m : ms) run({n, k, m, group, asym, false, act, true}, rng);
        if (!quick) {
          for (const int64_t m : {1, 2, 7, 16, 17, 31, 32, 33, 64}) run({100, 512, m, group, asym, false, act, m % 2 == 0}, rng);
        }
      }
    }
    // the 16-bit output, act order, an odd column count (scalar activation loads), degenerate groups
    for (const int64_t m : {1, 5, 24}) run({48, 384, m, 128, true, false, act, false}, rng);
    for (const int64_t group : {32, 128, 0}) run({40, 640, 3, group, true, true, act, true}, rng);
    run({40, 640, 12, 128, false, true, act, false}, rng);
    run({23, 203, 4, 0, true, false, act, true}, rng);
    run({23, 203, 4, 0, false, true, act, false}, rng);
    for (const char* kind : {"zero-group", "outlier", "tiny"}) {
      run({33, 256, 3, 64, true, false, act, true, kind}, rng);
      run({33, 256, 3, 0, false, false, act, false, kind}, rng);
    }
    if (!quick) {  // a layer-sized matrix, at the batch sizes the benchmark times
      for (const int64_t m : {1, 16}) run({4096, 4096, m, 128, true, false, act, act == Act::f16}, rng);
      run({1024, 14336, 1, 128, false, true, act, true}, rng);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
