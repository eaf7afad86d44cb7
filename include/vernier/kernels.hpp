// vernier/kernels.hpp — matrix products on weights in their stored format (CPU).
//
// y[b][r] = Σ_k W[r][k] · x[b][k] for a rows × cols weight matrix W kept as stored (a GGUF type's
// blocks, row after row) and `batch` float32 activation rows x. As in llama.cpp's CPU backend, the
// activations are first quantized to the weight type's dot-product format — Q8_0 for Q4_0, Q5_0,
// Q8_0 and IQ4_NL; Q8_1 (Q8_0 plus the block sum) for Q4_1 and Q5_1; Q8_K for the K-quants and
// IQ4_XS; FP16 for F16 and BF16 for BF16 weights; F32 stays F32 — and each block's product is an
// integer dot product scaled by the two block scales. Results therefore agree with llama.cpp's
// numerics, not with a float32 product of the dequantized matrix.
//
// Every type has a scalar reference kernel (always built: the registry's reference_dot); SIMD kernels
// compiled by Google Highway for each x86 target are picked at run time. A KernelContext names the
// path and the threads a product runs with; the runtime and the pipelines pass one in. The entry
// points without a context (tests, benchmarks, single products) use the process default path:
// VERNIER_ISA in the environment, or `set_kernel_isa`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/ggml_types.hpp"
#include "vernier/quantize.hpp"

namespace vernier {

class ThreadPool;
// What vernier's weight-only formats multiply against (see the weight-only matmul below).
enum class Activations : uint8_t { f32, bf16, q8_0 };
namespace kernels {
struct Path;
}

// What products run with: a kernel path and threads from a pool. Cheap to copy; two contexts can
// name different paths in one process (a test per path, a runtime beside a benchmark).
struct KernelContext {
  const kernels::Path* path = nullptr;  // nullptr: the process default (VERNIER_ISA / set_kernel_isa)
  ThreadPool* pool = nullptr;           // nullptr: the shared pool
  int threads = 1;
  std::string isa() const;              // the path's name
  ThreadPool& workers() const;
};
// isa: "auto", "scalar", a target name, or "" for the process default; threads 0: every hardware
// thread. Throws a usage Error naming the choices.
KernelContext make_kernel_context(std::string_view isa = "auto", int threads = 0);
KernelContext default_kernel_context(int threads);

// Kernel paths: "scalar", "auto" (the best this CPU runs) or a Highway target name ("avx2", "avx3")
// this build compiled and this CPU supports, and "avx3_vnni" (AVX-512 plus vpdpbusd kernels) where
// the CPU has AVX512-VNNI.
std::vector<std::string> available_kernel_isas();
void set_kernel_isa(std::string_view name);  // the process default path; throws a usage Error naming the choices
std::string kernel_isa();                    // the process default path ("scalar" or a target name)

bool kernel_supports(GgmlType weight_type);

// What multiplies a weight type on a context's path (for a matrix of the type's natural shape:
// rows a multiple of 8, columns of whole groups and a multiple of 256): a SIMD kernel of the path,
// or the scalar reference. The registry test holds every type to one of: a SIMD kernel on the best
// path, or a place in cpu_reference_only().
enum class CpuKernel : uint8_t { simd, reference };
CpuKernel cpu_kernel(const KernelContext& ctx, const WeightType& type);
// The types the CPU backend leaves to the scalar reference by design: integer codes of 2, 3, 5, 6
// and 7 bits (no SIMD decoder for those widths yet).
bool cpu_reference_only(const WeightType& type);
GgmlType kernel_activation_type(GgmlType weight_type);  // the GGML type activations are quantized to

struct MatmulWorkspace {
  std::vector<uint8_t> activations;  // reused between calls: no allocation once it has grown
};

// w: rows × row_bytes(weight_type, cols) bytes. x: batch × cols floats. y: batch × rows floats.
// Rows are split over `threads` threads (tiled over the batch when batch > 1).
void matmul(GgmlType weight_type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t batch,
            float* y, int threads, MatmulWorkspace& ws);

// A weight matrix prepared for the kernel path in use. Q4_0 and Q8_0 on a SIMD path are repacked
// eight rows at a time (their scales in one vector, one activation load for eight rows; the leftover
// rows and any other path use the original bytes, which must outlive this). Other types are used as
// they are.
// The bytes of a repacked matrix: 2 MiB-aligned and advised for transparent huge pages before the
// first write. A model's memory-mapped file is often mapped with 2 MiB pages by the kernel; a copy in
// 4 KiB pages decoded ~10% slower end to end (page walks), which this avoids.
class PackedBytes {
 public:
  PackedBytes() = default;
  explicit PackedBytes(size_t n);
  PackedBytes(PackedBytes&& o) noexcept;
  PackedBytes& operator=(PackedBytes&& o) noexcept;
  PackedBytes(const PackedBytes&) = delete;
  PackedBytes& operator=(const PackedBytes&) = delete;
  ~PackedBytes();
  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

// A matrix of any WeightType: GGML bytes (data, maybe repacked) or a vernier scheme's packed codes
// (`scheme`, multiplied by the weight-only kernels below with float32 activations).
struct PreparedMatrix {
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
  int64_t rows = 0, cols = 0;
  PackedBytes packed;           // groups of packed_rows rows: the first rows / packed_rows · packed_rows rows
  int64_t packed_target = 0;    // the Highway target of the path that packed it (0: not packed)
  int packed_rows = 0;          // 8 (x8 layout) or 16 (x16 layout, the VNNI tiles); 0: not packed
  const PackedTensor* scheme = nullptr;     // set: the weights are this scheme's (type and data unused)
  uint64_t resident_bytes() const;          // what the kernels read: bytes, repacked copy or codes + scales
};
PreparedMatrix prepare_matrix(GgmlType weight_type, const void* w, int64_t rows, int64_t cols);
PreparedMatrix prepare_matrix(const KernelContext& ctx, GgmlType weight_type, const void* w, int64_t rows, int64_t cols);
PreparedMatrix prepare_matrix(const PackedTensor& w);  // must outlive the result
void matmul(const PreparedMatrix& m, const float* x, int64_t batch, float* y, int threads, MatmulWorkspace& ws);
// Several matrices with the same number of columns times the same activations (attention's Q, K
// and V; the FFN's gate and up): the activations quantized once where the types share a format,
// and one pass of the threads over all the rows — one wake-up and one barrier instead of one per
// matrix, which is what a small model's decode step pays most for. Each y gets batch × rows.
struct MatmulJob {
  const PreparedMatrix* m = nullptr;
  float* y = nullptr;
};
void matmul(std::span<const MatmulJob> jobs, const float* x, int64_t batch, int threads, MatmulWorkspace& ws);
// act: what scheme matrices multiply against (GGML types use their own activation formats).
void matmul(const KernelContext& ctx, std::span<const MatmulJob> jobs, const float* x, int64_t batch, MatmulWorkspace& ws,
            Activations act = Activations::f32);

// vernier's own weight-only formats (a QuantizedTensor): integer codes of any width in either mode
// and at any granularity, NF4 and FP8 — decoded to float32 in registers and multiplied with
// float32 activations (no activation quantization). SIMD kernels take 4- and 8-bit integers, NF4
// and FP8 with groups of a multiple of 32 values; other shapes use the scalar reference.
//
// Activations::bf16 rounds each activation to bfloat16 (nearest even) first, as GPU runtimes for
// these formats multiply in FP16/BF16: every path, the reference included, then computes with the
// rounded values, so results do not depend on the path. Where the CPU has AVX512-BF16, 4-bit
// integer codes in groups of a multiple of 128 values (per channel or g128, g256, …) take a kernel
// that multiplies two values per lane per instruction (vdpbf16ps) instead of one (an FMA); other
// shapes and CPUs use the float32 kernels on the rounded activations.
//
// Activations::q8_0 quantizes each activation row to Q8_0 (blocks of 32: int8 codes and an FP16
// scale, llama.cpp's quantizer) and computes with the dequantized values d·q on every path, so a
// weight-only format gets the integer products GGUF types use (W4A8). Where the CPU has
// AVX512-VNNI, 4-bit integer codes in groups of a multiple of 128 values take a vpdpbusd kernel
// (four products per int32 lane per instruction, exact integer block sums).
const char* activations_name(Activations act);  // "f32", "bf16", "q8_0"
Activations parse_activations(std::string_view name);  // throws a usage Error naming the choices
bool kernel_supports(const Scheme& scheme);
void matmul(const QuantizedTensor& w, const float* x, int64_t batch, float* y, int threads, MatmulWorkspace& ws,
            Activations act = Activations::f32);
void matmul(const KernelContext& ctx, const QuantizedTensor& w, const float* x, int64_t batch, float* y, MatmulWorkspace& ws,
            Activations act = Activations::f32);
// The same products on the weights as stored (FP16 scales, packed zero points): the same results.
void matmul(const KernelContext& ctx, const PackedTensor& w, const float* x, int64_t batch, float* y, MatmulWorkspace& ws,
            Activations act = Activations::f32);
float kernel_dot(const QuantizedTensor& w, int64_t row, const float* x, Activations act = Activations::f32);
float reference_dot(const QuantizedTensor& w, int64_t row, const float* x, Activations act = Activations::f32);
// Whether `act` has a kernel of its own for these weights on the current path (otherwise the
// float32 kernels run on the rounded or dequantized activations).
bool dedicated_kernel_available(const QuantizedTensor& w, Activations act);

// Quantizes one activation row to kernel_activation_type(weight_type) (n values) into `out` (at most
// 4·n + 64 bytes). For Q4_0 weights each Q8_0 block also carries its int16 code sum (36 bytes).
void quantize_activation_row(GgmlType weight_type, const float* x, void* out, int64_t n);
// One row's dot product with the current path: weight row `w` against a quantized activation row.
float kernel_dot(GgmlType weight_type, const void* w, const void* xq, int64_t n);
float kernel_dot(const KernelContext& ctx, GgmlType weight_type, const void* w, const void* xq, int64_t n);
// The dot-product function kernel_dot calls, for loops that call it many times (attention scores).
DotFn kernel_dot_fn(const KernelContext& ctx, GgmlType weight_type);
// The same with the scalar reference kernel, whatever the current path.
float reference_dot(GgmlType weight_type, const void* w, const void* xq, int64_t n);

// v[i] = exp(v[i] − shift) for i < n, and returns their sum (the numerators and denominator of a
// softmax, shift its maximum): Highway's vector Exp on a SIMD path, std::exp on the scalar one.
float exp_sum(const KernelContext& ctx, float* v, int64_t n, float shift);
// gate[i] = SiLU(gate[i]) · up[i] for i < n (LLaMA's SwiGLU), Highway's Exp on a SIMD path.
void silu_mul(const KernelContext& ctx, float* gate, const float* up, int64_t n);

// Attention's products, row by row: s[r·s_stride + t] = scale · Σ_e q[r·q_stride + e] · k[t·k_stride + e]
// for r < m, t < counts[r], e < hd; and out[r·out_stride + e] = Σ_{t < counts[r]} p[r·p_stride + t] · v[t·v_stride + e].
// Each element's value depends only on its own operands, hd and the kernel path — not on m, n, its
// place in the call or the thread — so that a prompt split into batches gives the whole prompt's bits.
void attention_scores(const KernelContext& ctx, const float* q, int64_t q_stride, const int64_t* counts, int64_t m, const float* k,
                      int64_t k_stride, int64_t hd, float scale, float* s, int64_t s_stride);
void attention_values(const KernelContext& ctx, const float* p, int64_t p_stride, const int64_t* counts, int64_t m,
                      const float* v, int64_t v_stride, int64_t hd, float* out, int64_t out_stride);

}  // namespace vernier
