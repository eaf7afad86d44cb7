// The JSON documents of compare and advise (report.hpp).
#include <cmath>

#include "vernier/kv_cache.hpp"
#include "vernier/report.hpp"

namespace vernier {

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json row_json(const CompareRow& r) {
  nlohmann::json j = {{"type", r.type}, {"method", r.method}, {"layouts", r.layouts}, {"status", r.status}};
  if (!r.note.empty()) j["note"] = r.note;
  if (r.status != "ok") return j;
  j["bits_per_weight"] = num(r.bits_per_weight);
  j["matrix_bytes"] = r.matrix_bytes;
  j["resident_bytes"] = r.resident_bytes;
  j["ppl"] = num(r.ppl);
  j["ppl_stderr"] = num(r.ppl_stderr);
  j["kld"] = {{"mean", num(r.kld.mean)}, {"mean_stderr", num(r.kld.mean_stderr)}, {"median", num(r.kld.median)}, {"p99", num(r.kld.p99)},
              {"max", num(r.kld.max)}};
  j["same_top1"] = num(r.kld.same_top1);
  j["quant_seconds"] = num(r.quant_seconds);
  j["eval_seconds"] = num(r.eval_seconds);
  j["decode_tokens_per_second"] = num(r.decode_tokens_per_second);
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["pareto"] = r.pareto;
  nlohmann::json t = nlohmann::json::array();
  for (const CompareTensor& x : r.tensors) t.push_back({{"name", x.name}, {"sqnr_db", num(x.sqnr_db)}, {"loss", num(x.loss)}, {"rtn_loss", num(x.rtn_loss)}});
  j["tensors"] = t;
  return j;
}
}  // namespace

nlohmann::json compare_json(const CompareResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const CompareRow& x : r.rows) rows.push_back(row_json(x));
  const CompareRow& b = r.base;
  const LlamaConfig& c = r.config;
  nlohmann::json kv = nlohmann::json::array();
  for (const KvSeries& k : r.kv) kv.push_back({{"kv", k.kv}, {"bytes_per_token", k.bytes_per_token}});
  return {{"kind", "vernier.compare"},
          {"version", 1},
          {"model", r.model},
          {"config", {{"dim", c.dim}, {"layers", c.layers}, {"heads", c.heads}, {"kv_heads", c.kv_heads}, {"ffn", c.ffn}, {"vocab", c.vocab}, {"context", c.context}}},
          {"base",
           {{"type", b.type}, {"bits_per_weight", num(b.bits_per_weight)}, {"matrix_bytes", b.matrix_bytes}, {"resident_bytes", b.resident_bytes},
            {"ppl", num(b.ppl)}, {"ppl_stderr", num(b.ppl_stderr)}, {"eval_seconds", num(b.eval_seconds)},
            {"decode_tokens_per_second", num(b.decode_tokens_per_second)}, {"peak_rss_bytes", b.peak_rss_bytes}}},
          {"rows", rows},
          {"histogram",
           {{"tensor", r.histogram.tensor}, {"group", r.histogram.group}, {"counts", r.histogram.counts}, {"int4", r.histogram.int4},
            {"nf4", r.histogram.nf4}, {"fp8_e4m3", r.histogram.fp8_e4m3}}},
          {"kv", kv},
          {"text_tokens", r.text_tokens},
          {"scored", r.scored},
          {"seconds", num(r.seconds)},
          {"threads", r.threads},
          {"isa", r.isa}};
}

nlohmann::json advice_json(const Advice& a, const ModelShape& shape) {
  const AdviseRequest& q = a.request;
  nlohmann::json cands = nlohmann::json::array();
  for (const AdviseCandidate& c : a.candidates) {
    cands.push_back({{"rung", c.rung}, {"format", c.format}, {"weight_type", c.weight_type}, {"method", c.method}, {"runtime", c.runtime},
                     {"file", c.file}, {"tier", quality_tier_name(c.tier)}, {"bits_per_weight", c.bits_per_weight},
                     {"weight_bytes", c.weight_bytes}, {"kv_bytes", c.kv_bytes}, {"fits", c.fits}, {"headroom_bytes", c.headroom_bytes},
                     {"decode_tokens_per_second", c.decode_tps}, {"decode_tokens_per_second_batch", c.decode_tps_batch}, {"chosen", c.chosen},
                     {"verdict", c.verdict}});
  }
  nlohmann::json kv = nlohmann::json::array();
  for (const KvFormat& k : plan_kv_formats()) kv.push_back({{"kv", k.name}, {"bytes_per_token", static_cast<double>(kv_cache_bytes(shape, 1, q.batch, k.bytes_per_element))}});
  const HardwarePreset& h = q.hardware;
  nlohmann::json j = {
      {"kind", "vernier.advise"},
      {"version", 1},
      {"hardware",
       {{"name", h.name}, {"label", h.label}, {"kind", h.kind}, {"memory_bytes", h.memory_bytes}, {"usable_fraction", h.usable_fraction},
        {"usable_bytes", a.usable_bytes}, {"bandwidth_gbs", h.bandwidth_gbs}, {"fp8", h.fp8}, {"source", h.source}}},
      {"model",
       {{"shape", shape.name}, {"shape_note", q.shape_note}, {"params", q.params}, {"dim", shape.dim}, {"layers", shape.layers}, {"heads", shape.heads},
        {"kv_heads", shape.kv_heads}, {"ffn", shape.ffn}, {"vocab", shape.vocab}, {"context", shape.context}}},
      {"context", q.context > 0 ? q.context : shape.context},
      {"batch", q.batch},
      {"kv_format", q.kv},
      {"runtime", q.runtime},
      {"quality", quality_tier_name(q.tier)},
      {"calibration", q.calibration},
      {"min_tps", q.min_tps},
      {"candidates", cands},
      {"chosen", a.chosen >= 0 ? nlohmann::json(a.candidates[a.chosen].weight_type) : nlohmann::json(nullptr)},
      {"reasons", a.reasons},
      {"kv", kv}};
  return j;
}

}  // namespace vernier
