#include <cmath>
#include <cstring>

#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/gguf.hpp"
#include "vernier/imatrix.hpp"

namespace vernier {

const std::vector<float>* ImportanceMatrix::find(const std::string& tensor) const {
  const auto it = weights.find(tensor);
  return it == weights.end() ? nullptr : &it->second;
}

namespace {
ImportanceMatrix load_gguf_imatrix(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  ImportanceMatrix im;
  if (const GgufValue* d = f.find("imatrix.datasets"); d && d->type == GgufType::array) im.datasets = d->strings;
  if (const GgufValue* c = f.find("imatrix.chunk_count"); c && c->is_integer()) im.chunks = c->as_i64();
  const std::string suffix = ".in_sum2";
  for (const auto& t : f.tensors()) {
    if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string base = t.name.substr(0, t.name.size() - suffix.size());
    const GgufTensorInfo* counts = f.find_tensor(base + ".counts");
    if (!counts) throw_bad_input(path + ": '" + t.name + "' has no matching '" + base + ".counts'");
    if (t.type != ggml_type::F32 || counts->type != ggml_type::F32) throw_bad_input(path + ": '" + base + "' is not F32");
    const int64_t ne0 = t.ne.empty() ? 0 : t.ne[0];
    if (ne0 <= 0) throw_bad_input(path + ": '" + t.name + "' has no entries (a row of length 0)");
    const int64_t n_mat = t.elements() / ne0;
    if (counts->elements() != n_mat) throw_bad_input(path + ": '" + base + ".counts' has the wrong number of entries");
    std::vector<float> sums(static_cast<size_t>(t.elements())), cnt(static_cast<size_t>(n_mat));
    std::memcpy(sums.data(), f.tensor_data(t).data(), sums.size() * 4);
    std::memcpy(cnt.data(), f.tensor_data(*counts).data(), cnt.size() * 4);
    std::vector<float> e(sums.size());
    for (int64_t j = 0; j < n_mat; ++j) {
      for (int64_t i = 0; i < ne0; ++i) {
        const size_t k = static_cast<size_t>(j * ne0 + i);
        e[k] = cnt[static_cast<size_t>(j)] > 0.0f ? sums[k] / cnt[static_cast<size_t>(j)] : 1.0f;
      }
    }
    im.weights[base] = std::move(e);
  }
  return im;
}

ImportanceMatrix load_dat_imatrix(const std::string& path) {
  const MappedFile f(path);
  const uint8_t* d = f.data();
  uint64_t pos = 0;
  const auto need = [&](uint64_t n, const char* what) {
    if (f.size() - pos < n) throw_bad_input(path + ": truncated at byte " + std::to_string(pos) + " reading " + what);
  };
  const auto i32 = [&](const char* what) {
    need(4, what);
    int32_t v;
    std::memcpy(&v, d + pos, 4);
    pos += 4;
    return v;
  };
  ImportanceMatrix im;
  const int32_t n = i32("entry count");
  if (n < 0 || static_cast<uint64_t>(n) > f.size() / 12) throw_bad_input(path + ": implausible entry count " + std::to_string(n));
  for (int32_t e = 0; e < n; ++e) {
    const int32_t len = i32("name length");
    if (len <= 0 || static_cast<uint64_t>(len) > f.size() - pos) throw_bad_input(path + ": bad name length " + std::to_string(len));
    std::string name(reinterpret_cast<const char*>(d + pos), static_cast<size_t>(len));
    pos += static_cast<uint64_t>(len);
    const int32_t ncall = i32("call count");
    const int32_t nval = i32("value count");
    if (nval <= 0 || static_cast<uint64_t>(nval) > (f.size() - pos) / 4) throw_bad_input(path + ": '" + name + "' has a bad value count");
    std::vector<float> v(static_cast<size_t>(nval));
    std::memcpy(v.data(), d + pos, v.size() * 4);
    pos += v.size() * 4;
    if (ncall > 0) {
      for (auto& x : v) x /= static_cast<float>(ncall);
    }
    im.weights[name] = std::move(v);
  }
  if (f.size() - pos >= 8) {
    im.chunks = i32("chunk count");
    const int32_t len = i32("dataset length");
    if (len > 0 && static_cast<uint64_t>(len) <= f.size() - pos) {
      im.datasets.emplace_back(reinterpret_cast<const char*>(d + pos), static_cast<size_t>(len));
    }
  }
  return im;
}
}  // namespace

ImportanceMatrix load_imatrix(const std::string& path) {
  const MappedFile probe(path);
  const bool gguf = probe.size() >= 4 && std::memcmp(probe.data(), "GGUF", 4) == 0;
  ImportanceMatrix im = gguf ? load_gguf_imatrix(path) : load_dat_imatrix(path);
  if (im.weights.empty()) throw_bad_input(path + ": no importance data found");
  for (const auto& [name, w] : im.weights) {
    for (size_t i = 0; i < w.size(); ++i) {
      if (!std::isfinite(w[i])) throw_bad_input(path + ": tensor '" + name + "' has a non-finite weight at " + std::to_string(i));
      // sums of squares over token counts: a negative one is a corrupt file, not an importance
      if (w[i] < 0) throw_bad_input(path + ": tensor '" + name + "' has a negative weight at " + std::to_string(i) + " (sums of squares and counts are not)");
    }
  }
  return im;
}

}  // namespace vernier
