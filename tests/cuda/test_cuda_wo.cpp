// The weight-only GEMV (INT8 in both modes, FP8 E4M3, NF4 with and without double quantization) against the
// host reference (double sums of the decoded weights times the 16-bit activations' values), on shapes around
// its chunks (16 bytes: 16 weights of 8 bits, 32 of NF4), its rows per block (4 or 2) and its passes (4 or 2
// activation rows), every group size it takes with groups cut short at the row's end, bfloat16 and FP16
// activations, float32 and 16-bit outputs, unaligned activations (the scalar loads), and degenerate groups.
//
// Budget per output, derived: an INT8 (u − z) or FP8 value times a 16-bit activation is exact in float32
// (at most 8 + 11 significant bits); an NF4 level (a float32) times one is rounded once. Sums: a chunk's
// W products in order (W roundings), the group scale's FMA (1), the lane's running sum over its chunks (one
// FMA each), the butterfly over 32 lanes (5) and the warps' sum (at most 8): |error| ≤ γ_n · Σ|w·x|, plus
// the output's rounding to bfloat16 (2^-8 of |y|) or FP16 (2^-11 of |y|), and half the output type's
// smallest subnormal.
//
// A plain program (no test framework), built on the GPU machine by the standalone CUDA project. Exit code
// 77 where no device exists. VERNIER_CUDA_QUICK=1 runs a subset (for compute-sanitizer).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "host_bf16.hpp"
#include "vernier/cuda.hpp"
#include "vernier/cuda_wo.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/nf4.hpp"

namespace {
using vernier::cuda::Act;
using vernier::cuda::WoFormat;
using vernier_cuda_test::from_bf16;
using vernier_cuda_test::to_bf16;
int passed = 0, failed = 0;

struct Case {
  WoFormat format;
  int64_t n, k, m, group;
  bool asym_or_dq;  // INT8: zero points; NF4: double quantization
  Act act;
  bool f32_out;
  const char* kind = "normal";  // "zero-group", "outlier", "tiny", "unaligned"
};

vernier::cuda::WoSource make_source(const Case& c, std::mt19937& rng) {
  vernier::cuda::WoSource w;
  w.format = c.format;
  w.rows = c.n;
  w.cols = c.k;
  w.group = c.group;
  w.symmetric = !(c.format == WoFormat::int8 && c.asym_or_dq);
  const int64_t groups = w.groups(), ng = c.n * groups, g = c.group == 0 ? c.k : c.group;
  std::uniform_int_distribution<int> byte(0, 255), nib(0, 15);
  std::uniform_real_distribution<float> sd(0.002f, 0.05f);
  w.codes.resize(static_cast<size_t>(c.n * c.k));
  for (auto& v : w.codes) {
    if (c.format == WoFormat::nf4) {
      v = static_cast<uint8_t>(nib(rng));
    } else if (c.format == WoFormat::fp8_e4m3) {
      do v = static_cast<uint8_t>(byte(rng));
      while ((v & 0x7F) == 0x7F);  // not NaN
    } else {
      v = static_cast<uint8_t>(byte(rng));
    }
  }
  const bool dq = c.format == WoFormat::nf4 && c.asym_or_dq;
  if (dq) {
    w.dq_block = 256;
    w.dq_codes.resize(static_cast<size_t>(ng));
    for (auto& v : w.dq_codes) v = static_cast<uint8_t>(byte(rng));
    w.dq_absmax.resize(static_cast<size_t>((ng + 255) / 256));
    for (auto& v : w.dq_absmax) v = sd(rng) * 20;
    w.dq_offset = 0.3f;
  } else {
    w.scales.resize(static_cast<size_t>(ng));
    for (auto& s : w.scales) s = sd(rng);
  }
  if (c.format == WoFormat::int8 && c.asym_or_dq) {
    w.zeros.resize(static_cast<size_t>(ng));
    for (auto& z : w.zeros) z = static_cast<uint8_t>(byte(rng));
  }
  const std::string kind = c.kind;
  if (kind == "zero-group") {  // row 0's first group all of weight 0; and one scale 0
    const uint8_t zero = c.format == WoFormat::nf4 ? 7 : c.format == WoFormat::fp8_e4m3 ? 0 : (w.symmetric ? 0 : w.zeros[0]);
    for (int64_t k = 0; k < std::min(g, c.k); ++k) w.codes[static_cast<size_t>(k)] = zero;
    if (!dq) w.scales.back() = 0.0f;
  } else if (kind == "outlier" && !dq) {  // one group's scale 2^10 times the rest
    w.scales[w.scales.size() / 2] = 40.0f;
  } else if (kind == "tiny" && !dq) {  // float32 subnormal scales
    for (auto& s : w.scales) s = std::ldexp(1.0f + static_cast<float>(nib(rng)), -140);
  }
  return w;
}

void run(const Case& c, std::mt19937& rng) {
  const vernier::cuda::WoLayout l = vernier::cuda::pack_wo(make_source(c, rng), "test");
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> xh(static_cast<size_t>(c.m * c.k));
  std::vector<float> xf(xh.size()), ax(xh.size());
  for (size_t i = 0; i < xh.size(); ++i) {
    const float v = nd(rng);
    xh[i] = c.act == Act::bf16 ? to_bf16(v) : vernier::fp16_from_float(v);
    xf[i] = c.act == Act::bf16 ? from_bf16(xh[i]) : vernier::fp16_to_float(xh[i]);
    ax[i] = std::fabs(xf[i]);
  }
  std::vector<double> ref(static_cast<size_t>(c.m * c.n)), mag(ref.size());
  vernier::cuda::wo_reference(l, xf.data(), c.m, ref.data());
  for (int64_t r = 0; r < c.n; ++r) {  // Σ|w·x| per output
    for (int64_t b = 0; b < c.m; ++b) {
      double s = 0;
      for (int64_t k = 0; k < c.k; ++k) s += std::fabs(vernier::cuda::wo_weight(l, r, k)) * ax[static_cast<size_t>(b * c.k + k)];
      mag[static_cast<size_t>(b * c.n + r)] = s;
    }
  }
  vernier::cuda::WoMatrix dev(l);
  const bool unaligned = std::string(c.kind) == "unaligned";
  const size_t out_elem = c.f32_out ? 4 : 2;
  vernier::cuda::DeviceBuffer dx(xh.size() * 2 + 16), dy(ref.size() * out_elem);
  char* xp = static_cast<char*>(dx.data()) + (unaligned ? 2 : 0);
  if (cudaMemcpy(xp, xh.data(), xh.size() * 2, cudaMemcpyHostToDevice) != cudaSuccess) std::abort();
  for (int version = 1; version <= vernier::cuda::kWoVersions; ++version) {
  std::vector<uint8_t> raw(ref.size() * out_elem, 0xFF);  // NaN in every output type
  dy.upload(raw.data(), raw.size());
  dev.multiply(xp, c.act, c.m, dy.data(), c.f32_out, nullptr, version);
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("FAIL: kernel error %s\n", cudaGetErrorString(cudaGetLastError()));
    ++failed;
    return;
  }
  dy.download(raw.data(), raw.size());

  const int W = c.format == WoFormat::nf4 ? 32 : 16;
  const int64_t chunks = (c.k + W - 1) / W, stride = 32 * std::clamp<int64_t>((chunks + 31) / 32, 1, 8);
  const double nr = W + (c.format == WoFormat::nf4 ? 1 : 0) + 1 + static_cast<double>((chunks + stride - 1) / stride) + 5 + 8;
  const double u = std::ldexp(1.0, -24), gamma = nr * u / (1 - nr * u);
  const double out_u = c.f32_out ? 0.0 : c.act == Act::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
  // half the smallest subnormal of the output type (FP16 2^-24, bfloat16 2^-133: tiny scales reach those)
  const double out_abs = c.f32_out ? 0.0 : c.act == Act::bf16 ? std::ldexp(1.0, -134) : std::ldexp(1.0, -25);
  // float32 subnormal scales: products and sums below 2^-126 lose absolute precision 2^-149 each
  const double sub_abs = nr * std::ldexp(1.0, -149) * static_cast<double>(c.k);
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
    // past FP16's largest finite value (65504; from 65520 on, round to nearest gives infinity) the
    // output is ±inf: expected beyond the budget's reach, allowed within it (an FP8 outlier group does this)
    if (!c.f32_out && c.act == Act::f16 && std::fabs(ref[i]) + gamma * mag[i] >= 65504.0) {
      const bool inf_ok = std::isinf(v) && (v > 0) == (ref[i] > 0);
      if (std::fabs(ref[i]) - gamma * mag[i] > 65520.0 * (1 + 1e-3) ? !inf_ok : !(inf_ok || std::fabs(v - ref[i]) <= 32 + gamma * mag[i])) ++bad;
      continue;
    }
    const double err = std::fabs(v - ref[i]);
    const double lim = gamma * mag[i] + out_u * (std::fabs(ref[i]) + gamma * mag[i]) + out_abs + sub_abs + 1e-300;
    worst = std::max(worst, err / lim);
    num += err * err;
    den += ref[i] * ref[i];
    if (!(err <= lim)) ++bad;
  }
  const bool ok = bad == 0 && unwritten == 0;
  std::printf("%-4s v%d %-8s%s %5lld x %-5lld m %-3lld %-5s %s→%s %-10s worst %.3f of the budget, rel. error %.2e%s\n", ok ? "ok" : "FAIL", version,
              vernier::cuda::wo_format_name(c.format), c.asym_or_dq ? (c.format == WoFormat::nf4 ? " dq" : " zp") : "   ",
              static_cast<long long>(c.n), static_cast<long long>(c.k), static_cast<long long>(c.m),
              c.group ? ("g" + std::to_string(c.group)).c_str() : "chan", c.act == Act::bf16 ? "bf16" : "f16", c.f32_out ? "f32" : "16", c.kind,
              worst, den > 0 ? std::sqrt(num / den) : 0.0, unwritten ? (" — " + std::to_string(unwritten) + " outputs unwritten").c_str() : "");
  (ok ? passed : failed)++;
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
  std::mt19937 rng(23);
  struct Variant {
    WoFormat f;
    bool flag;
  };
  for (const Variant v : {Variant{WoFormat::int8, false}, Variant{WoFormat::int8, true}, Variant{WoFormat::fp8_e4m3, false},
                          Variant{WoFormat::nf4, false}, Variant{WoFormat::nf4, true}}) {
    const int W = v.f == WoFormat::nf4 ? 32 : 16;
    const std::vector<int64_t> groups = v.f == WoFormat::nf4 ? std::vector<int64_t>{32, 64, 0} : std::vector<int64_t>{16, 32, 128, 0};
    for (const Act act : {Act::bf16, Act::f16}) {
      for (const int64_t group : groups) {
        // columns around the chunk and the 8-warp stride; rows around the block's 4 (or 2); passes of 4 (or 2)
        const std::vector<int64_t> ks = quick ? std::vector<int64_t>{3 * W + 5} : std::vector<int64_t>{W, W + 1, 3 * W + 5, 257 * W, 520 * W + 8};
        const std::vector<int64_t> ns = quick ? std::vector<int64_t>{5} : std::vector<int64_t>{1, 3, 4, 5, 9};
        const std::vector<int64_t> ms = quick ? std::vector<int64_t>{1, 3} : std::vector<int64_t>{1, 2, 3, 4, 5, 9};
        for (const int64_t k : ks)
          for (const int64_t n : ns)
            for (const int64_t m : ms) run({v.f, n, k, m, group, v.flag, act, (n + m) % 2 == 0}, rng);
      }
      for (const char* kind : {"zero-group", "outlier", "tiny", "unaligned"}) {
        run({v.f, 7, 8 * W, 3, v.f == WoFormat::nf4 ? 64 : 32, v.flag, act, true, kind}, rng);
        run({v.f, 6, 8 * W + 8, 2, 0, v.flag, act, false, kind}, rng);
      }
      if (!quick) run({v.f, 1024, 4096, 1, v.f == WoFormat::nf4 ? 64 : 128, v.flag, act, act == Act::f16}, rng);  // a layer-sized matrix
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
