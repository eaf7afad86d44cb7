// matmul: activation quantization, the kernel path in use, and the split of rows over threads.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>

#include <hwy/targets.h>

#include "core/thread_pool.hpp"
#include "dot.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"

namespace vernier {

namespace {
using kernels::DotFn;
using kernels::DotTable;

struct Path {
  std::string name;
  DotTable table;
  int64_t target = 0;                        // Highway target bit; 0 for the scalar reference
  kernels::X8Kernels x8;                     // Q4_0 and Q8_0 eight rows at a time, where the path has them
};

// "scalar" first, then every compiled and supported SIMD target, best first.
const std::vector<Path>& paths() {
  static const std::vector<Path> list = [] {
    std::vector<Path> out;
    out.push_back({"scalar", kernels::reference_dots()});
    int count = 0;
    const auto targets = kernels::simd_targets(count);
    for (int i = 0; i < count; ++i) {
      DotTable t = kernels::reference_dots();
      DotTable simd{};
      if (!kernels::simd_dots(targets[static_cast<size_t>(i)], simd)) continue;
      for (size_t k = 0; k < t.size(); ++k)
        if (simd[k]) t[k] = simd[k];
      std::string name = hwy::TargetName(targets[static_cast<size_t>(i)]);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back({name, t, targets[static_cast<size_t>(i)], kernels::x8_kernels(targets[static_cast<size_t>(i)])});
    }
    // AVX-512 with VNNI: the AVX-512 path with vpdpbusd kernels where they exist, tried first
    for (size_t i = 1; i < out.size(); ++i) {
      if (out[i].target == HWY_AVX3 && kernels::vnni_supported()) {
        Path v = out[i];
        v.name = "avx3_vnni";
        kernels::vnni_dots(v.table, v.x8);
        out.insert(out.begin() + 1, v);
        break;
      }
    }
    return out;
  }();
  return list;
}

const Path* find_path(std::string_view name) {
  const auto& p = paths();
  if (name == "auto") return &p.back() == &p.front() ? &p.front() : &p[1];
  for (const Path& x : p)
    if (x.name == name) return &x;
  return nullptr;
}

std::atomic<const Path*> g_path{nullptr};

const Path& current() {
  const Path* p = g_path.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("VERNIER_ISA");
    const Path* chosen = env && *env ? find_path(env) : nullptr;
    if (env && *env && !chosen) throw_usage(std::string("VERNIER_ISA=") + env + " is not a kernel path here (" + [] {
      std::string s;
      for (const auto& n : available_kernel_isas()) s += (s.empty() ? "" : ", ") + n;
      return s;
    }() + ")");
    if (!g_path.load()) g_path.store(chosen ? chosen : find_path("auto"));
  });
  return *g_path.load();
}

const GgmlTypeInfo& info_or_throw(uint32_t type) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  if (!ti || !kernel_supports(type)) {
    throw_usage("no matrix kernel for GGML type " + (ti ? std::string(ti->name) : std::to_string(type)));
  }
  return *ti;
}
}  // namespace

std::vector<std::string> available_kernel_isas() {
  std::vector<std::string> out{"auto"};
  for (const Path& p : paths()) out.push_back(p.name);
  return out;
}

void set_kernel_isa(std::string_view name) {
  const Path* p = find_path(name);
  if (!p) {
    std::string s;
    for (const auto& n : available_kernel_isas()) s += (s.empty() ? "" : ", ") + n;
    throw_usage("unknown kernel path '" + std::string(name) + "' (this CPU and build: " + s + ")");
  }
  g_path.store(p, std::memory_order_release);
}

std::string kernel_isa() { return current().name; }

int64_t kernels::current_target() { return current().target; }
bool kernels::vnni_path() { return current().name == "avx3_vnni"; }

bool kernel_supports(uint32_t type) {
  return type < kernels::kTypeSlots && kernels::reference_dots()[type] != nullptr;
}

uint32_t kernel_activation_type(uint32_t type) {
  switch (type) {
    case ggml_type::Q4_0: case ggml_type::Q5_0: case ggml_type::Q8_0: case ggml_type::IQ4_NL:
      return ggml_type::Q8_0;
    case ggml_type::Q4_1: case ggml_type::Q5_1:
      return ggml_type::Q8_1;
    case ggml_type::Q2_K: case ggml_type::Q3_K: case ggml_type::Q4_K: case ggml_type::Q5_K: case ggml_type::Q6_K:
    case ggml_type::IQ4_XS:
      return ggml_type::Q8_K;
    default:
      return type;  // F32, F16, BF16: the activations take the weights' float type
  }
}

namespace {
int64_t activation_row_bytes(uint32_t type, int64_t n) {
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

void quantize_activation_row(uint32_t type, const float* x, void* out, int64_t n) {
  const uint32_t act = kernel_activation_type(type);
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
// The batch's activation rows in the type's dot-product format, in the workspace (grown, not reallocated
// per call); rows over threads when the batch is large enough to pay for it.
const uint8_t* quantize_activations(uint32_t type, const float* x, int64_t batch, int64_t cols, int threads, MatmulWorkspace& ws) {
  const int64_t arb = activation_row_bytes(type, cols);
  const auto need = static_cast<size_t>(arb * batch);
  if (ws.activations.size() < need) ws.activations.resize(need);
  uint8_t* xq = ws.activations.data();
  auto task = [&](int64_t b) { quantize_activation_row(type, x + b * cols, xq + b * arb, cols); };
  ThreadPool::shared().run(batch >= 4 ? threads : 1, batch, task);
  return xq;
}
}  // namespace

float kernel_dot(uint32_t type, const void* w, const void* xq, int64_t n) {
  info_or_throw(type);
  return current().table[type](w, xq, n);
}

float reference_dot(uint32_t type, const void* w, const void* xq, int64_t n) {
  info_or_throw(type);
  return kernels::reference_dots()[type](w, xq, n);
}

void matmul(uint32_t type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t batch, float* y,
            int threads, MatmulWorkspace& ws) {
  const GgmlTypeInfo& ti = info_or_throw(type);
  if (cols % ti.block_size != 0) {
    throw_bad_input("a " + std::string(ti.name) + " matrix needs rows of a multiple of " + std::to_string(ti.block_size) +
                    " values, not " + std::to_string(cols));
  }
  const uint32_t act = kernel_activation_type(type);
  if ((act == ggml_type::Q8_0 || act == ggml_type::Q8_1) && cols % 32 != 0) throw_bad_input("activation rows must be whole Q8 blocks");
  const int t = rows * cols * std::max<int64_t>(batch, 1) < kernels::kMinParallelWork ? 1 : std::max(threads, 1);
  const int64_t arb = activation_row_bytes(type, cols);
  const uint8_t* xq = quantize_activations(type, x, batch, cols, t, ws);
  ThreadPool& pool = ThreadPool::shared();

  const DotFn dot = current().table[type];
  const int64_t row_bytes = *ggml_row_bytes(ti, cols);
  const auto* wb = static_cast<const uint8_t*>(w);
  // Chunks of rows taken dynamically (several per thread, so a slow core does not hold the rest up);
  // within a chunk, tiles of rows stay in cache while every activation row passes over them.
  constexpr int64_t kTile = 16;
  const int64_t chunks = t == 1 ? 1 : std::min<int64_t>((rows + kTile - 1) / kTile, 4 * t);
  // Activation rows are taken a tile at a time (about 256 KiB of them, so they stay in L2 while every
  // weight tile of the chunk passes over them): a batch of 512 rows re-read from L3 for each weight
  // tile was what kept a second thread from helping.
  const int64_t btile = std::clamp<int64_t>((int64_t{256} << 10) / std::max<int64_t>(arb, 1), 1, std::max<int64_t>(batch, 1));
  auto row_task = [&](int64_t c) {
    const int64_t r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks;
    for (int64_t b0 = 0; b0 < batch; b0 += btile) {
      const int64_t b1 = std::min(batch, b0 + btile);
      for (int64_t rt = r0; rt < r1; rt += kTile) {
        const int64_t re = std::min(r1, rt + kTile);
        for (int64_t b = b0; b < b1; ++b) {
          const uint8_t* xb = xq + b * arb;
          float* yb = y + b * rows;
          for (int64_t r = rt; r < re; ++r) yb[r] = dot(wb + r * row_bytes, xb, cols);
        }
      }
    }
  };
  pool.run(t, chunks, row_task);
}

PackedBytes::PackedBytes(size_t n) {
  if (n == 0) return;
  // 2 MiB-aligned, but not rounded up to 2 MiB: the tail that is not a whole huge page stays in
  // 4 KiB pages instead of taking (and counting in RSS) a whole huge page
  constexpr size_t kHuge = size_t{2} << 20, kPage = 4096;
  const size_t cap = (n + kPage - 1) / kPage * kPage;
  void* p = std::aligned_alloc(kHuge, cap);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  ::madvise(p, cap, MADV_HUGEPAGE);  // advice only: without it (or without huge pages) 4 KiB pages serve
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

PreparedMatrix prepare_matrix(uint32_t type, const void* w, int64_t rows, int64_t cols) {
  const GgmlTypeInfo& ti = info_or_throw(type);
  PreparedMatrix m;
  m.type = type;
  m.data = w;
  m.rows = rows;
  m.cols = cols;
  const Path& path = current();
  if (path.x8.get(type) && rows >= 8 && cols % ti.block_size == 0) {
    const int64_t nb = cols / ti.block_size, groups = rows / 8, row_bytes = *ggml_row_bytes(ti, cols);
    const int64_t group_bytes = nb * kernels::x8_block_bytes(type);
    m.packed = PackedBytes(static_cast<size_t>(groups * group_bytes));
    for (int64_t g = 0; g < groups; ++g) kernels::repack_x8(type, w, row_bytes, g, nb, m.packed.data() + g * group_bytes);
    m.packed_target = path.target;
  }
  return m;
}

void matmul(const PreparedMatrix& m, const float* x, int64_t batch, float* y, int threads, MatmulWorkspace& ws) {
  // the layout is the same for every path that has an eight-row kernel
  const kernels::PackedRowsFn packed = m.packed.empty() ? nullptr : current().x8.get(m.type);
  if (!packed) return matmul(m.type, m.data, m.rows, m.cols, x, batch, y, threads, ws);
  const int64_t rows = m.rows, cols = m.cols, nb = cols / ggml_type_info(m.type)->block_size, groups = rows / 8;
  const int t = rows * cols * std::max<int64_t>(batch, 1) < kernels::kMinParallelWork ? 1 : std::max(threads, 1);
  const int64_t arb = activation_row_bytes(m.type, cols);
  const uint8_t* xq = quantize_activations(m.type, x, batch, cols, t, ws);
  ThreadPool& pool = ThreadPool::shared();
  const DotFn dot = current().table[m.type];
  const int64_t row_bytes = *ggml_row_bytes(*ggml_type_info(m.type), cols);
  const int64_t group_bytes = nb * kernels::x8_block_bytes(m.type);
  const int64_t btile = std::clamp<int64_t>((int64_t{256} << 10) / std::max<int64_t>(arb, 1), 1, std::max<int64_t>(batch, 1));
  // chunks of 8-row groups (the leftover rows, fewer than 8, go with the last chunk)
  const int64_t chunks = t == 1 ? 1 : std::min<int64_t>(std::max<int64_t>(groups / 2, 1), 4 * t);
  auto task = [&](int64_t c) {
    const int64_t g0 = groups * c / chunks, g1 = groups * (c + 1) / chunks;
    for (int64_t b0 = 0; b0 < batch; b0 += btile) {
      const int64_t b1 = std::min(batch, b0 + btile);
      for (int64_t gt = g0; gt < g1; gt += 2) {  // two groups (16 rows) per tile
        const int64_t ge = std::min(g1, gt + 2);
        for (int64_t b = b0; b < b1; ++b) {
          for (int64_t g = gt; g < ge; ++g) packed(m.packed.data() + g * group_bytes, xq + b * arb, nb, y + b * rows + 8 * g);
        }
      }
      if (c == chunks - 1) {
        for (int64_t b = b0; b < b1; ++b)
          for (int64_t r = 8 * groups; r < rows; ++r) y[b * rows + r] = dot(static_cast<const uint8_t*>(m.data) + r * row_bytes, xq + b * arb, cols);
      }
    }
  };
  pool.run(t, chunks, task);
}

}  // namespace vernier
