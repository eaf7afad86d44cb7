// Internal to the layout codecs (src/io/hf_*.cpp): the pieces every layout shares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vernier/hf_layout.hpp"

namespace vernier::hf {

int bits_of(const Scheme& s);
bool is_int(const Scheme& s);
int64_t groups_per_row(const Scheme& s, int64_t cols);  // per_channel and per_tensor: 1
int64_t group_len(const Scheme& s, int64_t cols);       // elements per group along a row

// Unsigned codes u (rows × cols) and per-group zero points z with w = (u - z)·s, in q's column order.
std::vector<uint8_t> unsigned_codes(const QuantizedTensor& q);
std::vector<int32_t> unsigned_zeros(const QuantizedTensor& q);
// The inverse: an integer scheme's QuantizedTensor from (u, z, scales). A symmetric scheme needs every
// zero at 2^(b-1); the caller decides the scheme (parse_hf_quant_config, symmetric_or_not).
QuantizedTensor from_unsigned(const Scheme& s, int64_t rows, int64_t cols, const std::vector<uint8_t>& u,
                              const std::vector<int32_t>& z, std::vector<float> scales);
// The scheme a decoded integer layer holds: `declared` when its zeros agree with its symmetry, else the
// asymmetric twin (a "sym" checkpoint whose zeros are not all 2^(b-1)), with a warning.
Scheme symmetric_or_not(const Scheme& declared, const std::vector<int32_t>& z, const std::string& what, DecodeNotes* notes);

// A stored tensor that must be there with this dtype and shape; throws naming the file and tensor.
const HfTensorRef& need(const HfTensorLookup& find, const std::string& suffix, StDtype dtype,
                        const std::vector<int64_t>& shape, const std::string& file);
const HfTensorRef& need_any(const HfTensorLookup& find, const std::string& suffix, const std::string& file);
std::string shape_string(const std::vector<int64_t>& shape);
[[noreturn]] void refuse(const std::string& file, const HfTensorRef& t, const std::string& what);

uint32_t word_at(const HfTensorRef& t, int64_t i);  // int32 element i, little-endian
std::vector<uint8_t> words_bytes(const std::vector<uint32_t>& w);
// Scales stored as F16, BF16 or F32 → float; checks each is finite (and the count).
std::vector<float> read_scales(const HfTensorRef& t, const std::string& file);
// Refuses a zero, negative, NaN or Inf scale of a group whose codes are not all at its zero point.
void check_scales(const QuantizedTensor& q, const HfTensorRef& scales, const std::string& file);

// Layouts.
std::vector<HfTensor> gptq_specs(const Scheme& s, int64_t rows, int64_t cols);
std::vector<HfTensor> gptq_encode(const QuantizedLinear& w, bool v2);
QuantizedLinear gptq_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                            const std::string& file, DecodeNotes* notes);
std::vector<HfTensor> awq_specs(const Scheme& s, int64_t rows, int64_t cols);
std::vector<HfTensor> awq_encode(const QuantizedLinear& w);
QuantizedLinear awq_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                           const std::string& file, DecodeNotes* notes);
std::vector<HfTensor> ct_specs(const Scheme& s, int64_t rows, int64_t cols);
std::vector<HfTensor> ct_encode(const QuantizedLinear& w);
QuantizedLinear ct_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                          const std::string& file, DecodeNotes* notes);
std::vector<HfTensor> bnb_specs(const HfQuantConfig& c, const Scheme& s, int64_t rows, int64_t cols);
std::vector<HfTensor> bnb_encode(const HfQuantConfig& c, const QuantizedLinear& w);
QuantizedLinear bnb_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                           const std::string& file, DecodeNotes* notes);

}  // namespace vernier::hf
