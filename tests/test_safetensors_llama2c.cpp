// safetensors and llama2.c readers: round trips, sharded checkpoints, and broken files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "shared_data.hpp"
#include "vernier/error.hpp"
#include "vernier/llama2c.hpp"
#include "vernier/safetensors.hpp"

namespace vernier {
namespace {

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& p, const std::string& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string st_file(const std::string& header, size_t data_bytes) {
  std::string s;
  const uint64_t n = header.size();
  s.append(reinterpret_cast<const char*>(&n), 8);
  s += header;
  s.append(data_bytes, '\0');
  return s;
}

void expect_refused(const std::string& bytes, const std::string& needle) {
  const std::string p = testdata::temp_path("broken.safetensors");
  write_all(p, bytes);
  try {
    SafetensorsFile::open(p);
    ADD_FAILURE() << "accepted: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Safetensors, WriteThenReadKeepsNamesShapesBytesAndMetadata) {
  const std::string p = testdata::temp_path("w.safetensors");
  SafetensorsWriter w(p, true);
  w.set_metadata({{"format", "pt"}});
  w.add_tensor("x", StDtype::F32, {2, 3});
  w.add_tensor("y", StDtype::BF16, {5});
  w.add_tensor("z", StDtype::I8, {0});
  w.write_header();
  std::vector<uint8_t> x(24), y(10), z;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<uint8_t>(100 + i);
  w.write_tensor(x);
  w.write_tensor(y);
  w.write_tensor(z);
  w.finish();
  const auto f = SafetensorsFile::open(p);
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("x")->shape, (std::vector<int64_t>{2, 3}));
  const auto yd = f.tensor_data(*f.find("y"));
  EXPECT_TRUE(std::equal(yd.begin(), yd.end(), y.begin()));
  uint64_t header_len = 0;
  std::memcpy(&header_len, read_all(p).data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);  // header padded so the data starts 8-byte aligned
}

TEST(Safetensors, BrokenFilesAreRefused) {
  std::string s = st_file("{}", 0);
  uint64_t big = 1 << 30;
  std::memcpy(s.data(), &big, 8);
  expect_refused(s, "past the end");
  expect_refused(std::string("abc"), "too short");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8), "not valid JSON");
  expect_refused(st_file("[1,2]", 0), "not a JSON object");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F33\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8), "unknown dtype");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8), "shape × dtype");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4), "past the");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16), "tile");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"y\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12), "tile");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 12), "cover");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8), "negative");
  expect_refused(st_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8), "data_offsets");
  expect_refused(st_file("{\"__metadata__\": {\"a\": 1}}", 0), "not a string");
}

TEST(Safetensors, ShardedCheckpointThroughTheIndex) {
  const auto dir = std::filesystem::path(testdata::temp_path("sharded"));
  std::filesystem::create_directories(dir);
  for (int shard = 0; shard < 2; ++shard) {
    SafetensorsWriter w((dir / ("model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors")).string(), true);
    w.add_tensor("t" + std::to_string(shard), StDtype::F32, {2});
    w.write_header();
    const std::vector<uint8_t> d(8, static_cast<uint8_t>(shard + 1));
    w.write_tensor(d);
    w.finish();
  }
  write_all((dir / "model.safetensors.index.json").string(),
            R"({"metadata": {"total_size": 16}, "weight_map": {"t0": "model-00001-of-00002.safetensors",
                "t1": "model-00002-of-00002.safetensors"}})");
  const auto ck = SafetensorsCheckpoint::open(dir.string());
  EXPECT_EQ(ck.shard_count(), 2u);
  ASSERT_NE(ck.find("t1"), nullptr);
  EXPECT_EQ(ck.find("t1")->file->tensor_data(*ck.find("t1")->info)[0], 2);
  write_all((dir / "model.safetensors.index.json").string(),
            R"({"weight_map": {"t9": "model-00001-of-00002.safetensors"}})");
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.string()), Error);
  write_all((dir / "model.safetensors.index.json").string(), R"({"weight_map": {"t0": "../../etc/passwd"}})");
  EXPECT_THROW(SafetensorsCheckpoint::open(dir.string()), Error);
}

TEST(Llama2c, Stories260KHeaderAndTensors) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const auto ck = Llama2cCheckpoint::open(testdata::shared("models/stories260K/stories260K.bin"));
  const auto& c = ck.config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 512);
  EXPECT_TRUE(c.shared_classifier);
  EXPECT_EQ(ck.tensors().size(), 3u + 5 * 9);
  const auto vocab = Llama2cVocab::read(testdata::shared("models/stories260K/tok512.bin"), 512);
  EXPECT_EQ(vocab.tokens.size(), 512u);
  EXPECT_EQ(vocab.tokens[1], "\n<s>\n");
}

// Writes the same weights as a version 1 (float32) and a version 2 (int8 groups) export and checks
// that both read back as the legacy file does (v2 within its quantization step).
TEST(Llama2c, VersionedExportsReadLikeTheLegacyFile) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const auto legacy = Llama2cCheckpoint::open(testdata::shared("models/stories260K/stories260K.bin"));
  const auto& c = legacy.config();
  const auto get = [&](const std::string& n) {
    for (const auto& t : legacy.tensors()) {
      if (t.name == n) {
        std::vector<float> v(static_cast<size_t>(t.elements()));
        legacy.read_f32(t, v);
        return v;
      }
    }
    return std::vector<float>{};
  };
  const auto layer = [](int l, const char* r) { return "blk." + std::to_string(l) + "." + r + ".weight"; };
  for (int version : {1, 2}) {
    std::string out(256, '\0');
    const uint32_t magic = 0x616b3432;
    const int32_t hdr[9] = {version, int32_t(c.dim), int32_t(c.hidden_dim), int32_t(c.n_layers), int32_t(c.n_heads),
                            int32_t(c.n_kv_heads), int32_t(c.vocab_size), int32_t(c.seq_len), 0};
    std::memcpy(out.data(), &magic, 4);
    std::memcpy(out.data() + 4, hdr, 32);
    out[36] = 1;  // shared classifier
    const int32_t gs = 32;
    if (version == 2) std::memcpy(out.data() + 37, &gs, 4);
    const auto put_f32 = [&](const std::vector<float>& v) { out.append(reinterpret_cast<const char*>(v.data()), v.size() * 4); };
    const auto put_q = [&](const std::vector<float>& v) {
      std::vector<int8_t> q(v.size());
      std::vector<float> s(v.size() / gs);
      for (size_t g = 0; g < s.size(); ++g) {
        float m = 0;
        for (int i = 0; i < gs; ++i) m = std::max(m, std::fabs(v[g * gs + i]));
        s[g] = m / 127.0f;
        for (int i = 0; i < gs; ++i) q[g * gs + i] = static_cast<int8_t>(std::lround(s[g] > 0 ? v[g * gs + i] / s[g] : 0));
      }
      out.append(reinterpret_cast<const char*>(q.data()), q.size());
      out.append(reinterpret_cast<const char*>(s.data()), s.size() * 4);
    };
    for (int l = 0; l < c.n_layers; ++l) put_f32(get(layer(l, "attn_norm")));
    for (int l = 0; l < c.n_layers; ++l) put_f32(get(layer(l, "ffn_norm")));
    put_f32(get("output_norm.weight"));
    const auto mat = [&](const std::vector<float>& v) { version == 1 ? put_f32(v) : put_q(v); };
    mat(get("token_embd.weight"));
    for (const char* r : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) {
      for (int l = 0; l < c.n_layers; ++l) mat(get(layer(l, r)));
    }
    const std::string p = testdata::temp_path("v" + std::to_string(version) + ".bin");
    write_all(p, out);
    const auto ck = Llama2cCheckpoint::open(p);
    EXPECT_EQ(ck.config().version, version);
    for (const auto& t : ck.tensors()) {
      std::vector<float> v(static_cast<size_t>(t.elements()));
      ck.read_f32(t, v);
      const auto want = get(t.name);
      float scale = 0;
      for (float w : want) scale = std::max(scale, std::fabs(w));
      for (size_t i = 0; i < v.size(); ++i) {
        ASSERT_NEAR(v[i], want[i], version == 1 || t.ne.size() == 1 ? 0.0f : scale / 127.0f) << t.name << " " << i;
      }
    }
    out.resize(out.size() - 4);  // a file whose size does not match its header
    write_all(p, out);
    EXPECT_THROW(Llama2cCheckpoint::open(p), Error);
  }
}

TEST(Llama2c, SizeMismatchAndImplausibleHeadersAreRefused) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const auto full = read_all(testdata::shared("models/stories260K/stories260K.bin"));
  std::string b(full.begin(), full.end());
  const std::string p = testdata::temp_path("bad.bin");
  write_all(p, b.substr(0, b.size() - 1));
  try {
    Llama2cCheckpoint::open(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("implies"), std::string::npos) << e.what();
  }
  int32_t heads = 7;  // 64 is not divisible by 7
  std::memcpy(b.data() + 12, &heads, 4);
  write_all(p, b);
  EXPECT_THROW(Llama2cCheckpoint::open(p), Error);
  write_all(p, "short");
  EXPECT_THROW(Llama2cCheckpoint::open(p), Error);
  write_all(p, std::string("\x04\x00\x00\x00", 4) + "xx");
  EXPECT_THROW(Llama2cVocab::read(p, 512), Error);
}

}  // namespace
}  // namespace vernier
