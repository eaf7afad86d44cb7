// CUDA GEMV for float32 and bfloat16 weights (the CUDA backend's first kernels).
//
// Work split: one warp per weight row, kWarps rows per block; lane l reads 16-byte vectors l, l + 32,
// l + 64, … of the row (4 floats or 8 bfloat16 per load, so a warp reads 512 contiguous bytes per
// step: whole 128-byte lines), multiplies them with x and keeps one float32 partial sum; a butterfly
// of __shfl_xor_sync over the 32 lanes gives the row's sum. A row whose length is not a multiple of
// the vector width, or that is not 16-byte aligned, takes the scalar loop (same order per lane).
// A batch > 1 runs the same row against each activation row from registers of the same loads.
// A batch-1 product reads each weight once: it is bound by HBM bandwidth (x, reused by every row,
// stays in L2 and L1), so the measure of it is bytes per second against the copy bandwidth.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "vernier/cuda.hpp"

namespace vernier::cuda {

namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

constexpr int kWarps = 8;       // rows per block
constexpr int kMaxBatch = 8;    // activation rows per pass

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// W: T elements; V: elements per 16-byte load.
template <typename T, int B>
__global__ void gemv_kernel(const T* __restrict__ w, const float* __restrict__ x, float* __restrict__ y, int64_t rows,
                            int64_t cols, int64_t batch0) {
  constexpr int V = 16 / sizeof(T);
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* wr = w + row * cols;
  float acc[B];
#pragma unroll
  for (int b = 0; b < B; ++b) acc[b] = 0.0f;
  const bool vec = cols % V == 0 && (reinterpret_cast<uintptr_t>(wr) % 16) == 0;
  if (vec) {
    const int64_t nv = cols / V;
    for (int64_t i = lane; i < nv; i += 32) {
      const uint4 raw = __ldg(reinterpret_cast<const uint4*>(wr) + i);
      const T* e = reinterpret_cast<const T*>(&raw);
      float wv[V];
#pragma unroll
      for (int j = 0; j < V; ++j) wv[j] = to_float(e[j]);
      // x in 16-byte loads too (its rows are 16-byte aligned: cols is a multiple of V ≥ 4)
#pragma unroll
      for (int b = 0; b < B; ++b) {
        const float4* xv = reinterpret_cast<const float4*>(x + (batch0 + b) * cols + i * V);
#pragma unroll
        for (int q = 0; q < V / 4; ++q) {
          const float4 xx = __ldg(xv + q);
          acc[b] = fmaf(wv[4 * q + 0], xx.x, acc[b]);
          acc[b] = fmaf(wv[4 * q + 1], xx.y, acc[b]);
          acc[b] = fmaf(wv[4 * q + 2], xx.z, acc[b]);
          acc[b] = fmaf(wv[4 * q + 3], xx.w, acc[b]);
        }
      }
    }
  } else {
    for (int64_t k = lane; k < cols; k += 32) {
      const float wv = to_float(wr[k]);
#pragma unroll
      for (int b = 0; b < B; ++b) acc[b] = fmaf(wv, __ldg(x + (batch0 + b) * cols + k), acc[b]);
    }
  }
#pragma unroll
  for (int b = 0; b < B; ++b) {
    const float s = warp_sum(acc[b]);
    if (lane == 0) y[(batch0 + b) * rows + row] = s;
  }
}

template <typename T>
void launch(const void* w, const float* x, float* y, int64_t rows, int64_t cols, int64_t batch) {
  if (rows <= 0 || cols <= 0 || batch <= 0) return;
  const dim3 block(32 * kWarps), grid(static_cast<unsigned>((rows + kWarps - 1) / kWarps));
  const auto* wt = static_cast<const T*>(w);
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxBatch) {
    switch (std::min<int64_t>(kMaxBatch, batch - b0)) {
      case 1: gemv_kernel<T, 1><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 2: gemv_kernel<T, 2><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 3: gemv_kernel<T, 3><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 4: gemv_kernel<T, 4><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 5: gemv_kernel<T, 5><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 6: gemv_kernel<T, 6><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      case 7: gemv_kernel<T, 7><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
      default: gemv_kernel<T, 8><<<grid, block>>>(wt, x, y, rows, cols, b0); break;
    }
    check(cudaGetLastError(), "gemv launch");
  }
}

void check_sizes(const DeviceBuffer& w, size_t elem, const DeviceBuffer& x, const DeviceBuffer& y, int64_t rows, int64_t cols,
                 int64_t batch) {
  if (rows < 0 || cols < 0 || batch < 0) throw std::invalid_argument("gemv: negative size");
  const auto r = static_cast<size_t>(rows), c = static_cast<size_t>(cols), b = static_cast<size_t>(batch);
  if (w.size() < r * c * elem || x.size() < b * c * 4 || y.size() < b * r * 4) {
    throw std::invalid_argument("gemv: a buffer is smaller than " + std::to_string(rows) + " × " + std::to_string(cols) +
                                " weights and a batch of " + std::to_string(batch) + " need");
  }
}
}  // namespace

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "device properties");
  if (p.major < 9) {
    if (why) *why = std::string(p.name) + " is compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                    "; this build is for sm_90a";
    return false;
  }
  return true;
}

std::string device_name() {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "device properties");
  return p.name;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : n_(bytes) {
  if (bytes) check(cudaMalloc(&p_, bytes), "cudaMalloc");
}
DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) {
  o.p_ = nullptr;
  o.n_ = 0;
}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}
DeviceBuffer::~DeviceBuffer() {
  if (p_) cudaFree(p_);
}
void DeviceBuffer::upload(const void* host, size_t bytes) {
  if (bytes > n_) throw std::invalid_argument("upload: more bytes than the buffer holds");
  check(cudaMemcpy(p_, host, bytes, cudaMemcpyHostToDevice), "upload");
}
void DeviceBuffer::download(void* host, size_t bytes) const {
  if (bytes > n_) throw std::invalid_argument("download: more bytes than the buffer holds");
  check(cudaMemcpy(host, p_, bytes, cudaMemcpyDeviceToHost), "download");
}

void gemv_f32(const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols, int64_t batch) {
  check_sizes(w, 4, x, y, rows, cols, batch);
  launch<float>(w.data(), static_cast<const float*>(x.data()), static_cast<float*>(y.data()), rows, cols, batch);
  check(cudaDeviceSynchronize(), "gemv_f32");
}

void gemv_bf16(const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols, int64_t batch) {
  check_sizes(w, 2, x, y, rows, cols, batch);
  launch<__nv_bfloat16>(w.data(), static_cast<const float*>(x.data()), static_cast<float*>(y.data()), rows, cols, batch);
  check(cudaDeviceSynchronize(), "gemv_bf16");
}

namespace {
// Seconds per call of run(): the median of `reps` CUDA-event-timed calls.
template <class F>
double median_seconds(const F& run, int reps) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  std::vector<double> t;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    cudaEventRecord(a);
    run();
    cudaEventRecord(b);
    check(cudaEventSynchronize(b), "event sync");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms / 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

double time_gemv(bool bf16, const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols,
                 int64_t batch, int reps) {
  check_sizes(w, bf16 ? 2 : 4, x, y, rows, cols, batch);
  const auto run = [&] {
    if (bf16) launch<__nv_bfloat16>(w.data(), static_cast<const float*>(x.data()), static_cast<float*>(y.data()), rows, cols, batch);
    else launch<float>(w.data(), static_cast<const float*>(x.data()), static_cast<float*>(y.data()), rows, cols, batch);
  };
  run();
  check(cudaDeviceSynchronize(), "warm-up");
  return median_seconds(run, reps);
}

double copy_bandwidth(size_t bytes, int reps) {
  DeviceBuffer src(bytes), dst(bytes);
  check(cudaMemset(src.data(), 1, bytes), "memset");
  check(cudaMemcpy(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice), "warm-up copy");
  const double s = median_seconds([&] { cudaMemcpy(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice); }, reps);
  return 2.0 * static_cast<double>(bytes) / s;
}

}  // namespace vernier::cuda
