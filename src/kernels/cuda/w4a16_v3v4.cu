// W4A16 version 3: fewer instructions per byte.
//
// What versions 1 and 2 taught (docs/kernels-cuda.md): at m = 1 the H200 must issue at most ~120
// instructions per warp per 512-byte chunk of codes to stream at 80% of its read bandwidth (4.3 TB/s over
// 132 SMs × 4 schedulers × 1.98 GHz ≈ 4 bytes per issued instruction), and version 1 spent ~130: each
// 32-column part loaded and unpacked its own scale and zero points and had its own fresh accumulator.
// Version 2's asynchronous copies added instructions and did not help. Here a warp takes units of two
// adjacent chunks (128 columns) and, where the group size allows (a multiple of 64 or 128, or one group
// per row), loads the metadata and runs the fresh accumulator once per span of 64 or 128 columns instead
// of per 32 — the same arithmetic (a span lies inside one group), ~40% fewer instructions.
//
// Versions 4 and 5, the same kernel with switches: (a, version 4 only) lane 0 asks the copy engine to bring
// the warp's next iteration of codes into L2 (cp.async.bulk.prefetch.L2: one instruction per kilobyte, no
// registers); measured, it slowed every shape (28672 × 8192, m = 1: 55 → 76 µs), so version 5 drops it.
// (b) split-K across blocks where the row tiles alone leave the chip underfilled (N = 4096: 256 blocks for
// 132 SMs): each of S blocks of a row tile sums a slice of the columns, writes its partial sums to a
// workspace, and the last to arrive (a counter per row tile) adds the S partials in a fixed order and
// writes the outputs — deterministic, no float atomics. W4Matrix plans S (w4a16.cu); with S = 1, version 5
// runs exactly version 3's kernel. Version 6 (below): version 5 with the codes brought by the bulk copy engine.
#include "w4a16_common.cuh"

namespace vernier::cuda::w4 {
namespace {
constexpr int kUnitsInFlight = 2;  // units a warp loads at once: 4 chunks, 64 bytes per lane

__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}

// The split-K epilogue: this block's 8 warps summed, its partials to the workspace, and the row tile's last
// block sums the S partials in order. ws: row_tiles × S × 512 floats; counters: row_tiles, left at 0.
template <Act A, int NT, bool F32OUT>
__device__ __forceinline__ void split_epilogue(const Args& p, float (&acc)[NT][4], float (&red)[kWarps][NT][32][4]) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rt = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int j = 0; j < 4; ++j) red[warp][nt][lane][j] = acc[nt][j];
  __syncthreads();
  float* mine = p.ws + (static_cast<int64_t>(rt) * splits + split) * 512;
  for (int idx = threadIdx.x; idx < NT * 128; idx += kWarps * 32) {
    const int nt = idx / 128, l = (idx / 4) % 32, j = idx % 4;
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) s += red[w][nt][l][j];
    mine[idx] = s;
  }
  __threadfence();  // the partials visible device-wide before the count says so
  __syncthreads();
  __shared__ bool last;
  if (threadIdx.x == 0) last = atomicAdd(p.counters + rt, 1u) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last) return;
  __threadfence();
  const float* all = p.ws + static_cast<int64_t>(rt) * splits * 512;
  for (int idx = threadIdx.x; idx < NT * 128; idx += kWarps * 32) {
    const int nt = idx / 128, l = (idx / 4) % 32, j = idx % 4;
    float s = 0.0f;
    for (int sp = 0; sp < splits; ++sp) s += __ldcg(all + sp * 512 + idx);  // L2: other blocks wrote them
    const int64_t row = static_cast<int64_t>(rt) * 16 + (l >> 2) + (j >> 1) * 8, tok = nt * 8 + 2 * (l & 3) + (j & 1);
    if (row < p.n && tok < p.m) store_out<A, F32OUT>(p, tok * p.n + row, s);
  }
  if (threadIdx.x == 0) p.counters[rt] = 0;  // ready for the next product (graph replays too)
}

// One unit (2 chunks, 128 columns) of a warp's codes, q, into its sums: per span the group's scale and
// zero points and a fresh accumulator, per 32-column part the activations and two tensor-core steps.
template <Act A, bool ASYM, int NT, int SPAN>
__device__ __forceinline__ void unit_product(const Args& p, const uint4 (&q)[2], int unit, int chunks, const uint32_t* tile_scales,
                                             const uint2* tile_zeros, const typename Types<A>::T* (&xrow)[NT],
                                             const bool (&has)[NT], int g, int i, float (&acc)[NT][4]) {
  constexpr int kSpans = 128 / SPAN, kPartsPerSpan = SPAN / 32;
#pragma unroll
  for (int sp = 0; sp < kSpans; ++sp) {
    const int part0 = unit * 4 + sp * kPartsPerSpan;  // 32-column parts
    if (part0 / 2 >= chunks) break;  // the last unit's missing chunk
    const int32_t gi = group_of_part(p, static_cast<uint32_t>(part0));
    const float2 s = scale_pair(__ldg(tile_scales + gi * 8));
    uint32_t z_lo, z_hi;
    zero_pairs<A, ASYM>(ASYM ? __ldg(tile_zeros + gi) : make_uint2(0, 0), g, z_lo, z_hi);
    float part[NT][4];
    zero<NT>(part);
#pragma unroll
    for (int j = 0; j < kPartsPerSpan; ++j) {
      const int pi = sp * kPartsPerSpan + j;  // part in the unit: chunk pi / 2, half pi % 2
      if ((unit * 2 + pi / 2) >= chunks) break;
      const int64_t col0 = static_cast<int64_t>(part0 + j) * 32;
      uint4 xv[NT];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) xv[nt] = has[nt] ? load_x8(xrow[nt], col0, p.k - 8 * i, p.xvec) : make_uint4(0, 0, 0, 0);
      two_steps<A, NT>(word(q[pi / 2], 2 * (pi % 2)), word(q[pi / 2], 2 * (pi % 2) + 1), z_lo, z_hi, xv, part);
    }
    scale_add<NT>(acc, part, s);
  }
}

// SPAN: columns that share one group's metadata and one fresh accumulator (32, 64 or 128). PREFETCH, SPLIT:
// version 4's L2 prefetch and split-K (gridDim.y blocks per row tile).
template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN, bool PREFETCH, bool SPLIT>
__global__ void __launch_bounds__(kWarps * 32) kernel(const Args p) {
  using T = typename Types<A>::T;
  __shared__ float red[kWarps][NT][32][4];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, i = lane & 3;
  const int rt = blockIdx.x;
  const int chunks = static_cast<int>(p.chunks), units = (chunks + 1) / 2;
  const uint4* tile = p.codes + static_cast<int64_t>(rt) * chunks * 32 + lane;
  const uint32_t* tile_scales = p.scales + static_cast<int64_t>(rt) * p.groups * 8 + g;
  const uint2* tile_zeros = reinterpret_cast<const uint2*>(p.zeros + static_cast<int64_t>(rt) * p.groups);
  float acc[NT][4];
  zero<NT>(acc);
  const T* xrow[NT];
  bool has[NT];
  activation_rows<A, NT>(p, g, 8 * i, xrow, has);
  // this block's units: all of them, or its split's slice
  const int u_begin = SPLIT ? static_cast<int>(static_cast<int64_t>(units) * blockIdx.y / gridDim.y) : 0;
  const int u_end = SPLIT ? static_cast<int>(static_cast<int64_t>(units) * (blockIdx.y + 1) / gridDim.y) : units;
  const uint4* tile0 = p.codes + static_cast<int64_t>(rt) * chunks * 32;
  for (int u0 = u_begin + warp; u0 < u_end; u0 += kWarps * kUnitsInFlight) {
    if constexpr (PREFETCH) {
      if (lane == 0) {
#pragma unroll
        for (int uu = 0; uu < kUnitsInFlight; ++uu) {
          const int next = u0 + (kUnitsInFlight + uu) * kWarps;
          if (next < u_end) prefetch_l2(tile0 + 2 * next * 32, 2 * next + 1 < chunks ? 1024u : 512u);
        }
      }
    }
    uint4 q[kUnitsInFlight][2];
#pragma unroll
    for (int uu = 0; uu < kUnitsInFlight; ++uu) {
#pragma unroll
      for (int ci = 0; ci < 2; ++ci) {
        const int c = 2 * (u0 + uu * kWarps) + ci;
        q[uu][ci] = c < chunks ? load_stream(tile + c * 32) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int uu = 0; uu < kUnitsInFlight; ++uu) {
      const int unit = u0 + uu * kWarps;
      if (unit >= u_end) break;
      unit_product<A, ASYM, NT, SPAN>(p, q[uu], unit, chunks, tile_scales, tile_zeros, xrow, has, g, i, acc);
    }
  }
  if constexpr (SPLIT) split_epilogue<A, NT, F32OUT>(p, acc, red);
  else epilogue<A, NT, F32OUT>(p, acc, red);
}

// ---- version 6: the codes through the bulk copy engine -------------------------------------------------
// v5 keeps 2 units per warp in flight in registers; ncu (docs/kernels-cuda.md) showed the warps waiting on
// those loads 42% of the time and the registers capping the blocks at 4 per SM. Here one thread of the
// block asks the copy engine for the codes of all 8 warps' next unit at once — 8 consecutive units, up to
// 8 KB, one instruction — into a ring of kStages shared-memory stages, each completing on an mbarrier
// (`full`); each warp reads its unit from the stage (16 bytes per lane per chunk, conflict-free), tells
// the stage's `empty` barrier, and the producer refills a stage once all 8 warps have left it. Bytes in
// flight per block: kStages × 8 KB, in no register.
// Stages: 4 (32 KB) where the block's other shared memory allows it under the 48 KB static limit, else 3.
// The producer refills the stage of iteration it − kLag at iteration it, so a warp may run up to kLag
// iterations ahead of the slowest before it waits (lag 1 measured slower at m = 1 than version 5).
constexpr int kLag = 2;
constexpr uint32_t kStageBytes = kWarps * 1024;  // 8 units of 2 chunks

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)), "l"(src),
               "r"(bytes), "r"(smem_addr(bar))
               : "memory");
}

template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN, bool SPLIT>
__global__ void __launch_bounds__(kWarps * 32) kernel6(const Args p) {
  using T = typename Types<A>::T;
  constexpr int kStages = NT <= 2 ? 4 : 3;
  static_assert(kStages > kLag, "a stage is refilled only after it was read");
  __shared__ __align__(128) uint4 ring[kStages][kStageBytes / 16];
  __shared__ float red[kWarps][NT][32][4];
  __shared__ uint64_t full[kStages], empty[kStages];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, i = lane & 3;
  const int rt = blockIdx.x;
  const int chunks = static_cast<int>(p.chunks), units = (chunks + 1) / 2;
  const int u_begin = SPLIT ? static_cast<int>(static_cast<int64_t>(units) * blockIdx.y / gridDim.y) : 0;
  const int u_end = SPLIT ? static_cast<int>(static_cast<int64_t>(units) * (blockIdx.y + 1) / gridDim.y) : units;
  const int iters = (u_end - u_begin + kWarps - 1) / kWarps;
  const uint8_t* tile_bytes = reinterpret_cast<const uint8_t*>(p.codes + static_cast<int64_t>(rt) * chunks * 32);
  const uint32_t tile_size = static_cast<uint32_t>(chunks) * 512;
  // iteration it's stage: units u_begin + 8·it … (up to 8, the last chunk of the tile possibly missing)
  const auto issue = [&](int it) {
    const uint32_t from = static_cast<uint32_t>(u_begin + it * kWarps) * 1024;
    const uint32_t to = min(min(from + kStageBytes, static_cast<uint32_t>(u_end) * 1024), tile_size);
    const int st = it % kStages;
    mbar_expect_tx(&full[st], to - from);
    bulk_copy(ring[st], tile_bytes + from, to - from, &full[st]);
  };
  if (threadIdx.x == 0) {
    for (int st = 0; st < kStages; ++st) {
      mbar_init(&full[st], 1);
      mbar_init(&empty[st], kWarps);
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int it = 0; it < min(kStages, iters); ++it) issue(it);
  const uint32_t* tile_scales = p.scales + static_cast<int64_t>(rt) * p.groups * 8 + g;
  const uint2* tile_zeros = reinterpret_cast<const uint2*>(p.zeros + static_cast<int64_t>(rt) * p.groups);
  float acc[NT][4];
  zero<NT>(acc);
  const T* xrow[NT];
  bool has[NT];
  activation_rows<A, NT>(p, g, 8 * i, xrow, has);
  for (int it = 0; it < iters; ++it) {
    const int st = it % kStages;
    const uint32_t parity = static_cast<uint32_t>(it / kStages) & 1u;
    // thread 0 refills the stage of iteration it − kLag once its readers all left it (iteration it itself
    // was issued kStages − kLag iterations ago, or in the prologue)
    if (threadIdx.x == 0 && it >= kLag && it - kLag + kStages < iters) {
      const int done = it - kLag;
      mbar_wait(&empty[done % kStages], static_cast<uint32_t>(done / kStages) & 1u);
      issue(done + kStages);
    }
    const int unit = u_begin + it * kWarps + warp;
    mbar_wait(&full[st], parity);
    uint4 q[2];
    if (unit < u_end) {
      const uint4* mine = ring[st] + warp * 64 + lane;  // this warp's unit: 2 chunks of 32 lanes × 16 bytes
      q[0] = mine[0];
      q[1] = unit * 2 + 1 < chunks ? mine[32] : make_uint4(0, 0, 0, 0);
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(&empty[st]);
    if (unit < u_end) unit_product<A, ASYM, NT, SPAN>(p, q, unit, chunks, tile_scales, tile_zeros, xrow, has, g, i, acc);
  }
  if constexpr (SPLIT) split_epilogue<A, NT, F32OUT>(p, acc, red);
  else epilogue<A, NT, F32OUT>(p, acc, red);
}

struct Launch6 {
  const Args& p;
  int64_t row_tiles;
  cudaStream_t st;
  int span, splits;
  template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN>
  void go() const {
    const dim3 block(kWarps * 32);
    if (splits > 1) kernel6<A, ASYM, NT, F32OUT, SPAN, true><<<dim3(static_cast<unsigned>(row_tiles), splits), block, 0, st>>>(p);
    else kernel6<A, ASYM, NT, F32OUT, SPAN, false><<<dim3(static_cast<unsigned>(row_tiles)), block, 0, st>>>(p);
  }
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    if (span == 128) go<A, ASYM, NT, F32OUT, 128>();
    else if (span == 64) go<A, ASYM, NT, F32OUT, 64>();
    else go<A, ASYM, NT, F32OUT, 32>();
  }
};

template <bool PREFETCH>
struct Launch {
  const Args& p;
  int64_t row_tiles;
  cudaStream_t st;
  int span, splits;
  template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN>
  void go() const {
    const dim3 block(kWarps * 32);
    if (splits > 1) kernel<A, ASYM, NT, F32OUT, SPAN, PREFETCH, true><<<dim3(static_cast<unsigned>(row_tiles), splits), block, 0, st>>>(p);
    else kernel<A, ASYM, NT, F32OUT, SPAN, PREFETCH, false><<<dim3(static_cast<unsigned>(row_tiles)), block, 0, st>>>(p);
  }
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    if (span == 128) go<A, ASYM, NT, F32OUT, 128>();
    else if (span == 64) go<A, ASYM, NT, F32OUT, 64>();
    else go<A, ASYM, NT, F32OUT, 32>();
  }
};

struct Occupancy {
  int span;
  bool split;
  int* out;
  template <Act A, bool ASYM, int NT, bool F32OUT, int SPAN>
  void q() const {
    if (split) cudaOccupancyMaxActiveBlocksPerMultiprocessor(out, kernel<A, ASYM, NT, F32OUT, SPAN, true, true>, kWarps * 32, 0);
    else cudaOccupancyMaxActiveBlocksPerMultiprocessor(out, kernel<A, ASYM, NT, F32OUT, SPAN, true, false>, kWarps * 32, 0);
  }
  template <Act A, bool ASYM, int NT, bool F32OUT>
  void run() const {
    if (span == 128) q<A, ASYM, NT, F32OUT, 128>();
    else if (span == 64) q<A, ASYM, NT, F32OUT, 64>();
    else q<A, ASYM, NT, F32OUT, 32>();
  }
};

// a span must lie inside one group: 128 where groups are multiples of 128 or one per row, else 64 or 32
int span_of(const Args& p) { return p.groups == 1 || p.group % 128 == 0 ? 128 : p.group % 64 == 0 ? 64 : 32; }
}  // namespace

void launch_v3(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, cudaStream_t st) {
  dispatch(Launch<false>{p, row_tiles, st, span_of(p), 1}, act, asym, f32_out, nt);
}

int blocks_per_sm_v4(const Args& p, Act act, bool asym, bool f32_out, int nt, bool split) {
  int n = 0;
  dispatch(Occupancy{span_of(p), split, &n}, act, asym, f32_out, nt);
  return n;
}

void launch_v4(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, int splits, bool prefetch, cudaStream_t st) {
  if (prefetch) dispatch(Launch<true>{p, row_tiles, st, span_of(p), splits}, act, asym, f32_out, nt);
  else dispatch(Launch<false>{p, row_tiles, st, span_of(p), splits}, act, asym, f32_out, nt);
}

void launch_v6(const Args& p, Act act, bool asym, bool f32_out, int nt, int64_t row_tiles, int splits, cudaStream_t st) {
  dispatch(Launch6{p, row_tiles, st, span_of(p), splits}, act, asym, f32_out, nt);
}

}  // namespace vernier::cuda::w4
