// The checkpoint layouts (hf_layout.hpp): encode → decode gives back the quantization bit for bit, for
// every scheme each layout holds; broken tensors are refused naming the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "vernier/error.hpp"
#include "vernier/hf_layout.hpp"

namespace vernier {
namespace {

std::vector<float> weights(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& x : w) x = nd(rng);
  w[5] = 0.4f;                                                     // an outlier
  for (int64_t c = 0; c < std::min<int64_t>(cols, 128); ++c) w[static_cast<size_t>(cols + c)] = 0;  // a zero row start
  for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(2 * cols + c)] = std::fabs(w[static_cast<size_t>(2 * cols + c)]);  // one-signed row
  return w;
}

struct Stored {
  std::map<std::string, HfTensorRef> refs;
  std::vector<HfTensor> tensors;
  HfTensorLookup lookup() const {
    return [this](std::string_view s) -> const HfTensorRef* {
      const auto it = refs.find(std::string(s));
      return it == refs.end() ? nullptr : &it->second;
    };
  }
  void index() {
    refs.clear();
    for (auto& t : tensors) refs[t.suffix] = HfTensorRef{"layer." + t.suffix, t.dtype, t.shape, t.data};
  }
  HfTensor& at(const std::string& s) {
    for (auto& t : tensors) {
      if (t.suffix == s) return t;
    }
    throw std::runtime_error("no " + s);
  }
};

HfQuantConfig config_for(HfLayout l, const Scheme& s) {
  HfQuantConfig c;
  c.layout = l;
  c.scheme = s;
  c.gptq_v2 = s.mode == AffineMode::asymmetric;
  // what a reader sees: the config as written, parsed back
  HfQuantConfig back = parse_hf_quant_config(hf_quant_config_json(c), "config.json");
  EXPECT_EQ(back.layout, l);
  return back;
}

void expect_same(const QuantizedLinear& a, const QuantizedLinear& b, const std::string& what) {
  const std::vector<float> da = dequantize_linear(a), db = dequantize_linear(b);
  ASSERT_EQ(da.size(), db.size()) << what;
  EXPECT_EQ(std::memcmp(da.data(), db.data(), da.size() * 4), 0) << what << ": dequantized weights differ";
  EXPECT_EQ(a.q.scales, b.q.scales) << what;
  EXPECT_EQ(a.q.zero_points, b.q.zero_points) << what;
  EXPECT_EQ(a.q.scheme.mode, b.q.scheme.mode) << what;
  EXPECT_EQ(a.q.scheme.granularity, b.q.scheme.granularity) << what;
  EXPECT_EQ(a.q.scheme.group_size, b.q.scheme.group_size) << what;
  EXPECT_EQ(a.q.scheme.double_quant, b.q.scheme.double_quant) << what;
  EXPECT_EQ(a.q.scheme.scale_type, b.q.scheme.scale_type) << what;
  if (a.perm.empty()) EXPECT_EQ(a.q.codes, b.q.codes) << what;
  if (a.q.scheme.double_quant) {
    EXPECT_EQ(a.q.double_quant.codes, b.q.double_quant.codes) << what;
    EXPECT_EQ(a.q.double_quant.block_absmax, b.q.double_quant.block_absmax) << what;
    EXPECT_EQ(a.q.double_quant.offset, b.q.double_quant.offset) << what;
  }
}

QuantizedLinear round_trip(HfLayout l, const std::string& scheme_name, int64_t rows, int64_t cols, Stored* keep = nullptr,
                           const std::vector<int32_t>& perm = {}) {
  const Scheme s = hf_layout_scheme(l, parse_scheme(scheme_name));
  std::vector<float> w = weights(rows, cols, 7);
  std::vector<float> wp = w;
  if (!perm.empty()) {  // act order: quantize the columns in perm's order
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < cols; ++k) wp[static_cast<size_t>(r * cols + k)] = w[static_cast<size_t>(r * cols + perm[static_cast<size_t>(k)])];
    }
  }
  QuantizedLinear in{quantize(TensorView{wp.data(), rows, cols, "w"}, s), perm};
  const HfQuantConfig c = config_for(l, s);
  Stored st;
  st.tensors = encode_linear(c, in);
  const std::vector<HfTensor> specs = hf_layout_specs(c, s, rows, cols);
  EXPECT_EQ(specs.size(), st.tensors.size());
  for (size_t i = 0; i < std::min(specs.size(), st.tensors.size()); ++i) {
    EXPECT_EQ(specs[i].suffix, st.tensors[i].suffix);
    EXPECT_EQ(specs[i].shape, st.tensors[i].shape);
    int64_t n = 1;
    for (int64_t d : st.tensors[i].shape) n *= d;
    EXPECT_EQ(static_cast<size_t>(n) * st_dtype_size(st.tensors[i].dtype), st.tensors[i].data.size()) << st.tensors[i].suffix;
  }
  st.index();
  DecodeNotes notes;
  const QuantizedLinear out = decode_linear(c, st.lookup(), rows, cols, "ckpt", &notes);
  EXPECT_TRUE(notes.warnings.empty()) << (notes.warnings.empty() ? "" : notes.warnings[0]);
  expect_same(in, out, std::string(hf_layout_name(l)) + " " + scheme_name);
  if (keep) *keep = std::move(st);
  return in;
}

TEST(HfLayout, GptqRoundTripsEveryWidthAndGranularity) {
  for (const char* s : {"int4-sym-g128", "int4-asym-g128", "int3-sym-g64", "int3-asym-g128", "int2-asym-g64",
                        "int8-sym-g128", "int8-asym-channel", "int4-sym-channel", "int4-asym-g32-f16"}) {
    round_trip(HfLayout::gptq, s, 64, 256);
  }
}

TEST(HfLayout, GptqActOrderPermutationRoundTrips) {
  std::vector<int32_t> perm(256);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
  for (const char* s : {"int4-sym-g64", "int3-asym-g32", "int8-asym-g128"}) round_trip(HfLayout::gptq, s, 64, 256, nullptr, perm);
}

TEST(HfLayout, GptqV1StoresZeroMinusOne) {
  Stored st;
  round_trip(HfLayout::gptq, "int4-sym-g128", 32, 128, &st);
  uint32_t w;
  std::memcpy(&w, st.at("qzeros").data.data(), 4);
  EXPECT_EQ(w, 0x77777777u);  // v1: the symmetric zero 8, stored as 7
  std::memcpy(&w, st.at("g_idx").data.data() + 4 * 127, 4);
  EXPECT_EQ(w, 0u);
}

TEST(HfLayout, GptqPacksThreeBitsAcrossWords) {
  // codes 0..7 repeating down the input: the stream crosses word boundaries at codes 10 and 21
  const Scheme s = hf_layout_scheme(HfLayout::gptq, parse_scheme("int3-asym-g32"));
  std::vector<float> w(32 * 32);
  for (int64_t r = 0; r < 32; ++r) {
    for (int64_t c = 0; c < 32; ++c) w[static_cast<size_t>(r * 32 + c)] = static_cast<float>(c % 8);
  }
  QuantizedLinear in{quantize(TensorView{w.data(), 32, 32, "w"}, s), {}};
  HfQuantConfig c;
  c.layout = HfLayout::gptq;
  c.scheme = s;
  c.gptq_v2 = true;
  const auto t = encode_linear(c, in);
  uint32_t w0, w1, w2;
  std::memcpy(&w0, t[0].data.data() + 0 * 4 * 32, 4);  // qweight[0][0], [1][0], [2][0]
  std::memcpy(&w1, t[0].data.data() + 1 * 4 * 32, 4);
  std::memcpy(&w2, t[0].data.data() + 2 * 4 * 32, 4);
  uint64_t bits[2] = {w0 | (static_cast<uint64_t>(w1) << 32), w2};
  for (int i = 0; i < 32; ++i) {
    const int pos = 3 * i;
    const uint64_t lo = bits[pos / 64] >> (pos % 64);
    const uint64_t v = (pos % 64 > 61 ? (lo | (bits[1] << (64 - pos % 64))) : lo) & 7;
    EXPECT_EQ(v, static_cast<uint64_t>(i % 8)) << "code " << i;
  }
}

TEST(HfLayout, AwqRoundTripsAndUsesItsNibbleOrder) {
  Stored st;
  round_trip(HfLayout::awq, "int4-asym-g128", 64, 256, &st);
  round_trip(HfLayout::awq, "int4-asym-g64", 16, 128);
  // nibble n of word 0 of input 0 is output kOrder[n] = 0, 2, 4, 6, 1, 3, 5, 7
  const Scheme s = hf_layout_scheme(HfLayout::awq, parse_scheme("int4-asym-g32"));
  std::vector<float> w(8 * 32, 0.0f);
  for (int64_t r = 0; r < 8; ++r) {
    w[static_cast<size_t>(r * 32)] = static_cast<float>(r);  // input 0 of output r: r
    w[static_cast<size_t>(r * 32 + 1)] = 15.0f;              // the group's max, so the scale is 1 and the zero 0
  }
  HfQuantConfig c;
  c.layout = HfLayout::awq;
  c.scheme = s;
  const auto t = encode_linear(c, QuantizedLinear{quantize(TensorView{w.data(), 8, 32, "w"}, s), {}});
  uint32_t word;
  std::memcpy(&word, t[0].data.data(), 4);
  EXPECT_EQ(word, 0x75316420u);
}

TEST(HfLayout, CompressedTensorsRoundTrips) {
  for (const char* s : {"int4-sym-g128", "int4-asym-g128", "int8-sym-channel", "int8-asym-channel", "int4-sym-tensor",
                        "int2-asym-g64", "int4-sym-g128-f16", "fp8_e4m3-channel", "fp8_e4m3-tensor"}) {
    round_trip(HfLayout::compressed_tensors, s, 48, 256);
  }
  round_trip(HfLayout::compressed_tensors, "int4-asym-channel", 40, 100);  // words padded at the row end
}

TEST(HfLayout, BnbRoundTripsWithAndWithoutDoubleQuantization) {
  Stored st;
  round_trip(HfLayout::bnb, "nf4-b64", 32, 256, &st);
  EXPECT_EQ(st.at("weight").shape, (std::vector<int64_t>{32 * 128, 1}));
  round_trip(HfLayout::bnb, "nf4-b64-dq", 64, 512, &st);  // 512 blocks: two second-level blocks
  const std::string js(st.at("weight.quant_state.bitsandbytes__nf4").data.begin(), st.at("weight.quant_state.bitsandbytes__nf4").data.end());
  const auto j = nlohmann::json::parse(js);
  EXPECT_EQ(j["quant_type"], "nf4");
  EXPECT_EQ(j["blocksize"], 64);
  EXPECT_EQ(j["shape"], nlohmann::json::array({64, 512}));
  EXPECT_EQ(j["nested_blocksize"], 256);
  round_trip(HfLayout::bnb, "nf4-b128", 16, 256);
}

TEST(HfLayout, RefusesSchemesALayoutCannotHold) {
  EXPECT_THROW(hf_layout_scheme(HfLayout::awq, parse_scheme("int4-sym-g128")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::awq, parse_scheme("int8-asym-g128")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::gptq, parse_scheme("int4-sym-tensor")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::gptq, parse_scheme("nf4-b64")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::bnb, parse_scheme("int4-sym-g64")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::compressed_tensors, parse_scheme("int3-sym-g128")), Error);
  EXPECT_THROW(hf_layout_scheme(HfLayout::compressed_tensors, parse_scheme("fp8_e5m2-channel")), Error);
  EXPECT_EQ(hf_layout_scheme(HfLayout::gptq, parse_scheme("int4-sym-g128")).scale_type, ScaleType::f16);
  try {
    hf_layout_scheme(HfLayout::awq, parse_scheme("int4-sym-g128"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4-bit asymmetric"), std::string::npos) << e.what();
  }
}

// ---- broken checkpoints ------------------------------------------------------------------------
std::string decode_error(HfLayout l, const std::string& scheme, int64_t rows, int64_t cols,
                         const std::function<void(Stored&, HfQuantConfig&)>& damage) {
  const Scheme s = hf_layout_scheme(l, parse_scheme(scheme));
  std::vector<float> w = weights(rows, cols, 11);
  HfQuantConfig c = config_for(l, s);
  Stored st;
  st.tensors = encode_linear(c, QuantizedLinear{quantize(TensorView{w.data(), rows, cols, "w"}, s), {}});
  damage(st, c);
  st.index();
  try {
    decode_linear(c, st.lookup(), rows, cols, "ckpt/model.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void set_word(HfTensor& t, size_t i, uint32_t v) { std::memcpy(t.data.data() + 4 * i, &v, 4); }

TEST(HfLayout, RefusesBrokenGptq) {
  const auto err = [](auto damage) { return decode_error(HfLayout::gptq, "int4-sym-g64", 64, 256, damage); };
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { set_word(s.at("g_idx"), 3, 99); }).find("g_idx[3] = 99"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { set_word(s.at("g_idx"), 3, 1); }).find("puts 63 input columns in group 0"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { s.at("scales").data[1] = 0x7c; s.at("scales").data[0] = 0; }).find("layer.scales"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { s.at("scales").data[0] = 0; s.at("scales").data[1] = 0; }).find("expected a positive scale"), std::string::npos);
  // a config naming bits the tensors do not hold
  EXPECT_NE(err([](Stored&, HfQuantConfig& c) { c.scheme.format = FormatId::int8; }).find("layer.qweight"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { s.at("qzeros").shape = {4, 7}; }).find("shape [4, 7]"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { s.at("qweight").dtype = StDtype::F32; }).find("dtype F32, expected I32"), std::string::npos);
  EXPECT_NE(err([](Stored& s, HfQuantConfig&) { s.tensors.erase(s.tensors.begin() + 2); }).find("missing tensor 'scales'"), std::string::npos);
}

TEST(HfLayout, WarnsWhereGptqZerosContradictTheDeclaredFormat) {
  const Scheme s = hf_layout_scheme(HfLayout::gptq, parse_scheme("int4-sym-g64"));
  std::vector<float> w(32 * 128);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (auto& x : w) x = nd(rng);  // no all-zero group: under the wrong zero it would read as corrupt
  HfQuantConfig c = config_for(HfLayout::gptq, s);
  c.gptq_v2 = true;  // written as v2 (true zeros 8) …
  Stored st;
  st.tensors = encode_linear(c, QuantizedLinear{quantize(TensorView{w.data(), 32, 128, "w"}, s), {}});
  st.index();
  c.gptq_v2 = false;  // … and declared v1
  DecodeNotes notes;
  decode_linear(c, st.lookup(), 32, 128, "ckpt", &notes);
  ASSERT_FALSE(notes.warnings.empty());
  EXPECT_NE(notes.warnings[0].find("mislabelled"), std::string::npos) << notes.warnings[0];
  // asymmetric v1: a zero of 0 is stored as 15 and read back as 0, with a warning
  const Scheme a = hf_layout_scheme(HfLayout::gptq, parse_scheme("int4-asym-g64"));
  std::vector<float> pos(32 * 128, 0.01f);
  pos[0] = 0.2f;
  HfQuantConfig c1 = config_for(HfLayout::gptq, a);
  c1.gptq_v2 = false;
  QuantizedLinear in{quantize(TensorView{pos.data(), 32, 128, "w"}, a), {}};
  Stored s1;
  s1.tensors = encode_linear(c1, in);
  s1.index();
  DecodeNotes n1;
  const QuantizedLinear out = decode_linear(c1, s1.lookup(), 32, 128, "ckpt", &n1);
  expect_same(in, out, "v1 asymmetric");
  ASSERT_FALSE(n1.warnings.empty());
  EXPECT_NE(n1.warnings[0].find("underflow"), std::string::npos);
}

TEST(HfLayout, RefusesBrokenAwqCompressedTensorsAndBnb) {
  EXPECT_NE(decode_error(HfLayout::awq, "int4-asym-g64", 64, 256, [](Stored& s, HfQuantConfig&) { s.at("qweight").shape = {256, 4}; })
                .find("expected [256, 8]"), std::string::npos);
  EXPECT_NE(decode_error(HfLayout::awq, "int4-asym-g64", 64, 256, [](Stored& s, HfQuantConfig&) {
              s.at("scales").data[0] = 0xff; s.at("scales").data[1] = 0x7f;  // FP16 NaN
            }).find("finite"), std::string::npos);
  EXPECT_NE(decode_error(HfLayout::compressed_tensors, "int4-asym-g64", 64, 256, [](Stored& s, HfQuantConfig&) {
              int64_t v[2] = {64, 512};
              std::memcpy(s.at("weight_shape").data.data(), v, 16);
            }).find("says [64, 512]"), std::string::npos);
  EXPECT_NE(decode_error(HfLayout::compressed_tensors, "int4-asym-g64", 64, 256, [](Stored& s, HfQuantConfig&) {
              s.tensors.erase(s.tensors.begin() + 2);
            }).find("weight_zero_point"), std::string::npos);
  EXPECT_NE(decode_error(HfLayout::compressed_tensors, "fp8_e4m3-channel", 64, 256, [](Stored& s, HfQuantConfig&) {
              float inf = INFINITY;
              std::memcpy(s.at("weight_scale").data.data(), &inf, 4);
            }).find("finite"), std::string::npos);
  const auto bnb = [](auto damage) { return decode_error(HfLayout::bnb, "nf4-b64-dq", 32, 256, damage); };
  EXPECT_NE(bnb([](Stored& s, HfQuantConfig&) { s.at("weight.quant_state.bitsandbytes__nf4").data[0] = 'x'; }).find("not valid JSON"), std::string::npos);
  EXPECT_NE(bnb([](Stored& s, HfQuantConfig&) {
              auto& d = s.at("weight.quant_state.bitsandbytes__nf4").data;
              std::string j(d.begin(), d.end());
              j.replace(j.find("[32, 256]"), 9, "[32, 512]");
              d.assign(j.begin(), j.end());
            }).find("expected [32, 256]"), std::string::npos);
  EXPECT_NE(bnb([](Stored& s, HfQuantConfig&) { s.at("weight.absmax").shape = {3}; }).find("weight.absmax"), std::string::npos);
}

TEST(HfLayout, ParsesThirdPartyConfigs) {
  const auto gptq = parse_hf_quant_config(nlohmann::json::parse(R"({"bits": 4, "group_size": 128, "desc_act": true, "sym": true,
      "quant_method": "gptq", "damp_percent": 0.1})"), "c");
  EXPECT_EQ(gptq.layout, HfLayout::gptq);
  EXPECT_FALSE(gptq.gptq_v2);
  EXPECT_TRUE(gptq.desc_act);
  EXPECT_EQ(gptq.scheme.group_size, 128);
  const auto awq = parse_hf_quant_config(nlohmann::json::parse(R"({"quant_method": "awq", "w_bit": 4, "q_group_size": 128,
      "zero_point": true, "version": "GEMM"})"), "c");
  EXPECT_EQ(awq.layout, HfLayout::awq);
  EXPECT_THROW(parse_hf_quant_config(nlohmann::json::parse(R"({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"})"), "c"), Error);
  EXPECT_THROW(parse_hf_quant_config(nlohmann::json::parse(R"({"quant_method": "gptq", "bits": 5})"), "c"), Error);
  EXPECT_THROW(parse_hf_quant_config(nlohmann::json::parse(R"({"quant_method": "exl2"})"), "c"), Error);
  EXPECT_THROW(parse_hf_quant_config(nlohmann::json::parse(R"({"quant_method": "bitsandbytes", "load_in_8bit": true})"), "c"), Error);
}

}  // namespace
}  // namespace vernier
