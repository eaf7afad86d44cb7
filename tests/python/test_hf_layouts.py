"""Quantized checkpoints vernier writes (GPTQ, AWQ, compressed-tensors, bitsandbytes NF4), read by the
`safetensors` package and unpacked with numpy code written from the loaders' published layouts
(GPTQModel/AutoGPTQ's qweight/qzeros/g_idx, AutoAWQ's GEMM nibble order, compressed-tensors'
pack_to_int32, bitsandbytes' QuantState) — not from vernier's code. The dequantized weights must equal,
bit for bit, what vernier itself decodes from the same checkpoint (`vernier convert DIR --type f32`).
"""
import json
import os
import struct
import sys
import tempfile

import ml_dtypes
import numpy as np
from safetensors.numpy import load_file

from interop_common import SHARED, Tally, vernier

_tally = Tally()
check = _tally.check
MODEL = os.path.join(SHARED, "models", "TinyStories-656K")


def raw_tensors(path):
    """safetensors by hand, for dtypes safetensors.numpy may not map (F8_E4M3)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = (v["dtype"], v["shape"], data[b:e])
    return out


def stream_codes(words, bits, count):
    """An LSB-first bit stream over little-endian int32 words → `count` unsigned codes."""
    b = np.ascontiguousarray(words.astype("<u4")).view(np.uint8)
    bitsarr = np.unpackbits(b, bitorder="little")[: count * bits].reshape(count, bits)
    return (bitsarr.astype(np.int64) << np.arange(bits)).sum(axis=1)


def gptq_dequant(t, prefix, cfg, shape):
    out_f, in_f = shape
    bits, g = cfg["bits"], cfg["group_size"]
    qweight, qzeros = t[prefix + ".qweight"], t[prefix + ".qzeros"]
    scales, g_idx = t[prefix + ".scales"].astype(np.float32), t[prefix + ".g_idx"]
    q = np.stack([stream_codes(qweight[:, j], bits, in_f) for j in range(out_f)])  # [out, in]
    z = np.stack([stream_codes(qzeros[k], bits, out_f) for k in range(qzeros.shape[0])])  # [groups, out]
    if cfg["checkpoint_format"] == "gptq":  # v1 stores zero - 1
        z = (z + 1) & ((1 << bits) - 1)
    w = (q - z[g_idx, :].T).astype(np.float32) * scales[g_idx, :].T
    return w


AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def awq_unpack(words, cols):
    out = np.zeros((words.shape[0], cols), dtype=np.int64)
    for wi in range(words.shape[1]):
        for n in range(8):
            out[:, 8 * wi + AWQ_ORDER[n]] = (words[:, wi].astype(np.int64) >> (4 * n)) & 15
    return out


def awq_dequant(t, prefix, cfg, shape):
    out_f, in_f = shape
    g = cfg["group_size"]
    q = awq_unpack(t[prefix + ".qweight"].view(np.uint32), out_f)  # [in, out]
    z = awq_unpack(t[prefix + ".qzeros"].view(np.uint32), out_f)  # [groups, out]
    s = t[prefix + ".scales"].astype(np.float32)
    gi = np.arange(in_f) // g
    return ((q - z[gi]).astype(np.float32) * s[gi]).T


def ct_dequant(t, prefix, cfg, shape, raw):
    out_f, in_f = shape
    grp = cfg["config_groups"]["group_0"]["weights"]
    if grp["type"] == "float":
        dt, shp, b = raw[prefix + ".weight"]
        assert dt == "F8_E4M3"
        w = np.frombuffer(b, dtype=ml_dtypes.float8_e4m3fn).reshape(shp).astype(np.float32)
        return w * t[prefix + ".weight_scale"].astype(np.float32)
    bits = grp["num_bits"]
    off = 1 << (bits - 1)
    assert list(t[prefix + ".weight_shape"]) == [out_f, in_f]
    packed = t[prefix + ".weight_packed"]
    q = np.stack([stream_codes(packed[r], bits, in_f) for r in range(out_f)]) - off  # signed codes
    s = t[prefix + ".weight_scale"].astype(np.float32)
    if grp["strategy"] == "group":
        gi = np.arange(in_f) // grp["group_size"]
    else:
        gi = np.zeros(in_f, dtype=np.int64)
    if grp["symmetric"]:
        zp = np.zeros((out_f, s.shape[-1]), dtype=np.int64)
    else:
        zpw = t[prefix + ".weight_zero_point"]
        zp = np.stack([stream_codes(zpw[:, k], bits, out_f) for k in range(zpw.shape[1])]).T - off  # [out, groups]
    if grp["strategy"] == "tensor":
        return (q - zp[:, :1]).astype(np.float32) * s.reshape(1, 1)
    return (q - zp[:, gi]).astype(np.float32) * s[:, gi]


def bnb_dequant(t, prefix, cfg, shape):
    st = json.loads(bytes(t[prefix + ".weight.quant_state.bitsandbytes__nf4"]).decode())
    assert st["quant_type"] == "nf4" and st["shape"] == list(shape)
    packed = t[prefix + ".weight"].reshape(-1)
    idx = np.empty(packed.size * 2, dtype=np.int64)
    idx[0::2] = packed >> 4  # the first element in the high nibble
    idx[1::2] = packed & 15
    qmap = t[prefix + ".weight.quant_map"]
    if "nested_offset" in st:
        nmap = t[prefix + ".weight.nested_quant_map"]
        nabs = t[prefix + ".weight.nested_absmax"]
        codes = t[prefix + ".weight.absmax"]
        blk = np.arange(codes.size) // st["nested_blocksize"]
        absmax = nmap[codes] * nabs[blk] + np.float32(st["nested_offset"])
    else:
        absmax = t[prefix + ".weight.absmax"]
    w = qmap[idx] * absmax[np.arange(idx.size) // st["blocksize"]]
    return w.reshape(shape)


def main():
    if not os.path.exists(os.path.join(MODEL, "model.safetensors")):
        print(f"SKIP: {MODEL} absent (set VERNIER_SHARED_DIR)")
        return 77
    with open(os.path.join(MODEL, "config.json")) as f:
        base = json.load(f)
    d, f_, h, kv = base["hidden_size"], base["intermediate_size"], base["num_attention_heads"], base["num_key_value_heads"]
    hd = d // h
    shapes = {"q_proj": (h * hd, d), "k_proj": (kv * hd, d), "v_proj": (kv * hd, d), "o_proj": (d, h * hd),
              "gate_proj": (f_, d), "up_proj": (f_, d), "down_proj": (d, f_)}
    cases = [("gptq", "int4-sym-g128"), ("gptq", "int4-asym-g64"), ("gptq", "int3-asym-g128"), ("gptq", "int8-sym-channel"),
             ("gptq", "int2-sym-g32"), ("awq", "int4-asym-g128"), ("awq", "int4-asym-g32"),
             ("compressed-tensors", "int4-sym-g128"), ("compressed-tensors", "int4-asym-g128"),
             ("compressed-tensors", "int8-sym-channel"), ("compressed-tensors", "int4-asym-channel"),
             ("compressed-tensors", "int8-sym-tensor"), ("compressed-tensors", "fp8_e4m3-channel"),
             ("compressed-tensors", "fp8_e4m3-tensor"), ("bnb", "nf4-b64"), ("bnb", "nf4-b64-dq"), ("bnb", "nf4-b32-dq")]
    with tempfile.TemporaryDirectory() as tmp:
        for layout, scheme in cases:
            name = f"{layout} {scheme}"
            out = os.path.join(tmp, f"{layout}-{scheme}")
            vernier("quantize", MODEL, "-o", out, "--layout", layout, "--scheme", scheme, "--quiet")
            with open(os.path.join(out, "config.json")) as f:
                cfg = json.load(f)
            qc = cfg["quantization_config"]
            check(name + " config", cfg["hidden_size"] == d and qc["quant_method"] ==
                  {"gptq": "gptq", "awq": "awq", "compressed-tensors": "compressed-tensors", "bnb": "bitsandbytes"}[layout])
            st_path = os.path.join(out, "model.safetensors")
            if layout == "compressed-tensors" and scheme.startswith("fp8"):
                raw = raw_tensors(st_path)
                t = {k: np.frombuffer(b, dtype={"F32": np.float32, "F16": np.float16}.get(dt, np.uint8)).reshape(s)
                     for k, (dt, s, b) in raw.items() if dt != "F8_E4M3"}
            else:
                raw = None
                t = load_file(st_path)  # the third-party reader
            ref_path = os.path.join(tmp, f"{layout}-{scheme}.f32.safetensors")
            vernier("convert", out, "-o", ref_path, "--type", "f32", "--quiet")
            ref = load_file(ref_path)
            layers = 0
            for key in ref:
                if not key.endswith("_proj.weight"):
                    continue
                prefix = key[: -len(".weight")]
                shape = shapes[prefix.split(".")[-1]]
                if layout == "gptq":
                    w = gptq_dequant(t, prefix, qc, shape)
                elif layout == "awq":
                    w = awq_dequant(t, prefix, qc, shape)
                elif layout == "compressed-tensors":
                    w = ct_dequant(t, prefix, qc, shape, raw)
                else:
                    w = bnb_dequant(t, prefix, qc, shape)
                same = w.shape == ref[key].shape and np.array_equal(w.astype(np.float32), ref[key])
                check(f"{name} {prefix}", same,
                      "" if same else f"max |diff| {np.max(np.abs(w - ref[key])) if w.shape == ref[key].shape else w.shape}")
                layers += 1
            check(name + " layers", layers == 2 * 7, f"{layers} layers")
            # what stays unquantized is the source's, untouched
            src = load_file(os.path.join(MODEL, "model.safetensors"))
            check(name + " norms", np.array_equal(t["model.norm.weight"], src["model.norm.weight"]))
    return _tally.finish()


if __name__ == "__main__":
    sys.exit(main())
