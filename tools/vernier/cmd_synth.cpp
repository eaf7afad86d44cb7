// vernier synth — a seeded, LLaMA-shaped model written as GGUF: benchmark material of any size
// without a download (the weights are synthetic_matrix's heavy-tailed values, so the model talks
// nonsense, but every kernel, quantizer and memory figure behaves as on a real model of that shape).
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/model.hpp"
#include "vernier/parallel.hpp"
#include "vernier/synthetic.hpp"

namespace vernier::cli {

namespace {
struct SynthOptions {
  int64_t dim = 2048, ffn = 5632, layers = 4, heads = 0, kv_heads = 0, vocab = 512, context = 2048;
  uint64_t seed = 1;
  int threads = 0;
  std::string output, type = "f32";
  bool force = false, quiet = false, json = false;
};

// A byte-fallback SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens, the space
// mark, then filler pieces up to the vocabulary size. Any text encodes (as bytes and spaces).
TokenizerSpec byte_vocab(int64_t vocab) {
  TokenizerSpec t;
  t.model = "llama";
  const auto add = [&](std::string s, float score, int32_t type) {
    t.tokens.push_back(std::move(s));
    t.scores.push_back(score);
    t.types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, 6);
  add("\xe2\x96\x81", 0, 1);  // U+2581, the word-boundary space: spaces are one token, not three bytes
  for (int64_t i = static_cast<int64_t>(t.tokens.size()); i < vocab; ++i) add(fmt::format("<extra_{}>", i), -1e9f, 4);
  t.unk = 0;
  t.bos = 1;
  t.eos = 2;
  return t;
}

void run_synth(const SynthOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t heads = o.heads > 0 ? o.heads : std::max<int64_t>(1, o.dim / 64);
  const int64_t kv_heads = o.kv_heads > 0 ? o.kv_heads : heads;
  if (o.dim < 32 || o.dim % heads != 0 || (o.dim / heads) % 2 != 0 || heads % kv_heads != 0) {
    throw_usage("--dim must be at least 32 and split into --heads of an even size, and --heads into --kv-heads");
  }
  if (o.ffn < 1 || o.layers < 1 || o.context < 1) throw_usage("--ffn, --layers and --context must be positive");
  if (o.vocab < 260) throw_usage("--vocab must be at least 260 (3 special tokens, 256 bytes and the space)");
  if (o.type != "f32" && o.type != "f16" && o.type != "bf16") throw_usage("--type must be f32, f16 or bf16");
  if (std::filesystem::exists(o.output) && !o.force) throw_usage(o.output + ": exists (pass --force to overwrite it)");
  refuse_overwriting_inputs(o.output, "-o", {});  // its folder exists and is writable, before the weights are made
  Model m;
  m.path = "(synthetic)";
  m.source_format = "synthetic";
  LlamaConfig& c = m.config;
  c.name = fmt::format("vernier-synth-d{}-f{}-l{}-v{}", o.dim, o.ffn, o.layers, o.vocab);
  c.dim = o.dim;
  c.ffn = o.ffn;
  c.layers = o.layers;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.vocab = o.vocab;
  c.context = o.context;
  c.rope_dim = o.dim / heads;
  m.tokenizer = byte_vocab(o.vocab);
  const int64_t kv = kv_heads * (o.dim / heads);
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t index = 0;
  // each tensor is generated when the writer asks for it: one tensor in memory at a time
  const auto add = [&](const std::string& name, std::vector<int64_t> ne, double scale) {
    ModelTensor t;
    t.name = name;
    t.ne = ne;
    // matrices are made in the output type here, on every thread (norms stay F32)
    t.type = ne.size() == 1 || o.type == "f32" ? GgmlType::F32 : o.type == "f16" ? GgmlType::F16 : GgmlType::BF16;
    int64_t n = 1;
    for (int64_t e : ne) n *= e;
    t.nbytes = static_cast<uint64_t>(n) * (t.type == GgmlType::F32 ? 4 : 2);
    const uint64_t seed = o.seed * 1000003 + index++;
    const GgmlType type = t.type;
    t.read = [ne, scale, seed, threads, type](std::span<uint8_t> out) {
      if (ne.size() == 1) {
        float* v = reinterpret_cast<float*>(out.data());  // F32 bytes, 4-aligned (the writer's buffer)
        std::fill(v, v + ne[0], 1.0f);  // norms
        return;
      }
      SyntheticSpec s;
      s.cols = ne[0];
      s.rows = ne[1];
      s.seed = seed;
      s.scale = scale;
      // rows in blocks of 64 over the threads: each row its own stream, so the same file whatever -t
      constexpr int64_t kBlock = 64;
      const int64_t blocks = (s.rows + kBlock - 1) / kBlock;
      parallel_for(blocks, threads, [&](int64_t b0, int64_t b1, int) {
        std::vector<float> rows;
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t r0 = b * kBlock, r1 = std::min(s.rows, r0 + kBlock);
          if (type == GgmlType::F32) {
            synthetic_rows(s, r0, r1, reinterpret_cast<float*>(out.data()) + r0 * s.cols);
            continue;
          }
          rows.resize(static_cast<size_t>((r1 - r0) * s.cols));
          synthetic_rows(s, r0, r1, rows.data());
          auto* h = reinterpret_cast<uint16_t*>(out.data()) + r0 * s.cols;
          for (size_t i = 0; i < rows.size(); ++i) h[i] = type == GgmlType::F16 ? fp16_from_float(rows[i]) : bf16_from_float(rows[i]);
        }
      });
    };
    m.tensors.push_back(std::move(t));
  };
  add("token_embd.weight", {o.dim, o.vocab}, 1.0);
  add("output_norm.weight", {o.dim}, 0);
  add("output.weight", {o.dim, o.vocab}, 0.05);
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {o.dim}, 0);
    add(p + "attn_q.weight", {o.dim, o.dim}, 0.02);
    add(p + "attn_k.weight", {o.dim, kv}, 0.02);
    add(p + "attn_v.weight", {o.dim, kv}, 0.02);
    add(p + "attn_output.weight", {o.dim, o.dim}, 0.02);
    add(p + "ffn_norm.weight", {o.dim}, 0);
    add(p + "ffn_gate.weight", {o.dim, o.ffn}, 0.02);
    add(p + "ffn_up.weight", {o.dim, o.ffn}, 0.02);
    add(p + "ffn_down.weight", {o.ffn, o.dim}, 0.02);
  }
  int64_t params = 0;
  for (const auto& t : m.tensors) params += t.elements();
  ConvertOptions co;
  co.overwrite = o.force;
  Progress progress(o.quiet);
  co.progress = [&](size_t i, size_t n, const ModelTensor& t) {
    progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {}", i + 1, n, t.name));
  };
  const ConvertReport r = write_gguf(m, o.output, co);
  progress.clear();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.json) {
    print_json({{"output", o.output}, {"parameters", params}, {"tensors", r.tensors}, {"tensor_bytes", r.bytes_written},
                {"seconds", seconds}});
    return;
  }
  std::cout << fmt::format("wrote {}: {} parameters (dim {}, FFN {}, {} layers, {} heads, {} KV heads, vocab {}), {} bytes of {} "
                           "tensors in {:.1f} s\n",
                           o.output, grouped(static_cast<uint64_t>(params)), o.dim, o.ffn, o.layers, heads, kv_heads, o.vocab,
                           grouped(r.bytes_written), o.type, seconds);
}
}  // namespace

void add_synth_command(CLI::App& app) {
  auto opt = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a seeded synthetic LLaMA-shaped GGUF model (benchmark material, no download)");
  cmd->add_option("-o,--output", opt->output, "Output .gguf")->required();
  cmd->add_option("--dim", opt->dim, "Model width")->capture_default_str();
  cmd->add_option("--ffn", opt->ffn, "Feed-forward width")->capture_default_str();
  cmd->add_option("--layers", opt->layers, "Layers")->capture_default_str();
  cmd->add_option("--heads", opt->heads, "Attention heads (default: dim / 64)");
  cmd->add_option("--kv-heads", opt->kv_heads, "KV heads (default: heads)");
  cmd->add_option("--vocab", opt->vocab, "Vocabulary (byte-fallback tokens)")->capture_default_str();
  cmd->add_option("--ctx", opt->context, "Context length written to the metadata")->capture_default_str();
  cmd->add_option("--type", opt->type, "Tensor type: f32, f16 or bf16 (norms stay f32)")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Seed")->capture_default_str();
  cmd->add_option("-t,--threads", opt->threads, "Threads generating the weights (default: all; the file is the same for any count)");
  cmd->add_flag("--force", opt->force, "Overwrite the output");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the result");
  cmd->callback([opt] { run_synth(*opt); });
}

}  // namespace vernier::cli
