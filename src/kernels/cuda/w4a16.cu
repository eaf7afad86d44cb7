// W4Matrix (vernier/cuda_w4.hpp): the tiles on the device, and the product's dispatch to a kernel version.
//
// The kernels (w4a16_v*.cu, shared pieces in w4a16_common.cuh) share one design: a block of 8 warps per row
// tile (16 output rows); warp w takes the tile's chunks w, w + 8, … (64 columns each, 512 bytes of codes:
// one 16-byte load per lane), so a block streams its rows' codes and the 8 partial sums meet once in shared
// memory at the end (no atomics). Per chunk and lane: the 8 codes of each of its 4 mma.m16n8k16 steps are
// one word; (word >> 4r) & 0x000F000F OR-ed with the 16-bit float of 128 (bf16) or 1024 (fp16) is the pair
// (128 + u₀, 128 + u₁) exactly (the "magic number" conversion: one LOP3, no int→float), and subtracting the
// pair (128 + z, 128 + z) leaves u − z exactly. The tensor cores multiply these exact integers by the 16-bit
// activations into a float32 sum per 32 columns (two steps into a fresh accumulator), which is scaled by its
// group's FP16 scale in float32 and added to the running sums — so the weights are never rounded to 16
// bits: the only roundings are the float32 sums' (and the output's, when it is 16-bit). Activation rows go
// in n-tiles of 8 (the mma's N); up to 4 n-tiles share one pass over the codes.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "w4a16_common.cuh"

namespace vernier::cuda {

namespace {
using w4::check;

// A device copy of `bytes` from src (host or device, as `kind` says) into a fresh allocation at *dst.
void copy_in(void** dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return;
  check(cudaMalloc(dst, bytes), "cudaMalloc");
  check(cudaMemcpy(*dst, src, bytes, kind), "copy");
}

// x[b][k] of the codes' order = x_in[b][perm[k]]: the act-order gather.
__global__ void gather_columns(const uint16_t* __restrict__ x, const int32_t* __restrict__ perm, uint16_t* __restrict__ out, int64_t k,
                               int64_t m) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= k * m) return;
  const int64_t b = i / k, c = i % k;
  out[i] = x[b * k + perm[c]];
}
}  // namespace

W4Matrix::W4Matrix(const W4Tiles& t)
    : rows_(t.rows), cols_(t.cols), row_tiles_(t.row_tiles), chunks_(t.chunks), group_(t.group), groups_(t.groups), asym_(t.asym), bytes_(t.bytes()) {
  // the kernels index 32-column parts in 32 bits with a multiply-high division that is exact below 2^16 parts
  if (t.cols >= (int64_t{1} << 21)) throw std::invalid_argument("W4A16: " + std::to_string(t.cols) + " columns; the kernels take fewer than 2^21");
  if (t.row_tiles >= (int64_t{1} << 31)) throw std::invalid_argument("W4A16: too many rows for one grid");
  codes_bytes_ = t.codes.size() * 4;
  scales_bytes_ = t.scales.size() * 4;
  zeros_bytes_ = t.zeros.size() * 8;
  perm_bytes_ = t.perm.size() * 4;
  copy_in(&codes_, t.codes.data(), codes_bytes_, cudaMemcpyHostToDevice);
  copy_in(&scales_, t.scales.data(), scales_bytes_, cudaMemcpyHostToDevice);
  copy_in(&zeros_, t.zeros.data(), zeros_bytes_, cudaMemcpyHostToDevice);
  copy_in(&perm_, t.perm.data(), perm_bytes_, cudaMemcpyHostToDevice);
  alloc_scratch();
  plan_splits();
}

// Act order: the gathered activations of one pass (32 rows), allocated here so that a product allocates
// nothing (and can be captured in a CUDA graph from its first call).
void W4Matrix::alloc_scratch() {
  if (!perm_) return;
  xperm_bytes_ = static_cast<size_t>(kPassRows * cols_) * 2;
  check(cudaMalloc(&xperm_, xperm_bytes_), "cudaMalloc");
}

namespace {
// Blocks per row tile for versions 4 and 5: the fewest that fill the chip's resident slots in whole waves
// (within 5%), each split keeping at least 16 units (8 warps × 2 units of 128 columns), at most 8; the partial
// sums' traffic (512 bytes per block and n-tile, twice) counted against the gain. Only where the row tiles
// alone give fewer than 2 blocks per SM and m ≤ 8: on the H200 (2026-12-02, docs/kernels-cuda.md) splitting
// sped up 4096 × 14336 at m = 1 (23.2 → 20.5 µs) and slowed every shape with more row tiles (28672 × 8192:
// 54.8 → 70.9 µs) and m = 16 (14336 × 4096: 24.5 → 36.8 µs).
int choose_splits(int64_t row_tiles, int64_t chunks, int64_t slots, int nt, int sms) {
  if (row_tiles >= 2 * static_cast<int64_t>(sms) || nt > 1) return 1;
  const int64_t units = (chunks + 1) / 2;
  const auto score = [&](int64_t s) {
    const double blocks = static_cast<double>(row_tiles * s);
    const double waves = std::ceil(blocks / static_cast<double>(slots));
    const double overhead = s > 1 ? 2.0 * s * nt * 512 / (static_cast<double>(chunks) * 512) : 0.0;
    return blocks / (waves * static_cast<double>(slots)) / (1 + overhead);
  };
  int best = 1;
  double best_score = score(1);
  for (int s = 2; s <= 8 && units / s >= 16; ++s) {
    const double sc = score(s);
    if (sc > best_score + 0.05) {
      best = s;
      best_score = sc;
    }
  }
  return best;
}
}  // namespace

void W4Matrix::plan_splits() {
  int dev = 0, sms = 0;
  check(cudaGetDevice(&dev), "device");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "multiprocessor count");
  w4::Args p{};
  p.group = group_;
  p.groups = groups_;
  int most = 1;
  for (int a = 0; a < 2; ++a)
    for (int f = 0; f < 2; ++f)
      for (int nt = 1; nt <= 4; ++nt) {
        const Act act = a == 0 ? Act::bf16 : Act::f16;
        const int per_sm = std::max(1, w4::blocks_per_sm_v4(p, act, asym_, f != 0, nt, true));
        splits_[a][f][nt - 1] = choose_splits(row_tiles_, chunks_, static_cast<int64_t>(sms) * per_sm, nt, sms);
        most = std::max(most, splits_[a][f][nt - 1]);
      }
  alloc_splits(most);
}

void W4Matrix::alloc_splits(int most) {
  for (void** p : {&ws_, &counters_}) {
    if (*p) check(cudaFree(*p), "cudaFree");
    *p = nullptr;
  }
  if (most > 1) {
    check(cudaMalloc(&ws_, static_cast<size_t>(row_tiles_ * most) * 512 * 4), "cudaMalloc");
    check(cudaMalloc(&counters_, static_cast<size_t>(row_tiles_) * 4), "cudaMalloc");
    check(cudaMemset(counters_, 0, static_cast<size_t>(row_tiles_) * 4), "cudaMemset");
  }
}

void W4Matrix::force_splits(int splits) {
  if (splits < 1 || splits > 64) throw std::invalid_argument("W4A16: split count " + std::to_string(splits) + " is not in 1…64");
  std::fill(&splits_[0][0][0], &splits_[0][0][0] + 16, splits);
  alloc_splits(splits);
}

W4Matrix::W4Matrix(W4Matrix&& o) noexcept
    : rows_(o.rows_), cols_(o.cols_), row_tiles_(o.row_tiles_), chunks_(o.chunks_), group_(o.group_), groups_(o.groups_), asym_(o.asym_),
      bytes_(o.bytes_), codes_bytes_(o.codes_bytes_), scales_bytes_(o.scales_bytes_), zeros_bytes_(o.zeros_bytes_), perm_bytes_(o.perm_bytes_),
      codes_(o.codes_), scales_(o.scales_), zeros_(o.zeros_), perm_(o.perm_), xperm_(o.xperm_), xperm_bytes_(o.xperm_bytes_), ws_(o.ws_),
      counters_(o.counters_) {
  std::copy(&o.splits_[0][0][0], &o.splits_[0][0][0] + 16, &splits_[0][0][0]);
  o.codes_ = o.scales_ = o.zeros_ = o.perm_ = o.xperm_ = o.ws_ = o.counters_ = nullptr;
  o.xperm_bytes_ = 0;
}

W4Matrix W4Matrix::clone() const {
  W4Matrix c;
  c.rows_ = rows_;
  c.cols_ = cols_;
  c.row_tiles_ = row_tiles_;
  c.chunks_ = chunks_;
  c.group_ = group_;
  c.groups_ = groups_;
  c.asym_ = asym_;
  c.bytes_ = bytes_;
  c.codes_bytes_ = codes_bytes_;
  c.scales_bytes_ = scales_bytes_;
  c.zeros_bytes_ = zeros_bytes_;
  c.perm_bytes_ = perm_bytes_;
  copy_in(&c.codes_, codes_, codes_bytes_, cudaMemcpyDeviceToDevice);
  copy_in(&c.scales_, scales_, scales_bytes_, cudaMemcpyDeviceToDevice);
  copy_in(&c.zeros_, zeros_, zeros_bytes_, cudaMemcpyDeviceToDevice);
  copy_in(&c.perm_, perm_, perm_bytes_, cudaMemcpyDeviceToDevice);
  c.alloc_scratch();
  c.plan_splits();
  return c;
}

W4Matrix::~W4Matrix() {
  for (void* p : {codes_, scales_, zeros_, perm_, xperm_, ws_, counters_}) {
    if (p) cudaFree(p);
  }
}

void W4Matrix::multiply(const void* x, Act act, int64_t m, void* y, bool f32_out, void* stream, int version) {
  if (m < 1) throw std::invalid_argument("W4A16 multiply: m must be at least 1");
  if (version < 0 || version > kW4Versions) throw std::invalid_argument("W4A16 multiply: no kernel version " + std::to_string(version));
  if (version == 0) version = kW4Default;
  const auto st = static_cast<cudaStream_t>(stream);
  const size_t out_elem = f32_out ? 4 : 2;
  w4::Args p{};  // what every pass shares
  p.codes = static_cast<const uint4*>(codes_);
  p.scales = static_cast<const uint32_t*>(scales_);
  p.zeros = static_cast<const uint64_t*>(zeros_);
  p.n = rows_;
  p.k = cols_;
  p.chunks = chunks_;
  p.groups = groups_;
  p.group = group_;
  const uint64_t ppg = static_cast<uint64_t>(std::max<int64_t>(1, group_ / 32));  // one group per row: any, clamped to 0
  p.part_magic = ppg == 1 ? 0 : static_cast<uint32_t>(((uint64_t{1} << 32) + ppg - 1) / ppg);  // 0: the part is the group
  p.last_group = static_cast<int32_t>(groups_ - 1);
  p.ws = static_cast<float*>(ws_);
  p.counters = static_cast<unsigned*>(counters_);
  for (int64_t b0 = 0; b0 < m; b0 += kPassRows) {
    p.m = std::min<int64_t>(kPassRows, m - b0);
    const auto* xb = static_cast<const uint8_t*>(x) + static_cast<size_t>(b0 * cols_) * 2;
    if (perm_) {  // act order: this pass's rows gathered into the codes' column order
      const int64_t total = p.m * cols_;
      gather_columns<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(reinterpret_cast<const uint16_t*>(xb), static_cast<const int32_t*>(perm_),
                                                                                 static_cast<uint16_t*>(xperm_), cols_, p.m);
      check(cudaGetLastError(), "act-order gather launch");
      xb = static_cast<const uint8_t*>(xperm_);
    }
    p.x = xb;
    p.y = static_cast<uint8_t*>(y) + static_cast<size_t>(b0 * rows_) * out_elem;
    p.xvec = cols_ % 8 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
    const int nt = static_cast<int>((p.m + 7) / 8);
    if (version == 1) w4::launch_v1(p, act, asym_, f32_out, nt, row_tiles_, st);
    else if (version == 2) w4::launch_v2(p, act, asym_, f32_out, nt, row_tiles_, st);
    else if (version == 3) w4::launch_v3(p, act, asym_, f32_out, nt, row_tiles_, st);
    else if (version <= 5) w4::launch_v4(p, act, asym_, f32_out, nt, row_tiles_, splits_[act == Act::bf16 ? 0 : 1][f32_out ? 1 : 0][nt - 1], version == 4, st);
    else w4::launch_v6(p, act, asym_, f32_out, nt, row_tiles_, splits_[act == Act::bf16 ? 0 : 1][f32_out ? 1 : 0][nt - 1], st);
    check(cudaGetLastError(), "W4A16 launch");
  }
}

}  // namespace vernier::cuda
