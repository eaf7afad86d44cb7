// GGUF reader: every length, count, type and offset is checked against the file before use.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "vernier/error.hpp"
#include "vernier/gguf.hpp"

namespace vernier {

namespace {

constexpr int kMaxArrayDepth = 8;

// Decoded metadata may take at most this many bytes of memory per byte of file read, plus a constant:
// real files stay under 2.5 (an array of short strings: 8 + length bytes on file, a 32-byte
// std::string in memory), while 12-byte empty arrays nested in an array would each take a
// sizeof(GgufValue) item, 12 times their size: a 20 MB file would need 480 MB.
constexpr uint64_t kMemoryPerFileByte = 4;
constexpr uint64_t kMemorySlack = 16ull << 20;

class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size) : path_(path), data_(data), size_(size) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw_bad_input(path_ + ": at byte " + std::to_string(pos_) + ": " + what);
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) {
    if (n > remaining()) {
      fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
           std::to_string(remaining()) + " left in the file");
    }
  }
  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      fail(std::string(what) + " has length " + std::to_string(len) + ", past the end of the file (" +
           std::to_string(remaining()) + " bytes left)");
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }
  const uint8_t* take(uint64_t n, const char* what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  // Accounts `bytes` of memory about to be allocated for what was read so far; refuses a file whose
  // metadata would take more than kMemoryPerFileByte times its size (metadata amplification).
  // `ahead`: bytes of file the allocation stands for that are still to be read (the smallest encoding
  // of the elements it reserves room for).
  void charge(uint64_t bytes, const std::string& key, uint64_t ahead = 0) {
    charged_ += bytes;
    if (charged_ > kMemoryPerFileByte * (pos_ + ahead) + kMemorySlack) {
      fail((key.empty() ? std::string("the tables") : "key '" + key + "'") + ": the metadata read so far (" + std::to_string(pos_) + " bytes) would take " +
           std::to_string(charged_ >> 20) + " MiB of memory, more than " + std::to_string(kMemoryPerFileByte) +
           " bytes per byte of file: nested arrays of empty or tiny items, not a model's metadata");
    }
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t charged_ = 0;
};

GgufType read_type(Cursor& c, const std::string& key) {
  const uint32_t t = c.read<uint32_t>("value type");
  if (t > static_cast<uint32_t>(GgufType::f64)) {
    c.fail("key '" + key + "' has unknown value type " + std::to_string(t) + " (expected 0..12)");
  }
  return static_cast<GgufType>(t);
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth);

GgufValue read_array(Cursor& c, const std::string& key, int depth) {
  if (depth > kMaxArrayDepth) c.fail("key '" + key + "': arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  GgufValue v;
  v.type = GgufType::array;
  v.elem_type = read_type(c, key);
  v.count = c.read<uint64_t>("array count");
  const size_t esize = gguf_scalar_size(v.elem_type);
  // the smallest possible encoding of one element bounds the count: no overflow in count × size
  const uint64_t min_elem = esize ? esize : (v.elem_type == GgufType::string ? 8 : 12);
  if (v.count > c.remaining() / min_elem) {
    c.fail("key '" + key + "': array of " + std::to_string(v.count) + " " +
           std::string(gguf_type_name(v.elem_type)) + " cannot fit in the " + std::to_string(c.remaining()) +
           " bytes left");
  }
  if (esize) {
    c.charge(v.count * esize, key);
    const uint8_t* p = c.take(v.count * esize, "array data");
    v.raw.assign(p, p + v.count * esize);
    if (v.elem_type == GgufType::boolean) {
      for (uint8_t b : v.raw) {
        if (b > 1) c.fail("key '" + key + "': a bool array element is " + std::to_string(b) + " (expected 0 or 1)");
      }
    }
  } else if (v.elem_type == GgufType::string) {
    c.charge(v.count * sizeof(std::string), key, v.count * min_elem);
    v.strings.reserve(static_cast<size_t>(v.count));
    for (uint64_t i = 0; i < v.count; ++i) {
      v.strings.push_back(c.read_string("array string"));
      // past the short-string buffer a string owns a heap block of its length (read from the file)
      if (v.strings.back().size() >= 16) c.charge(v.strings.back().size() + 1, key);
    }
  } else {
    c.charge(v.count * sizeof(GgufValue), key, v.count * min_elem);
    v.items.reserve(static_cast<size_t>(v.count));
    for (uint64_t i = 0; i < v.count; ++i) v.items.push_back(read_array(c, key, depth + 1));
  }
  return v;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth) {
  if (type == GgufType::array) return read_array(c, key, depth + 1);
  GgufValue v;
  v.type = type;
  if (type == GgufType::string) {
    v.str = c.read_string("string value");
    return v;
  }
  const size_t n = gguf_scalar_size(type);
  const uint8_t* p = c.take(n, "scalar value");
  std::memcpy(&v.bits, p, n);
  if (type == GgufType::boolean && v.bits > 1) c.fail("key '" + key + "': bool value " + std::to_string(v.bits));
  return v;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.file_ = MappedFile(path);
  Cursor c(f.file_.path(), f.file_.data(), f.file_.size());

  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    throw_bad_input(path + ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  f.version_ = c.read<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3) {
    throw_bad_input(path + ": GGUF version " + std::to_string(f.version_) + " is not supported (expected 2 or 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Smallest encodings: a key/value is 8 (key length) + 4 (type) + 1 bytes; a tensor info is
  // 8 (name length) + 4 (n_dims) + 8 (one dimension) + 4 (type) + 8 (offset) bytes.
  if (n_kv > c.remaining() / 13) {
    c.fail(std::to_string(n_kv) + " metadata entries cannot fit in the " + std::to_string(c.remaining()) + " bytes left");
  }
  if (n_tensors > c.remaining() / 32) {
    c.fail(std::to_string(n_tensors) + " tensors cannot fit in the " + std::to_string(c.remaining()) + " bytes left");
  }

  std::unordered_set<std::string> keys;
  constexpr uint64_t kSetNode = 64;  // an unordered_set node holding a short string, with its bucket
  c.charge(n_kv * (sizeof(f.kv_[0]) + kSetNode), "", n_kv * 13);
  f.kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("metadata key");
    if (!keys.insert(key).second) c.fail("duplicate metadata key '" + key + "'");
    const GgufType type = read_type(c, key);
    GgufValue v = read_value(c, type, key, 0);
    f.kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = f.find("general.alignment")) {
    if (a->type != GgufType::u32 || a->bits == 0 || (a->bits & (a->bits - 1)) != 0) {
      throw_bad_input(path + ": general.alignment must be a u32 power of two, found " +
                      std::string(gguf_type_name(a->type)) + " " + a->to_display());
    }
    f.alignment_ = static_cast<uint32_t>(a->bits);
  }

  std::unordered_set<std::string> names;
  c.charge(n_tensors * (sizeof(GgufTensorInfo) + kSetNode), "", n_tensors * 32);
  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("tensor name");
    if (!names.insert(t.name).second) c.fail("duplicate tensor name '" + t.name + "'");
    const uint32_t n_dims = c.read<uint32_t>("tensor n_dims");
    if (n_dims < 1 || n_dims > 4) {
      c.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (expected 1 to 4)");
    }
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne > static_cast<uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(elements, static_cast<int64_t>(ne), &elements)) {
        c.fail("tensor '" + t.name + "': the element count overflows 64 bits");
      }
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    const uint32_t type_id = c.read<uint32_t>("tensor type");
    const GgmlTypeInfo* ti = ggml_type_info(type_id);
    if (!ti) c.fail("tensor '" + t.name + "' has unknown type id " + std::to_string(type_id));
    t.type = ti->type;
    if (t.ne[0] % ti->block_size != 0) {
      c.fail("tensor '" + t.name + "': row length " + std::to_string(t.ne[0]) + " is not a multiple of " +
             std::string(ti->name) + "'s block size " + std::to_string(ti->block_size));
    }
    const int64_t blocks = elements / ti->block_size;
    int64_t nbytes = 0;
    if (__builtin_mul_overflow(blocks, ti->block_bytes, &nbytes)) {
      c.fail("tensor '" + t.name + "': its byte size overflows 64 bits");
    }
    t.nbytes = static_cast<uint64_t>(nbytes);
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % f.alignment_ != 0) {
      c.fail("tensor '" + t.name + "': data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(f.alignment_));
    }
    f.tensors_.push_back(std::move(t));
  }
  f.data_offset_ = align_up(c.pos(), f.alignment_);
  if (f.data_offset_ > f.file_.size() && !f.tensors_.empty()) {
    throw_bad_input(path + ": the data section would start at byte " + std::to_string(f.data_offset_) +
                    ", past the end of the file (" + std::to_string(f.file_.size()) + " bytes)");
  }
  const uint64_t data_size = f.file_.size() >= f.data_offset_ ? f.file_.size() - f.data_offset_ : 0;
  for (const auto& t : f.tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      throw_bad_input(path + ": tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", +" +
                      std::to_string(t.nbytes) + ") lies outside the " + std::to_string(data_size) +
                      "-byte data section");
    }
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo* a = by_offset[i - 1];
    const GgufTensorInfo* b = by_offset[i];
    if (a->offset + a->nbytes > b->offset && a->nbytes > 0 && b->nbytes > 0) {
      throw_bad_input(path + ": tensors '" + a->name + "' and '" + b->name + "' overlap in the data section");
    }
  }
  return f;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::span<const uint8_t> GgufFile::tensor_data(const GgufTensorInfo& t) const {
  return {file_.data() + data_offset_ + t.offset, static_cast<size_t>(t.nbytes)};
}

}  // namespace vernier
