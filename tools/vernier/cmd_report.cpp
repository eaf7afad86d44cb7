// vernier report — a compare or advise JSON document as one self-contained HTML page with plots.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli_common.hpp"
#include "cli_report.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/report.hpp"

namespace vernier::cli {

HtmlOutput::HtmlOutput(std::string path, const std::vector<NamedInput>& inputs, const std::string& flag) : path_(std::move(path)) {
  const std::filesystem::path p = std::filesystem::absolute(path_);
  if (std::filesystem::is_directory(p)) throw_usage(path_ + ": is a folder (the HTML report is one file, e.g. report.html)");
  if (!std::filesystem::is_directory(p.parent_path())) throw_usage(path_ + ": the folder " + p.parent_path().string() + " does not exist");
  refuse_overwriting_inputs(path_, flag, inputs);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, path + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::function<void(size_t, size_t, const std::string&, double)> compare_progress(Progress& p) {
  return [&p](size_t i, size_t n, const std::string& what, double done) {
    p.update(static_cast<int64_t>(i), static_cast<int64_t>(n), "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + what, done);
  };
}

void HtmlOutput::write(const std::string& html) const {
  AtomicFile f(path_, true);
  f.write(html.data(), html.size());
  f.commit();
}

namespace {
struct ReportCli {
  std::string input, output;
};

void run_report(const ReportCli& c) {
  const HtmlOutput out(c.output, {{"results", c.input}}, "-o");
  const std::string text = read_text_file(c.input);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(c.input + ": not JSON (" + e.what() + ")");
  }
  std::string html;
  try {
    html = render_html_report(doc, c.input);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
    throw_bad_input(c.input + ": not a document vernier wrote (" + e.what() + ")");
  }
  out.write(html);
  std::cout << "wrote " << c.output << "\n";
}
}  // namespace

void add_report_command(CLI::App& app) {
  auto c = std::make_shared<ReportCli>();
  CLI::App* cmd = app.add_subcommand("report", "Render compare --json or advise --json output as one self-contained HTML page with plots");
  cmd->add_option("results", c->input, "JSON written by `vernier compare --json` or `vernier advise --json`")->required();
  cmd->add_option("-o,--output", c->output, "HTML file to write")->required();
  cmd->callback([c] { run_report(*c); });
}

}  // namespace vernier::cli
