// vernier — quantize large language models and measure what the quantization costs.
// Exit codes: 0 success, 1 bad input file or data, 2 bad usage (a one-line error, nothing on stdout).
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"

int main(int argc, char** argv) {
  // Ctrl-C (or a kill) ends a long command with one line that says so; what it was writing is removed
  vernier::set_interrupt_message("vernier: interrupted\n", ::isatty(2) != 0);
  CLI::App app{
      "vernier: quantize LLM weights and measure what it costs.\n"
      "Formats FP32/FP16/BF16/FP8/INT2-8/NF4, per-tensor, per-channel and per-group scales,\n"
      "error metrics, memory planning, and GGUF / safetensors / llama2.c model files. Run 'vernier COMMAND --help' for each command.",
      "vernier"};
  app.require_subcommand(1, 1);
  app.set_help_all_flag("--help-all", "Print help for every command");
  vernier::cli::add_formats_command(app);
  vernier::cli::add_explain_command(app);
  vernier::cli::add_plan_command(app);
  vernier::cli::add_demo_command(app);
  vernier::cli::add_inspect_command(app);
  vernier::cli::add_convert_command(app);
  vernier::cli::add_quantize_command(app);
  vernier::cli::add_run_command(app);
  vernier::cli::add_eval_command(app);
  vernier::cli::add_imatrix_command(app);
  vernier::cli::add_bench_command(app);
  vernier::cli::add_synth_command(app);
  vernier::cli::add_compare_command(app);
  vernier::cli::add_advise_command(app);
  vernier::cli::add_report_command(app);
  // The first word names the command: say so when it names none, with the commands there are (CLI11 would
  // take it for a stray positional argument and only ask for "a subcommand").
  std::string commands;
  bool known = false;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands += (commands.empty() ? "" : ", ") + c->get_name();
    if (argc >= 2 && c->check_name(argv[1])) known = true;
  }
  if (argc < 2) {
    std::cerr << "vernier: error: no command given; the commands: " << commands << " (see 'vernier --help')\n";
    return 2;
  }
  if (argv[1][0] != '-' && !known) {
    std::cerr << "vernier: error: unknown subcommand '" << argv[1] << "'; the commands: " << commands << " (see 'vernier --help')\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "vernier: error: " << vernier::cli::printable(e.what()) << " (see 'vernier --help')\n";
    return 2;
  } catch (const vernier::Error& e) {
    std::cerr << "vernier: error: " << vernier::cli::printable(e.what()) << '\n';
    return e.kind() == vernier::ErrorKind::usage ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "vernier: internal error: " << vernier::cli::printable(e.what()) << '\n';
    return 1;
  }
  return 0;
}
