#include "demo_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "vernier/ggml_types.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/perplexity.hpp"
#include "vernier/quantize_model.hpp"

namespace vernier::cli {

namespace {
constexpr int64_t kVocab = 512, kStream = 128;

struct OwnedTensor {
  std::string name;
  std::vector<int64_t> ne;
  std::vector<float> data;
};

ModelTensor as_model_tensor(const OwnedTensor& t) {
  ModelTensor mt;
  mt.name = t.name;
  mt.ne = t.ne;
  mt.type = ggml_type::F32;
  mt.nbytes = t.data.size() * 4;
  const std::vector<float>* data = &t.data;
  mt.view = [data] { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data->data()), data->size() * 4); };
  mt.read = [data](std::span<uint8_t> out) { std::memcpy(out.data(), data->data(), out.size()); };
  return mt;
}

// Runs the stream through a model in one batch and returns every position's logits. Not timed: the
// demo shows no speed (on a shared machine tokens/s of so small a model vary by a third or more from
// one run to the next, even as medians of interleaved passes; `vernier bench` and `vernier run` measure
// speed).
std::vector<float> eval_stream(const Model& m, const std::vector<int32_t>& stream) {
  LlamaRuntime rt(m, static_cast<int64_t>(stream.size()), 0, KvType::f32, static_cast<int64_t>(stream.size()));
  const auto logits = rt.forward(stream, 0, true);
  return {logits.begin(), logits.end()};
}
}  // namespace

DemoModelResult demo_model_step(const std::vector<SyntheticTensor>& block, int64_t dim, int64_t ffn, int64_t kv_dim, uint64_t seed,
                                const std::function<void(size_t, size_t, const std::string&)>& progress) {
  // The block plus what makes it a model: embeddings (512 tokens), norms of ones, an output matrix
  // large enough that the next-token distribution is not flat.
  std::vector<OwnedTensor> extra;
  const auto matrix = [&](const char* name, int64_t rows, double scale, uint64_t s) {
    SyntheticSpec spec;
    spec.rows = rows;
    spec.cols = dim;
    spec.seed = s;
    spec.scale = scale;
    extra.push_back({name, {dim, rows}, synthetic_matrix(spec)});
  };
  matrix("token_embd.weight", kVocab, 1.0, seed + 101);
  matrix("output.weight", kVocab, 0.15, seed + 102);
  for (const char* n : {"output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"}) {
    extra.push_back({n, {dim}, std::vector<float>(static_cast<size_t>(dim), 1.0f)});
  }
  Model m;
  m.path = "(demo model)";
  m.source_format = "synthetic";
  LlamaConfig& c = m.config;
  c.name = "vernier-demo";
  c.dim = dim;
  c.ffn = ffn;
  c.layers = 1;
  c.heads = 8;
  c.kv_heads = 8 * kv_dim / dim;
  c.vocab = kVocab;
  c.context = 2 * kStream;
  c.rope_dim = dim / 8;
  for (const auto& t : extra) m.tensors.push_back(as_model_tensor(t));
  std::vector<OwnedTensor> blk;
  for (const auto& t : block) blk.push_back({t.name, {t.cols, t.rows}, t.data});
  for (const auto& t : blk) m.tensors.push_back(as_model_tensor(t));

  DemoModelResult res;
  res.vocab = kVocab;
  // The F32 model writes its own text: tokens sampled at temperature 1 from a seeded generator.
  std::vector<int32_t> stream{0};
  {
    LlamaRuntime rt(m, kStream, 0, KvType::f32, 1);
    Rng rng(seed);
    for (int64_t p = 0; p + 1 < kStream; ++p) {
      const auto logits = rt.forward(stream.back(), p);
      const float mx = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (float v : logits) sum += std::exp(static_cast<double>(v - mx));
      double r = rng.uniform() * sum;
      int32_t next = kVocab - 1;
      for (int32_t i = 0; i < kVocab; ++i) {
        r -= std::exp(static_cast<double>(logits[static_cast<size_t>(i)] - mx));
        if (r < 0) {
          next = i;
          break;
        }
      }
      stream.push_back(next);
    }
  }
  res.stream_tokens = static_cast<int64_t>(stream.size());
  const std::vector<float> base = eval_stream(m, stream);

  const auto dir = std::filesystem::temp_directory_path() / ("vernier-demo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  try {
    const std::vector<const char*> types = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K"};
    for (size_t ti = 0; ti < types.size(); ++ti) {
      const char* type = types[ti];
      if (progress) progress(ti, types.size(), type);
      QuantizeModelOptions o;
      o.file_type = find_gguf_file_type(type);
      o.overwrite = true;
      const std::string path = (dir / (std::string(type) + ".gguf")).string();
      const QuantizeModelReport r = quantize_model(m, path, o);
      DemoModelRow row;
      row.type = type;
      row.quantize_seconds = r.seconds;
      // bits, RMSE and SQNR of the block's matrices (the embeddings and output follow llama.cpp's
      // per-type rules and would blur the comparison), recombined weighted by element count
      double err2 = 0, sig2 = 0, n = 0;
      for (const auto& t : r.tensors) {
        if (t.name.rfind("blk.", 0) != 0 || t.elements < 1024) continue;
        const double e = static_cast<double>(t.elements);
        err2 += t.rmse * t.rmse * e;
        sig2 += t.rmse * t.rmse * e * std::pow(10.0, t.sqnr_db / 10.0);
        n += e;
        row.bytes += t.bytes;
      }
      row.bits_per_weight = static_cast<double>(row.bytes) * 8.0 / n;
      row.rmse = std::sqrt(err2 / n);
      row.sqnr_db = 10.0 * std::log10(sig2 / err2);
      Model q = load_model(path);
      q.config.vocab = kVocab;  // the demo model has no tokenizer to count its vocabulary from
      const std::vector<float> logits = eval_stream(q, stream);
      std::vector<double> klds;
      int64_t same = 0;
      for (int64_t p = 0; p < res.stream_tokens; ++p) {
        const auto off = static_cast<size_t>(p * kVocab);
        bool same_top = false;
        klds.push_back(kl_divergence({base.data() + off, static_cast<size_t>(kVocab)},
                                     {logits.data() + off, static_cast<size_t>(kVocab)}, &same_top));
        same += same_top;
      }
      double sum = 0;
      for (double v : klds) sum += v;
      row.kld_mean = sum / static_cast<double>(klds.size());
      std::sort(klds.begin(), klds.end());
      row.kld_p99 = klds[static_cast<size_t>(0.99 * static_cast<double>(klds.size() - 1))];
      row.same_top1 = static_cast<double>(same) / static_cast<double>(res.stream_tokens);
      res.rows.push_back(row);
    }
  } catch (...) {
    std::filesystem::remove_all(dir);
    throw;
  }
  std::filesystem::remove_all(dir);
  return res;
}

}  // namespace vernier::cli
