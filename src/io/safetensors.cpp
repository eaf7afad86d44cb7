#include "vernier/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vernier/error.hpp"

namespace vernier {

namespace {
struct DtypeRow { StDtype d; std::string_view name; size_t size; };
constexpr DtypeRow kDtypes[] = {
    {StDtype::F64, "F64", 8}, {StDtype::F32, "F32", 4}, {StDtype::F16, "F16", 2}, {StDtype::BF16, "BF16", 2},
    {StDtype::F8_E4M3, "F8_E4M3", 1}, {StDtype::F8_E5M2, "F8_E5M2", 1}, {StDtype::I64, "I64", 8},
    {StDtype::I32, "I32", 4}, {StDtype::I16, "I16", 2}, {StDtype::I8, "I8", 1}, {StDtype::U8, "U8", 1},
    {StDtype::BOOL, "BOOL", 1},
};
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit
}  // namespace

std::string_view st_dtype_name(StDtype d) {
  for (const auto& r : kDtypes) if (r.d == d) return r.name;
  return "?";
}
std::optional<StDtype> st_dtype_from_name(std::string_view name) {
  for (const auto& r : kDtypes) if (r.name == name) return r.d;
  return std::nullopt;
}
size_t st_dtype_size(StDtype d) {
  for (const auto& r : kDtypes) if (r.d == d) return r.size;
  return 0;
}

int64_t StTensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.file_ = MappedFile(path);
  const auto fail = [&](const std::string& what) -> void { throw_bad_input(path + ": " + what); };
  if (f.file_.size() < 8) fail("too short for a safetensors header (" + std::to_string(f.file_.size()) + " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, f.file_.data(), 8);
  if (n > f.file_.size() - 8) {
    fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(f.file_.size()) + " bytes)");
  }
  if (n > kMaxHeader) fail("header length " + std::to_string(n) + " exceeds 100 MiB");
  f.data_offset_ = 8 + n;
  const uint64_t data_size = f.file_.size() - f.data_offset_;
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(f.file_.data() + 8, f.file_.data() + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value of '" + m.key() + "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets")) {
      fail(where + "expected an object with dtype, shape and data_offsets");
    }
    StTensorInfo t;
    t.name = name;
    if (!v["dtype"].is_string()) fail(where + "dtype is not a string");
    const auto dt = st_dtype_from_name(v["dtype"].get<std::string>());
    if (!dt) fail(where + "unknown dtype '" + v["dtype"].get<std::string>() + "'");
    t.dtype = *dt;
    if (!v["shape"].is_array()) fail(where + "shape is not an array");
    int64_t elements = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail(where + "shape has a non-integer or negative dimension");
      const uint64_t u = d.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(elements, static_cast<int64_t>(u), &elements)) {
        fail(where + "element count overflows");
      }
      t.shape.push_back(static_cast<int64_t>(u));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      fail(where + "data_offsets must be two non-negative integers");
    }
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    int64_t bytes = 0;
    if (t.end < t.begin) fail(where + "data_offsets end before they begin");
    if (__builtin_mul_overflow(elements, static_cast<int64_t>(st_dtype_size(t.dtype)), &bytes) ||
        static_cast<uint64_t>(bytes) != t.end - t.begin) {
      fail(where + "data_offsets span " + std::to_string(t.end - t.begin) + " bytes, but shape × dtype needs " +
           std::to_string(bytes));
    }
    if (t.end > data_size) {
      fail(where + "data ends at " + std::to_string(t.end) + ", past the " + std::to_string(data_size) + "-byte data section");
    }
    f.tensors_.push_back(std::move(t));
  }
  std::vector<const StTensorInfo*> sorted;
  for (const auto& t : f.tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
  uint64_t expect = 0;
  for (const auto* t : sorted) {
    if (t->begin != expect) {
      fail("tensor '" + t->name + "' starts at " + std::to_string(t->begin) + ", expected " + std::to_string(expect) +
           " (offsets must tile the data with no gap or overlap)");
    }
    expect = t->end;
  }
  if (expect != data_size) {
    fail("the tensors cover " + std::to_string(expect) + " bytes of a " + std::to_string(data_size) + "-byte data section");
  }
  return f;
}

const StTensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_) if (t.name == name) return &t;
  return nullptr;
}

std::span<const uint8_t> SafetensorsFile::tensor_data(const StTensorInfo& t) const {
  return {file_.data() + data_offset_ + t.begin, static_cast<size_t>(t.end - t.begin)};
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  namespace fs = std::filesystem;
  SafetensorsCheckpoint c;
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "model.safetensors.index.json")) p = p / "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors")) p = p / "model.safetensors";
    else throw_bad_input(path + ": no model.safetensors or model.safetensors.index.json in this directory");
  }
  if (p.extension() == ".json") {
    std::ifstream in(p);
    if (!in) throw Error(ErrorKind::io, p.string() + ": cannot open");
    nlohmann::json idx;
    try {
      idx = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw_bad_input(p.string() + ": not valid JSON: " + e.what());
    }
    if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object()) {
      throw_bad_input(p.string() + ": expected an object with a \"weight_map\"");
    }
    std::map<std::string, size_t> shard_of_file;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw_bad_input(p.string() + ": weight_map value of '" + it.key() + "' is not a file name");
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == ".." ) {
        throw_bad_input(p.string() + ": weight_map names '" + file + "', outside the checkpoint directory");
      }
      if (!shard_of_file.count(file)) {
        shard_of_file[file] = c.shards_.size();
        c.shards_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open((p.parent_path() / file).string())));
      }
      const SafetensorsFile* shard = c.shards_[shard_of_file[file]].get();
      const StTensorInfo* info = shard->find(it.key());
      if (!info) throw_bad_input(p.string() + ": tensor '" + it.key() + "' is mapped to " + file + ", which does not contain it");
      c.entries_.push_back({shard, info});
    }
    return c;
  }
  c.shards_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(p.string())));
  for (const auto& t : c.shards_[0]->tensors()) c.entries_.push_back({c.shards_[0].get(), &t});
  return c;
}

const SafetensorsCheckpoint::Entry* SafetensorsCheckpoint::find(std::string_view name) const {
  for (const auto& e : entries_) if (e.info->name == name) return &e;
  return nullptr;
}

const std::map<std::string, std::string>& SafetensorsCheckpoint::metadata() const {
  static const std::map<std::string, std::string> empty;
  return shards_.empty() ? empty : shards_[0]->metadata();
}

SafetensorsWriter::SafetensorsWriter(const std::string& path, bool overwrite) : out_(path, overwrite) {}
SafetensorsWriter::SafetensorsWriter(StagedDir& dir, const std::string& name) : out_(dir, name) {}

void SafetensorsWriter::add_tensor(std::string name, StDtype dtype, std::vector<int64_t> shape) {
  StTensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.begin = tensors_.empty() ? 0 : tensors_.back().end;
  t.end = t.begin + static_cast<uint64_t>(t.elements()) * st_dtype_size(dtype);
  tensors_.push_back(std::move(t));
}

void SafetensorsWriter::write_header() {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  for (const auto& t : tensors_) {
    h[t.name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string s = h.dump();
  s.append((8 - s.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned, as the reference writer does
  const uint64_t n = s.size();
  out_.write(&n, 8);
  out_.write(s.data(), s.size());
  header_written_ = true;
}

void SafetensorsWriter::write_tensor(std::span<const uint8_t> data) {
  if (!header_written_) throw_usage("SafetensorsWriter: write_header() must come first");
  if (next_ >= tensors_.size()) throw_usage("SafetensorsWriter: more tensors written than declared");
  const StTensorInfo& t = tensors_[next_];
  if (data.size() != t.end - t.begin) {
    throw_usage("tensor '" + t.name + "': " + std::to_string(data.size()) + " bytes given, " +
                std::to_string(t.end - t.begin) + " expected");
  }
  out_.write(data);
  ++next_;
}

void SafetensorsWriter::finish() {
  if (!header_written_) write_header();
  if (next_ != tensors_.size()) throw_usage("SafetensorsWriter: not every declared tensor was written");
  out_.commit();
}

}  // namespace vernier
