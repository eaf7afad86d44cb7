"""Files vernier writes, read by the third-party readers: llama.cpp's `gguf` package and `safetensors`.

Each GGUF vernier writes is opened with gguf.GGUFReader and compared with what vernier meant to write:
the tensors of the source model, read independently here with numpy (llama2.c offsets, safetensors,
with llama.cpp's Q/K permutation re-implemented in numpy), cast with numpy/ml_dtypes for F16/BF16;
metadata keys and values against the source or llama.cpp's own files. Each safetensors file vernier
writes is loaded with safetensors.numpy and compared with the original checkpoint.
"""
import json
import os
import sys
import tempfile

import gguf
import ml_dtypes
import numpy as np
from safetensors.numpy import load_file

from interop_common import SHARED, Tally, vernier

_tally = Tally()
check = _tally.check


def reader_tensors(path):
    r = gguf.GGUFReader(path)
    return r, {t.name: t for t in r.tensors}


def permute(w, n_head):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def cast(a, out_type):
    if out_type == "f16":
        return a.astype(np.float16)
    if out_type == "bf16":
        return a.astype(ml_dtypes.bfloat16)
    return a.astype(np.float32)


def llama2c_arrays(path):
    """Reads a legacy llama2.c checkpoint with numpy: GGUF name → [out, in] float32 array."""
    raw = np.fromfile(path, dtype=np.uint8)
    dim, hidden, layers, heads, kv_heads, vocab, seq = np.frombuffer(raw[:28].tobytes(), dtype=np.int32)
    f = np.frombuffer(raw[28:].tobytes(), dtype=np.float32)
    kv_dim = dim // heads * kv_heads
    pos = 0
    out = {}

    def take(n, shape):
        nonlocal pos
        a = f[pos:pos + n].reshape(shape)
        pos += n
        return a
    out["token_embd.weight"] = take(abs(vocab) * dim, (abs(vocab), dim))
    for role, shape in [("attn_norm", (dim,)), ("attn_q", (dim, dim)), ("attn_k", (kv_dim, dim)),
                        ("attn_v", (kv_dim, dim)), ("attn_output", (dim, dim)), ("ffn_norm", (dim,)),
                        ("ffn_gate", (hidden, dim)), ("ffn_down", (dim, hidden)), ("ffn_up", (hidden, dim))]:
        for layer in range(layers):
            out[f"blk.{layer}.{role}.weight"] = take(int(np.prod(shape)), shape)
    out["output_norm.weight"] = take(dim, (dim,))
    out["output.weight"] = out["token_embd.weight"]
    return out


def hf_arrays(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    st = load_file(os.path.join(model_dir, "model.safetensors"))
    out = {}
    m = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for k, v in st.items():
        if k in ("lm_head.weight", "model.embed_tokens.weight"):
            out["token_embd.weight"] = v
        elif k == "model.norm.weight":
            out["output_norm.weight"] = v
        else:
            parts = k.split(".")
            name = f"blk.{parts[2]}.{m['.'.join(parts[3:-1])]}.weight"
            if name.endswith("attn_q.weight"):
                v = permute(v, cfg["num_attention_heads"])
            elif name.endswith("attn_k.weight"):
                v = permute(v, cfg["num_key_value_heads"])
            out[name] = v
    return out


def compare_gguf_with_arrays(label, path, arrays, out_type):
    r, tensors = reader_tensors(path)
    check(f"{label}: tensor names", set(tensors) == set(arrays), f"{sorted(set(tensors) ^ set(arrays))[:5]}")
    info = json.loads(vernier("inspect", path, "--json", "--metadata"))
    meant = {t["name"]: t for t in info["tensors"]}
    for name, a in arrays.items():
        t = tensors.get(name)
        if t is None:
            continue
        want = cast(a, out_type if a.ndim == 2 else "f32")
        check(f"{label}: {name} shape", list(t.shape[::-1]) == list(want.shape) or list(t.shape) == list(want.shape[::-1]))
        check(f"{label}: {name} type", t.tensor_type.name == meant[name]["type"], f"{t.tensor_type.name} vs {meant[name]['type']}")
        check(f"{label}: {name} bytes", np.asarray(t.data).tobytes() == want.tobytes())
    keys = {k for k in r.fields if not k.startswith("GGUF.")}
    check(f"{label}: metadata keys", keys == set(info["metadata"]), f"{sorted(keys ^ set(info['metadata']))}")


def main():
    if not SHARED or not os.path.isdir(SHARED):
        print(f"SKIP: shared data not found at '{SHARED}'; set VERNIER_SHARED_DIR")
        return 77
    tmp = tempfile.mkdtemp()
    stories = os.path.join(SHARED, "models/stories260K/stories260K.bin")
    tiny = os.path.join(SHARED, "models/TinyStories-656K")
    golden = os.path.join(SHARED, "golden/runtime/stories260K-F32.llamacpp.gguf")

    # llama2.c → GGUF in each float type
    for t in ["f32", "f16", "bf16"]:
        out = os.path.join(tmp, f"stories-{t}.gguf")
        vernier("convert", stories, "-o", out, "--type", t, "--quiet")
        compare_gguf_with_arrays(f"stories260K→gguf {t}", out, llama2c_arrays(stories), t)
    # … with llama.cpp's tokenizer and llama.* metadata
    r, _ = reader_tensors(os.path.join(tmp, "stories-f32.gguf"))
    g, _ = reader_tensors(golden)
    for k, f in g.fields.items():
        if k.startswith("tokenizer.") or (k.startswith("llama.") and k != "llama.context_length"):
            check(f"stories260K metadata {k}", k in r.fields and r.fields[k].contents() == f.contents())
    check("stories260K context_length is the checkpoint's", r.fields["llama.context_length"].contents() == 512)

    # Hugging Face → GGUF (Q/K permuted as llama.cpp does) and → safetensors
    for t in ["f32", "f16"]:
        out = os.path.join(tmp, f"tiny-{t}.gguf")
        vernier("convert", tiny, "-o", out, "--type", t, "--quiet")
        compare_gguf_with_arrays(f"TinyStories→gguf {t}", out, hf_arrays(tiny), t)
    st_out = os.path.join(tmp, "tiny.safetensors")
    vernier("convert", tiny, "-o", st_out, "--quiet")
    orig = load_file(os.path.join(tiny, "model.safetensors"))
    back = load_file(st_out)
    for k, v in orig.items():
        name = "model.embed_tokens.weight" if k == "lm_head.weight" else k
        check(f"safetensors {name}", name in back and back[name].dtype == v.dtype and np.array_equal(back[name], v))
    # GGUF → safetensors → the same arrays
    st2 = os.path.join(tmp, "from-gguf.safetensors")
    vernier("convert", os.path.join(tmp, "tiny-f32.gguf"), "-o", st2, "--quiet")
    back2 = load_file(st2)
    check("gguf→safetensors tensors", all(np.array_equal(back2["model.embed_tokens.weight" if k == "lm_head.weight" else k], v)
                                         for k, v in orig.items()))

    # GGUF → GGUF copies of llama.cpp's files: the reader sees the same metadata and tensors
    every_gguf = sorted(os.path.relpath(os.path.join(d, f), SHARED) for d, _, fs in os.walk(SHARED)
                        for f in fs if f.endswith(".gguf"))
    check("shared GGUF files found", len(every_gguf) >= 30, str(len(every_gguf)))
    for rel in every_gguf:
        src = os.path.join(SHARED, rel)
        out = os.path.join(tmp, "copy.gguf")
        vernier("convert", src, "-o", out, "--force", "--quiet")
        a, ta = reader_tensors(src)
        b, tb = reader_tensors(out)
        check(f"copy {rel}: metadata", {k: str(f.contents()) for k, f in a.fields.items()} ==
              {k: str(f.contents()) for k, f in b.fields.items()})
        check(f"copy {rel}: tensors", list(ta) == list(tb) and all(
            ta[n].tensor_type == tb[n].tensor_type and list(ta[n].shape) == list(tb[n].shape) and
            ta[n].data.tobytes() == tb[n].data.tobytes() for n in ta))
    # dequantizing each golden file gives the values of gguf-py's own dequantizers (gguf.quants)
    for rel in sorted(os.listdir(os.path.join(SHARED, "golden/ggml/pure"))):
        src = os.path.join(SHARED, "golden/ggml/pure", rel)
        out = os.path.join(tmp, "deq.gguf")
        vernier("convert", src, "-o", out, "--type", "f32", "--force", "--quiet")
        _, ta = reader_tensors(src)
        _, tb = reader_tensors(out)
        worst = 0.0
        ok = True
        for name, t in ta.items():
            if t.tensor_type == gguf.GGMLQuantizationType.F32:
                continue
            want = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            got = np.asarray(tb[name].data).reshape(-1)
            if want.shape != got.shape:
                ok = False
                continue
            worst = max(worst, float(np.max(np.abs(want - got)) / max(1e-30, float(np.max(np.abs(want))))))
        check(f"dequantize {rel} like gguf.quants", ok and worst <= 1e-6, f"max relative difference {worst}")
    gptq_gguf_files(tmp)
    awq_gguf_files(tmp)
    return _tally.finish()


def gptq_gguf_files(tmp):
    """GGUF files made by GPTQ are ordinary llama.cpp files: the same metadata, tensor names, types and
    shapes as llama-quantize's mixture (vernier's RTN file of the same type); GPTQ's blocks differ from
    RTN's only in the block matrices; gguf.quants decodes them to the values vernier measured."""
    calib = os.path.join(SHARED, "text/tinyshakespeare.txt")
    cases = [("TinyStories-656K", os.path.join(SHARED, "models/TinyStories-656K"), "Q4_0"),
             ("input-F32", os.path.join(SHARED, "golden/ggml/input-F32.gguf"), "Q4_K_M")]
    for label, src, ftype in cases:
        rtn, gq, deq = (os.path.join(tmp, f"gptq-{label}-{k}.gguf") for k in ("rtn", "gptq", "f32"))
        vernier("quantize", src, "-o", rtn, "--type", ftype, "--force", "--quiet")
        vernier("quantize", src, "-o", gq, "--type", ftype, "--method", "gptq", "--calib", calib, "--calib-ctx", "128",
                "--calib-windows", "16", "--force", "--quiet")
        vernier("convert", gq, "-o", deq, "--type", "f32", "--force", "--quiet")
        a, ta = reader_tensors(rtn)
        b, tb = reader_tensors(gq)
        _, td = reader_tensors(deq)
        check(f"GPTQ {label} {ftype}: metadata as the RTN file's",
              {k: str(f.contents()) for k, f in a.fields.items()} == {k: str(f.contents()) for k, f in b.fields.items()})
        check(f"GPTQ {label} {ftype}: tensor names, types and shapes as the RTN file's", list(ta) == list(tb) and all(
            ta[n].tensor_type == tb[n].tensor_type and list(ta[n].shape) == list(tb[n].shape) for n in ta))
        linear = [n for n in tb if n.startswith("blk.") and not n.endswith("norm.weight")]
        others = [n for n in tb if n not in linear]
        check(f"GPTQ {label} {ftype}: every block matrix re-chosen",
              len(linear) >= 14 and all(ta[n].data.tobytes() != tb[n].data.tobytes() for n in linear), str(len(linear)))
        check(f"GPTQ {label} {ftype}: the other tensors as RTN's", all(ta[n].data.tobytes() == tb[n].data.tobytes() for n in others))
        worst = 0.0
        for n in linear:
            want = gguf.quants.dequantize(tb[n].data, tb[n].tensor_type).astype(np.float32).reshape(-1)
            got = np.asarray(td[n].data).reshape(-1)
            worst = max(worst, float(np.max(np.abs(want - got))) if want.shape == got.shape else float("inf"))
        check(f"GPTQ {label} {ftype}: gguf.quants decodes vernier's values", worst == 0.0, f"max difference {worst}")


def awq_gguf_files(tmp):
    """A GGUF file made by AWQ is an ordinary llama.cpp file: the tensors, types and shapes of the RTN file
    of the same type, the scales folded into the norms (which differ from the source's), and gguf.quants
    decodes its blocks to the values vernier measured."""
    calib = os.path.join(SHARED, "text/tinyshakespeare.txt")
    src = os.path.join(SHARED, "models/TinyStories-656K")
    rtn, aw, deq = (os.path.join(tmp, f"awq-{k}.gguf") for k in ("rtn", "awq", "f32"))
    vernier("quantize", src, "-o", rtn, "--type", "Q4_0", "--force", "--quiet")
    vernier("quantize", src, "-o", aw, "--type", "Q4_0", "--method", "awq", "--calib", calib, "--calib-ctx", "128",
            "--calib-windows", "16", "--force", "--quiet")
    vernier("convert", aw, "-o", deq, "--type", "f32", "--force", "--quiet")
    _, ta = reader_tensors(rtn)
    b, tb = reader_tensors(aw)
    _, td = reader_tensors(deq)
    check("AWQ Q4_0: tensor names, types and shapes as the RTN file's", list(ta) == list(tb) and all(
        ta[n].tensor_type == tb[n].tensor_type and list(ta[n].shape) == list(tb[n].shape) for n in ta))
    check("AWQ Q4_0: general.file_type as the RTN file's",
          str(b.fields["general.file_type"].contents()) == str(reader_tensors(rtn)[0].fields["general.file_type"].contents()))
    norms = [n for n in tb if n.startswith("blk.") and n.endswith("norm.weight")]
    check("AWQ Q4_0: the scales are folded into the block norms",
          len(norms) == 4 and all(ta[n].data.tobytes() != tb[n].data.tobytes() for n in norms), str(len(norms)))
    worst = 0.0
    for n in tb:
        want = gguf.quants.dequantize(tb[n].data, tb[n].tensor_type).astype(np.float32).reshape(-1)
        got = np.asarray(td[n].data).reshape(-1)
        worst = max(worst, float(np.max(np.abs(want - got))) if want.shape == got.shape else float("inf"))
    check("AWQ Q4_0: gguf.quants decodes vernier's values", worst == 0.0, f"max difference {worst}")


if __name__ == "__main__":
    sys.exit(main())
