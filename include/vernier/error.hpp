// vernier/error.hpp — the one error type of the library.
//
// Every failure the user can cause is a vernier::Error with a kind that decides the CLI exit code:
// usage (exit 2: a bad flag or value), bad_input (exit 1: a file or tensor that is not what it claims),
// io (exit 1: the operating system said no). The message names what was wrong and what was expected,
// in one line, so the CLI prints it as is.
#pragma once

#include <stdexcept>
#include <string>

namespace vernier {

enum class ErrorKind { usage, bad_input, io };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] void throw_usage(const std::string& message);
[[noreturn]] void throw_bad_input(const std::string& message);

}  // namespace vernier
