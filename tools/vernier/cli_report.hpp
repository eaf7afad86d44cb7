// The --html output of compare and advise, and `vernier report`.
#pragma once

#include <string>
#include <vector>

namespace vernier::cli {

// An HTML report's destination, checked before the work starts: its folder exists and it is none of
// the command's inputs. write() replaces the file atomically (a reader never sees half a page).
class HtmlOutput {
 public:
  HtmlOutput(std::string path, const std::vector<std::string>& inputs);
  void write(const std::string& html) const;

 private:
  std::string path_;
};

}  // namespace vernier::cli
