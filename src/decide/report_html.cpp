// render_html_report: one self-contained page per compare or advise document (report.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "svg.hpp"
#include "vernier/error.hpp"
#include "vernier/report.hpp"

namespace vernier {

namespace {
using nlohmann::json;
using report::Axis;
using report::escape;
using report::Plot;

constexpr const char* kStyle = R"~(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1120px;padding:16px 20px 48px;color:#1b1b1b;background:#fff;line-height:1.45}
h1{font-size:1.5rem;margin:.4em 0}h2{font-size:1.15rem;margin:1.6em 0 .3em;border-bottom:1px solid #ddd;padding-bottom:.2em}
p.how{color:#444;margin:.2em 0 .6em;max-width:60em}
table{border-collapse:collapse;font-size:.85rem;margin:.5em 0;width:100%}th,td{padding:3px 7px;border-bottom:1px solid #e6e6e6;text-align:right;white-space:nowrap}
th{background:#f4f4f4;position:sticky;top:0}td.l,th.l{text-align:left}tr.front td{background:#fff8d6}tr.off td{color:#888}
.wrap{overflow-x:auto}.chart{margin:.6em 0 1.2em}svg.plot{width:100%;max-width:900px;height:auto;display:block}
svg.heat{max-width:100%;height:auto}.multiples{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:flex-start}
.pt{font-size:14px;font-weight:600}.at{font-size:13px}.tk{font-size:11px;fill:#333}.pl{font-size:10px;fill:#333}.lg{font-size:12px}.cv{font-size:10px}
.grid{stroke:#e8e8e8;stroke-width:1}.frame{fill:none;stroke:#999}.chosen{font-weight:600}.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:.9rem}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}td.v{white-space:normal;text-align:left;min-width:22em}
)~";

const json& need(const json& j, const char* key, const std::string& source) {
  if (!j.is_object() || !j.contains(key)) throw_bad_input(source + ": the results have no '" + key + "'");
  return j.at(key);
}
double dnum(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return NAN;
  return j.at(key).get<double>();
}
std::string str(const json& j, const char* key) { return j.is_object() && j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : ""; }

std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / double(1ull << 30)); }
std::string bytes_short(double b) {
  if (!std::isfinite(b)) return "-";
  if (b >= double(1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= double(1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}
std::string g4(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "-"; }

std::string section(const std::string& id, const std::string& title, const std::string& how, const std::string& body) {
  return fmt::format(R"~(<section class="chart" data-plot="{}"><h2>{}</h2><p class="how">{}</p>{}</section>)~", id, escape(title), how, body);
}

// method → colour, in a fixed order so every plot agrees
std::string method_color(const std::string& m) {
  static const std::vector<std::string> order = {"rtn", "imatrix", "gptq", "awq", "awq+gptq", "-"};
  const auto it = std::find(order.begin(), order.end(), m);
  return report::category_color(it == order.end() ? order.size() : static_cast<size_t>(it - order.begin()));
}

std::vector<const json*> ok_rows(const json& doc) {
  std::vector<const json*> out;
  for (const json& r : doc.at("rows"))
    if (str(r, "status") == "ok") out.push_back(&r);
  return out;
}

std::string compare_table(const json& doc) {
  std::string s = R"~(<div class="wrap"><table><tr><th class="l">type</th><th class="l">method</th><th class="l">files</th><th>bits/w</th><th>resident</th>)~"
                  R"~(<th>mean KLD</th><th>p99 KLD</th><th>same top-1</th><th>PPL</th><th>quantize s</th><th>decode tok/s</th><th>peak RSS</th><th class="l">note</th></tr>)~";
  const json& b = doc.at("base");
  s += fmt::format(R"~(<tr><td class="l">{}</td><td class="l">as stored</td><td class="l">-</td><td>{:.2f}</td><td>{}</td><td>0</td><td>0</td><td>100%</td><td>{}</td><td>-</td><td>{:.0f}</td><td>{}</td><td class="l">the reference</td></tr>)~",
                   escape(str(b, "type")), dnum(b, "bits_per_weight"), bytes_short(dnum(b, "resident_bytes")), g4(dnum(b, "ppl")),
                   dnum(b, "decode_tokens_per_second"), bytes_short(dnum(b, "peak_rss_bytes")));
  for (const json& r : doc.at("rows")) {
    const bool ok = str(r, "status") == "ok";
    const bool front = ok && r.value("pareto", false);
    if (!ok) {
      s += fmt::format(R"~(<tr class="off"><td class="l">{}</td><td class="l">{}</td><td class="l">{}</td><td colspan="9">{}</td><td class="l">{}</td></tr>)~", escape(str(r, "type")),
                       escape(str(r, "method")), escape(str(r, "layouts")), escape(str(r, "status")), escape(str(r, "note")));
      continue;
    }
    const json& k = r.at("kld");
    s += fmt::format(R"~(<tr{}><td class="l">{}{}</td><td class="l">{}</td><td class="l">{}</td><td>{:.3f}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}%</td><td>{}</td><td>{:.2f}</td><td>{}</td><td>{}</td><td class="l">{}</td></tr>)~",
                     front ? R"( class="front")" : "", front ? "★ " : "", escape(str(r, "type")), escape(str(r, "method")), escape(str(r, "layouts")),
                     dnum(r, "bits_per_weight"), bytes_short(dnum(r, "resident_bytes")), g4(dnum(k, "mean")), g4(dnum(k, "p99")), 100 * dnum(r, "same_top1"),
                     g4(dnum(r, "ppl")), dnum(r, "quant_seconds"), fmt::format("{:.0f}", dnum(r, "decode_tokens_per_second")), bytes_short(dnum(r, "peak_rss_bytes")),
                     front ? "on the Pareto front" : "");
  }
  return s + "</table></div>";
}

std::string kld_plot(const json& doc) {
  const auto rows = ok_rows(doc);
  double xlo = 1e9, xhi = 0, ylo = 1e9, yhi = 0;
  for (const json* r : rows) {
    const double x = dnum(*r, "bits_per_weight"), y = dnum(r->at("kld"), "mean");
    xlo = std::min(xlo, x), xhi = std::max(xhi, x);
    if (y > 0) ylo = std::min(ylo, y), yhi = std::max(yhi, y);
  }
  if (rows.empty()) xlo = 0, xhi = 1, ylo = 1e-4, yhi = 1;
  Plot p("Quality per bit: mean KL divergence from the float model", Axis{"bits per weight (block matrices, scales included)", std::floor(xlo - 0.5), std::ceil(xhi + 0.5)},
         Axis{"mean KLD (nats per token, log scale)", ylo / 2, yhi * 2, true});
  std::set<std::string> methods;
  std::vector<std::pair<double, double>> front;
  for (const json* r : rows) {
    const std::string m = str(*r, "method");
    methods.insert(m);
    const double x = dnum(*r, "bits_per_weight"), y = dnum(r->at("kld"), "mean");
    const bool f = r->value("pareto", false);
    if (f) front.push_back({x, y});
    // only the front is labelled (the rest crowd it); every point names itself on hover
    p.point(x, y, method_color(m), fmt::format("{} {}: {:.3f} bits/w, mean KLD {:.4g}{}", str(*r, "type"), m, x, y, f ? " (Pareto front)" : ""),
            f ? str(*r, "type") + " " + m : "", f);
  }
  std::sort(front.begin(), front.end());
  p.polyline(front, "#444", "5 4", 1.5);
  for (const std::string& m : methods) p.legend(m, method_color(m));
  p.legend("Pareto front", "#444", true);
  return p.svg();
}

std::string speed_plot(const json& doc) {
  const auto rows = ok_rows(doc);
  const json& b = doc.at("base");
  double xhi = std::max(16.0, dnum(b, "bits_per_weight")), yhi = dnum(b, "decode_tokens_per_second");
  if (!std::isfinite(yhi)) yhi = 0;
  for (const json* r : rows) yhi = std::max(yhi, dnum(*r, "decode_tokens_per_second"));
  Plot p("Decode speed on this machine against bits per weight", Axis{"bits per weight (block matrices)", 0, std::ceil(xhi * 1.15)},
         Axis{"decode tokens/s (greedy, batch 1)", 0, yhi > 0 ? yhi * 1.15 : 1});
  std::set<std::string> methods;
  for (const json* r : rows) {
    const std::string m = str(*r, "method");
    methods.insert(m);
    p.point(dnum(*r, "bits_per_weight"), dnum(*r, "decode_tokens_per_second"), method_color(m),
            fmt::format("{} {}: {:.4g} tokens/s", str(*r, "type"), m, dnum(*r, "decode_tokens_per_second")), m == "rtn" ? str(*r, "type") : "");
  }
  p.point(dnum(b, "bits_per_weight"), dnum(b, "decode_tokens_per_second"), method_color("-"),
          fmt::format("{} as stored: {:.4g} tokens/s", str(b, "type"), dnum(b, "decode_tokens_per_second")), str(b, "type") + " (reference)");
  for (const std::string& m : methods) p.legend(m, method_color(m));
  p.legend("as stored", method_color("-"));
  return p.svg();
}

std::string heatmaps(const json& doc) {
  const auto rows = ok_rows(doc);
  double lo = 1e9, hi = -1e9;
  for (const json* r : rows)
    for (const json& t : r->at("tensors")) {
      const double v = dnum(t, "sqnr_db");
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  if (lo > hi) lo = 0, hi = 1;
  lo = std::floor(lo), hi = std::ceil(hi);
  std::string s = report::color_legend(lo, hi, "weight SQNR (dB), higher is better; hatched: not known") + R"~(<div class="multiples">)~";
  for (const json* r : rows) {
    report::Heatmap h;
    h.title = str(*r, "type") + " " + str(*r, "method");
    h.lo = lo, h.hi = hi, h.unit = "dB";
    std::map<int, size_t> layer_row;
    std::map<std::string, size_t> col;
    std::vector<std::tuple<int, std::string, double>> cells;
    for (const json& t : r->at("tensors")) {
      const std::string name = str(t, "name");  // blk.L.MATRIX.weight
      const size_t a = name.find('.'), b = name.find('.', a + 1), e = name.rfind(".weight");
      if (a == std::string::npos || b == std::string::npos || e == std::string::npos || e <= b) continue;
      const int layer = std::atoi(name.substr(a + 1, b - a - 1).c_str());
      const std::string m = name.substr(b + 1, e - b - 1);
      cells.push_back({layer, m, dnum(t, "sqnr_db")});
      layer_row.emplace(layer, 0);
      col.emplace(m, col.size());
    }
    size_t i = 0;
    for (auto& [l, idx] : layer_row) idx = i++, h.row_labels.push_back("layer " + std::to_string(l));
    h.col_labels.resize(col.size());
    for (const auto& [m, c] : col) h.col_labels[c] = m;
    h.values.assign(h.row_labels.size(), std::vector<double>(h.col_labels.size(), NAN));
    for (const auto& [l, m, v] : cells) h.values[layer_row[l]][col[m]] = v;
    if (!h.row_labels.empty()) s += h.svg(h.row_labels.size() > 12 ? 14 : 26);
  }
  return s + "</div>";
}

std::string histogram_plot(const json& doc) {
  const json& h = doc.at("histogram");
  const std::vector<double> counts = h.value("counts", std::vector<double>{});
  if (counts.empty()) return "<p>No block matrix to draw.</p>";
  double total = 0, peak = 0;
  for (double c : counts) total += c, peak = std::max(peak, c);
  Plot p(fmt::format("Weights of {} ÷ absmax of each group of {}", str(h, "tensor"), h.value("group", 0)),
         Axis{"weight ÷ group absmax", -1.05, 1.05}, Axis{"share of weights (%), and each format's values below", -0.42 * 100 * peak / total, 100 * peak / total * 1.08});
  const double w = 2.0 / static_cast<double>(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    const double x0 = -1 + w * static_cast<double>(i);
    p.bar(x0, x0 + w, 0, 100 * counts[i] / total, "#9aa7b8", fmt::format("[{:.2f}, {:.2f}): {:.2f}%", x0, x0 + w, 100 * counts[i] / total));
  }
  // each format's representable values as ticks in its own strip under the axis
  const struct { const char* key; const char* name; double strip; } grids[] = {{"int4", "INT4 symmetric (k/7)", 0}, {"nf4", "NF4 levels", 1}, {"fp8_e4m3", "FP8 E4M3 (÷ 448)", 2}};
  for (size_t g = 0; g < 3; ++g) {
    const std::string color = report::category_color(g + 1);
    // strips as fractions of the frame's height from its foot; the bars' zero sits at 0.42 / 1.5 = 0.28
    const double f0 = 0.015 + 0.09 * grids[g].strip, f1 = f0 + 0.075;
    for (double v : h.value(grids[g].key, std::vector<double>{})) {
      if (v < -1.0001 || v > 1.0001) continue;
      p.vline(v, color, f0, f1, 1.2);
    }
    p.legend(grids[g].name, color, true);
  }
  return p.svg();
}

std::string kv_plot(const json& kv, double max_ctx, const std::string& title, const std::string& ytitle, double memory_line = 0) {
  if (!kv.is_array() || kv.empty()) return "<p>No KV formats.</p>";
  double lo = 1e300, hi = 0;
  const double c0 = 256, c1 = std::max(max_ctx, 8192.0);
  for (const json& k : kv) {
    const double b = dnum(k, "bytes_per_token");
    if (b > 0) lo = std::min(lo, b * c0), hi = std::max(hi, b * c1);
  }
  if (memory_line > 0) hi = std::max(hi, memory_line * 1.5);
  if (!(lo < hi)) lo = 1, hi = 10;
  Plot p(title, Axis{"context (tokens, log scale)", c0, c1, true, true}, Axis{ytitle, lo / 1.5, hi * 1.5, true});
  p.legend_left();
  size_t i = 0;
  for (const json& k : kv) {
    const double b = dnum(k, "bytes_per_token");
    std::vector<std::pair<double, double>> line;
    for (double c = c0; c <= c1 * 1.0001; c *= 2) line.push_back({c, b * c});
    const std::string color = report::category_color(i++);
    p.polyline(line, color);
    for (const auto& [c, y] : line) p.point(c, y, color, fmt::format("{} at {:g} tokens: {}", str(k, "kv"), c, bytes_short(y)));
    p.legend(str(k, "kv"), color, true);
  }
  if (memory_line > 0) p.hline(memory_line, "#b00", "usable memory " + bytes_short(memory_line));
  return p.svg();
}

std::string compare_sections(const json& doc, const std::string& source) {
  need(doc, "rows", source), need(doc, "base", source), need(doc, "histogram", source), need(doc, "kv", source);
  std::string s;
  const json& b = doc.at("base");
  const json cfg = doc.value("config", json::object());
  s += fmt::format(R"~(<p>Model <code>{}</code> ({} layers, dim {}, {} heads / {} KV heads, vocabulary {}), stored as {}: PPL {} on {} tokens of the evaluation text ({} positions scored).
Every row below is the same model with its block matrices quantized in memory, evaluated on the same tokens against the stored model's next-token distributions.
{} threads, {} kernels; the whole comparison took {:.1f} s.</p>)~",
                   escape(str(doc, "model")), cfg.value("layers", 0), cfg.value("dim", 0), cfg.value("heads", 0), cfg.value("kv_heads", 0), cfg.value("vocab", 0),
                   escape(str(b, "type")), g4(dnum(b, "ppl")), doc.value("text_tokens", 0), doc.value("scored", 0), doc.value("threads", 0) > 0 ? std::to_string(doc.value("threads", 0)) : std::string("all"), escape(str(doc, "isa")),
                   dnum(doc, "seconds"));
  s += section("table", "Every combination",
               "KLD: the mean (and 99th percentile) over scored tokens of KL(float ‖ quantized), in nats; 0 is identical. Same top-1: how often both "
               "models pick the same next token. ★ marks the Pareto front: no other row is both smaller and closer to the float model. "
               "Resident: every weight the runtime holds. Peak RSS: this process's high-water mark during the row.",
               compare_table(doc));
  s += section("kld-bits", "Quality per bit",
               "Lower is better, left is smaller. The dashed line joins the Pareto front, whose points are labelled; hover any point for its "
               "figures. A method that sits below another at the same bits per weight buys quality for free.",
               kld_plot(doc));
  s += section("heatmap", "Error per layer and matrix",
               "Each grid is one row of the table: layers down, matrices across, coloured by the weight SQNR (10·log10 of signal over error energy) "
               "against the float weights the quantizer was given — for AWQ, the scaled weights. Dark cells are the matrices that lose most.",
               heatmaps(doc));
  s += section("histogram", "Weights and the formats' grids",
               "The bars are the weights of one matrix after dividing each group by its absmax, the normalisation every group-scaled format uses; "
               "the strips below mark the values each format can store on that axis. Where the bars are tall and the ticks sparse, rounding costs most.",
               histogram_plot(doc));
  s += section("kv-context", "KV-cache memory against context",
               "Bytes of the K and V caches of every layer for one sequence, per KV format the runtime offers (vernier run/eval --kv).",
               kv_plot(doc.at("kv"), cfg.value("context", 2048), "KV cache of this model, batch 1", "KV-cache bytes (log scale)"));
  s += section("speed-bits", "Decode speed",
               "Greedy decoding at batch 1 on this machine, timed per combination (labels on the rtn rows; hover for the others). Fewer bits "
               "read fewer bytes per token, which is what decoding waits on.",
               speed_plot(doc));
  return s;
}

std::string advise_sections(const json& doc, const std::string& source) {
  const json& hw = need(doc, "hardware", source);
  const json& model = need(doc, "model", source);
  const json& cands = need(doc, "candidates", source);
  std::string s;
  const std::string chosen = doc.contains("chosen") && doc.at("chosen").is_string() ? doc.at("chosen").get<std::string>() : "";
  s += fmt::format(R"~(<p class="chosen">Choice: {}</p><div class="kv"><span>hardware</span><span>{} — {:.0f} GB/s, {} usable{}</span><span>model</span><span>{} parameters, shape of {}{}</span><span>workload</span><span>context {}, batch {}, KV cache {}, runtime {}, quality tier {}{}</span><span>figures from</span><span>{}</span></div>)~",
                   chosen.empty() ? "nothing fits within the quality tier" : "<code>" + escape(chosen) + "</code>", escape(str(hw, "label")),
                   dnum(hw, "bandwidth_gbs"), gib(dnum(hw, "usable_bytes")), hw.value("fp8", false) ? ", FP8 tensor cores" : "", fmt::format("{:.3g} B", dnum(model, "params") / 1e9),
                   escape(str(model, "shape")), str(model, "shape_note").empty() ? "" : " (" + escape(str(model, "shape_note")) + ")", doc.value("context", 0),
                   doc.value("batch", 0), escape(str(doc, "kv_format")), escape(str(doc, "runtime")), escape(str(doc, "quality")),
                   doc.value("calibration", false) ? ", calibration text given" : ", no calibration text", escape(str(hw, "source")));
  std::string reasons = "<ol>";
  for (const json& r : doc.value("reasons", json::array())) reasons += "<li>" + escape(r.get<std::string>()) + "</li>";
  s += section("reasons", "Why", "The decision rule's steps, top to bottom (docs/advise.md).", reasons + "</ol>");
  std::string t = R"~(<div class="wrap"><table><tr><th class="l">rung</th><th class="l">weight type</th><th class="l">file</th><th>bits/w</th><th>weights</th><th>KV</th><th>free</th><th>decode tok/s</th><th class="l">verdict</th></tr>)~";
  double maxb = dnum(hw, "usable_bytes"), maxbits = 16, maxtps = 0;
  for (const json& c : cands) {
    t += fmt::format(R"~(<tr{}><td class="l">{}</td><td class="l">{}</td><td class="l">{}</td><td>{:.3f}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="v">{}</td></tr>)~",
                     c.value("chosen", false) ? R"( class="front")" : "", escape(str(c, "rung")), escape(str(c, "weight_type")), escape(str(c, "file")),
                     dnum(c, "bits_per_weight"), gib(dnum(c, "weight_bytes")), gib(dnum(c, "kv_bytes")), gib(dnum(c, "headroom_bytes")),
                     g4(dnum(c, "decode_tokens_per_second")), escape(str(c, "verdict")));
    maxb = std::max(maxb, dnum(c, "weight_bytes") + dnum(c, "kv_bytes"));
    maxbits = std::max(maxbits, dnum(c, "bits_per_weight"));
    maxtps = std::max(maxtps, dnum(c, "decode_tokens_per_second"));
  }
  s += section("candidates", "The ladder", "Every rung the runtime could use, with plan's memory figures (vernier plan) and the verdict.", t + "</table></div>");
  // memory: stacked bars per candidate against the usable memory
  Plot m("Memory per candidate: weights + KV cache", Axis{"candidate (ladder order)", 0, static_cast<double>(cands.size())}, Axis{"GiB", 0, maxb * 1.1 / double(1ull << 30)});
  for (size_t i = 0; i < cands.size(); ++i) {
    const json& c = cands[i];
    const double w = dnum(c, "weight_bytes") / double(1ull << 30), k = dnum(c, "kv_bytes") / double(1ull << 30);
    m.bar(i + 0.15, i + 0.85, 0, w, report::category_color(0), fmt::format("{}: weights {:.2f} GiB", str(c, "weight_type"), w));
    m.bar(i + 0.15, i + 0.85, w, w + k, report::category_color(4), fmt::format("{}: KV cache {:.2f} GiB", str(c, "weight_type"), k));
    m.point(i + 0.5, w + k, c.value("chosen", false) ? "#000" : "#fff", str(c, "weight_type") + (c.value("chosen", false) ? " (chosen)" : ""),
            str(c, "weight_type"), c.value("chosen", false));
  }
  m.hline(dnum(hw, "usable_bytes") / double(1ull << 30), "#b00", "usable memory");
  m.hline(0.9 * dnum(hw, "usable_bytes") / double(1ull << 30), "#e08000", "budget (90%)", "2 3");
  m.legend("weights", report::category_color(0));
  m.legend("KV cache", report::category_color(4));
  s += section("memory", "Memory plan", "Each bar is one rung; the dashed lines are the usable memory and the 90% budget a rung must fit under.", m.svg());
  Plot d("Decode ceiling from bandwidth", Axis{"bits per weight", 0, std::ceil(maxbits + 1)}, Axis{"tokens/s per sequence (upper bound)", 0, maxtps * 1.15 + 1e-9});
  for (const json& c : cands) {
    d.point(dnum(c, "bits_per_weight"), dnum(c, "decode_tokens_per_second"), c.value("chosen", false) ? "#000" : report::category_color(0),
            fmt::format("{}: ≤ {:.4g} tokens/s", str(c, "weight_type"), dnum(c, "decode_tokens_per_second")), str(c, "weight_type"), c.value("chosen", false));
  }
  if (dnum(doc, "min_tps") > 0) d.hline(dnum(doc, "min_tps"), "#e08000", "--min-tps");
  s += section("ceiling", "Decode ceiling",
               "Memory bandwidth ÷ bytes read per generated token (every weight once, plus the sequence's KV cache): no kernel decodes faster.", d.svg());
  s += section("kv-context", "KV-cache memory against context",
               fmt::format("K and V of every layer for the batch of {}, per KV format; the red line is the usable memory.", doc.value("batch", 1)),
               kv_plot(doc.at("kv"), std::max<double>(doc.value("context", 0), model.value("context", 0)), "KV cache at this batch", "KV-cache bytes (log scale)",
                       dnum(hw, "usable_bytes")));
  if (doc.contains("compare")) s += "<h1>Measured candidates</h1>" + compare_sections(doc.at("compare"), source);
  return s;
}
}  // namespace

std::string render_html_report(const json& doc, const std::string& source) {
  const std::string kind = str(doc, "kind");
  std::string title, body;
  if (kind == "vernier.compare") {
    title = "vernier compare: " + str(doc, "model");
    body = compare_sections(doc, source);
  } else if (kind == "vernier.advise") {
    const json& hw = need(doc, "hardware", source);
    title = "vernier advise: " + str(hw, "label");
    body = advise_sections(doc, source);
  } else {
    throw_bad_input(source + ": not a vernier compare or advise document (\"kind\" is '" + kind + "', expected vernier.compare or vernier.advise)");
  }
  return fmt::format(R"~(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{0}</title><style>{1}</style></head><body>
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs></svg>
<h1>{0}</h1>
{2}
<p class="how">Made by vernier; docs/report.md explains each plot.</p>
</body></html>
)~",
                     escape(title), kStyle, body);
}

}  // namespace vernier
