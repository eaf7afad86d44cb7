// The --html output of compare and advise, and `vernier report`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli_common.hpp"

namespace vernier::cli {

// An HTML report's destination, checked before the work starts: its folder exists and it is none of
// the command's inputs. write() replaces the file atomically (a reader never sees half a page).
class HtmlOutput {
 public:
  HtmlOutput(std::string path, const std::vector<NamedInput>& inputs, const std::string& flag = "--html");
  void write(const std::string& html) const;

 private:
  std::string path_;
};

// A whole text file (evaluation or calibration text, a saved JSON document); an io Error naming it.
std::string read_text_file(const std::string& path);

// compare's progress callback onto a Progress line: "[i/n] what", with the whole run's fraction.
std::function<void(size_t, size_t, const std::string&, double)> compare_progress(Progress& p);

}  // namespace vernier::cli
