#include "vernier/error.hpp"

namespace vernier {

void throw_usage(const std::string& message) { throw Error(ErrorKind::usage, message); }
void throw_bad_input(const std::string& message) { throw Error(ErrorKind::bad_input, message); }

}  // namespace vernier
