// The CPU kernel paths (scalar, then every compiled and supported Highway target, and the AVX-512
// VNNI variant) and the KernelContext that names one with the threads to use.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <hwy/targets.h>

#include "core/thread_pool.hpp"
#include "path.hpp"
#include "vernier/error.hpp"
#include "vernier/kernels.hpp"

namespace vernier {

namespace kernels {
namespace {
DotTable make_reference() {
  DotTable t;
  for (const GgmlTypeInfo& ti : ggml_types())
    if (ti.reference_dot && id_of(ti.type) < kTypeSlots) t[ti.type] = ti.reference_dot;
  return t;
}

// "scalar" first, then every compiled and supported SIMD target, best first.
const std::vector<Path>& paths() {
  static const std::vector<Path> list = [] {
    std::vector<Path> out;
    out.push_back({"scalar", reference_dots(), 0, {}, {}, nullptr, nullptr, nullptr, nullptr});
    int count = 0;
    const auto targets = simd_targets(count);
    for (int i = 0; i < count; ++i) {
      DotTable t = reference_dots();
      DotTable simd;
      if (!simd_dots(targets[static_cast<size_t>(i)], simd)) continue;
      for (size_t k = 0; k < kTypeSlots; ++k)
        if (simd.fn[k]) t.fn[k] = simd.fn[k];
      std::string name = hwy::TargetName(targets[static_cast<size_t>(i)]);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back({name, t, targets[static_cast<size_t>(i)], x8_kernels(targets[static_cast<size_t>(i)]), {},
                     exp_sum_fn(targets[static_cast<size_t>(i)]), silu_mul_fn(targets[static_cast<size_t>(i)]),
                     attn_scores_fn(targets[static_cast<size_t>(i)]), attn_values_fn(targets[static_cast<size_t>(i)])});
    }
    // AVX-512 with VNNI: the AVX-512 path with vpdpbusd kernels where they exist, tried first
    for (size_t i = 1; i < out.size(); ++i) {
      if (out[i].target == HWY_AVX3 && vnni_supported()) {
        Path v = out[i];
        v.name = "avx3_vnni";
        vnni_dots(v.table, v.x8);
        v.x16 = vnni_tiles();
        out.insert(out.begin() + 1, v);
        break;
      }
    }
    return out;
  }();
  return list;
}

std::string choices() {
  std::string s;
  for (const auto& n : available_kernel_isas()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The path of the entry points that take no context: VERNIER_ISA, or set_kernel_isa.
std::atomic<const Path*> g_default{nullptr};

const Path& default_path() {
  const Path* p = g_default.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("VERNIER_ISA");
    const Path* chosen = env && *env ? find_path(env) : nullptr;
    if (env && *env && !chosen) throw_usage(std::string("VERNIER_ISA=") + env + " is not a kernel path here (" + choices() + ")");
    if (!g_default.load()) g_default.store(chosen ? chosen : find_path("auto"));
  });
  return *g_default.load();
}
}  // namespace

const DotTable& reference_dots() {
  static const DotTable table = make_reference();
  return table;
}

const Path* find_path(std::string_view name) {
  const auto& p = paths();
  if (name == "auto") return &p.back() == &p.front() ? &p.front() : &p[1];
  for (const Path& x : p)
    if (x.name == name) return &x;
  return nullptr;
}

const Path& path_of(const KernelContext& ctx) { return ctx.path ? *ctx.path : default_path(); }

int64_t current_target() { return default_path().target; }
}  // namespace kernels

std::vector<std::string> available_kernel_isas() {
  std::vector<std::string> out{"auto"};
  for (const kernels::Path& p : kernels::paths()) out.push_back(p.name);
  return out;
}

KernelContext make_kernel_context(std::string_view isa, int threads) {
  KernelContext ctx;
  if (isa.empty()) {
    ctx.path = &kernels::default_path();
  } else {
    ctx.path = kernels::find_path(isa);
    if (!ctx.path) throw_usage("unknown kernel path '" + std::string(isa) + "' (this CPU and build: " + kernels::choices() + ")");
  }
  ctx.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ctx.pool = &ThreadPool::shared();
  return ctx;
}

KernelContext default_kernel_context(int threads) { return make_kernel_context("", std::max(threads, 1)); }

std::string KernelContext::isa() const { return kernels::path_of(*this).name; }

ThreadPool& KernelContext::workers() const { return pool ? *pool : ThreadPool::shared(); }

void set_kernel_isa(std::string_view name) {
  const kernels::Path* p = kernels::find_path(name);
  if (!p) throw_usage("unknown kernel path '" + std::string(name) + "' (this CPU and build: " + kernels::choices() + ")");
  kernels::g_default.store(p, std::memory_order_release);
}

std::string kernel_isa() { return kernels::default_path().name; }

}  // namespace vernier
