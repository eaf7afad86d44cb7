// vernier's weight-only formats: the scalar reference, the description the kernels read, and
// matmul over rows and threads.
#include "weight_only.hpp"

#include <algorithm>
#include <cstring>

#include <hwy/targets.h>

#include "core/thread_pool.hpp"
#include "dot.hpp"
#include "path.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/ggml_blocks.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"

namespace vernier {
namespace kernels {

void arrange_activations(XLayout layout, const float* x, int64_t cols, float* out) {
  switch (layout) {
    case XLayout::natural: std::memcpy(out, x, static_cast<size_t>(cols) * sizeof(float)); break;
    case XLayout::split32:
      for (int64_t b = 0; b < cols; b += 32)
        for (int64_t j = 0; j < 16; ++j) {
          out[b + j] = x[b + 2 * j];
          out[b + 16 + j] = x[b + 2 * j + 1];
        }
      break;
    case XLayout::dwords128:
      for (int64_t b = 0; b < cols; b += 128)
        for (int64_t s = 0; s < 8; ++s)
          for (int64_t k = 0; k < 16; ++k) out[b + 16 * s + k] = x[b + 8 * k + s];
      break;
    case XLayout::q8_split128:  // made from the Q8_0 blocks, not from floats (see arrange_q8)
      throw_usage("arrange_activations: q8_split128 is built from Q8_0 blocks");
    case XLayout::bf16_words128: {
      auto* words = reinterpret_cast<uint16_t*>(out);
      for (int64_t b = 0; b < cols; b += 128)
        for (int64_t s = 0; s < 4; ++s)
          for (int64_t k = 0; k < 32; ++k) {
            uint32_t bits;
            std::memcpy(&bits, x + b + 4 * k + s, 4);
            words[b + 32 * s + k] = static_cast<uint16_t>(bits >> 16);  // exact: x is bfloat16-exact
          }
      break;
    }
  }
}

}  // namespace kernels

namespace {
kernels::WoKernels pick_kernels(const kernels::Path& path, const kernels::WoDesc& d, Activations act) {
  const int64_t target = path.target;
  if (target == HWY_AVX3 || target == HWY_AVX3_DL) {
    kernels::WoKernels k;
    if (act == Activations::bf16) k = kernels::wo_bf16_kernels(d);
    if (act == Activations::q8_0 && path.vnni()) k = kernels::wo_q8_vnni_kernels(d);
    if (k.one) return k;
  }
  if (target != 0) {
    const kernels::WoKernels k = kernels::wo_simd_kernels(target, d);
    if (k.one) return k;
  }
  return {kernels::wo_reference_dot, nullptr, 1};
}
// Activations::bf16: every path computes with the activations rounded to bfloat16 (nearest even).
// bf16_from_float's nearest-even rounding in a loop the compiler vectorizes (the codec call per
// value was 5% of a 4096 × 14336 product); NaN stays NaN (quiet), as the codec keeps it.
void round_to_bf16(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, 4);
    const bool nan = (b & 0x7FFFFFFFu) > 0x7F800000u;
    const uint32_t r = nan ? (b | 0x00400000u) & 0xFFFF0000u : (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(out + i, &r, 4);
  }
}
// Activations::q8_0: the row's Q8_0 blocks (llama.cpp's quantizer) and their values d·q, exact in
// float32 (an 11-bit FP16 significand times a 7-bit code).
void quantize_q8_0(const float* x, int64_t n, ggml::BlockQ8_0* blocks, float* values) {
  quantize_activation_row(ggml_type::Q8_0, x, blocks, n);
  for (int64_t b = 0; b < n / ggml::QK8_0; ++b) {
    const float dq = fp16_to_float(blocks[b].d);
    for (int i = 0; i < ggml::QK8_0; ++i) values[b * ggml::QK8_0 + i] = dq * static_cast<float>(blocks[b].qs[i]);
  }
}
// XLayout::q8_split128 from the Q8_0 blocks
void arrange_q8(const ggml::BlockQ8_0* blocks, int64_t n, uint8_t* out) {
  for (int64_t c = 0; c < n / 128; ++c, out += kernels::kQ8SplitBytes) {
    const ggml::BlockQ8_0* b = blocks + 4 * c;
    for (int j = 0; j < 64; ++j) {
      out[j] = static_cast<uint8_t>(b[j / 16].qs[2 * j % 32]);
      out[64 + j] = static_cast<uint8_t>(b[j / 16].qs[(2 * j + 1) % 32]);
    }
    float scales[16];
    for (int lane = 0; lane < 16; ++lane) scales[lane] = fp16_to_float(b[lane / 4].d);
    std::memcpy(out + 128, scales, sizeof(scales));
  }
}
// One activation row as the picked kernels read it: rounded (bf16) or quantized (q8_0), X_g per
// group, and arranged in the kernels' order where they need it; returns the x to pass. scratch:
// 2·cols floats.
const float* prepare_row(const kernels::WoDesc& d, const kernels::WoKernels& k, Activations act, const float* x,
                         float* scratch, float* xsum, float* arranged) {
  auto* blocks = reinterpret_cast<ggml::BlockQ8_0*>(scratch + d.cols);
  if (act == Activations::bf16) {
    round_to_bf16(x, d.cols, scratch);
    x = scratch;
  } else if (act == Activations::q8_0) {
    quantize_q8_0(x, d.cols, blocks, scratch);
    x = scratch;
  }
  kernels::group_sums(d, x, xsum);
  if (k.x_layout == kernels::XLayout::natural) return x;
  if (k.x_layout == kernels::XLayout::q8_split128) {
    arrange_q8(blocks, d.cols, reinterpret_cast<uint8_t*>(arranged));
  } else {
    kernels::arrange_activations(k.x_layout, x, d.cols, arranged);
  }
  return arranged;
}
template <class W>
kernels::WoDesc describe_for(const W& w, Activations act) {
  if (act == Activations::q8_0 && w.cols % ggml::QK8_0 != 0)
    throw_usage("q8_0 activations need a multiple of 32 columns; the weights have " + std::to_string(w.cols));
  return kernels::describe_weights(w);
}
}  // namespace

bool cpu_reference_only(const WeightType& t) {
  if (t.is_ggml()) return false;
  const FormatInfo& f = format_info(t.as_scheme().format);
  return f.kind == FormatKind::integer && f.bits != 4 && f.bits != 8;
}

CpuKernel cpu_kernel(const KernelContext& ctx, const WeightType& t) {
  const kernels::Path& path = kernels::path_of(ctx);
  if (t.is_ggml()) {
    const DotFn f = path.table[t.ggml()];
    return f && f != kernels::reference_dots()[t.ggml()] ? CpuKernel::simd : CpuKernel::reference;
  }
  const Scheme& s = t.as_scheme();
  const int64_t cols = s.granularity == Granularity::per_group ? std::max<int64_t>(256, (256 + s.group_size - 1) / s.group_size * s.group_size) : 256;
  const std::vector<float> zeros(static_cast<size_t>(8 * cols), 0.0f);
  const QuantizedTensor q = quantize(TensorView{zeros.data(), 8, cols, "probe"}, s);
  return pick_kernels(path, kernels::describe_weights(q), Activations::f32).one != kernels::wo_reference_dot ? CpuKernel::simd
                                                                                                            : CpuKernel::reference;
}

bool kernel_supports(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  return s.format == FormatId::nf4 || s.format == FormatId::fp8_e4m3 || s.format == FormatId::fp8_e5m2 ||
         f.kind == FormatKind::integer;
}

float kernel_dot(const QuantizedTensor& w, int64_t row, const float* x, Activations act) {
  const kernels::WoDesc d = describe_for(w, act);
  const kernels::WoKernels k = pick_kernels(kernels::path_of(KernelContext{}), d, act);
  std::vector<float> xsum(static_cast<size_t>(d.groups_per_row)), scratch(static_cast<size_t>(2 * w.cols)),
      arranged(static_cast<size_t>(w.cols));
  const float* xk = prepare_row(d, k, act, x, scratch.data(), xsum.data(), arranged.data());
  return k.one(d, w.codes.data() + row * w.row_bytes, row, xk, xsum.data());
}

float reference_dot(const QuantizedTensor& w, int64_t row, const float* x, Activations act) {
  const kernels::WoDesc d = describe_for(w, act);
  std::vector<float> xsum(static_cast<size_t>(d.groups_per_row)), scratch(static_cast<size_t>(2 * w.cols));
  const float* xk = prepare_row(d, {}, act, x, scratch.data(), xsum.data(), nullptr);
  return kernels::wo_reference_dot(d, w.codes.data() + row * w.row_bytes, row, xk, xsum.data());
}

bool dedicated_kernel_available(const QuantizedTensor& w, Activations act) {
  const kernels::XLayout l = pick_kernels(kernels::path_of(KernelContext{}), kernels::describe_weights(w), act).x_layout;
  return (act == Activations::bf16 && l == kernels::XLayout::bf16_words128) ||
         (act == Activations::q8_0 && l == kernels::XLayout::q8_split128);
}

const char* activations_name(Activations act) {
  switch (act) {
    case Activations::bf16: return "bf16";
    case Activations::q8_0: return "q8_0";
    default: return "f32";
  }
}

Activations parse_activations(std::string_view name) {
  for (const Activations a : {Activations::f32, Activations::bf16, Activations::q8_0})
    if (name == activations_name(a)) return a;
  throw_usage("unknown activations '" + std::string(name) + "' (choices: f32, bf16, q8_0)");
}

void matmul(const QuantizedTensor& w, const float* x, int64_t batch, float* y, int threads, MatmulWorkspace& ws,
            Activations act) {
  matmul(default_kernel_context(threads), w, x, batch, y, ws, act);
}

namespace {
// The packed form's scales and zero points of rows [r0, r1) decoded to float32 and int32 once per
// row tile (16 rows: 16 · groups_per_row values, in the thread's own buffer), so that the kernels'
// inner loops read them exactly as they read an unpacked tensor's — a possible call or branch in
// those loops (FP16 decode, bit unpacking) cost a third of the 4-bit kernels' speed. The rows passed
// to the kernels are then relative to r0 (they only index the groups).
struct TileGroups {
  std::vector<float> scales;
  std::vector<int32_t> zeros;
};
bool needs_tile_decode(const kernels::WoDesc& d) { return !d.scales || d.zeros_packed; }
kernels::WoDesc tile_desc(const kernels::WoDesc& d, int64_t r0, int64_t r1, TileGroups& buf) {
  kernels::WoDesc t = d;
  const int64_t first = d.per_tensor ? 0 : r0 * d.groups_per_row, n = d.per_tensor ? 1 : (r1 - r0) * d.groups_per_row;
  if (buf.scales.size() < static_cast<size_t>(n)) {
    buf.scales.resize(static_cast<size_t>(n));
    buf.zeros.resize(static_cast<size_t>(n));
  }
  float* sc = buf.scales.data();
  if (d.scales) {
    t.scales = d.scales + first;  // float32 as stored: read in place
  } else if (d.scales_f16) {
    for (int64_t i = 0; i < n; ++i) sc[i] = fp16_to_float_inline(d.scales_f16[first + i]);
    t.scales = sc;
  } else {  // NF4 double quantization: code value × its block's absmax + offset, as the quantizer
    const float* map = dynamic8_map().data();
    for (int64_t i = 0; i < n; ++i) sc[i] = map[d.dq_codes[first + i]] * d.dq_absmax[(first + i) / d.dq_block] + d.dq_offset;
    t.scales = sc;
  }
  t.scales_f16 = nullptr;
  t.dq_codes = nullptr;
  if (d.zeros_packed) {
    int32_t* z = buf.zeros.data();
    const uint8_t* p = d.zeros_packed;
    if (d.bits == 8) {
      for (int64_t i = 0; i < n; ++i) z[i] = p[first + i];
    } else if (d.bits == 4) {
      for (int64_t i = 0; i < n; ++i) z[i] = (p[(first + i) >> 1] >> (((first + i) & 1) * 4)) & 15;
    } else {
      for (int64_t i = 0; i < n; ++i) z[i] = unpack_code(p, first + i, d.bits, false);
    }
    t.zeros = z;
    t.zeros_packed = nullptr;
  }
  return t;  // the kernels index groups from the tile's first row
}

// One body for both forms of the weights (the codes are the same; only the scales and zero points
// are held differently).
template <class W>
void matmul_scheme(const KernelContext& ctx, const W& w, const float* x, int64_t batch, float* y, MatmulWorkspace& ws,
                   Activations act) {
  const int threads = ctx.threads;
  const kernels::WoDesc d = describe_for(w, act);
  const kernels::WoKernels k = pick_kernels(kernels::path_of(ctx), d, act);
  const int64_t gpr = d.groups_per_row;
  const bool rewrite = act != Activations::f32 || k.x_layout != kernels::XLayout::natural;
  // per activation row: X_g, then (where the kernels do not read x as it is) the rewritten row, and
  // two scratch rows
  const int64_t xsum_floats = batch * gpr, rows_floats = rewrite ? (batch + 2) * w.cols : 0;
  const auto need = static_cast<size_t>(xsum_floats + rows_floats) * sizeof(float);
  if (ws.activations.size() < need) ws.activations.resize(need);
  auto* xsum = reinterpret_cast<float*>(ws.activations.data());
  if (rewrite) {
    float* rows_out = xsum + xsum_floats;
    float* scratch = rows_out + batch * w.cols;
    for (int64_t b = 0; b < batch; ++b) {
      const float* xb = prepare_row(d, k, act, x + b * w.cols, scratch, xsum + b * gpr, rows_out + b * w.cols);
      if (xb == scratch) std::memcpy(rows_out + b * w.cols, scratch, static_cast<size_t>(w.cols) * sizeof(float));
    }
    x = rows_out;
  } else {
    for (int64_t b = 0; b < batch; ++b) kernels::group_sums(d, x + b * w.cols, xsum + b * gpr);
  }
  const int64_t rows = w.rows;
  const int t = rows * w.cols * std::max<int64_t>(batch, 1) < kernels::kMinParallelWork ? 1 : std::max(threads, 1);
  constexpr int64_t kTile = 16;
  const int64_t chunks = t == 1 ? 1 : std::min<int64_t>((rows + kTile - 1) / kTile, 4 * t);
  // activation rows a tile at a time (about 256 KiB, L2-resident), as matmul.cpp does for GGUF types
  const int64_t btile = std::clamp<int64_t>((int64_t{256} << 10) / (w.cols * 4), 1, std::max<int64_t>(batch, 1));
  const bool decode = needs_tile_decode(d);
  auto task = [&](int64_t c) {
    static thread_local TileGroups buf;
    const int64_t r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks;
    for (int64_t b0 = 0; b0 < batch; b0 += btile) {
      const int64_t b1 = std::min(batch, b0 + btile);
      for (int64_t rt = r0; rt < r1; rt += kTile) {
        const int64_t re = std::min(r1, rt + kTile);
        const kernels::WoDesc td = decode ? tile_desc(d, rt, re, buf) : d;
        const int64_t base = decode ? rt : 0;  // the kernels' row index: relative to the tile when decoded
        if (k.tokens && b1 - b0 > 1) {  // each row's codes decoded once for up to tokens_at_once tokens
          for (int64_t r = rt; r < re; ++r)
            for (int64_t b = b0; b < b1; b += k.tokens_at_once) {
              const int n = static_cast<int>(std::min<int64_t>(k.tokens_at_once, b1 - b));
              k.tokens(td, w.codes.data() + r * w.row_bytes, r - base, x + b * w.cols, w.cols, xsum + b * gpr, gpr, n, y + b * rows + r, rows);
            }
          continue;
        }
        for (int64_t b = b0; b < b1; ++b) {
          const float* xb = x + b * w.cols;
          float* yb = y + b * rows;
          int64_t r = rt;
          if (k.rows) {
            for (; r + k.rows_at_once <= re; r += k.rows_at_once)
              k.rows(td, w.codes.data() + r * w.row_bytes, r - base, xb, xsum + b * gpr, yb + r);
          }
          for (; r < re; ++r) yb[r] = k.one(td, w.codes.data() + r * w.row_bytes, r - base, xb, xsum + b * gpr);
        }
      }
    }
  };
  ctx.workers().run(t, chunks, task);
}
}  // namespace

void matmul(const KernelContext& ctx, const QuantizedTensor& w, const float* x, int64_t batch, float* y, MatmulWorkspace& ws,
            Activations act) {
  matmul_scheme(ctx, w, x, batch, y, ws, act);
}

void matmul(const KernelContext& ctx, const PackedTensor& w, const float* x, int64_t batch, float* y, MatmulWorkspace& ws,
            Activations act) {
  matmul_scheme(ctx, w, x, batch, y, ws, act);
}

}  // namespace vernier
