// vernier/model.hpp — one model abstraction over GGUF, Hugging Face safetensors and llama2.c.
//
// Whatever the source, a Model has LLaMA hyperparameters, a tokenizer description, and tensors named
// and shaped as GGUF names and shapes them (token_embd.weight, blk.N.attn_q.weight, …, output.weight;
// ne[0] is the row length). Tensor data stays in the source file (memory-mapped) until read, one
// tensor at a time. Q and K rows of Hugging Face checkpoints are permuted from rotate-half RoPE order
// to the interleaved order GGUF uses, as llama.cpp's converter does, when read.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vernier/gguf.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

class ScratchFile;

struct LlamaConfig {
  std::string architecture = "llama";
  std::string name;
  int64_t dim = 0, ffn = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, context = 0;
  int64_t rope_dim = 0;        // dimensions rotated per head (head dim for LLaMA)
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tied_embeddings = false;
  int64_t head_dim() const { return heads ? dim / heads : 0; }
};

struct TokenizerSpec {
  std::string model;                  // "llama" (SentencePiece-style) or "gpt2" (byte-level BPE); empty: none
  std::string pre = "default";
  std::vector<std::string> tokens;
  std::vector<float> scores;          // llama
  std::vector<int32_t> types;         // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<std::string> merges;    // gpt2: "a b"
  std::optional<uint32_t> bos, eos, unk, pad, sep;
  std::optional<bool> add_bos, add_eos;
  bool fuse_unk = false;              // Hugging Face BPE: consecutive unknown characters make one unknown token
};

struct ModelTensor {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::F32;      // GGML type of the bytes read() produces
  uint64_t nbytes = 0;
  // A vernier scheme's packed codes held in memory (quantize_in_memory): the runtime multiplies these;
  // read() gives their dequantized float32 values (type F32) for every other consumer.
  std::shared_ptr<const PackedTensor> scheme;
  // Or the same codes kept out of memory (parked in a ScratchFile by a pipeline): `spilled` names their
  // scheme and load_scheme reads them back, each call a new copy. packed() gives either form.
  std::optional<Scheme> spilled;
  std::function<std::shared_ptr<const PackedTensor>()> load_scheme;
  bool held_as_scheme() const { return scheme || load_scheme; }
  std::shared_ptr<const PackedTensor> packed() const { return scheme ? scheme : load_scheme ? load_scheme() : nullptr; }
  // Act order (a GPTQ checkpoint's g_idx): column k of `scheme` multiplies input element input_perm[k].
  // Empty: the identity. read() gives the weights in the input's own order either way.
  std::shared_ptr<const std::vector<int32_t>> input_perm;
  // Rows of `scheme` in another order than this tensor's (a quantized Hugging Face checkpoint's Q and K
  // keep their rotate-half rows): output row g is row output_perm[g] of `scheme`. Empty: the identity.
  std::shared_ptr<const std::vector<int32_t>> output_perm;
  WeightType weight_type() const {
    return scheme ? WeightType::scheme(scheme->scheme) : spilled ? WeightType::scheme(*spilled) : WeightType(type);
  }
  std::function<void(std::span<uint8_t>)> read;  // fills exactly nbytes
  // Where the stored bytes can be used in place (no permutation or narrowing needed): the mapped
  // bytes, and a call that lets the pages go once they are written out. Empty otherwise.
  std::function<std::span<const uint8_t>()> view;
  std::function<void()> release;
  std::function<void(uint64_t offset, uint64_t n)> release_part;  // the same for bytes [offset, offset + n) of view()
  int64_t elements() const;
};

struct Model {
  std::string path;
  std::string source_format;          // "gguf", "safetensors", "llama2c"
  LlamaConfig config;
  TokenizerSpec tokenizer;
  std::vector<ModelTensor> tensors;
  GgufMetadata gguf_metadata;         // GGUF sources: the file's metadata, carried over as is
  std::shared_ptr<void> keep_alive;   // the mapped source files
  std::string layout;                 // a quantized Hugging Face checkpoint: "gptq", "awq", "compressed-tensors", "bnb"
  std::vector<std::string> warnings;  // what the loader noticed and tolerated (printed by the CLI)

  const ModelTensor* find(std::string_view name) const;
};

// Opens a model: a .gguf file, a llama2.c .bin (with tokenizer.bin or tok*.bin beside it, or the
// one given), or a Hugging Face directory (config.json + model.safetensors or a sharded index).
// Architectures other than LlamaForCausalLM and MistralForCausalLM are refused by name.
Model load_model(const std::string& path, const std::string& tokenizer_path = "");

// Throws a bad-input Error naming the file and the hyperparameter when the model's LLaMA
// hyperparameters cannot be run (a zero width, FFN width, head or block count, heads not a multiple of the KV
// heads or not splitting the width into even head sizes, a non-positive or non-finite RMSNorm epsilon
// or RoPE base, block tensors numbered past the block count or fewer blocks than it). The runtime
// checks it on load, and quantize and convert before they write a file. A GGUF that declares none of
// width, blocks, heads and FFN width (an importance matrix, a store of tensors) passes: it is no model.
void validate_llama_config(const Model& m);

// Reads a tensor as float32 (F32, F16, BF16 and F64 data); throws naming the tensor otherwise.
void read_f32(const ModelTensor& t, std::span<float> out);
// The tensor's stored bytes (t.type): the mapped bytes in place where it has a view, else read into `buf`.
std::span<const uint8_t> stored_bytes(const ModelTensor& t, std::vector<uint8_t>& buf);

// Hugging Face ↔ GGUF tensor names ("model.layers.3.self_attn.q_proj.weight" ↔ "blk.3.attn_q.weight").
std::optional<std::string> hf_to_gguf_name(std::string_view hf);
std::optional<std::string> gguf_to_hf_name(std::string_view gguf);
// Row permutation between rotate-half (HF) and interleaved (GGUF) RoPE layouts for a [n_head × head_dim,
// cols] matrix: to_gguf maps HF rows to GGUF rows, and the inverse when false.
void permute_rope_rows(std::span<const uint8_t> in, std::span<uint8_t> out, int64_t n_head, int64_t rows,
                       uint64_t row_bytes, bool to_gguf);
// The same permutation as row indices: row r of the permuted matrix is row order[r] of the input
// (to_gguf: the input is in HF's order and the result in GGUF's).
std::vector<int32_t> rope_row_order(int64_t n_head, int64_t rows, bool to_gguf);

// A layer held as a vernier scheme's codes (ModelTensor::scheme) for the weight-only kernels, with the
// orderings a checkpoint may keep — w.perm as input_perm (act order), output_order as output_perm (rows
// stored in another order) — and read() giving float32 in this tensor's own order (ne = {cols, rows}).
ModelTensor held_tensor(std::string name, QuantizedLinear w, std::vector<int32_t> output_order = {});
// A layer held as GGML blocks in memory (ne = {cols, rows}, bytes the rows of `type`).
ModelTensor held_ggml_tensor(std::string name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> bytes);

// float32 values held in memory (ne = {cols, rows} for a matrix), readable in place (view).
ModelTensor held_f32_tensor(std::string name, std::vector<int64_t> ne, std::shared_ptr<const std::vector<float>> values);
// The same tensor with its bytes parked in `file` (held codes: the packed codes, scales and zero
// points; other tensors: their stored bytes), read back on demand (read(), load_scheme). NF4 with
// double quantization stays in memory.
ModelTensor parked_tensor(const ModelTensor& t, const std::shared_ptr<ScratchFile>& file);

// GGUF metadata a converter writes for this model: general.*, llama.*, tokenizer.*.
GgufMetadata build_gguf_metadata(const Model& m, uint32_t file_type);

struct ConvertOptions {
  std::string out_type;  // "" keeps each tensor's type; "f32", "f16", "bf16" converts 2-D tensors (1-D stay F32)
  bool overwrite = false;
  std::function<void(size_t index, size_t count, const ModelTensor& t)> progress;
};
struct ConvertReport {
  uint64_t bytes_written = 0;
  size_t tensors = 0;
};
ConvertReport write_gguf(const Model& m, const std::string& path, const ConvertOptions& opt);
ConvertReport write_safetensors(const Model& m, const std::string& path, const ConvertOptions& opt);

}  // namespace vernier
