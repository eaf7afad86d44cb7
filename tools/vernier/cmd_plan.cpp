// vernier plan — memory arithmetic for a model: weights per format, KV cache, and what fits where.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/units.hpp"

namespace vernier::cli {

namespace {
struct PlanOptions {
  std::string model;
  std::string params;
  int64_t context = 0;
  int64_t batch = 1;
  std::string kv = "fp16";
  std::string memory;
  std::string device;
  bool json = false;
};


// The bit width the back-of-envelope table uses for a format (no scales), or 0 if it has no row there.
double nominal_bits(std::string_view name) {
  if (name == "fp32") return 32;
  if (name == "fp16" || name == "bf16") return 16;
  if (name == "fp8" || name == "int8") return 8;
  if (name.starts_with("int4")) return 4;
  return 0;
}

struct PlanNumbers {
  int64_t params = 0;
  ParamCount count;
  int64_t context = 0;
  uint64_t kv_bytes = 0;  // at the requested KV format
};

PlanNumbers compute(const PlanRequest& req) {
  PlanNumbers p;
  if (req.has_shape) {
    p.count = parameter_count(req.model);
    p.params = p.count.total();
  }
  if (req.params_override > 0) p.params = req.params_override;
  p.context = req.context > 0 ? req.context : req.model.context;
  if (req.has_shape) {
    const KvFormat* kv = find_kv_format(req.kv_format);
    p.kv_bytes = kv_cache_bytes(req.model, p.context, req.batch, kv->bytes_per_element);
  }
  return p;
}

PlanRequest make_request(const PlanOptions& opt) {
  PlanRequest req;
  if (!opt.model.empty()) {
    const ModelShape* m = find_preset(opt.model);
    if (!m) throw_usage("unknown model preset '" + opt.model + "' (expected one of: " + preset_names() + ")");
    req.model = *m;
  } else if (!opt.params.empty()) {
    req.has_shape = false;
    req.model = ModelShape{"custom", 0, 0, 0, 0, 0, 0, 0, 0, false};
  } else {
    req.model = *find_preset("llama2-7b");
  }
  if (!opt.params.empty()) {
    req.params_override = parse_param_count(opt.params);
    if (!req.has_shape) req.model.nominal_params = static_cast<double>(req.params_override);
  }
  if (opt.context < 0) throw_usage("--ctx must be positive");
  if (opt.batch < 1) throw_usage("--batch must be at least 1");
  req.context = opt.context;
  req.batch = opt.batch;
  if (!find_kv_format(opt.kv)) throw_usage("unknown --kv format '" + opt.kv + "' (expected fp32, fp16, bf16, fp8, int8 or int4)");
  req.kv_format = opt.kv;
  if (!opt.memory.empty() && !opt.device.empty()) throw_usage("give --memory or --device, not both");
  if (!opt.memory.empty()) {
    req.memory_bytes = parse_bytes(opt.memory);
    req.memory_label = opt.memory;
  } else if (!opt.device.empty()) {
    const auto d = find_device(opt.device);
    if (!d) throw_usage("unknown --device '" + opt.device + "' (expected rtx4090, a100-40gb, a100-80gb, h100-80gb or cpu)");
    req.memory_bytes = d->memory_bytes;
    req.memory_label = d->name + " (" + format_gib(d->memory_bytes) + ")";
  }
  return req;
}
}  // namespace

nlohmann::json plan_json(const PlanRequest& req) {
  const PlanNumbers p = compute(req);
  nlohmann::json j;
  if (req.has_shape) {
    const ModelShape& m = req.model;
    j["model"] = {{"name", m.name}, {"dim", m.dim}, {"layers", m.layers}, {"heads", m.heads},
                  {"kv_heads", m.kv_heads}, {"head_dim", m.head_dim()}, {"ffn", m.ffn}, {"vocab", m.vocab},
                  {"context", m.context}, {"tied_embeddings", m.tied_embeddings},
                  {"matrix_params", p.count.matrices}, {"norm_params", p.count.norms}};
  }
  j["params"] = p.params;
  j["weights"] = nlohmann::json::object();
  j["bits_per_weight"] = nlohmann::json::object();
  j["nominal_weights"] = nlohmann::json::object();
  for (const WeightFormat& f : plan_weight_formats()) {
    j["weights"][std::string(f.name)] = weight_bytes(p.params, f.bits_per_weight);
    j["bits_per_weight"][std::string(f.name)] = f.bits_per_weight;
    if (nominal_bits(f.name) > 0 && req.model.nominal_params > 0) {
      j["nominal_weights"][std::string(f.name)] = req.model.nominal_params * nominal_bits(f.name) / 8.0;
    }
  }
  if (req.has_shape) {
    j["context"] = p.context;
    j["batch"] = req.batch;
    j["kv_cache"] = nlohmann::json::object();
    for (const KvFormat& k : plan_kv_formats()) {
      j["kv_cache"][std::string(k.name)] = kv_cache_bytes(req.model, p.context, req.batch, k.bytes_per_element);
    }
    j["kv_format"] = req.kv_format;
  }
  if (req.memory_bytes > 0) {
    j["memory"] = {{"bytes", req.memory_bytes}, {"label", req.memory_label}};
    j["fits"] = nlohmann::json::object();
    for (const WeightFormat& f : plan_weight_formats()) {
      j["fits"][std::string(f.name)] = weight_bytes(p.params, f.bits_per_weight) + p.kv_bytes <= req.memory_bytes;
    }
  }
  return j;
}

void print_plan(const PlanRequest& req, std::ostream& out) {
  const PlanNumbers p = compute(req);
  const ModelShape& m = req.model;
  if (req.has_shape) {
    out << fmt::format("{}: {} parameters ({} in weight matrices, {} in norms)\n", m.name, grouped(p.params),
                       grouped(p.count.matrices), grouped(p.count.norms));
    out << fmt::format("  dim {}, {} layers, {} heads ({} KV heads, head dim {}), FFN {}, vocab {}, {} embeddings\n",
                       m.dim, m.layers, m.heads, m.kv_heads, m.head_dim(), m.ffn, m.vocab,
                       m.tied_embeddings ? "tied" : "separate input and output");
  } else {
    out << fmt::format("{} parameters (no model shape: pass --model for KV-cache figures)\n", grouped(p.params));
  }
  const bool fit = req.memory_bytes > 0;
  out << "\nweights (every parameter at the format's bits per weight, scales included)\n";
  Table t;
  t.left_tail = 1;
  t.header = {"format", "bits/w", "bytes", "GB", "GiB", "back-of-envelope"};
  if (fit) t.header.push_back(req.has_shape ? fmt::format("+ KV {} fits {}?", req.kv_format, req.memory_label)
                                            : fmt::format("fits {}?", req.memory_label));
  t.header.push_back("stored as");
  for (const WeightFormat& f : plan_weight_formats()) {
    const uint64_t b = weight_bytes(p.params, f.bits_per_weight);
    const double nb = nominal_bits(f.name);
    std::vector<std::string> row = {std::string(f.name), num(f.bits_per_weight, 6), grouped(b),
                                    fixed(static_cast<double>(b) / 1e9, 2),
                                    fixed(static_cast<double>(b) / (1024.0 * 1024 * 1024), 2),
                                    nb > 0 && m.nominal_params > 0 ? num(m.nominal_params * nb / 8 / 1e9, 3) + " GB" : "-"};
    if (fit) {
      const uint64_t total = b + p.kv_bytes;
      const double diff = (static_cast<double>(req.memory_bytes) - static_cast<double>(total)) / (1024.0 * 1024 * 1024);
      row.push_back(total <= req.memory_bytes ? fmt::format("yes, {:.2f} GiB free", diff)
                                              : fmt::format("no, {:.2f} GiB short", -diff));
    }
    row.push_back(std::string(f.note));
    t.rows.push_back(row);
  }
  t.print(out, "  ");
  if (req.has_shape) {
    out << fmt::format("\nKV cache per {} tokens × batch {}: 2 (K, V) × {} layers × {} KV heads × {} head dim × {} × {} × bytes\n",
                       p.context, req.batch, m.layers, m.kv_heads, m.head_dim(), p.context, req.batch);
    Table k;
    k.header = {"format", "bytes/elem", "bytes", "GiB"};
    for (const KvFormat& f : plan_kv_formats()) {
      const uint64_t b = kv_cache_bytes(m, p.context, req.batch, f.bytes_per_element);
      k.rows.push_back({std::string(f.name), num(f.bytes_per_element, 3), grouped(b),
                        fixed(static_cast<double>(b) / (1024.0 * 1024 * 1024), 3)});
    }
    k.print(out, "  ");
    out << "  (int8/int4 caches also store a scale per token and head: +2-4 bytes per 128 elements)\n";
  }
  if (m.nominal_params > 0 && req.has_shape) {
    out << fmt::format(
        "\nWhy the back-of-envelope column differs: it multiplies the name's {} by the bytes per weight and\n"
        "reads the result in GB. The model has {} parameters ({:+.1f}%); GiB (2^30) is 7.4% larger than GB (10^9);\n"
        "and 4-bit formats store scales too: INT4 with an FP16 scale per 128 weights is 4.125 bits, per 32 is 4.5.\n",
        num(m.nominal_params / 1e9, 3) + "B", grouped(p.params),
        100.0 * (static_cast<double>(p.params) - m.nominal_params) / m.nominal_params);
  }
}

void add_plan_command(CLI::App& app) {
  auto opt = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Memory math: weight bytes per format, KV-cache bytes, and whether it fits a device");
  cmd->add_option("--model,model", opt->model, "Preset: " + preset_names() + " (default llama2-7b)");
  cmd->add_option("--params", opt->params, "Parameter count instead of a preset, e.g. 7e9 or 6.7B");
  cmd->add_option("--ctx", opt->context, "Context length for the KV cache (default: the model's)");
  cmd->add_option("--batch", opt->batch, "Sequences in the batch")->capture_default_str();
  cmd->add_option("--kv", opt->kv, "KV-cache format for the fit check: fp32, fp16, bf16, fp8, int8, int4")
      ->capture_default_str();
  cmd->add_option("--memory", opt->memory, "Memory to fit into, e.g. 24GiB or 80GB");
  cmd->add_option("--device", opt->device, "Named device: rtx4090, a100-40gb, a100-80gb, h100-80gb, cpu");
  add_json_flag(cmd, opt->json, "the plan");
  cmd->callback([opt] {
    const PlanRequest req = make_request(*opt);
    if (opt->json) print_json(plan_json(req));
    else print_plan(req, std::cout);
  });
}

}  // namespace vernier::cli
