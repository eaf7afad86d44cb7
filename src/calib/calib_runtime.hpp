// The runtime a calibration pipeline runs its windows through (GPTQ's and AWQ's): one KV store shared
// by the layers, each window in chunks of `batch` tokens, so that its buffers are sized by the batch
// and one layer's cache whatever the window length and the model's depth.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "vernier/llama_runtime.hpp"

namespace vernier::calib {

inline int resolve_threads(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

class WindowRuntime {
 public:
  WindowRuntime(const Model& m, const std::vector<std::vector<int32_t>>& windows, int threads, int64_t batch)
      : windows_(windows),
        ctx_(static_cast<int64_t>(windows.at(0).size())),
        batch_(std::clamp<int64_t>(batch, 1, ctx_)),
        rt_(m, RuntimeOptions{ctx_, threads, KvType::f32, batch_, "", true}) {}

  LlamaRuntime& rt() { return rt_; }
  int64_t ctx() const { return ctx_; }
  int64_t batch() const { return batch_; }
  int64_t windows() const { return static_cast<int64_t>(windows_.size()); }
  int64_t dim() const { return rt_.config().dim; }

  // Every window's hidden states entering block 0 (windows × ctx × dim floats).
  std::vector<float> embed_all() {
    const int64_t D = dim();
    std::vector<float> x(static_cast<size_t>(windows() * ctx_ * D));
    for (int64_t w = 0; w < windows(); ++w) {
      for (int64_t p = 0; p < ctx_; p += batch_) {
        const int64_t n = std::min(batch_, ctx_ - p);
        rt_.embed(std::span<const int32_t>(windows_[static_cast<size_t>(w)]).subspan(static_cast<size_t>(p), static_cast<size_t>(n)),
                  x.data() + (w * ctx_ + p) * D);
      }
    }
    return x;
  }

  // Block l on window w's rows in place (up to stop's input, if given), chunk by chunk; before each
  // chunk, on_chunk gets the global index (w × ctx + position) of its first token.
  void run_window(int64_t l, int64_t w, float* rows, std::optional<InputGroup> stop,
                  const std::function<void(int64_t)>& on_chunk = {}) {
    for (int64_t p = 0; p < ctx_; p += batch_) {
      if (on_chunk) on_chunk(w * ctx_ + p);
      rt_.run_layer(l, rows + p * dim(), std::min(batch_, ctx_ - p), p, stop);
    }
  }

 private:
  const std::vector<std::vector<int32_t>>& windows_;
  int64_t ctx_, batch_;
  LlamaRuntime rt_;
};

}  // namespace vernier::calib
