// vernier/compare.hpp — every requested (weight type, method) combination quantized in memory and
// measured against the float model on the same tokens: one table, one metric (KL divergence), one
// tool.
//
// Per combination: the block matrices quantized (rtn, imatrix, gptq, awq or awq+gptq, each as
// `vernier eval --scheme T --method M` does), then evaluated with the perplexity protocol against the
// source model's next-token distributions (mean and p99 KLD, same top-1, PPL), a short greedy decode
// timed for tokens/s, and the per-matrix error (weight SQNR against the float weights the quantizer was
// given; GPTQ's output loss where it ran). Peak RSS is the process's high-water mark reset before the
// combination (Linux /proc/self/clear_refs), so each row's figure is its own. A combination that cannot
// be made (a method that does not serve the type, no calibration text) is a skipped row with the
// reason; one that fails is a failed row with the error, and the rest go on.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "vernier/awq.hpp"
#include "vernier/gptq.hpp"
#include "vernier/gptq_model.hpp"
#include "vernier/model.hpp"
#include "vernier/perplexity.hpp"

namespace vernier {

enum class CompareMethod { rtn, imatrix, gptq, awq, awq_gptq };
CompareMethod parse_compare_method(std::string_view name);  // "rtn", "imatrix", "gptq", "awq", "awq+gptq"
std::string_view compare_method_name(CompareMethod m);
bool compare_method_calibrated(CompareMethod m);  // every method but rtn needs calibration text

struct CompareOptions {
  std::vector<std::string> types;        // weight types (`vernier formats` names)
  std::vector<CompareMethod> methods;
  std::string text;                      // the evaluation text
  std::string calib_text;                // calibration text ("": calibrated methods are skipped)
  CalibrationOptions calib;              // windows of the calibration text (text_path/tokens_path unused)
  PplProtocol protocol = PplProtocol::windows;
  int64_t ctx = 256, chunks = 0, batch = 512;
  int64_t decode_tokens = 64;            // greedy tokens timed per combination (0: no decode timing)
  int threads = 0;
  std::string isa;
  Activations activations = Activations::f32;  // of the weight-only (scheme) rows
  GptqOptions gptq;
  AwqOptions awq;                        // clip: on under awq, off under awq+gptq (eval's defaults)
  // combination `index` of `count`, what it is doing ("quantizing", "evaluating 3/12", …), and the
  // fraction of the whole run done
  std::function<void(size_t index, size_t count, const std::string& what, double done)> progress;
};

struct CompareTensor {
  std::string name;  // "blk.0.attn_q.weight"
  double sqnr_db = std::numeric_limits<double>::quiet_NaN();  // NaN: not known for this method
  double loss = std::numeric_limits<double>::quiet_NaN();     // GPTQ's tr(ΔW H ΔWᵀ), where it ran
  double rtn_loss = std::numeric_limits<double>::quiet_NaN(); // round to nearest's, same Hessian
};

struct CompareRow {
  std::string type, method;
  std::string layouts;  // the files that hold it: "GGUF", or the Hugging Face layouts that take the scheme
  std::string status = "ok";  // ok, skipped, failed
  std::string note;           // why skipped or failed
  double bits_per_weight = 0; // block matrices: codes, scales and zero points per weight
  uint64_t matrix_bytes = 0;  // the block matrices as stored
  uint64_t resident_bytes = 0;  // every weight the runtime holds (embeddings, norms, output too)
  double ppl = 0, ppl_stderr = 0;
  KldStats kld;
  double quant_seconds = 0, eval_seconds = 0, decode_tokens_per_second = 0;
  uint64_t peak_rss_bytes = 0;
  bool pareto = false;  // on the front of bits per weight against mean KLD (no row both smaller and closer)
  std::vector<CompareTensor> tensors;
};

// The weights of one tensor, each divided by the absmax of its group (so every format's grid is drawn
// on the same axis): the histogram over [-1, 1], and each format's representable values there.
struct WeightHistogram {
  std::string tensor;
  int64_t group = 64;
  std::vector<double> counts;  // bins of equal width over [-1, 1]
  std::vector<double> int4, nf4, fp8_e4m3;  // INT4 symmetric (k/7), NF4's levels, E4M3 values / 448
};

struct KvSeries {
  std::string kv;               // kv_type_name
  double bytes_per_token = 0;   // K and V of every layer
};

struct CompareResult {
  std::string model;
  LlamaConfig config;
  CompareRow base;  // the model as stored (method "-"): its PPL, resident bytes and decode speed
  std::vector<CompareRow> rows;
  WeightHistogram histogram;
  std::vector<KvSeries> kv;
  int64_t text_tokens = 0, scored = 0;
  double seconds = 0;
  int threads = 0;
  std::string isa;
};

CompareResult compare_models(const Model& source, const CompareOptions& opt);

// Marks the rows (status ok) on the Pareto front of bits per weight against mean KLD.
void mark_pareto(std::vector<CompareRow>& rows);

// The Hugging Face layouts (and GGUF) that store a weight type: "GGUF", "gptq, awq, compressed-tensors", …
std::string layouts_of(const WeightType& t);

}  // namespace vernier
