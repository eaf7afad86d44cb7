// Runs the vernier CLI as a user would, for the CLI tests: exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "shared_data.hpp"

namespace {

struct CliResult {
  int code = -1;
  std::string out, err;
};

inline CliResult run(const std::string& args) {
  const std::string err_path = vernier::testdata::temp_path("cli_stderr.txt");  // per test process: ctest runs two at once
  const std::string cmd = std::string(VERNIER_CLI) + " " + args + " 2>" + err_path;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace
