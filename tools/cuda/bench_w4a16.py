#!/usr/bin/env python3
"""vernier's W4A16 kernel beside torch's products, in one process on the GPU machine.

Every product is timed the same way: a CUDA graph of calls that rotate over copies of the weights larger
together than 8 × the L2 (so the weights come from HBM, as in decoding), replayed 25 times, each replay
timed with CUDA events; the figure is the median replay time over the number of calls. The read bandwidth
is measured in the same run (a sum over a 4 GiB buffer: bytes read over time), and so is the copy bandwidth.

Peers: torch bf16 and fp16 F.linear (cuBLAS), torch's int4 tinygemm (_weight_int4pack_mm, g128, bf16),
torch._scaled_mm FP8 E4M3 with per-tensor scales. vernier: W4A16 g128 (symmetric and with zero points) with
bf16 and fp16 activations, 16-bit outputs. Also checks vernier's output against a float32 product of the
dequantized weights (relative error) on every shape.

    python3 tools/cuda/bench_w4a16.py --lib build/cuda-dev/libvernier_cuda_capi.so [--json out.json]
"""
import argparse
import ctypes
import json
import math
import statistics
import sys

import torch

L2_BYTES = 60 * 1024 * 1024


def load(lib_path):
    lib = ctypes.CDLL(lib_path)
    vp, i64, cp = ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p
    lib.vw4_create.restype = vp
    lib.vw4_create.argtypes = [vp, vp, vp, vp, i64, i64, i64, cp, ctypes.c_int]
    lib.vw4_clone.restype = vp
    lib.vw4_clone.argtypes = [vp, cp, ctypes.c_int]
    lib.vw4_multiply.restype = ctypes.c_int
    lib.vw4_multiply.argtypes = [vp, vp, ctypes.c_int, i64, vp, ctypes.c_int, vp, ctypes.c_int, cp, ctypes.c_int]
    lib.vw4_versions.restype = ctypes.c_int
    lib.vw4_default_version.restype = ctypes.c_int
    lib.vw4_bytes.restype = ctypes.c_uint64
    lib.vw4_bytes.argtypes = [vp]
    lib.vw4_destroy.argtypes = [vp]
    lib.vwo_create.restype = vp
    lib.vwo_create.argtypes = [ctypes.c_int, vp, vp, vp, vp, vp, i64, ctypes.c_float, i64, i64, i64, ctypes.c_int, cp, ctypes.c_int]
    lib.vwo_clone.restype = vp
    lib.vwo_clone.argtypes = [vp, cp, ctypes.c_int]
    lib.vwo_multiply.restype = ctypes.c_int
    lib.vwo_multiply.argtypes = [vp, vp, ctypes.c_int, i64, vp, ctypes.c_int, vp, ctypes.c_int, cp, ctypes.c_int]
    lib.vwo_versions.restype = ctypes.c_int
    lib.vwo_bytes.restype = ctypes.c_uint64
    lib.vwo_bytes.argtypes = [vp]
    lib.vwo_destroy.argtypes = [vp]
    lib.vwo_dynamic8_map.argtypes = [vp]
    return lib


def timed_graph(calls, reps=25):
    """calls: list of zero-argument functions (one per rotating copy). Returns median seconds per call."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for f in calls:  # warm-up outside the graph (allocations, handles)
            f()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    per_graph = max(len(calls), 64 // len(calls) * len(calls))
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for j in range(per_graph):
            calls[j % len(calls)]()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        graph.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3 / per_graph)
    return statistics.median(times)


def copies_for(nbytes):
    return max(2, math.ceil(8 * L2_BYTES / nbytes) + 1)


def event_median(f, reps=20):
    """Median seconds of f() over reps calls, each between two CUDA events."""
    f()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        f()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def bandwidths():
    n = 4 << 30
    buf = torch.ones(n // 4, device="cuda", dtype=torch.float32)
    read = n / event_median(lambda: torch.sum(buf))
    dst = torch.empty_like(buf)
    copy = 2 * n / event_median(lambda: dst.copy_(buf))
    del buf, dst
    torch.cuda.empty_cache()
    return read, copy


class Vernier:
    def __init__(self, lib, codes, scales, zeros, group, copies):
        self.lib = lib
        err = ctypes.create_string_buffer(512)
        n, k = codes.shape
        c = codes.contiguous().cpu().numpy()
        s = scales.contiguous().float().cpu().numpy()
        z = zeros.contiguous().cpu().numpy() if zeros is not None else None
        h = lib.vw4_create(c.ctypes.data, s.ctypes.data, z.ctypes.data if z is not None else None, None, n, k, group, err, 512)
        if not h:
            raise RuntimeError(err.value.decode())
        self.handles = [h]
        for _ in range(copies - 1):
            h2 = lib.vw4_clone(h, err, 512)
            if not h2:
                raise RuntimeError(err.value.decode())
            self.handles.append(h2)
        self.bytes = lib.vw4_bytes(h)
        self.n = n

    def call(self, j, x, y, act, version=0):
        err = ctypes.create_string_buffer(512)
        stream = torch.cuda.current_stream().cuda_stream
        if self.lib.vw4_multiply(self.handles[j], x.data_ptr(), act, x.shape[0], y.data_ptr(), 0, ctypes.c_void_p(stream), version, err, 512):
            raise RuntimeError(err.value.decode())

    def close(self):
        for h in self.handles:
            self.lib.vw4_destroy(h)


NF4_LEVELS = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
              -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
              0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]


class VernierWo:
    """The weight-only GEMV (INT8, FP8 E4M3, NF4) on one random matrix; `deq` is its float32 dequantized form."""
    FORMATS = {"int8": 0, "fp8": 1, "nf4": 2}

    def __init__(self, lib, fmt, n, k, group, copies, dq=False):
        self.lib, self.n = lib, n
        err = ctypes.create_string_buffer(512)
        ng = n * (1 if group == 0 else k // group)
        g = k if group == 0 else group
        scales = zeros = dq_codes = dq_absmax = None
        dq_offset = 0.0
        if fmt == "int8":  # symmetric per channel or group: codes q, w = s·q
            q = torch.randint(-127, 128, (n, k), dtype=torch.int8, device="cuda")
            codes = q.view(torch.uint8)
            scales = torch.rand(n, ng // n, device="cuda") * 0.002 + 0.0002
            self.deq = q.float() * scales.repeat_interleave(g, 1)
        elif fmt == "fp8":
            w = (torch.randn(n, k, device="cuda") * 100).clamp(-448, 448)  # E4M3's range (torch's cast makes NaN beyond it)
            codes = w.to(torch.float8_e4m3fn).view(torch.uint8)
            scales = torch.rand(n, ng // n, device="cuda") * 0.0002 + 0.00002
            self.deq = codes.view(torch.float8_e4m3fn).float() * scales.repeat_interleave(g, 1)
        else:  # NF4, blocks of `group`, QLoRA's double quantization when dq
            codes = torch.randint(0, 16, (n, k), dtype=torch.uint8, device="cuda")
            absmax = torch.rand(ng, device="cuda") * 0.05 + 0.01
            if dq:
                dq_offset = float(absmax.mean())
                blocks = (ng + 255) // 256
                dq_absmax = torch.rand(blocks, device="cuda") * 0.03 + 0.01
                dq_codes = torch.randint(0, 256, (ng,), dtype=torch.uint8, device="cuda")
                absmax = None
            levels = torch.tensor(NF4_LEVELS, device="cuda")
        c = codes.contiguous().cpu().numpy()
        arr = lambda t: t.contiguous().cpu().numpy() if t is not None else None  # noqa: E731
        s_, z_, dc_, da_ = arr(scales if fmt != "nf4" else (absmax.view(n, -1) if absmax is not None else None)), arr(zeros), arr(dq_codes), arr(dq_absmax)
        ptr = lambda a: a.ctypes.data if a is not None else None  # noqa: E731
        h = lib.vwo_create(self.FORMATS[fmt], ptr(c), ptr(s_), ptr(z_), ptr(dc_), ptr(da_), 256, dq_offset, n, k, group, 1, err, 512)
        if not h:
            raise RuntimeError(err.value.decode())
        if fmt == "nf4":
            if dq:  # the absmax the kernel decodes: the 8-bit dynamic map's value times the block's absmax, plus the offset
                table = (ctypes.c_float * 256)()
                lib.vwo_dynamic8_map(table)
                dmap = torch.tensor(list(table), device="cuda")
                absmax = dmap[dq_codes.long()] * dq_absmax.repeat_interleave(256)[:ng] + dq_offset
            self.deq = levels[codes.long()] * absmax.view(n, -1).repeat_interleave(g, 1)
        self.handles = [h]
        for _ in range(copies - 1):
            h2 = lib.vwo_clone(h, err, 512)
            if not h2:
                raise RuntimeError(err.value.decode())
            self.handles.append(h2)
        self.bytes = lib.vwo_bytes(h)

    def call(self, j, x, y, act, version=0):
        err = ctypes.create_string_buffer(512)
        stream = torch.cuda.current_stream().cuda_stream
        if self.lib.vwo_multiply(self.handles[j], x.data_ptr(), act, x.shape[0], y.data_ptr(), 0, ctypes.c_void_p(stream), version, err, 512):
            raise RuntimeError(err.value.decode())

    def close(self):
        for h in self.handles:
            self.lib.vwo_destroy(h)
        del self.deq


def row(results, shape, m, name, seconds, weight_bytes, flops, read_bw, bf16_s):
    r = {"n": shape[0], "k": shape[1], "m": m, "kernel": name, "us": seconds * 1e6, "tflops": flops / seconds / 1e12,
         "weight_gbs": weight_bytes / seconds / 1e9, "pct_read_bw": 100 * weight_bytes / seconds / read_bw,
         "vs_bf16": (bf16_s / seconds) if bf16_s else None}
    results.append(r)
    print(f"{shape[0]:>6} x {shape[1]:<6} m {m:<4} {name:<26} {r['us']:9.1f} us {r['tflops']:8.1f} TFLOP/s "
          f"{r['weight_gbs']:7.0f} GB/s {r['pct_read_bw']:5.1f}% read bw  x{r['vs_bf16'] or 0:5.2f} bf16", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--json")
    ap.add_argument("--shapes", default="8192x8192,14336x4096,4096x14336,28672x8192")
    ap.add_argument("--batches", default="1,16,64,256")
    ap.add_argument("--versions", help="vernier kernel versions to time (default: all)")
    ap.add_argument("--wo", default="int8:0,int8:128,fp8:0,nf4:64:dq",
                    help="weight-only GEMVs to time, FORMAT:GROUP[:dq] (GROUP 0: per channel); empty: none")
    ap.add_argument("--w4-group", type=int, default=128, help="W4A16 group size (32: GGUF Q4_0's layout on the GPU)")
    ap.add_argument("--wo-batches", default="1,4,16", help="batch sizes for the weight-only GEMVs")
    args = ap.parse_args()
    lib = load(args.lib)
    torch.manual_seed(0)
    read_bw, copy_bw = bandwidths()
    print(f"device {torch.cuda.get_device_name()}: read bandwidth {read_bw / 1e9:.0f} GB/s, copy {copy_bw / 1e9:.0f} GB/s (read + written)")
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    results, checks, notes = [], [], []
    latest, default = lib.vw4_versions(), lib.vw4_default_version()
    versions = [int(v) for v in args.versions.split(",")] if args.versions else list(range(1, latest + 1))
    group = args.w4_group
    for (n, k) in shapes:
        # one random W4 g128 matrix, its dequantized form for the peers and the check
        codes = torch.randint(0, 16, (n, k), dtype=torch.uint8, device="cuda")
        scales = (torch.rand(n, k // group, device="cuda") * 0.02 + 0.002).half()
        zeros = torch.randint(0, 16, (n, k // group), dtype=torch.uint8, device="cuda")
        deq = ((codes.float() - zeros.float().repeat_interleave(group, 1)) * scales.float().repeat_interleave(group, 1))
        w_bf16 = deq.to(torch.bfloat16)
        w_f16 = deq.half()
        bf16_copies = [w_bf16] + [w_bf16.clone() for _ in range(copies_for(w_bf16.numel() * 2) - 1)]
        f16_copies = [w_f16] + [w_f16.clone() for _ in range(copies_for(w_f16.numel() * 2) - 1)]
        v_asym = Vernier(lib, codes, scales, zeros, group, copies_for(n * k // 2))
        v_sym = Vernier(lib, codes, scales, None, group, copies_for(n * k // 2))
        # tinygemm: int4 codes packed its way, bf16 scales and zeros ([K/G, N, 2]; w = (q − 8)·s + zero_term)
        tiny = None
        try:
            packed = (codes[:, ::2] << 4 | codes[:, 1::2]).contiguous()
            wp = torch._convert_weight_to_int4pack(packed, 8)
            s_b = scales.to(torch.bfloat16)
            # tinygemm dequantizes (q − 8)·s + z′: z′ = (8 − zero)·s gives s·(q − zero)
            zp = ((8 - zeros.float()) * scales.float()).to(torch.bfloat16)
            sz = torch.stack([s_b, zp], dim=2).transpose(0, 1).contiguous()
            tiny = ([wp] + [wp.clone() for _ in range(copies_for(wp.numel() * wp.element_size()) - 1)], sz)
        except Exception as e:  # noqa: BLE001 - report, never fake
            notes.append(f"tinygemm unavailable at {n}x{k}: {e}")
        bf16_at = {}
        fp8 = None
        try:
            w8 = w_bf16.to(torch.float8_e4m3fn)
            fp8 = [w8] + [w8.clone() for _ in range(copies_for(w8.numel()) - 1)]
        except Exception as e:  # noqa: BLE001
            notes.append(f"fp8 unavailable: {e}")
        for m in batches:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            xh = x.half()
            flops = 2.0 * m * n * k
            yb = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
            yh = torch.empty(m, n, device="cuda", dtype=torch.float16)
            bf16_s = timed_graph([lambda w=w: torch.nn.functional.linear(x, w) for w in bf16_copies])
            bf16_at[m] = bf16_s
            row(results, (n, k), m, "torch bf16 F.linear", bf16_s, n * k * 2, flops, read_bw, bf16_s)
            s = timed_graph([lambda w=w: torch.nn.functional.linear(xh, w) for w in f16_copies])
            row(results, (n, k), m, "torch fp16 F.linear", s, n * k * 2, flops, read_bw, bf16_s)
            if tiny:
                try:
                    s = timed_graph([lambda w=w: torch._weight_int4pack_mm(x, w, group, tiny[1]) for w in tiny[0]])
                    row(results, (n, k), m, f"torch int4 tinygemm g{group}", s, tiny[0][0].numel() * tiny[0][0].element_size() + tiny[1].numel() * 2,
                        flops, read_bw, bf16_s)
                except Exception as e:  # noqa: BLE001
                    notes.append(f"tinygemm failed at {n}x{k} m {m}: {e}")
            if fp8:
                try:
                    mp = max(16, (m + 15) // 16 * 16)
                    x8 = torch.zeros(mp, k, device="cuda", dtype=torch.float8_e4m3fn)
                    x8[:m] = x.to(torch.float8_e4m3fn)
                    one = torch.ones((), device="cuda")
                    s = timed_graph([lambda w=w: torch._scaled_mm(x8, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16) for w in fp8])
                    row(results, (n, k), m, "torch fp8 _scaled_mm" + ("" if mp == m else f" (m→{mp})"), s, n * k, flops, read_bw, bf16_s)
                except Exception as e:  # noqa: BLE001
                    notes.append(f"_scaled_mm failed at {n}x{k} m {m}: {e}")
            for v, name in ((v_sym, f"vernier w4a16 g{group} sym"), (v_asym, f"vernier w4a16 g{group} asym")):
                for act, xx, yy, an in ((0, x, yb, "bf16"), (1, xh, yh, "fp16")):
                    for ver in versions:
                        if ver != default and not (act == 0 and v is v_asym):
                            continue  # other versions: one line per shape, for the lab's record
                        s = timed_graph([lambda j=j: v.call(j, xx, yy, act, ver) for j in range(len(v.handles))])
                        row(results, (n, k), m, f"{name} {an} v{ver}", s, v.bytes, flops, read_bw, bf16_s)
            # accuracy on this shape: vernier (asym, 16-bit out) against float32 over the dequantized weights
            for act, xx, yy, an in ((0, x, yb, "bf16"), (1, xh, yh, "fp16")):
                yy.fill_(float("nan"))
                v_asym.call(0, xx, yy, act, 0)
                torch.cuda.synchronize()
                ref = xx.float() @ deq.t()
                rel = (torch.linalg.norm(yy.float() - ref) / torch.linalg.norm(ref)).item()
                checks.append({"n": n, "k": k, "m": m, "act": an, "rel_error": rel, "nan": bool(torch.isnan(yy).any().item())})
        v_asym.close()
        v_sym.close()
        del bf16_copies, f16_copies, tiny, fp8, deq, w_bf16, w_f16
        torch.cuda.empty_cache()
        for spec in [w for w in args.wo.split(",") if w]:
            parts = spec.split(":")
            fmt, wgroup, dq = parts[0], int(parts[1]), len(parts) > 2 and parts[2] == "dq"
            wo = VernierWo(lib, fmt, n, k, wgroup, copies_for(n * k if fmt != "nf4" else n * k // 2), dq)
            name = f"vernier {fmt} {'chan' if wgroup == 0 else ('b' if fmt == 'nf4' else 'g') + str(wgroup)}{' dq' if dq else ''}"
            for m in [int(b) for b in args.wo_batches.split(",")]:
                for act, dt, an in ((0, torch.bfloat16, "bf16"), (1, torch.float16, "fp16")):
                    if act == 1 and m != 1:
                        continue
                    x = torch.randn(m, k, device="cuda").to(dt)
                    y = torch.empty(m, n, device="cuda", dtype=dt)
                    times = {ver: timed_graph([lambda j=j, ver=ver: wo.call(j, x, y, act, ver) for j in range(len(wo.handles))])
                             for ver in range(1, lib.vwo_versions() + 1)}
                    if m not in bf16_at:
                        xb = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                        wb = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(copies_for(n * k * 2))]
                        bf16_at[m] = timed_graph([lambda w=w: torch.nn.functional.linear(xb, w) for w in wb])
                        row(results, (n, k), m, "torch bf16 F.linear", bf16_at[m], n * k * 2, 2.0 * m * n * k, read_bw, bf16_at[m])
                        del wb
                    for ver, s in times.items():
                        row(results, (n, k), m, f"{name} {an} v{ver}", s, wo.bytes, 2.0 * m * n * k, read_bw, bf16_at[m])
                    for ver in (sorted(times) if m in (1, 4) else []):
                        y.fill_(float("nan"))
                        wo.call(0, x, y, act, ver)
                        torch.cuda.synchronize()
                        ref = x.float() @ wo.deq.t()
                        rel = (torch.linalg.norm(y.float() - ref) / torch.linalg.norm(ref)).item()
                        checks.append({"n": n, "k": k, "m": m, "act": an, "kernel": f"{name} v{ver}", "rel_error": rel, "nan": bool(torch.isnan(y).any().item())})
            wo.close()
            del wo
            torch.cuda.empty_cache()
    print("accuracy (vernier, 16-bit out, vs float32 of the dequantized weights; W4A16: asym g128):")
    for c in checks:
        print(f"  {c.get('kernel', 'w4a16 asym g128'):<22} {c['n']} x {c['k']} m {c['m']} {c['act']}: relative error {c['rel_error']:.2e}{' NaN!' if c['nan'] else ''}")
    for note in notes:
        print("note:", note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "read_bw": read_bw, "copy_bw": copy_bw, "results": results,
                       "checks": checks, "notes": notes}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
