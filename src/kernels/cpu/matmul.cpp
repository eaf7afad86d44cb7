// matmul: activation quantization, the kernel path in use, and the split of rows over threads.
#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>

#include <hwy/targets.h>

#include "core/thread_pool.hpp"
#include "dot.hpp"
#include "path.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"

namespace vernier {

namespace {
using kernels::DotFn;
using kernels::DotTable;
using kernels::Path;

const GgmlTypeInfo& info_or_throw(GgmlType type) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  if (!ti || !kernel_supports(type)) {
    throw_usage("no matrix kernel for GGML type " + (ti ? std::string(ti->name) : std::to_string(id_of(type))));
  }
  return *ti;
}
}  // namespace

bool kernel_supports(GgmlType type) { return kernels::reference_dots()[type] != nullptr; }

// The registry's activation format (F32, F16, BF16: the activations take the weights' float type).
GgmlType kernel_activation_type(GgmlType type) { return ggml_info(type).activations; }

namespace {
int64_t activation_row_bytes(GgmlType type, int64_t n) {
  if (type == ggml_type::Q4_0) return n / 32 * static_cast<int64_t>(sizeof(kernels::BlockQ8_0S));
  switch (kernel_activation_type(type)) {
    case ggml_type::Q8_0: return n / 32 * 34;
    case ggml_type::Q8_1: return n / 32 * 36;
    case ggml_type::Q8_K: return n / 256 * static_cast<int64_t>(sizeof(ggml::BlockQ8_K));
    case ggml_type::F16: case ggml_type::BF16: return n * 2;
    default: return n * 4;
  }
}
}  // namespace

void quantize_activation_row(GgmlType type, const float* x, void* out, int64_t n) {
  const GgmlType act = kernel_activation_type(type);
  if (type == ggml_type::Q4_0) return kernels::quantize_q8_0s(x, out, n);
  switch (act) {
    case ggml_type::Q8_1:
      kernels::quantize_q8_1(x, out, n);
      break;
    case ggml_type::Q8_0: case ggml_type::Q8_K:
      ggml_quantize(act, x, out, 1, n, nullptr);
      break;
    case ggml_type::F16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = fp16_from_float(x[i]);
      break;
    }
    case ggml_type::BF16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = bf16_from_float(x[i]);
      break;
    }
    default:
      std::copy_n(x, n, static_cast<float*>(out));
  }
}

namespace {
// Bytes between two activation rows: the row in the type's dot-product format, and where the x16
// tiles read it, their extras after it (x16.hpp).
int64_t activation_stride(GgmlType type, int64_t cols, bool extras) {
  const int64_t arb = activation_row_bytes(type, cols);
  return extras ? (arb + 63) / 64 * 64 + kernels::x16_extras_bytes(type, cols) : arb;
}

// The batch's activation rows in the type's dot-product format (and the extras where asked), in the
// workspace (grown, not reallocated per call); rows over threads when the batch is large enough to pay for it.
const uint8_t* quantize_activations(const KernelContext& ctx, GgmlType type, const float* x, int64_t batch, int64_t cols,
                                    MatmulWorkspace& ws, bool extras) {
  const int64_t stride = activation_stride(type, cols, extras), eo = (activation_row_bytes(type, cols) + 63) / 64 * 64;
  const auto need = static_cast<size_t>(stride * batch);
  if (ws.activations.size() < need) ws.activations.resize(need);
  uint8_t* xq = ws.activations.data();
  auto task = [&](int64_t b) {
    uint8_t* row = xq + b * stride;
    quantize_activation_row(type, x + b * cols, row, cols);
    if (extras) kernels::make_x16_extras(type, row, cols, row + eo);
  };
  ctx.workers().run(batch >= 4 ? ctx.threads : 1, batch, task);
  return xq;
}
}  // namespace

DotFn kernel_dot_fn(const KernelContext& ctx, GgmlType type) {
  info_or_throw(type);
  return kernels::path_of(ctx).table[type];
}

float kernel_dot(const KernelContext& ctx, GgmlType type, const void* w, const void* xq, int64_t n) {
  return kernel_dot_fn(ctx, type)(w, xq, n);
}
float kernel_dot(GgmlType type, const void* w, const void* xq, int64_t n) { return kernel_dot(KernelContext{}, type, w, xq, n); }

float reference_dot(GgmlType type, const void* w, const void* xq, int64_t n) {
  info_or_throw(type);
  return kernels::reference_dots()[type](w, xq, n);
}

void attention_scores(const KernelContext& ctx, const float* q, int64_t q_stride, const int64_t* counts, int64_t m, const float* k,
                      int64_t k_stride, int64_t hd, float scale, float* s, int64_t s_stride) {
  if (const kernels::AttnScoresFn f = kernels::path_of(ctx).attn_scores) return f(q, q_stride, counts, m, k, k_stride, hd, scale, s, s_stride);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t t = 0; t < counts[r]; ++t) {
      float acc = 0.0f;
      for (int64_t e = 0; e < hd; ++e) acc += q[r * q_stride + e] * k[t * k_stride + e];
      s[r * s_stride + t] = acc * scale;
    }
}

void attention_values(const KernelContext& ctx, const float* p, int64_t p_stride, const int64_t* counts, int64_t m,
                      const float* v, int64_t v_stride, int64_t hd, float* out, int64_t out_stride) {
  if (const kernels::AttnValuesFn f = kernels::path_of(ctx).attn_values) return f(p, p_stride, counts, m, v, v_stride, hd, out, out_stride);
  for (int64_t r = 0; r < m; ++r) {
    float* o = out + r * out_stride;
    std::fill(o, o + hd, 0.0f);
    for (int64_t t = 0; t < counts[r]; ++t)
      for (int64_t e = 0; e < hd; ++e) o[e] += p[r * p_stride + t] * v[t * v_stride + e];
  }
}

float exp_sum(const KernelContext& ctx, float* v, int64_t n, float shift) {
  if (const kernels::ExpSumFn f = kernels::path_of(ctx).exp_sum) return f(v, n, shift);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - shift);
    sum += v[i];
  }
  return sum;
}

void silu_mul(const KernelContext& ctx, float* gate, const float* up, int64_t n) {
  if (const kernels::SiluMulFn f = kernels::path_of(ctx).silu_mul) return f(gate, up, n);
  for (int64_t e = 0; e < n; ++e) {
    float g = gate[e];
    g *= 1.0f / (1.0f + std::exp(-g));  // SiLU
    gate[e] = g * up[e];
  }
}

PackedBytes::PackedBytes(size_t n) {
  if (n == 0) return;
  // From 2 MiB up: 2 MiB-aligned, but not rounded up to 2 MiB (the tail that is not a whole huge
  // page stays in 4 KiB pages instead of taking, and counting in RSS, a whole huge page). Smaller
  // copies gain nothing from huge pages and are only cache-line aligned (a 2 MiB alignment each
  // reserved gigabytes of address space for a benchmark's thousands of small copies).
  constexpr size_t kHuge = size_t{2} << 20, kPage = 4096;
  const bool huge = n >= kHuge;
  const size_t cap = (n + kPage - 1) / kPage * kPage;
  void* p = nullptr;  // posix_memalign: aligned_alloc wants the size a multiple of the alignment
  if (::posix_memalign(&p, huge ? kHuge : 64, cap) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (huge) ::madvise(p, cap, MADV_HUGEPAGE);  // advice only: without it (or without huge pages) 4 KiB pages serve
#endif
  p_ = static_cast<uint8_t*>(p);
  n_ = n;
}
PackedBytes::PackedBytes(PackedBytes&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
PackedBytes& PackedBytes::operator=(PackedBytes&& o) noexcept {
  if (this != &o) {
    std::free(p_);
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}
PackedBytes::~PackedBytes() { std::free(p_); }

PreparedMatrix prepare_matrix(GgmlType type, const void* w, int64_t rows, int64_t cols) {
  return prepare_matrix(KernelContext{}, type, w, rows, cols);
}

PreparedMatrix prepare_matrix(const PackedTensor& w) {
  if (!kernel_supports(w.scheme)) throw_usage("no weight-only kernel for " + describe(w.scheme));
  PreparedMatrix m;
  m.rows = w.rows;
  m.cols = w.cols;
  m.scheme = &w;
  return m;
}

uint64_t PreparedMatrix::resident_bytes() const {
  if (scheme) return scheme->bytes();
  if (!packed.empty()) {  // the repacked groups, and the leftover rows read from the original bytes
    const int64_t row_bytes = *ggml_row_bytes(ggml_info(type), cols);
    return packed.size() + static_cast<uint64_t>((rows % packed_rows) * row_bytes);
  }
  return static_cast<uint64_t>(rows * *ggml_row_bytes(ggml_info(type), cols));
}

PreparedMatrix prepare_matrix(const KernelContext& ctx, GgmlType type, const void* w, int64_t rows, int64_t cols) {
  const GgmlTypeInfo& ti = info_or_throw(type);
  PreparedMatrix m;
  m.type = type;
  m.data = w;
  m.rows = rows;
  m.cols = cols;
  const Path& path = kernels::path_of(ctx);
  if (cols % ti.block_size != 0) return m;
  const int64_t nb = cols / ti.block_size, row_bytes = *ggml_row_bytes(ti, cols);
  if (path.x16.get(type) && rows >= kernels::kX16Rows) {
    const int64_t groups = rows / kernels::kX16Rows, group_bytes = nb * kernels::x16_block_bytes(type);
    m.packed = PackedBytes(static_cast<size_t>(groups * group_bytes));
    for (int64_t g = 0; g < groups; ++g) kernels::repack_x16(type, w, row_bytes, g, nb, m.packed.data() + g * group_bytes);
    m.packed_rows = kernels::kX16Rows;
  } else if (path.x8.get(type) && rows >= 8) {
    const int64_t groups = rows / 8, group_bytes = nb * kernels::x8_block_bytes(type);
    m.packed = PackedBytes(static_cast<size_t>(groups * group_bytes));
    for (int64_t g = 0; g < groups; ++g) kernels::repack_x8(type, w, row_bytes, g, nb, m.packed.data() + g * group_bytes);
    m.packed_rows = 8;
  }
  if (m.packed_rows) m.packed_target = path.target;
  return m;
}

namespace {
// The activation format a type's kernels read (Q4_0 reads Q8_0 blocks with their code sums).
uint32_t activation_key(GgmlType type) { return type == ggml_type::Q4_0 ? 0x10000u : id_of(kernel_activation_type(type)); }

// One matrix's share of a product: its chunks of rows (or of eight-row groups where it is repacked),
// taken dynamically by the threads, and how to compute one.
struct Part {
  const PreparedMatrix* m = nullptr;
  float* y = nullptr;
  DotFn dot = nullptr;
  kernels::PackedRowsFn packed = nullptr;  // x8 groups
  kernels::TileFn tile = nullptr;           // x16 groups
  int64_t row_bytes = 0, nb = 0, groups = 0, group_bytes = 0, chunks = 1;
};
constexpr int64_t kTile = 16;  // rows per tile: a tile stays in cache while every activation row passes

Part make_part(const Path& path, const PreparedMatrix& m, float* y, int t) {
  const GgmlTypeInfo& ti = info_or_throw(m.type);
  if (m.cols % ti.block_size != 0) {
    throw_bad_input("a " + std::string(ti.name) + " matrix needs rows of a multiple of " + std::to_string(ti.block_size) +
                    " values, not " + std::to_string(m.cols));
  }
  const GgmlType act = kernel_activation_type(m.type);
  if ((act == ggml_type::Q8_0 || act == ggml_type::Q8_1) && m.cols % 32 != 0) throw_bad_input("activation rows must be whole Q8 blocks");
  Part p;
  p.m = &m;
  p.y = y;
  p.dot = path.table[m.type];
  // A layout is the same on every path that has its kernels; a path without them (a matrix packed
  // for another path) reads the original bytes.
  if (m.packed_rows == 8) p.packed = path.x8.get(m.type);
  if (m.packed_rows == kernels::kX16Rows) p.tile = path.x16.get(m.type);
  p.row_bytes = *ggml_row_bytes(ti, m.cols);
  p.nb = m.cols / ti.block_size;
  if (p.packed || p.tile) {
    p.groups = m.rows / m.packed_rows;
    p.group_bytes = p.nb * (p.tile ? kernels::x16_block_bytes(m.type) : kernels::x8_block_bytes(m.type));
    p.chunks = t == 1 ? 1 : std::min<int64_t>(std::max<int64_t>(p.groups / 2, 1), 4 * t);
  } else {
    p.chunks = t == 1 ? 1 : std::min<int64_t>((m.rows + kTile - 1) / kTile, 4 * t);
  }
  return p;
}

// Chunk c of a part: its weight tiles against the batch's activation rows, btile rows at a time (about
// 256 KiB, so they stay in L2 while the chunk's tiles pass over them: a 512-row batch re-read from L3
// for every weight tile had kept a second thread from helping).
void run_chunk(const Part& p, int64_t c, const uint8_t* xq, int64_t arb, int64_t eo, int64_t batch, int64_t btile) {
  const PreparedMatrix& m = *p.m;
  const auto* wb = static_cast<const uint8_t*>(m.data);
  if (p.tile) {  // x16: each group of 16 rows against the tile's tokens, 8 at a time, its weights staying in cache
    const int64_t g0 = p.groups * c / p.chunks, g1 = p.groups * (c + 1) / p.chunks;
    for (int64_t b0 = 0; b0 < batch; b0 += btile) {
      const int64_t b1 = std::min(batch, b0 + btile);
      for (int64_t g = g0; g < g1; ++g)
        for (int64_t t0 = b0; t0 < b1; t0 += kernels::kX16Tokens) {
          const int n = static_cast<int>(std::min<int64_t>(kernels::kX16Tokens, b1 - t0));
          p.tile(m.packed.data() + g * p.group_bytes, xq + t0 * arb, arb, eo, n, p.nb, p.y + t0 * m.rows + kernels::kX16Rows * g, m.rows);
        }
      if (c == p.chunks - 1) {  // the leftover rows (fewer than 16) from the original bytes
        for (int64_t b = b0; b < b1; ++b)
          for (int64_t r = kernels::kX16Rows * p.groups; r < m.rows; ++r) p.y[b * m.rows + r] = p.dot(wb + r * p.row_bytes, xq + b * arb, m.cols);
      }
    }
    return;
  }
  if (p.packed) {
    const int64_t g0 = p.groups * c / p.chunks, g1 = p.groups * (c + 1) / p.chunks;
    for (int64_t b0 = 0; b0 < batch; b0 += btile) {
      const int64_t b1 = std::min(batch, b0 + btile);
      for (int64_t gt = g0; gt < g1; gt += 2) {  // two groups (16 rows) per tile
        const int64_t ge = std::min(g1, gt + 2);
        for (int64_t b = b0; b < b1; ++b)
          for (int64_t g = gt; g < ge; ++g) p.packed(m.packed.data() + g * p.group_bytes, xq + b * arb, p.nb, p.y + b * m.rows + 8 * g);
      }
      if (c == p.chunks - 1) {  // the leftover rows (fewer than 8) from the original bytes
        for (int64_t b = b0; b < b1; ++b)
          for (int64_t r = 8 * p.groups; r < m.rows; ++r) p.y[b * m.rows + r] = p.dot(wb + r * p.row_bytes, xq + b * arb, m.cols);
      }
    }
    return;
  }
  const int64_t r0 = m.rows * c / p.chunks, r1 = m.rows * (c + 1) / p.chunks;
  for (int64_t b0 = 0; b0 < batch; b0 += btile) {
    const int64_t b1 = std::min(batch, b0 + btile);
    for (int64_t rt = r0; rt < r1; rt += kTile) {
      const int64_t re = std::min(r1, rt + kTile);
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t r = rt; r < re; ++r) p.y[b * m.rows + r] = p.dot(wb + r * p.row_bytes, xq + b * arb, m.cols);
    }
  }
}
}  // namespace

namespace {
// F32 weights times a prompt-sized batch: Y = X · Wᵀ as one BLAS sgemm per matrix. The row kernels
// read each weight once per tile of tokens and do one multiply-add with it per token; a GEMM keeps
// blocks of both operands in cache and runs at the FMA units' rate (GPTQ's calibration passes are
// such products). Not under the scalar path, which stays the reference.
constexpr int64_t kSgemmMinBatch = 32;
bool sgemm_product(const KernelContext& ctx, std::span<const MatmulJob> jobs, const float* x, int64_t batch) {
  if (batch < kSgemmMinBatch || ctx.isa() == "scalar") return false;
  for (const MatmulJob& j : jobs) {
    if (j.m->scheme || j.m->type != GgmlType::F32 || !j.m->packed.empty() || !j.m->data) return false;
  }
  openblas_set_num_threads(std::max(1, ctx.threads));
  for (const MatmulJob& j : jobs) {
    const auto m = static_cast<int>(batch), n = static_cast<int>(j.m->rows), k = static_cast<int>(j.m->cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, static_cast<const float*>(j.m->data), k, 0.0f, j.y, n);
  }
  return true;
}
}  // namespace

void matmul(const KernelContext& ctx, std::span<const MatmulJob> jobs, const float* x, int64_t batch, MatmulWorkspace& ws,
            Activations act) {
  if (jobs.empty()) return;
  const PreparedMatrix& first = *jobs[0].m;
  if (jobs.size() == 1 && first.scheme) return matmul(ctx, *first.scheme, x, batch, jobs[0].y, ws, act);
  if (sgemm_product(ctx, jobs, x, batch)) return;
  for (const MatmulJob& j : jobs) {
    if (j.m->cols != first.cols) throw_usage("matmul: matrices of one product need the same number of columns");
    if (j.m->scheme || first.scheme || activation_key(j.m->type) != activation_key(first.type)) {
      // vernier's schemes, or different activation formats: one product at a time
      for (const MatmulJob& k : jobs) matmul(ctx, std::span<const MatmulJob>(&k, 1), x, batch, ws, act);
      return;
    }
  }
  const Path& path = kernels::path_of(ctx);
  const int threads = ctx.threads;
  int64_t work = 0;
  for (const MatmulJob& j : jobs) work += j.m->rows * j.m->cols * std::max<int64_t>(batch, 1);
  const int t = work < kernels::kMinParallelWork ? 1 : std::max(threads, 1);
  std::array<Part, 8> parts_small;
  std::vector<Part> parts_big;
  Part* parts = parts_small.data();
  if (jobs.size() > parts_small.size()) {
    parts_big.resize(jobs.size());
    parts = parts_big.data();
  }
  int64_t total = 0;
  bool extras = false;
  GgmlType act_type = first.type;  // the extras follow a tiled matrix's type (its group of types shares them)
  for (size_t i = 0; i < jobs.size(); ++i) {
    parts[i] = make_part(path, *jobs[i].m, jobs[i].y, t);
    total += parts[i].chunks;
    if (parts[i].tile && !extras) act_type = jobs[i].m->type;
    extras = extras || parts[i].tile;
  }
  const int64_t cols = first.cols, arb = activation_stride(act_type, cols, extras);
  const int64_t eo = (activation_row_bytes(act_type, cols) + 63) / 64 * 64;
  KernelContext actx = ctx;
  actx.threads = t;
  const uint8_t* xq = quantize_activations(actx, act_type, x, batch, cols, ws, extras);
  const int64_t btile = std::clamp<int64_t>((int64_t{256} << 10) / std::max<int64_t>(arb, 1), 1, std::max<int64_t>(batch, 1));
  auto task = [&](int64_t c) {
    size_t i = 0;
    while (c >= parts[i].chunks) c -= parts[i++].chunks;
    run_chunk(parts[i], c, xq, arb, eo, batch, btile);
  };
  ctx.workers().run(t, total, task);
}

void matmul(std::span<const MatmulJob> jobs, const float* x, int64_t batch, int threads, MatmulWorkspace& ws) {
  matmul(default_kernel_context(threads), jobs, x, batch, ws);
}

void matmul(const PreparedMatrix& m, const float* x, int64_t batch, float* y, int threads, MatmulWorkspace& ws) {
  const MatmulJob job{&m, y};
  matmul(default_kernel_context(threads), std::span<const MatmulJob>(&job, 1), x, batch, ws);
}

void matmul(GgmlType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t batch, float* y,
            int threads, MatmulWorkspace& ws) {
  PreparedMatrix m;  // the bytes as they are
  m.type = type;
  m.data = w;
  m.rows = rows;
  m.cols = cols;
  matmul(m, x, batch, y, threads, ws);
}

}  // namespace vernier
