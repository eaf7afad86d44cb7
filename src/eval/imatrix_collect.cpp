#include "vernier/imatrix_collect.hpp"

#include <cstring>

#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/gguf.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

ImatrixStats collect_imatrix(const Model& m, const std::string& text, int64_t ctx, int64_t max_chunks, int threads,
                             const std::function<void(int64_t, int64_t)>& progress, KvType kv, const std::string& isa) {
  if (ctx < 2) throw_usage("--ctx must be at least 2");
  const Tokenizer tok(m.tokenizer);
  const std::vector<int32_t> tokens = tok.encode(text, true, false);
  ImatrixStats s;
  s.ctx = ctx;
  s.chunks = static_cast<int64_t>(tokens.size()) / ctx;
  if (max_chunks > 0) s.chunks = std::min(s.chunks, max_chunks);
  if (s.chunks < 1) {
    throw_usage("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " + std::to_string(ctx));
  }
  LlamaRuntime rt(m, RuntimeOptions{ctx, threads, kv, 512, isa});
  // The block inputs, summed per column in token order for each matrix the group feeds (the output
  // matrix is no block input: llama-imatrix leaves it out too).
  struct Sums final : LayerObserver {
    ImatrixStats& s;
    explicit Sums(ImatrixStats& st) : s(st) {}
    void observe(int64_t layer, InputGroup group, const float* x, int64_t n, int64_t d) override {
      const std::string prefix = "blk." + std::to_string(layer) + ".";
      for (std::string_view t : input_group_tensors(group)) {
        const std::string name = prefix + std::string(t);
        std::vector<float>& v = s.sum2[name];
        if (v.empty()) v.assign(static_cast<size_t>(d), 0.0f);
        for (int64_t i = 0; i < n; ++i) {
          const float* xi = x + i * d;
          for (int64_t j = 0; j < d; ++j) v[static_cast<size_t>(j)] += xi[j] * xi[j];
        }
        s.counts[name] += n;
      }
    }
  } sums(s);
  rt.set_observer(&sums);
  std::vector<int32_t> chunk(static_cast<size_t>(ctx));
  for (int64_t c = 0; c < s.chunks; ++c) {
    for (int64_t i = 0; i < ctx; ++i) chunk[static_cast<size_t>(i)] = i == 0 && tok.adds_bos() ? tok.bos() : tokens[static_cast<size_t>(c * ctx + i)];
    for (int64_t b0 = 0; b0 < ctx; b0 += rt.max_batch()) {
      const int64_t nb = std::min(rt.max_batch(), ctx - b0);
      rt.forward(std::span<const int32_t>(chunk.data() + b0, static_cast<size_t>(nb)), b0, false);
    }
    if (progress) progress(c, s.chunks);
  }
  return s;
}

void write_imatrix_gguf(const ImatrixStats& s, const std::string& path, bool overwrite) {
  GgufWriter w(path, overwrite);
  GgufMetadata kv;
  kv.emplace_back("general.type", GgufValue::string("imatrix"));
  kv.emplace_back("imatrix.datasets", GgufValue::string_array({s.dataset}));
  kv.emplace_back("imatrix.chunk_count", GgufValue::u32(static_cast<uint32_t>(s.chunks)));
  kv.emplace_back("imatrix.chunk_size", GgufValue::u32(static_cast<uint32_t>(s.ctx)));
  w.set_metadata(std::move(kv));
  for (const auto& [name, v] : s.sum2) {
    w.add_tensor(name + ".in_sum2", {static_cast<int64_t>(v.size())}, ggml_type::F32);
    w.add_tensor(name + ".counts", {1}, ggml_type::F32);
  }
  w.write_header();
  for (const auto& [name, v] : s.sum2) {
    w.write_tensor({reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
    const float count = static_cast<float>(s.counts.at(name));
    w.write_tensor({reinterpret_cast<const uint8_t*>(&count), 4});
  }
  w.finish();
}

void write_imatrix_dat(const ImatrixStats& s, const std::string& path, bool overwrite) {
  // legacy: values stored as mean × ncall, with ncall the number of chunks; readers divide by ncall
  AtomicFile out(path, overwrite);
  const auto i32 = [&](int32_t v) { out.write(&v, 4); };
  i32(static_cast<int32_t>(s.sum2.size()));
  for (const auto& [name, v] : s.sum2) {
    i32(static_cast<int32_t>(name.size()));
    out.write(name.data(), name.size());
    const int32_t ncall = static_cast<int32_t>(s.chunks);
    i32(ncall);
    i32(static_cast<int32_t>(v.size()));
    const float count = static_cast<float>(s.counts.at(name));
    for (float x : v) {
      const float value = x / count * static_cast<float>(ncall);
      out.write(&value, 4);
    }
  }
  i32(static_cast<int32_t>(s.chunks));
  i32(static_cast<int32_t>(s.dataset.size()));
  out.write(s.dataset.data(), s.dataset.size());
  out.commit();
}

}  // namespace vernier
