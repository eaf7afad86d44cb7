// GGUF: byte-identical round trips of every GGUF under shared/, and hand-made broken files, each
// refused with an error that says what is wrong (run under the sanitizers in CI).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "shared_data.hpp"
#include "vernier/error.hpp"
#include "vernier/gguf.hpp"
#include "vernier/model.hpp"

namespace vernier {
namespace {

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<std::string> shared_ggufs() {
  std::vector<std::string> out;
  if (!std::filesystem::exists(testdata::shared_dir())) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(testdata::shared_dir())) {
    if (e.path().extension() == ".gguf") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Gguf, EveryGgufUnderSharedRoundTripsByteForByte) {
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  const auto files = shared_ggufs();
  ASSERT_GE(files.size(), 30u);
  for (const auto& path : files) {
    const Model m = load_model(path);
    const GgufFile g = GgufFile::open(path);
    for (const auto& t : g.tensors()) {  // every tensor reads back
      const ModelTensor* mt = m.find(t.name);
      ASSERT_NE(mt, nullptr) << path << " " << t.name;
      std::vector<uint8_t> buf(mt->nbytes);
      mt->read(buf);
      const auto src = g.tensor_data(t);
      ASSERT_TRUE(std::equal(buf.begin(), buf.end(), src.begin(), src.end())) << path << " " << t.name;
    }
    const std::string out = testdata::temp_path("roundtrip.gguf");
    ConvertOptions opt;
    opt.overwrite = true;
    write_gguf(m, out, opt);
    EXPECT_EQ(read_all(out), read_all(path)) << path << " did not round-trip byte for byte";
  }
}

// A small valid file to break: metadata of several types, three tensors.
std::vector<uint8_t> small_gguf() {
  const std::string p = testdata::temp_path("small.gguf");
  GgufWriter w(p, true);
  GgufMetadata kv;
  kv.emplace_back("general.architecture", GgufValue::string("llama"));
  kv.emplace_back("llama.block_count", GgufValue::u32(1));
  const float f[3] = {1, 2, 3};
  kv.emplace_back("some.floats", GgufValue::f32_array(f));
  kv.emplace_back("some.strings", GgufValue::string_array({"a", "bc"}));
  w.set_metadata(kv);
  w.add_tensor("a", {8, 2}, ggml_type::F32);
  w.add_tensor("b", {32}, ggml_type::Q8_0);
  w.add_tensor("c", {4}, ggml_type::F16);
  w.write_header();
  std::vector<uint8_t> a(64, 1), b(34, 2), c(8, 3);
  w.write_tensor(a);
  w.write_tensor(b);
  w.write_tensor(c);
  w.finish();
  return read_all(p);
}

// Offsets of the parts of small_gguf(), found by walking it.
struct Layout {
  size_t n_tensors_at = 8, n_kv_at = 16, first_key_at = 24;
  size_t floats_count_at = 0, strings_first_len_at = 0, tensor_infos_at = 0;
};
Layout layout(const std::vector<uint8_t>& b) {
  Layout l;
  size_t p = 24;
  auto u64 = [&](size_t at) { uint64_t v; std::memcpy(&v, b.data() + at, 8); return v; };
  auto u32 = [&](size_t at) { uint32_t v; std::memcpy(&v, b.data() + at, 4); return v; };
  for (int k = 0; k < 4; ++k) {
    const uint64_t klen = u64(p);
    const std::string key(reinterpret_cast<const char*>(b.data() + p + 8), klen);
    p += 8 + klen;
    const uint32_t type = u32(p);
    p += 4;
    if (type == 8) p += 8 + u64(p);
    else if (type == 4) p += 4;
    else if (type == 9) {
      const uint32_t et = u32(p);
      const uint64_t n = u64(p + 4);
      if (key == "some.floats") l.floats_count_at = p + 4;
      p += 12;
      if (et == 6) p += 4 * n;
      else {
        l.strings_first_len_at = p;
        for (uint64_t i = 0; i < n; ++i) p += 8 + u64(p);
      }
    }
  }
  l.tensor_infos_at = p;
  return l;
}

void expect_refused(const std::vector<uint8_t>& bytes, const std::string& needle, const char* what) {
  const std::string p = testdata::temp_path("broken.gguf");
  write_all(p, bytes);
  try {
    GgufFile::open(p);
    ADD_FAILURE() << what << ": accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << what;
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << what << ": the message names the file: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << what << ": " << msg;
  }
}

template <class T>
void put(std::vector<uint8_t>& b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof v); }

TEST(GgufCorrupt, TheSmallFileIsValid) {
  const auto b = small_gguf();
  const std::string p = testdata::temp_path("valid.gguf");
  write_all(p, b);
  const GgufFile g = GgufFile::open(p);
  EXPECT_EQ(g.tensors().size(), 3u);
  EXPECT_EQ(g.find("some.strings")->strings[1], "bc");
  EXPECT_EQ(g.tensor_data(*g.find_tensor("b"))[0], 2);
}

TEST(GgufCorrupt, BadMagicAndVersions) {
  auto b = small_gguf();
  b[0] = 'X';
  expect_refused(b, "not a GGUF file", "bad magic");
  for (uint32_t v : {0u, 1u, 99u}) {
    b = small_gguf();
    put<uint32_t>(b, 4, v);
    expect_refused(b, "version " + std::to_string(v), "version");
  }
}

TEST(GgufCorrupt, TruncationAnywhereIsRefused) {
  const auto full = small_gguf();
  const Layout l = layout(full);
  const std::string whole = testdata::temp_path("whole.gguf");
  write_all(whole, full);
  const GgufFile g = GgufFile::open(whole);
  uint64_t data_end = 0;  // the padding after the last tensor may be cut: the data is still whole
  for (const auto& t : g.tensors()) data_end = std::max(data_end, g.data_offset() + t.offset + t.nbytes);
  // every cut inside the header, metadata and tensor infos, and a few inside the data
  for (size_t cut = 0; cut < data_end; cut += (cut < l.tensor_infos_at + 120 ? 1 : 7)) {
    const std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string p = testdata::temp_path("cut.gguf");
    write_all(p, b);
    EXPECT_THROW(GgufFile::open(p), Error) << "cut at " << cut << " of " << full.size();
  }
}

TEST(GgufCorrupt, AbsurdCounts) {
  auto b = small_gguf();
  put<uint64_t>(b, 8, uint64_t{1} << 60);
  expect_refused(b, "tensors cannot fit", "tensor count");
  b = small_gguf();
  put<uint64_t>(b, 16, uint64_t{1} << 60);
  expect_refused(b, "metadata entries cannot fit", "key count");
}

TEST(GgufCorrupt, StringLengthPastTheEnd) {
  auto b = small_gguf();
  put<uint64_t>(b, 24, uint64_t{1} << 40);  // the first key's length
  expect_refused(b, "past the end", "key length");
  b = small_gguf();
  put<uint64_t>(b, layout(b).strings_first_len_at, uint64_t{1} << 40);
  expect_refused(b, "past the end", "array string length");
}

TEST(GgufCorrupt, ArrayCountWhoseByteSizeOverflows) {
  auto b = small_gguf();
  put<uint64_t>(b, layout(b).floats_count_at, uint64_t{1} << 62);  // × 4 bytes overflows 64 bits
  expect_refused(b, "cannot fit", "array count");
}

// Metadata amplification: 1.7 million empty u8 arrays inside one array, 20 MB of file, would each
// take a GgufValue (12 bytes on file, over 100 in memory; 478 MB before the bound). Refused by the
// per-byte memory bound before the items are allocated; the same with a million one-byte keys.
TEST(GgufCorrupt, NestedEmptyArraysAndTinyKeysCannotAmplifyMemory) {
  std::vector<uint8_t> b;
  auto app = [&](const void* p, size_t n) { b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); };
  auto u32v = [&](uint32_t v) { app(&v, 4); };
  auto u64v = [&](uint64_t v) { app(&v, 8); };
  app("GGUF", 4);
  u32v(3);
  u64v(0);  // tensors
  u64v(1);  // one key
  u64v(1);
  app("x", 1);
  u32v(9);  // array
  u32v(9);  // of arrays
  const uint64_t n = 1'700'000;
  u64v(n);
  for (uint64_t i = 0; i < n; ++i) {
    u32v(0);  // of u8
    u64v(0);  // empty
  }
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  expect_refused(b, "bytes per byte of file", "nested empty arrays");
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB of peak RSS grew while refusing it";

  std::vector<uint8_t> k;
  b.swap(k);
  b.clear();
  app("GGUF", 4);
  u32v(3);
  u64v(0);
  const uint64_t keys = 1'500'000;
  u64v(keys);
  for (uint64_t i = 0; i < keys; ++i) {
    u64v(1);
    const uint8_t c = static_cast<uint8_t>(i);
    app(&c, 1);
    u32v(0);  // u8
    app(&c, 1);
  }
  expect_refused(b, "bytes per byte of file", "a million one-byte keys");
}

// The tensor infos: "a" (name 8+1 bytes, n_dims 4, ne 8+8, type 4, offset 8), then "b", then "c".
struct InfoAt { size_t ndims, ne0, ne1, type, offset; };
InfoAt tensor_a(const std::vector<uint8_t>& b) {
  const size_t p = layout(b).tensor_infos_at + 8 + 1;
  return {p, p + 4, p + 12, p + 20, p + 24};
}
InfoAt tensor_b(const std::vector<uint8_t>& b) {
  const size_t p = tensor_a(b).offset + 8 + 8 + 1;
  return {p, p + 4, 0, p + 12, p + 16};
}

TEST(GgufCorrupt, DimensionsTypesAndOffsets) {
  auto b = small_gguf();
  put<uint32_t>(b, tensor_a(b).ndims, 5);
  expect_refused(b, "dimensions (expected 1 to 4)", "n_dims 5");
  b = small_gguf();
  put<uint64_t>(b, tensor_a(b).ne0, uint64_t{1} << 40);
  put<uint64_t>(b, tensor_a(b).ne1, uint64_t{1} << 40);
  expect_refused(b, "overflows", "dimension product");
  b = small_gguf();
  put<uint32_t>(b, tensor_a(b).type, 77);
  expect_refused(b, "unknown type id 77", "type id");
  b = small_gguf();
  put<uint32_t>(b, tensor_b(b).type, id_of(GgmlType::Q4_K));  // 32 elements: not a multiple of 256
  expect_refused(b, "block size", "row length");
  b = small_gguf();
  put<uint64_t>(b, tensor_b(b).offset, 33);
  expect_refused(b, "alignment", "misaligned offset");
  b = small_gguf();
  put<uint64_t>(b, tensor_b(b).offset, 32);  // "a" occupies [0, 64)
  expect_refused(b, "overlap", "overlapping");
  b = small_gguf();
  put<uint64_t>(b, tensor_b(b).offset, 1 << 20);
  expect_refused(b, "outside", "out of the file");
}

TEST(GgufCorrupt, DuplicateKeysAndNames) {
  const std::string p = testdata::temp_path("dup.gguf");
  {
    GgufWriter w(p, true);
    GgufMetadata kv;
    kv.emplace_back("k", GgufValue::u32(1));
    kv.emplace_back("k", GgufValue::u32(2));
    w.set_metadata(kv);
    w.finish();
  }
  expect_refused(read_all(p), "duplicate metadata key 'k'", "duplicate key");
  {
    GgufWriter w(p, true);
    w.add_tensor("t", {4}, ggml_type::F32);
    w.add_tensor("t", {4}, ggml_type::F32);
    w.write_header();
    std::vector<uint8_t> d(16, 0);
    w.write_tensor(d);
    w.write_tensor(d);
    w.finish();
  }
  expect_refused(read_all(p), "duplicate tensor name 't'", "duplicate name");
}

TEST(GgufCorrupt, UnknownValueTypeAndBadAlignment) {
  auto b = small_gguf();
  const size_t first_type_at = 24 + 8 + std::string("general.architecture").size();
  put<uint32_t>(b, first_type_at, 13);
  expect_refused(b, "unknown value type 13", "value type");
  const std::string p = testdata::temp_path("align.gguf");
  {
    GgufWriter w(p, true);
    GgufMetadata kv;
    kv.emplace_back("general.alignment", GgufValue::u32(32));
    w.set_metadata(kv);
    w.finish();
  }
  // the value follows the key and its type
  const size_t at = 24 + 8 + std::string("general.alignment").size() + 4;
  b = read_all(p);
  put<uint32_t>(b, at, 48);
  expect_refused(b, "power of two", "alignment 48");
}

TEST(GgufWriterTest, NoFileIsLeftWhenWritingFailsAndExistingFilesNeedOverwrite) {
  const std::string p = testdata::temp_path("partial.gguf");
  std::filesystem::remove(p);
  {
    GgufWriter w(p, false);
    w.add_tensor("t", {4}, ggml_type::F32);
    w.write_header();
    // destroyed without writing the tensor or finishing: as if an error was thrown
  }
  EXPECT_FALSE(std::filesystem::exists(p));
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(p).parent_path())) {
    EXPECT_EQ(e.path().string().find("partial.gguf.vernier-tmp"), std::string::npos) << e.path();
  }
  write_all(p, {1, 2, 3});
  EXPECT_THROW(GgufWriter(p, false), Error);
  EXPECT_EQ(read_all(p).size(), 3u);
}

}  // namespace
}  // namespace vernier
