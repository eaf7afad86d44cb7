// GGUF rows on the GPU, end to end: random but valid Q8_0, Q6_K and Q4_0 blocks (bytes as a GGUF file holds
// them) → the kernels' source forms (cuda_gguf_source.hpp) → the weight-only GEMV (Q8_0, Q6_K) or W4A16
// (Q4_0) on the device, against a double product of the blocks decoded here independently, by llama.cpp's
// formulas (d·q; (d·sc)·(q − 32); d·(q − 8)), with bfloat16 and FP16 activations and float32 outputs.
//
// Budget per output, as the kernels' own tests derive it: every product of an integer code and a 16-bit
// activation is exact in float32, and each rounding of the sums costs u = 2^-24 of the running magnitude:
// |error| ≤ γ_n · Σ|w·x|. The GEMV: n = 16 (a chunk's products) + 1 (the scale's FMA) + a lane's chunks +
// 5 (butterfly) + 8 (warps); W4A16: n = 34 (tensor-core steps, truncating adds counted twice) + 1 + 2 per
// 8 column chunks of 64 + 8 (warps). Outputs in float32.
//
// A plain program, built on the GPU machine by the standalone CUDA project; exit code 77 without a device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "host_bf16.hpp"
#include "vernier/cuda.hpp"
#include "vernier/cuda_gguf_source.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_blocks.hpp"

namespace {
using vernier::GgmlType;
using vernier::cuda::Act;
namespace g = vernier::ggml;
int passed = 0, failed = 0;

uint16_t random_d(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(1e-4f, 3e-3f);
  return vernier::fp16_from_float(u(rng));
}

// bytes and the decoded weights (rows × cols), both made here
void make(GgmlType t, int64_t rows, int64_t cols, std::mt19937& rng, std::vector<uint8_t>& bytes, std::vector<double>& w) {
  std::uniform_int_distribution<int> byte(0, 255), sc(-128, 127);
  w.assign(static_cast<size_t>(rows * cols), 0.0);
  auto put = [&](const auto& blk) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof blk);
    std::memcpy(bytes.data() + at, &blk, sizeof blk);
  };
  for (int64_t r = 0; r < rows; ++r) {
    double* o = &w[static_cast<size_t>(r * cols)];
    if (t == GgmlType::Q8_0) {
      for (int64_t j = 0; j < cols / 32; ++j) {
        g::BlockQ8_0 b;
        b.d = random_d(rng);
        const float d = vernier::fp16_to_float(b.d);
        for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(sc(rng)), o[j * 32 + i] = static_cast<double>(d * static_cast<float>(b.qs[i]));
        put(b);
      }
    } else if (t == GgmlType::Q4_0) {
      for (int64_t j = 0; j < cols / 32; ++j) {
        g::BlockQ4_0 b;
        b.d = random_d(rng);
        const float d = vernier::fp16_to_float(b.d);
        for (int i = 0; i < 16; ++i) {
          b.qs[i] = static_cast<uint8_t>(byte(rng));
          o[j * 32 + i] = static_cast<double>(static_cast<float>((b.qs[i] & 0xF) - 8) * d);
          o[j * 32 + i + 16] = static_cast<double>(static_cast<float>((b.qs[i] >> 4) - 8) * d);
        }
        put(b);
      }
    } else {  // Q6_K, decoded element by element from its layout (ggml_blocks.hpp)
      for (int64_t j = 0; j < cols / 256; ++j) {
        g::BlockQ6_K b;
        for (auto& v : b.ql) v = static_cast<uint8_t>(byte(rng));
        for (auto& v : b.qh) v = static_cast<uint8_t>(byte(rng));
        for (auto& v : b.scales) v = static_cast<int8_t>(sc(rng));
        b.d = random_d(rng);
        const float d = vernier::fp16_to_float(b.d);
        for (int e = 0; e < 256; ++e) {
          const int half = e / 128, p = e % 128, quarter = p / 32, l = p % 32;
          const uint8_t low = quarter == 0 ? b.ql[64 * half + l] & 0xF : quarter == 1 ? b.ql[64 * half + l + 32] & 0xF
                              : quarter == 2 ? b.ql[64 * half + l] >> 4 : b.ql[64 * half + l + 32] >> 4;
          const int q = (low | (((b.qh[32 * half + l] >> (2 * quarter)) & 3) << 4)) - 32;
          o[j * 256 + e] = static_cast<double>(d * static_cast<float>(b.scales[e / 16]) * static_cast<float>(q));
        }
        put(b);
      }
    }
  }
}

void run(GgmlType t, int64_t n, int64_t k, int64_t m, Act act, std::mt19937& rng) {
  std::vector<uint8_t> bytes;
  std::vector<double> w;
  make(t, n, k, rng, bytes, w);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> xh(static_cast<size_t>(m * k));
  std::vector<double> xf(xh.size());
  for (size_t i = 0; i < xh.size(); ++i) {
    const float v = nd(rng);
    xh[i] = act == Act::bf16 ? vernier_cuda_test::to_bf16(v) : vernier::fp16_from_float(v);
    xf[i] = act == Act::bf16 ? vernier_cuda_test::from_bf16(xh[i]) : vernier::fp16_to_float(xh[i]);
  }
  vernier::cuda::DeviceBuffer dx(xh.size() * 2), dy(static_cast<size_t>(m * n) * 4);
  dx.upload(xh.data(), xh.size() * 2);
  const char* kernel = vernier::cuda::gguf_gpu_kernel(t);
  if (std::string(kernel) == "wo") {
    const vernier::cuda::WoMatrix dev(vernier::cuda::pack_wo(vernier::cuda::wo_source_from_gguf(t, bytes, n, k, "test"), "test"));
    dev.multiply(dx.data(), act, m, dy.data(), true);
  } else {
    vernier::cuda::W4Matrix dev(vernier::cuda::pack_w4_tiles(vernier::cuda::w4_source_from_gguf(t, bytes, n, k, "test"), "test"));
    dev.multiply(dx.data(), act, m, dy.data(), true);
  }
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("FAIL: kernel error %s\n", cudaGetErrorString(cudaGetLastError()));
    ++failed;
    return;
  }
  std::vector<float> y(static_cast<size_t>(m * n));
  dy.download(y.data(), y.size() * 4);
  const bool wo = std::string(kernel) == "wo";
  const int64_t chunks = wo ? (k + 15) / 16 : (k + 63) / 64, stride = 32 * std::clamp<int64_t>((chunks + 31) / 32, 1, 8);
  const double nr = wo ? 16 + 1 + static_cast<double>((chunks + stride - 1) / stride) + 5 + 8 : 34 + 1 + 2.0 * static_cast<double>((chunks + 7) / 8) + 8;
  const double u = std::ldexp(1.0, -24), gamma = nr * u / (1 - nr * u);
  int bad = 0;
  double worst = 0;
  for (int64_t b = 0; b < m; ++b) {
    for (int64_t r = 0; r < n; ++r) {
      double ref = 0, mag = 0;
      for (int64_t c = 0; c < k; ++c) {
        const double p = w[static_cast<size_t>(r * k + c)] * xf[static_cast<size_t>(b * k + c)];
        ref += p, mag += std::fabs(p);
      }
      const double err = std::fabs(y[static_cast<size_t>(b * n + r)] - ref), lim = gamma * mag + 1e-30;
      worst = std::max(worst, err / lim);
      bad += !(err <= lim);
    }
  }
  const char* name = t == GgmlType::Q8_0 ? "Q8_0" : t == GgmlType::Q6_K ? "Q6_K" : "Q4_0";
  std::printf("%-4s %s via %s %5lld x %-5lld m %-2lld %s: worst %.3f of the budget\n", bad ? "FAIL" : "ok", name, kernel, static_cast<long long>(n),
              static_cast<long long>(k), static_cast<long long>(m), act == Act::bf16 ? "bf16" : "f16", worst);
  (bad ? failed : passed)++;
}
}  // namespace

int main() {
  std::string why;
  if (!vernier::cuda::device_available(&why)) {
    std::printf("skipped: no CUDA device to run the kernels on (%s)\n", why.c_str());
    return 77;
  }
  std::mt19937 rng(31);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::Q4_0})
    for (Act act : {Act::bf16, Act::f16})
      for (int64_t n : {1, 5, 17})
        for (int64_t k : {256, 768, 4096})
          for (int64_t m : {1, 3}) run(t, n, k, m, act, rng);
  run(GgmlType::Q6_K, 512, 14336, 1, Act::bf16, rng);  // a layer-sized matrix
  run(GgmlType::Q4_0, 512, 14336, 4, Act::f16, rng);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
