// AWQ over a model, block by block (awq_model.hpp).
#include "vernier/awq_model.hpp"

#include <cblas.h>
#include <malloc.h>

#include <chrono>
#include <memory>

#include "awq_block.hpp"
#include "calib_runtime.hpp"
#include "gptq_pipeline.hpp"
#include "vernier/error.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier {

Model awq_scale_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const AwqModelOptions& opt, AwqModelReport* report) {
  if (windows.empty()) throw_usage("AWQ needs at least one calibration window");
  if (opt.awq.grid < 1) throw_usage("AWQ's grid needs at least one step");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t ctx = static_cast<int64_t>(windows[0].size());
  const int threads = calib::resolve_threads(opt.threads);
  calib::WindowRuntime wr(m, windows, threads, opt.batch);
  LlamaRuntime& rt = wr.rt();
  const LlamaConfig& c = rt.config();
  const int64_t D = c.dim, W = static_cast<int64_t>(windows.size());
  openblas_set_num_threads(threads);
  AwqModelReport rep;
  rep.windows = W;
  rep.tokens = W * ctx;

  std::vector<float> x = wr.embed_all();  // the windows' hidden states entering the block
  Model out = m;
  const auto put = [&](ModelTensor t) {
    for (auto& o : out.tensors) {
      if (o.name == t.name) o = t;
    }
  };
  for (int64_t l = 0; l < c.layers; ++l) {
    const auto tb = std::chrono::steady_clock::now();
    std::vector<ModelTensor> made;
    std::vector<ModelTensor> in_runtime;  // the rounded block the runtime multiplies (propagate_quantized)
    {
      calib::AwqBlock b(m, wr, l, opt, rep);
      // every search on the block's unscaled weights and float inputs (the authors' order), then the clipping
      b.collect(x, true, true);
      b.search(calib::AwqBlock::attention, x);
      b.search(calib::AwqBlock::ffn, x);
      b.clip(calib::AwqBlock::attention);
      b.clip(calib::AwqBlock::ffn);
      if (opt.propagate_quantized) {  // the scaled, clipped block rounded to nearest feeds the next
        if (opt.progress) opt.progress(l, c.layers, "propagate");
        in_runtime = b.rounded();
        const std::string p = "blk." + std::to_string(l) + ".";
        for (const ModelTensor& t : in_runtime) {
          const std::string tn = t.name.substr(p.size());
          if (t.ne.size() == 2) {
            rt.replace_matrix(l, tn, t);
          } else {
            std::vector<float> v(static_cast<size_t>(t.elements()));
            read_f32(t, v);
            rt.replace_norm(l, tn, v);
          }
        }
      }
      for (calib::AwqBlock::Half h : {calib::AwqBlock::attention, calib::AwqBlock::ffn}) {
        for (ModelTensor& t : b.take(h)) made.push_back(std::move(t));
      }
    }
    // the next block's inputs: the float block's outputs (the scaled block computes the source's function
    // up to the clipping; the source's is what the authors propagate), or the rounded one's
    for (int64_t w = 0; w < W; ++w) wr.run_window(l, w, x.data() + w * ctx * D, std::nullopt);
    for (InputGroup g : kInputGroups) {
      for (std::string_view tn : input_group_tensors(g)) rt.drop_matrix(l, tn);
    }
    in_runtime.clear();
    for (ModelTensor& t : made) put(std::move(t));
    ::malloc_trim(0);
    rep.block_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count());
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report) *report = std::move(rep);
  return out;
}

Model awq_gptq_quantize_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt,
                              const AwqOptions& awq, AwqModelReport* awq_report, GptqModelReport* gptq_report) {
  if (awq.grid < 1) throw_usage("AWQ's grid needs at least one step");
  AwqModelOptions ao;
  ao.scheme = opt.scheme;
  ao.ggml = opt.ggml;
  ao.ggml_types = opt.ggml_types;
  ao.awq = awq;
  ao.gptq = opt.gptq;  // the candidates judged by the weights this GPTQ makes of them
  ao.threads = opt.threads;
  ao.batch = opt.batch;
  ao.progress = opt.progress;
  AwqModelReport rep;
  std::unique_ptr<calib::AwqBlock> block;
  int64_t block_layer = -1;
  const calib::HalfRewrite rewrite = [&](int64_t l, InputGroup g, calib::WindowRuntime& wr, const std::vector<float>& x) {
    const auto t0 = std::chrono::steady_clock::now();
    if (block_layer != l) {
      block.reset();
      block = std::make_unique<calib::AwqBlock>(m, wr, l, ao, rep);
      block_layer = l;
      rep.block_seconds.push_back(0);
    }
    const calib::AwqBlock::Half h = g == InputGroup::attn_in ? calib::AwqBlock::attention : calib::AwqBlock::ffn;
    // the half's statistics and searches on the inputs GPTQ quantizes it with: the blocks before and the
    // attention before the FFN already quantized
    block->collect(x, h == calib::AwqBlock::attention, h == calib::AwqBlock::ffn);
    block->search(h, x);
    block->clip(h);
    std::vector<ModelTensor> t = block->take(h);
    if (h == calib::AwqBlock::ffn) block.reset();
    rep.block_seconds.back() += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
  };
  Model out = calib::gptq_pipeline(m, windows, opt, gptq_report, rewrite);
  block.reset();
  rep.windows = static_cast<int64_t>(windows.size());
  rep.tokens = rep.windows * (windows.empty() ? 0 : static_cast<int64_t>(windows[0].size()));
  for (double s : rep.block_seconds) rep.seconds += s;
  if (awq_report) *awq_report = std::move(rep);
  return out;
}

}  // namespace vernier
