#include "vernier/quantize_model.hpp"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/metrics.hpp"
#include "vernier/parallel.hpp"
#include "vernier/quant_method.hpp"

namespace vernier {

namespace {
void set_u32(GgufMetadata& kv, const std::string& key, uint32_t v) {
  for (auto& [k, val] : kv) {
    if (k == key) {
      val = GgufValue::u32(v);
      return;
    }
  }
  kv.emplace_back(key, GgufValue::u32(v));
}

void set_string(GgufMetadata& kv, const std::string& key, const std::string& v) {
  for (auto& [k, val] : kv) {
    if (k == key) {
      val = GgufValue::string(v);
      return;
    }
  }
  kv.emplace_back(key, GgufValue::string(v));
}

// Rows split into one contiguous range per thread; each row is independent, so the bytes do not
// depend on the thread count. Each thread then decodes its own rows again, one at a time, to measure
// the round trip without a second full-size buffer.
ErrorAccumulator quantize_rows(const QuantMethod& method, GgmlType type, const float* x, uint8_t* out, int64_t rows,
                               int64_t cols, const TensorStats& stats, uint64_t row_bytes, int threads, std::string_view name) {
  std::vector<ErrorAccumulator> acc(static_cast<size_t>(std::max(1, threads)));
  const int used = parallel_for(rows, threads, [&](int64_t r0, int64_t r1, int t) {
    const TensorView rows_in{x + r0 * cols, r1 - r0, cols, name};
    method.quantize_ggml(rows_in, stats, type, {out + static_cast<uint64_t>(r0) * row_bytes, static_cast<size_t>(r1 - r0) * row_bytes}, 1);
    std::vector<float> back(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      ggml_dequantize(type, out + static_cast<uint64_t>(r) * row_bytes, back.data(), cols);
      acc[static_cast<size_t>(t)].add({x + r * cols, static_cast<size_t>(cols)}, back);
    }
  });
  for (int t = 1; t < used; ++t) acc[0].merge(acc[static_cast<size_t>(t)]);
  return acc[0];
}

// Whether every value is finite: exponent bits not all ones, tested on the bits so that the loop
// vectorizes (std::isfinite per value was a fifth of a Q8_0 quantization's time).
bool all_finite(std::span<const float> x) {
  uint32_t bad = 0;
  for (const float v : x) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    bad |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

std::vector<size_t> tensor_order(const Model& m) {
  std::vector<std::string> names;
  for (const auto& t : m.tensors) names.push_back(t.name);
  return llama_tensor_order(names);
}

// `elements` values of type `type` as float32: in place when they already are (the mapped bytes),
// else decoded into `buf`.
std::span<const float> to_f32(GgmlType type, std::span<const uint8_t> raw, int64_t elements, std::vector<float>& buf) {
  if (type == ggml_type::F32 && reinterpret_cast<uintptr_t>(raw.data()) % alignof(float) == 0) {
    return {reinterpret_cast<const float*>(raw.data()), static_cast<size_t>(elements)};
  }
  buf.resize(static_cast<size_t>(elements));
  if (type == ggml_type::F32) std::memcpy(buf.data(), raw.data(), buf.size() * 4);
  else ggml_dequantize(type, raw.data(), buf.data(), elements);
  return buf;
}
}  // namespace

std::vector<MixtureChoice> plan_model_mixture(const Model& m, const QuantizeModelOptions& opt) {
  if (!opt.file_type) throw_usage("quantize_model: no file type given");
  std::vector<MixtureTensor> mt;
  for (size_t i : tensor_order(m)) mt.push_back({m.tensors[i].name, m.tensors[i].ne, m.tensors[i].type});
  MixtureHparams hp{m.config.layers, m.config.heads, m.config.kv_heads, 0};
  MixtureOptions mix = opt.mixture;
  mix.has_imatrix = mix.has_imatrix || opt.imatrix != nullptr;
  return plan_mixture(mt, *opt.file_type, mix, hp);
}

QuantizeModelReport quantize_model(const Model& m, const std::string& path, const QuantizeModelOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!opt.file_type) throw_usage("quantize_model: no file type given");
  if (same_file(path, m.path)) throw_usage(path + ": is the input; write the output to another path");
  validate_llama_config(m);  // no file vernier would then refuse to run
  QuantizeModelReport report;
  report.threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  const std::vector<size_t> order = tensor_order(m);
  const std::vector<MixtureChoice> plan = plan_model_mixture(m, opt);

  // Check every tensor can be made before writing anything.
  for (size_t k = 0; k < plan.size(); ++k) {
    const ModelTensor& t = m.tensors[order[k]];
    if (!plan[k].quantized) continue;
    const GgmlTypeInfo* src = ggml_type_info(t.type);
    if (!src->is_float && !opt.allow_requantize) {
      throw_usage(m.path + ": tensor '" + t.name + "' is already " + std::string(src->name) +
                  "; requantizing loses quality twice (pass --allow-requantize to do it anyway)");
    }
    if (!ggml_can_dequantize(t.type)) throw_bad_input(m.path + ": tensor '" + t.name + "': cannot decode its type " + std::string(src->name));
    if (!ggml_can_quantize(plan[k].type)) {
      throw_usage("tensor '" + t.name + "': vernier cannot make " + std::string(ggml_info(plan[k].type).name) + " yet");
    }
  }

  GgufMetadata kv = m.source_format == "gguf" ? m.gguf_metadata : build_gguf_metadata(m, opt.file_type->ftype);
  set_u32(kv, "general.quantization_version", 2);
  set_u32(kv, "general.file_type", opt.file_type->ftype);
  if (opt.imatrix) {
    set_string(kv, "quantize.imatrix.file", opt.imatrix_path);
    if (!opt.imatrix->datasets.empty()) set_string(kv, "quantize.imatrix.dataset", opt.imatrix->datasets.front());
    set_u32(kv, "quantize.imatrix.entries_count", static_cast<uint32_t>(opt.imatrix->weights.size()));
    set_u32(kv, "quantize.imatrix.chunks_count", static_cast<uint32_t>(opt.imatrix->chunks));
  }

  GgufWriter w(path, opt.overwrite);
  w.set_metadata(std::move(kv));
  for (size_t k = 0; k < plan.size(); ++k) w.add_tensor(m.tensors[order[k]].name, m.tensors[order[k]].ne, plan[k].type);
  w.write_header();

  std::vector<uint8_t> src, dst;
  std::vector<float> xbuf;
  uint64_t processed = 0;
  for (size_t k = 0; k < plan.size(); ++k) {
    const ModelTensor& t = m.tensors[order[k]];
    const MixtureChoice& ch = plan[k];
    if (opt.progress) opt.progress(k, plan.size(), t.name, processed);
    QuantizedTensorReport r;
    r.name = t.name;
    r.type = ch.type;
    r.reason = ch.reason;
    r.planned = ch.planned;
    r.quantized = ch.quantized;
    r.row = t.ne.empty() ? 0 : t.ne[0];
    r.elements = t.elements();
    const std::span<const uint8_t> in = stored_bytes(t, src);
    if (!ch.quantized) {
      w.write_tensor(in);
      r.bytes = t.nbytes;
    } else {
      const int64_t cols = t.ne[0], rows = t.elements() / cols;
      const float* imatrix = nullptr;
      if (opt.imatrix) {
        if (const std::vector<float>* wv = opt.imatrix->find(t.name)) {
          if (static_cast<int64_t>(wv->size()) != cols) {
            throw_bad_input("importance matrix entry '" + t.name + "' has " + std::to_string(wv->size()) +
                            " weights, the tensor has rows of " + std::to_string(cols));
          }
          imatrix = wv->data();
        }
      }
      r.used_imatrix = imatrix != nullptr;
      const uint64_t row_bytes = *ggml_row_bytes(ggml_info(ch.type), cols);
      const uint64_t in_row_bytes = *ggml_row_bytes(ggml_info(t.type), cols);
      const QuantMethod& method = opt.method ? *opt.method : imatrix ? imatrix_method() : rtn_method();
      TensorStats stats;
      stats.importance = imatrix;
      // Slabs of rows (rows are independent: the bytes are those of the whole tensor at once), each
      // decoded to float32, quantized, written and its input pages let go: memory stays at a slab's
      // floats and codes (kSlabBytes of floats) whatever the tensor's size.
      constexpr uint64_t kSlabBytes = 64ull << 20;
      const int64_t slab = std::max<int64_t>(1, static_cast<int64_t>(kSlabBytes / (static_cast<uint64_t>(cols) * 4)));
      ErrorAccumulator acc;
      for (int64_t r0 = 0; r0 < rows; r0 += slab) {
        const int64_t n = std::min(slab, rows - r0);
        const std::span<const uint8_t> part = in.subspan(static_cast<size_t>(r0) * in_row_bytes, static_cast<size_t>(n) * in_row_bytes);
        const std::span<const float> x = to_f32(t.type, part, n * cols, xbuf);
        if (!opt.allow_nonfinite && !all_finite(x)) {
          for (size_t i = 0; i < x.size(); ++i) {
            if (!std::isfinite(x[i])) {
              const int64_t e = r0 * cols + static_cast<int64_t>(i);
              throw_bad_input(m.path + ": tensor '" + t.name + "': element " + std::to_string(e) + " (row " + std::to_string(e / cols) +
                              ") is " + (std::isnan(x[i]) ? "NaN" : "Inf") + " (pass --allow-nonfinite to quantize it anyway)");
            }
          }
        }
        dst.resize(row_bytes * static_cast<uint64_t>(n));
        const ErrorAccumulator part_acc = quantize_rows(method, ch.type, x.data(), dst.data(), n, cols, stats, row_bytes, report.threads, t.name);
        // finite weights whose stored form is not: a block scale overflowed its FP16 field (llama.cpp writes such a
        // block silently; its dequantized weights are Inf or NaN)
        if (!opt.allow_nonfinite && !std::isfinite(part_acc.result().mse)) {
          float amax = 0;
          for (float v : x) amax = std::max(amax, std::fabs(v));
          throw_bad_input(m.path + ": tensor '" + t.name + "': " + std::string(ggml_info(ch.type).name) +
                          " cannot store it: its largest |weight| " + std::to_string(amax) +
                          " overflows the type's FP16 block scale, so the stored weights are not finite (pass --allow-nonfinite to write it anyway)");
        }
        acc.merge(part_acc);
        w.write_tensor_part(dst);
        if (t.view && t.release_part) t.release_part(static_cast<uint64_t>(r0) * in_row_bytes, static_cast<uint64_t>(n) * in_row_bytes);
      }
      if (rows == 0) w.write_tensor_part({});  // an empty tensor is complete with no rows
      const ErrorStats st = acc.result();
      r.bytes = row_bytes * static_cast<uint64_t>(rows);
      r.rmse = st.rmse;
      r.sqnr_db = st.sqnr_db;
    }
    if (t.release) t.release();
    processed += static_cast<uint64_t>(t.elements()) * 4;
    report.total_bytes += r.bytes;
    report.total_elements += r.elements;
    report.tensors.push_back(std::move(r));
  }
  w.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace vernier
