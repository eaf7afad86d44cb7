// vernier/gguf.hpp — GGUF (v2 and v3) files: a validating, memory-mapped reader and a streaming writer.
//
// File layout (all little-endian): "GGUF" magic, uint32 version, uint64 tensor count, uint64 metadata
// count; metadata as (string key, uint32 value type, value); tensor infos as (string name, uint32
// n_dims, uint64 ne[n_dims] with ne[0] the fastest-varying (row length), uint32 ggml type, uint64
// offset); zero padding to general.alignment (default 32); then the tensor data, each tensor at its
// offset from the start of the data section, itself a multiple of the alignment. A string is a
// uint64 length and that many bytes (no terminator). An array is uint32 element type, uint64 count,
// elements (arrays may nest).
//
// The reader validates everything before handing anything out (see GgufFile::open): a file that
// passes can be indexed without further checks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vernier/file.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier {

enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_type_name(GgufType t);
size_t gguf_scalar_size(GgufType t);  // 0 for string and array

// One metadata value. Scalars keep their exact bits, so a value read and written back is unchanged.
struct GgufValue {
  GgufType type = GgufType::u32;
  uint64_t bits = 0;                   // scalar: the little-endian value zero-extended
  std::string str;                     // string
  GgufType elem_type = GgufType::u8;   // array
  uint64_t count = 0;                  // array: element count
  std::vector<uint8_t> raw;            // array of scalars: count × size bytes
  std::vector<std::string> strings;    // array of strings
  std::vector<GgufValue> items;        // array of arrays

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue f32_array(std::span<const float> v);
  static GgufValue i32_array(std::span<const int32_t> v);

  bool is_integer() const;
  uint64_t as_u64() const;  // integers (non-negative) and bool; throws otherwise
  int64_t as_i64() const;
  double as_f64() const;    // any number
  const std::string& as_string() const;
  std::string to_display(size_t max_items = 8) const;  // for inspect
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] = row length
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;      // from the start of the data section
  uint64_t nbytes = 0;
  int64_t elements() const;
  int64_t rows() const { return ne.empty() || ne[0] == 0 ? 0 : elements() / ne[0]; }
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;
const GgufValue* find_key(const GgufMetadata& kv, std::string_view key);

class GgufFile {
 public:
  // Maps and validates the file. Throws a bad_input Error naming the file, the byte offset and what
  // was expected, for: bad magic or version; counts that cannot fit in the file; strings, arrays or
  // tensor data past the end; array byte sizes that overflow; unknown value or tensor types; more than
  // 4 dimensions or an overflowing element count; a row length that is not a multiple of the type's
  // block size; misaligned, overlapping or out-of-file tensor data; duplicate keys or tensor names;
  // a bad general.alignment.
  static GgufFile open(const std::string& path);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const GgufMetadata& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const { return find_key(kv_, key); }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> tensor_data(const GgufTensorInfo& t) const;
  void release(const GgufTensorInfo& t) const { const auto d = tensor_data(t); file_.release(d.data(), d.size()); }
  // The pages under bytes [offset, offset + n) of the tensor (clipped to it).
  void release(const GgufTensorInfo& t, uint64_t offset, uint64_t n) const {
    const auto d = tensor_data(t);
    if (offset < d.size()) file_.release(d.data() + offset, static_cast<size_t>(std::min<uint64_t>(n, d.size() - offset)));
  }
  const std::string& path() const { return file_.path(); }
  uint64_t file_size() const { return file_.size(); }

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata kv_;
  std::vector<GgufTensorInfo> tensors_;
};

// Writes a GGUF v3 file: declare the metadata and every tensor (name, shape, type) first, then
// stream each tensor's bytes in declaration order; only one tensor need be in memory at a time.
// Offsets are packed in declaration order, each aligned; the data of each tensor is followed by zero
// padding to the alignment, as llama.cpp's writer does. Written through AtomicFile.
class GgufWriter {
 public:
  GgufWriter(const std::string& path, bool overwrite);
  void set_metadata(GgufMetadata kv);  // general.alignment, if present, must be a u32 power of two
  void add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type);
  void write_header();
  void write_tensor(std::span<const uint8_t> data);  // the next declared tensor, exactly nbytes
  // The next declared tensor in consecutive parts (rows as they are made, so that no whole tensor
  // need be in memory); it is complete, and padded, when its nbytes have been given.
  void write_tensor_part(std::span<const uint8_t> data);
  void finish();                                      // all tensors written: rename into place
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

 private:
  AtomicFile out_;
  GgufMetadata kv_;
  std::vector<GgufTensorInfo> tensors_;
  uint32_t alignment_ = 32;
  size_t next_ = 0;
  uint64_t part_written_ = 0;  // bytes of tensor next_ given through write_tensor_part
  bool header_written_ = false;
  uint64_t data_start_ = 0;
};

}  // namespace vernier
