// Test helper for tests/python/test_gptq_numpy.py: vernier's GPTQ on a W and H given as files.
//   vernier_gptq_dump W.f32 H.f32 ROWS COLS SCHEME BLOCK DAMP ACT_ORDER STATIC OUT.f32
// W: rows × cols float32 (row-major), H: cols × cols float32. OUT: the dequantized weights, rows × cols
// float32 in the input's column order.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "vernier/error.hpp"
#include "vernier/gptq.hpp"

using namespace vernier;

namespace {
std::vector<float> read_floats(const char* path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
  if (static_cast<size_t>(in.gcount()) != n * 4) throw std::runtime_error(std::string(path) + ": too short");
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 11) {
    std::fprintf(stderr, "usage: vernier_gptq_dump W H ROWS COLS SCHEME BLOCK DAMP ACT_ORDER STATIC OUT\n");
    return 2;
  }
  try {
    const int64_t rows = std::stoll(argv[3]), cols = std::stoll(argv[4]);
    const std::vector<float> w = read_floats(argv[1], static_cast<size_t>(rows * cols));
    const std::vector<float> h = read_floats(argv[2], static_cast<size_t>(cols * cols));
    GptqOptions o;
    o.block = std::stoll(argv[6]);
    o.damp = std::stod(argv[7]);
    o.act_order = std::string(argv[8]) == "1";
    o.static_groups = std::string(argv[9]) == "1";
    const GptqResult r = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme(argv[5]), o);
    const std::vector<float> d = dequantize_linear(r.w);
    std::ofstream out(argv[10], std::ios::binary);
    out.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size() * 4));
    std::printf("%.9g %.9g\n", r.loss, r.rtn_loss);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vernier_gptq_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
