// vernier/safetensors.hpp — Hugging Face safetensors: validating memory-mapped reader, streaming writer,
// and sharded checkpoints (model.safetensors.index.json).
//
// Layout: uint64 little-endian header length N, N bytes of JSON ({"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, …, "__metadata__": {string: string}}), then the data; offsets are
// relative to the data, and the tensors tile it exactly (no gaps, no overlaps).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vernier/file.hpp"

namespace vernier {

enum class StDtype { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };
std::string_view st_dtype_name(StDtype d);
std::optional<StDtype> st_dtype_from_name(std::string_view name);
size_t st_dtype_size(StDtype d);

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;  // row-major, outermost first (PyTorch order)
  uint64_t begin = 0, end = 0; // byte range within the data section
  int64_t elements() const;
};

class SafetensorsFile {
 public:
  // Throws a bad_input Error naming the file for: a header length past the end, bad JSON, an entry
  // without dtype/shape/data_offsets, an unknown dtype, a byte range that disagrees with the shape,
  // ranges past the data or that do not tile it exactly, a non-string __metadata__ value.
  static SafetensorsFile open(const std::string& path);

  const std::vector<StTensorInfo>& tensors() const { return tensors_; }  // in header order
  const StTensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::span<const uint8_t> tensor_data(const StTensorInfo& t) const;
  void release(const StTensorInfo& t) const { const auto d = tensor_data(t); file_.release(d.data(), d.size()); }
  // The pages under bytes [offset, offset + n) of the tensor (clipped to it).
  void release(const StTensorInfo& t, uint64_t offset, uint64_t n) const {
    const auto d = tensor_data(t);
    if (offset < d.size()) file_.release(d.data() + offset, static_cast<size_t>(std::min<uint64_t>(n, d.size() - offset)));
  }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  uint64_t data_offset_ = 0;
  std::vector<StTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One checkpoint that may span several files: a single .safetensors file, or a directory/index
// (model.safetensors.index.json with "weight_map": {tensor: file}).
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file, an index .json, or a directory holding either.
  static SafetensorsCheckpoint open(const std::string& path);

  struct Entry {
    const SafetensorsFile* file;
    const StTensorInfo* info;
  };
  const std::vector<Entry>& tensors() const { return entries_; }
  const Entry* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const;  // of the first shard
  size_t shard_count() const { return shards_.size(); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<Entry> entries_;
};

class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::string& path, bool overwrite);
  SafetensorsWriter(StagedDir& dir, const std::string& name);  // a file of a folder written as a whole
  void set_metadata(std::map<std::string, std::string> m) { metadata_ = std::move(m); }
  void add_tensor(std::string name, StDtype dtype, std::vector<int64_t> shape);
  void write_header();
  void write_tensor(std::span<const uint8_t> data);  // declaration order, exactly the declared size
  void finish();

 private:
  AtomicFile out_;
  std::map<std::string, std::string> metadata_;
  std::vector<StTensorInfo> tensors_;
  size_t next_ = 0;
  bool header_written_ = false;
};

}  // namespace vernier
