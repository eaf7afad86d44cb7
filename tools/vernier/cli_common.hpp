// Shared pieces of the vernier CLI: tables, number formatting, JSON numbers, command registration.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "vernier/awq_model.hpp"
#include "vernier/gptq_model.hpp"
#include "vernier/model.hpp"
#include "vernier/plan.hpp"

namespace vernier {
struct InMemoryReport;
}

namespace vernier::cli {

// A text table: first column left-aligned, the others right-aligned; widths from the content.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  size_t left_tail = 0;  // how many trailing columns are text (left-aligned)
  void print(std::ostream& out, const std::string& indent = "") const;
};

// Text from files made safe for a terminal: control bytes, C1 controls and bytes outside valid UTF-8
// become \xNN; everything else (UTF-8 included) passes. Tables, progress lines and error messages use it.
std::string printable(std::string_view s);

std::string num(double v, int significant = 4);  // %.4g-style, "inf"/"nan" spelled out
std::string fixed(double v, int decimals);
std::string grouped(uint64_t v);                 // 6,738,415,616
nlohmann::json jnum(double v);                   // null for NaN/Inf (JSON has neither)
std::string format_bytes_short(uint64_t bytes);  // "12.3 MiB"

// Prints JSON to stdout with 2-space indentation and a newline.
void print_json(const nlohmann::json& j);
// load_model, with what the loader tolerated printed to stderr as warnings.
// --tokenizer's help: what load_model accepts in place of a model's own tokenizer.
// A count that may be 0 (CLI11's NonNegativeNumber names its range as "0 to 1.797…e308" in the error).
CLI::Validator non_negative_count();

inline constexpr const char* kTokenizerHelp =
    "Tokenizer in place of the model's own: a Hugging Face tokenizer (directory or tokenizer.json) or a llama2.c .bin "
    "(default: the model's; for a llama2.c model, tokenizer.bin or tok*.bin beside it)";
Model open_model(const std::string& path, const std::string& tokenizer = "");

// Flags every subcommand spells and means the same way, with llama.cpp's short names (docs/cli.md).
// -t/--threads N: a thread count; a value that is not one (the temperature `-t 0.8` of vernier before
// llama.cpp's names, and of llama2.c) is refused naming --temp.
void add_threads_option(CLI::App* cmd, int& threads, const std::string& help = "Threads (default: all)");
bool is_thread_count(const std::string& v);  // a non-negative integer of at most 6 digits
// The model as the first argument or as -m/--model (llama.cpp's tools), not both. require_model()
// after parsing: a usage Error when neither was given.
void add_model_option(CLI::App* cmd, std::string& model, const std::string& help = "Model: .gguf, Hugging Face directory or llama2.c .bin");
void require_model(const std::string& model);
// -c/--ctx-size (and vernier's earlier --ctx, same meaning).
CLI::Option* add_ctx_option(CLI::App* cmd, int64_t& ctx, const std::string& help);
// -b/--batch-size (and vernier's earlier --batch where the command had it).
CLI::Option* add_batch_option(CLI::App* cmd, int64_t& batch, const std::string& help, bool old_spelling);
// An old spelling whose meaning moved to another flag: hidden from --help, refused with `message`.
void add_refused_option(CLI::App* cmd, const std::string& name, const std::string& message);
void add_activations_option(CLI::App* cmd, std::string& act);  // --activations bf16|f32|q8_0 (weight-only formats)
void add_isa_option(CLI::App* cmd, std::string& isa);  // --isa auto|scalar|avx2|avx3|avx3_vnni (env VERNIER_ISA)
void add_quiet_flag(CLI::App* cmd, bool& quiet);
void add_json_flag(CLI::App* cmd, bool& json, const std::string& what = "the result");
// The kernel path --isa names, for a KernelContext: VERNIER_ISA in the environment wins over the
// default "auto". Throws a usage Error naming the choices for an unknown path.
std::string resolve_isa(const std::string& isa);
// The same as the process default path, for commands that use the context-free entry points (bench).
void apply_isa(const std::string& isa);

// --scheme TYPE: the model's block matrices quantized in memory (RTN) to any weight type `vernier
// formats` lists, for run and eval. Returns the model unchanged when `scheme` is empty; prints what
// it did to stderr unless quiet. `report` receives the figures.
Model apply_scheme(const Model& m, const std::string& scheme, int threads, bool quiet, InMemoryReport* report);
Model apply_scheme(const Model& m, const WeightType& type, int threads, bool quiet, InMemoryReport* report,
                   const ImportanceMatrix* imatrix = nullptr);  // with imatrix: llama.cpp's importance-weighted quantizers

// --method rtn|gptq and GPTQ's calibration options (cli_method.cpp).
struct MethodCli {
  std::string method = "rtn";
  CalibrationOptions calib;
  GptqOptions gptq;
  AwqOptions awq;
  std::string awq_clip;   // "on", "off"; "": on under awq, off under awq+gptq
  std::string sample = "first";
  std::string propagate;  // "": the method's own (GPTQ quantized, AWQ float)
  std::string quantizer;  // "": the method's own (AWQ's under awq and awq+gptq, vernier's otherwise)
  int64_t calib_batch = GptqModelOptions{}.batch;
};
void add_method_options(CLI::App* cmd, MethodCli& m);
// What --method asks for (validated with its options; a usage Error otherwise).
struct MethodPlan {
  bool awq = false, gptq = false;
  bool calibrated() const { return awq || gptq; }
  std::string name() const { return awq && gptq ? "awq+gptq" : awq ? "awq" : gptq ? "gptq" : "rtn"; }
};
MethodPlan method_plan(const MethodCli& m);
bool method_is_gptq(const MethodCli& m);  // method_plan(m).gptq
// The scheme the method's quantizer stores: AWQ's range rule (AsymRange::min_max) for asymmetric
// integer schemes under --method awq / awq+gptq or --quantizer awq.
Scheme method_scheme(Scheme s, const MethodCli& m);
// --scheme under --method rtn: the weight type, with --quantizer's rule for asymmetric integer schemes.
WeightType rtn_type(const std::string& scheme, const MethodCli& m);
// --scheme under --method awq: a vernier integer scheme (a usage Error otherwise; a GGML type is the caller's), with the method's quantizer.
Scheme awq_target(const std::string& scheme, const MethodCli& m);
// AWQ's scales and clipping folded into the model (float; a per-group table on stderr unless quiet).
// park_dir as apply_gptq's.
// With ggml_types: into those GGML types (scheme unused), and `importance` receives the scaled model's
// importance matrix for llama.cpp's quantizers.
Model apply_awq(const Model& m, const Scheme& scheme, const MethodCli& mc, int threads, bool quiet, nlohmann::json* report,
                const std::string& park_dir = "", const std::map<std::string, GgmlType>* ggml_types = nullptr,
                ImportanceMatrix* importance = nullptr);
// One GGML type for every block linear layer of m (eval --scheme TYPE with a calibrated method); throws
// a usage Error naming a layer whose rows are not whole blocks.
std::map<std::string, GgmlType> ggml_targets(const Model& m, GgmlType type, const std::string& target);
// The blocks' linear layers quantized by GPTQ to `scheme` (a per-layer loss table on stderr unless quiet).
// The names of the block linear layers GPTQ quantizes (blk.L.attn_q.weight …), in true-sequential order.
std::vector<std::string> block_linear_names(const Model& m);
// GPTQ to `target`: a vernier integer scheme or one GGML type for every block linear layer, or with
// `mixture` each layer's GGML type (a GGUF file type's plan; `target` then names the file type).
// park_dir: where the codes wait in an unnamed scratch file until they are written (empty: in memory).
Model apply_gptq(const Model& m, const std::string& target, const MethodCli& mc, int threads, bool quiet, nlohmann::json* report,
                 const std::map<std::string, GgmlType>* mixture = nullptr, const std::string& park_dir = "");
// The folder an output file or checkpoint directory goes into (its parent; "." for a bare name).
std::string output_folder(const std::string& output);

// Progress on stderr, nothing with quiet. On a terminal one line rewritten in place (at most ten times a
// second) and cleared when done; in a pipe or a log plain lines: the first step, then one line every
// two seconds at most, and the last step. An ETA is appended once it means something: after three
// seconds and 5% of the work.
class Progress {
 public:
  explicit Progress(bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Step `index` of `count` (0-based; count 0: unknown), `done` the fraction of the work finished
  // (default index / count: the step is starting).
  void update(int64_t index, int64_t count, const std::string& line, double done = -1);
  void clear();
  bool active() const { return !quiet_; }

 private:
  using Clock = std::chrono::steady_clock;
  bool quiet_, tty_, shown_ = false, started_ = false;
  Clock::time_point start_, last_;
};

// Subcommands, one file each.
// An output path checked against the command's inputs before any work: a usage Error when it is the same
// file as one of them (through links: same device and inode) or, for an input that is a folder (a Hugging
// Face model), one of the files directly inside it. Each input: its flag and its path ("" skipped).
struct NamedInput {
  std::string flag, path;
};
void refuse_overwriting_inputs(const std::string& output, const std::string& output_flag, const std::vector<NamedInput>& inputs);

// "6.74e9", "7B", "350M", "6738415616" → a parameter count (plan, advise); a usage Error otherwise.

void add_formats_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_advise_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_imatrix_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_synth_command(CLI::App& app);

// The plan, shared by `vernier plan` and `vernier demo`.
struct PlanRequest {
  ModelShape model;
  bool has_shape = true;         // false for --params N without a preset: no KV cache figures
  int64_t params_override = 0;   // --params
  int64_t context = 0;           // 0: the model's context
  int64_t batch = 1;
  std::string kv_format = "fp16";
  uint64_t memory_bytes = 0;     // 0: no fit check
  std::string memory_label;
};
nlohmann::json plan_json(const PlanRequest& req);
void print_plan(const PlanRequest& req, std::ostream& out);

}  // namespace vernier::cli
