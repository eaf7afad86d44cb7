// vernier/cuda.hpp — the CUDA backend's kernels (NVIDIA H200, sm_90a), callable from plain C++.
//
// Built only with -DVERNIER_CUDA=ON (src/kernels/cuda/). Every kernel has a scalar host reference
// beside it (always compiled, in the tests) and the tests run where a device exists; elsewhere
// they report that they skipped. This is the first of the CUDA kernels: the float products that the
// weight-only formats' kernels are measured against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vernier::cuda {

// Whether a CUDA device can run vernier's kernels; `why` gets the reason when not.
bool device_available(std::string* why = nullptr);
std::string device_name();

// Memory on the device, freed with the object.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
  void* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const void* host, size_t bytes);
  void download(void* host, size_t bytes) const;

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// y[b][r] = Σ_k W[r][k] · x[b][k] on device pointers: W rows × cols, row-major, float32 or bfloat16
// (bit patterns); x batch × cols float32; y batch × rows float32. Float32 accumulation: each lane
// sums its strided share in order, then a butterfly over the warp's 32 lanes. Synchronous.
void gemv_f32(const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols, int64_t batch = 1);
void gemv_bf16(const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols, int64_t batch = 1);

// Seconds per call, the median of `reps` timed calls after a warm-up (CUDA events).
double time_gemv(bool bf16, const DeviceBuffer& w, const DeviceBuffer& x, DeviceBuffer& y, int64_t rows, int64_t cols,
                 int64_t batch, int reps);
// Device-to-device copy bandwidth (bytes read + written per second) over `bytes`, the ceiling a
// memory-bound product is measured against.
double copy_bandwidth(size_t bytes, int reps);

}  // namespace vernier::cuda
