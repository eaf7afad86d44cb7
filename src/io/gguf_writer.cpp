// GGUF writer: header and tensor infos first (offsets known from the declared shapes), then the data
// of each tensor in turn, each padded with zeros to the alignment.
#include <cstring>

#include "vernier/error.hpp"
#include "vernier/gguf.hpp"

namespace vernier {

namespace {
void put_u32(AtomicFile& o, uint32_t v) { o.write(&v, 4); }
void put_u64(AtomicFile& o, uint64_t v) { o.write(&v, 8); }
void put_string(AtomicFile& o, const std::string& s) {
  put_u64(o, s.size());
  o.write(s.data(), s.size());
}

void put_value(AtomicFile& o, const GgufValue& v) {
  switch (v.type) {
    case GgufType::string: put_string(o, v.str); return;
    case GgufType::array:
      put_u32(o, static_cast<uint32_t>(v.elem_type));
      put_u64(o, v.count);
      if (v.elem_type == GgufType::string) {
        for (const auto& s : v.strings) put_string(o, s);
      } else if (v.elem_type == GgufType::array) {
        for (const auto& item : v.items) put_value(o, item);
      } else {
        o.write(v.raw.data(), v.raw.size());
      }
      return;
    default: o.write(&v.bits, gguf_scalar_size(v.type));  // little-endian host
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
}  // namespace

GgufWriter::GgufWriter(const std::string& path, bool overwrite) : out_(path, overwrite) {}

void GgufWriter::set_metadata(GgufMetadata kv) {
  kv_ = std::move(kv);
  if (const GgufValue* a = find_key(kv_, "general.alignment")) {
    if (a->type != GgufType::u32 || a->bits == 0 || (a->bits & (a->bits - 1)) != 0) {
      throw_usage("general.alignment must be a u32 power of two");
    }
    alignment_ = static_cast<uint32_t>(a->bits);
  }
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type) {
  const GgmlTypeInfo* ti = ggml_type_info(id_of(type));
  if (!ti) throw_usage("tensor '" + name + "': unknown GGML type " + std::to_string(id_of(type)));
  if (ne.empty() || ne.size() > 4) throw_usage("tensor '" + name + "': expected 1 to 4 dimensions");
  GgufTensorInfo t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type = type;
  const auto row = ggml_row_bytes(*ti, t.ne[0]);
  if (!row) {
    throw_usage("tensor '" + t.name + "': row length " + std::to_string(t.ne[0]) + " is not a multiple of " +
                std::string(ti->name) + "'s block size " + std::to_string(ti->block_size));
  }
  t.nbytes = static_cast<uint64_t>(*row) * static_cast<uint64_t>(t.rows());
  t.offset = tensors_.empty() ? 0 : align_up(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  tensors_.push_back(std::move(t));
}

void GgufWriter::write_header() {
  out_.write("GGUF", 4);
  put_u32(out_, 3);
  put_u64(out_, tensors_.size());
  put_u64(out_, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_string(out_, k);
    put_u32(out_, static_cast<uint32_t>(v.type));
    put_value(out_, v);
  }
  for (const auto& t : tensors_) {
    put_string(out_, t.name);
    put_u32(out_, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put_u64(out_, static_cast<uint64_t>(d));
    put_u32(out_, id_of(t.type));
    put_u64(out_, t.offset);
  }
  out_.write_zeros(static_cast<size_t>(align_up(out_.position(), alignment_) - out_.position()));
  data_start_ = out_.position();
  header_written_ = true;
}

void GgufWriter::write_tensor(std::span<const uint8_t> data) {
  if (!header_written_) throw_usage("GgufWriter: write_header() must come before tensor data");
  if (next_ >= tensors_.size()) throw_usage("GgufWriter: more tensors written than declared");
  if (part_written_ != 0) throw_usage("GgufWriter: tensor '" + tensors_[next_].name + "' is being written in parts");
  const GgufTensorInfo& t = tensors_[next_];
  if (data.size() != t.nbytes) {
    throw_usage("tensor '" + t.name + "': " + std::to_string(data.size()) + " bytes given, " +
                std::to_string(t.nbytes) + " expected");
  }
  out_.write(data);
  out_.write_zeros(static_cast<size_t>(align_up(t.nbytes, alignment_) - t.nbytes));
  ++next_;
}

void GgufWriter::write_tensor_part(std::span<const uint8_t> data) {
  if (!header_written_) throw_usage("GgufWriter: write_header() must come before tensor data");
  if (next_ >= tensors_.size()) throw_usage("GgufWriter: more tensors written than declared");
  const GgufTensorInfo& t = tensors_[next_];
  if (data.size() > t.nbytes - part_written_) {
    throw_usage("tensor '" + t.name + "': " + std::to_string(part_written_ + data.size()) + " bytes given, " +
                std::to_string(t.nbytes) + " expected");
  }
  out_.write(data);
  part_written_ += data.size();
  if (part_written_ == t.nbytes) {
    out_.write_zeros(static_cast<size_t>(align_up(t.nbytes, alignment_) - t.nbytes));
    part_written_ = 0;
    ++next_;
  }
}

void GgufWriter::finish() {
  if (!header_written_) write_header();
  if (next_ != tensors_.size()) {
    throw_usage("GgufWriter: " + std::to_string(tensors_.size() - next_) + " declared tensors were not written");
  }
  out_.commit();
}

}  // namespace vernier
