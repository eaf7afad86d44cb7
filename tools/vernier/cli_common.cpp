#include "cli_common.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/kernels.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace vernier::cli {

Model open_model(const std::string& path, const std::string& tokenizer) {
  Model m = load_model(path, tokenizer);
  for (const auto& w : m.warnings) std::cerr << "warning: " << w << "\n";
  return m;
}

namespace {
size_t display_width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xc0) != 0x80;  // count UTF-8 code points
  return w;
}
}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto hex = [&](unsigned char b) { out += fmt::format("\\x{:02x}", b); };
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7f) {
      hex(b);
      ++i;
      continue;
    }
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    // a whole, valid UTF-8 sequence passes unless it encodes a C1 control (U+0080…U+009F: some terminals act on them)
    const size_t n = b >= 0xF0 && b < 0xF5 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 2 && b == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) ok = false;
    if (!ok) {
      hex(b);
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

void Table::print(std::ostream& out, const std::string& indent) const {
  // cells come from files (tensor names, metadata values): escaped, so no byte of them reaches the terminal as a control
  std::vector<std::string> head;
  for (const auto& h : header) head.push_back(printable(h));
  std::vector<std::vector<std::string>> body;
  for (const auto& r : rows) {
    body.emplace_back();
    for (const auto& c : r) body.back().push_back(printable(c));
  }
  std::vector<size_t> width(head.size(), 0);
  for (size_t i = 0; i < head.size(); ++i) width[i] = display_width(head[i]);
  for (const auto& r : body) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string s = indent;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      const std::string pad(width[i] - display_width(cell), ' ');
      if (i > 0) s += "  ";
      const bool left = i == 0 || i + left_tail >= width.size();
      s += left ? cell + pad : pad + cell;
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(head);
  for (const auto& r : body) line(r);
}

std::string num(double v, int significant) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}g}", v, significant);
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}f}", v, decimals);
}

std::string grouped(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string format_bytes_short(uint64_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
  if (v >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", v / 1024.0);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << '\n'; }

bool is_thread_count(const std::string& v) {
  return !v.empty() && v.size() < 7 && std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

namespace {
// "" for a thread count, or an error that says what -t is (CLI11 runs it on the text, before conversion).
std::string thread_count_error(const std::string& v) {
  if (is_thread_count(v)) return "";
  return "'" + v + "' is not a thread count: -t/--threads is the number of threads, as in llama.cpp (the sampling "
         "temperature is --temp)";
}
}  // namespace

void add_threads_option(CLI::App* cmd, int& threads, const std::string& help) {
  cmd->add_option("-t,--threads", threads, help)->check(CLI::Validator(thread_count_error, "", "thread count"));
}

void add_model_option(CLI::App* cmd, std::string& model, const std::string& help) {
  // two variables, compared once parsing is done (CLI11's excludes() would print "Excludes:" in --help)
  auto flag = std::make_shared<std::string>();
  cmd->add_option("model", model, help + " (or -m/--model)");
  cmd->add_option("-m,--model", *flag, "The model, as the first argument (llama.cpp's -m)");
  cmd->parse_complete_callback([&model, flag] {
    if (flag->empty()) return;
    if (!model.empty()) throw_usage("the model is given twice: '" + model + "' and -m " + *flag);
    model = *flag;
  });
}

void require_model(const std::string& model) {
  if (model.empty()) throw_usage("no model given: name it as the first argument or with -m/--model");
}

CLI::Validator non_negative_count() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || !end || *end != '\0' || errno == ERANGE || n < 0) return "'" + v + "' is not a count of 0 or more";
        return "";
      },
      "COUNT >= 0");
}

CLI::Option* add_ctx_option(CLI::App* cmd, int64_t& ctx, const std::string& help) {
  return cmd->add_option("-c,--ctx-size,--ctx", ctx, help);
}

CLI::Option* add_batch_option(CLI::App* cmd, int64_t& batch, const std::string& help, bool old_spelling) {
  return cmd->add_option(old_spelling ? "-b,--batch-size,--batch" : "-b,--batch-size", batch, help);
}

void add_refused_option(CLI::App* cmd, const std::string& name, const std::string& message) {
  cmd->add_option_function<std::string>(name, [message](const std::string&) { throw_usage(message); })->group("")->allow_extra_args(false);
}

void add_isa_option(CLI::App* cmd, std::string& isa) {
  std::string names;
  for (const auto& n : available_kernel_isas()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--isa", isa, "Kernel path: " + names + " (env VERNIER_ISA)")->capture_default_str();
}

void add_activations_option(CLI::App* cmd, std::string& act) {
  cmd->add_option("--activations", act,
                  "What weight-only formats (vernier's schemes: int4-asym-g128, nf4-b64, …) multiply against: bf16 "
                  "(activations rounded to bfloat16, W4A16 as GPU runtimes compute), f32, or q8_0 (quantized per 32 "
                  "values, W4A8); GGUF types keep their own formats")
      ->capture_default_str()
      ->check([](const std::string& v) {
        try {
          parse_activations(v);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
}

void add_quiet_flag(CLI::App* cmd, bool& quiet) { cmd->add_flag("--quiet", quiet, "No progress on stderr"); }

void add_json_flag(CLI::App* cmd, bool& json, const std::string& what) { cmd->add_flag("--json", json, "Print " + what + " as JSON"); }

std::string resolve_isa(const std::string& isa) {
  const char* env = std::getenv("VERNIER_ISA");
  const std::string chosen = isa == "auto" && env && *env ? std::string(env) : isa;
  return make_kernel_context(chosen, 1).isa();  // validates; "auto" becomes the path it picks
}

void apply_isa(const std::string& isa) { set_kernel_isa(resolve_isa(isa)); }

Model apply_scheme(const Model& m, const std::string& scheme, int threads, bool quiet, InMemoryReport* report) {
  if (scheme.empty()) return m;
  return apply_scheme(m, parse_weight_type(scheme), threads, quiet, report);
}

Model apply_scheme(const Model& m, const WeightType& type, int threads, bool quiet, InMemoryReport* report, const ImportanceMatrix* imatrix) {
  InMemoryOptions o;
  o.type = type;
  o.threads = threads;
  if (imatrix) {
    o.imatrix = imatrix;
    o.method = &imatrix_method();
  }
  Progress progress(quiet);
  o.progress = [&](size_t i, size_t n, const std::string& name) {
    progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {} to {}", i + 1, n, name, o.type.name()));
  };
  InMemoryReport r;
  Model out = quantize_in_memory(m, o, &r);
  progress.clear();
  if (!quiet) {
    std::cerr << fmt::format("{}: {} block matrices quantized in memory (rtn), {} bytes, {:.3f} bits/weight\n", o.type.name(),
                             r.tensors.size(), grouped(r.bytes), r.bits_per_weight());
    for (const InMemoryTensor& t : r.tensors) {
      const GgmlTypeInfo& src = ggml_info(t.source_type);
      if (!src.is_float) {  // said once: the figures measure both quantizations together
        std::cerr << fmt::format("note: {} is stored as {}: it was decoded and quantized again, so the figures include {}'s "
                                 "error (start from an F32/F16/BF16 model to measure {} alone)\n",
                                 t.name, src.name, src.name, o.type.name());
        break;
      }
    }
  }
  if (report) *report = std::move(r);
  return out;
}

Progress::Progress(bool quiet) : quiet_(quiet), tty_(::isatty(2) != 0) {}

Progress::~Progress() { clear(); }

namespace {
std::string eta_text(double seconds) {
  const auto s = static_cast<int64_t>(std::lround(seconds));
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, s % 3600 / 60);
}
}  // namespace

void Progress::update(int64_t index, int64_t count, const std::string& line, double done) {
  if (quiet_) return;
  const Clock::time_point now = Clock::now();
  const bool first = !started_;
  if (first) {
    start_ = now;
    started_ = true;
  }
  const bool last = count > 0 && index + 1 >= count;
  const double since = std::chrono::duration<double>(now - last_).count();
  if (!first && !last && since < (tty_ ? 0.1 : 2.0)) return;
  if (done < 0 && count > 0) done = static_cast<double>(index) / static_cast<double>(count);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string text = printable(line);
  if (done >= 0.05 && done < 1 && elapsed >= 3) text += "  ETA " + eta_text(elapsed * (1 - done) / done);
  last_ = now;
  if (tty_) {
    std::cerr << "\r\033[K" << text << std::flush;
    shown_ = true;
  } else {
    std::cerr << text << '\n' << std::flush;
  }
}

void Progress::clear() {
  if (shown_) std::cerr << "\r\033[K" << std::flush;
  shown_ = false;
}

void refuse_overwriting_inputs(const std::string& output, const std::string& output_flag, const std::vector<NamedInput>& inputs) {
  if (output.empty()) return;
  // the output's folder must exist and take a new file now, not after the work (a temporary file is made beside it)
  {
    std::filesystem::path folder = std::filesystem::absolute(output).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) throw_usage(output_flag + " " + output + ": the folder " + folder.string() + " does not exist");
    if (::access(folder.c_str(), W_OK | X_OK) != 0) {
      throw_usage(output_flag + " " + output + ": the folder " + folder.string() + " is not writable (" + std::strerror(errno) + ")");
    }
  }
  for (const NamedInput& in : inputs) {
    if (in.path.empty()) continue;
    std::error_code ec;
    if (same_file(in.path, output)) {
      throw_usage(output_flag + " " + output + ": is also the " + in.flag + " input; write the output to another path (the input would be lost)");
    }
    if (std::filesystem::is_directory(in.path, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(in.path, ec)) {
        if (e.is_regular_file(ec) && same_file(e.path().string(), output)) {
          throw_usage(output_flag + " " + output + ": is " + e.path().filename().string() + " of the " + in.flag + " input " + in.path +
                      "; write the output to another path");
        }
      }
    }
  }
}

}  // namespace vernier::cli
