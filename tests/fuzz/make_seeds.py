#!/usr/bin/env python3
"""Writes the hand-made seed corpora of the fuzz targets (fuzz/, docs/reliability.md) into
tests/fuzz/seeds/<target>/: small inputs that reach each parser's branches, and the inputs of
findings fixed before (regressions). The generated seeds (models, checkpoints, imatrices made with
vernier) come from scripts/fuzz.sh at run time; these are what a generator would not think of.
Run it again after editing; the files are committed, the script is the record of how they were made."""
import json
import os
import struct
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- values: the first byte picks the parser (fuzz_values.cpp) -------------------------------------
values = {
    0: ["Q4_K_M", "q4_k", "int4-asym-g128", "nf4-b64-dq", "fp8-e4m3", "bf16", "IQ4_NL", ""],
    1: ["int4-sym-g128", "int3-asym-g32", "nf4-b64-dq", "int8-sym-channel", "fp8-e4m3-tensor", "int4-sym-g0", "int4-sym-g99999999999999999999"],
    2: ["Q4_K_M", "Q5_K_S", "Q2_K", "F16", "MOSTLY_Q4_0", "q8_0"],
    3: ["rtn", "gptq", "awq", "awq+gptq", "ggml", "GPTQ"],
    4: ["gptq", "awq", "compressed-tensors", "bitsandbytes", "marlin"],
    5: ["24GiB", "5GB", "1.5 GiB", "0", "18446744073709551615", "18446744073709551616", "1e400B", "-1GB", "nanGiB", "16EiB"],
    6: ["5GB", "2GiB", "0", "1B", "99999999999999999999GB"],
    7: ["1,2,3", "3e38,-3e38,1", "nan,inf", "1,,2", " 1 , 2 ", "0x1p-149", "1e-400"],
    8: ["7B", "70b", "1.5B", "350M", "8x7B", "0B", "1e30B", "inf"],
}
for sel, texts in values.items():
    for i, t in enumerate(texts):
        put("values", "sel%d-%d" % (sel, i), bytes([sel]) + t.encode())

# ---- hf_config: config.json beside a tiny valid model (width 64, 1 block, vocabulary 300) ----------
base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 300,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "torch_dtype": "float32"}


def cfg(**kw):
    c = dict(base)
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c)


put("hf_config", "llama.json", cfg())
put("hf_config", "gqa.json", cfg(num_key_value_heads=2))
put("hf_config", "mistral.json", cfg(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=64))
put("hf_config", "rope-llama3.json", cfg(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 64}))
put("hf_config", "rope-linear.json", cfg(rope_scaling={"type": "linear", "factor": 2.0}))
put("hf_config", "tied.json", cfg(tie_word_embeddings=True))
put("hf_config", "head-dim.json", cfg(head_dim=16))
put("hf_config", "gptq-config.json", cfg(quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": True,
                                                              "desc_act": False, "checkpoint_format": "gptq"}))
# regressions: wrong JSON types and absurd sizes must be refused by name (issue 17, item 9)
put("hf_config", "wrong-type.json", cfg(hidden_size="64"))
put("hf_config", "negative.json", cfg(num_attention_heads=-4))
put("hf_config", "zero-heads.json", cfg(num_attention_heads=0))
put("hf_config", "huge-ctx.json", cfg(max_position_embeddings=2 ** 31))
put("hf_config", "nan-eps.json", cfg().replace("1e-05", "NaN"))
put("hf_config", "neg-theta.json", cfg(rope_theta=-1.0))
put("hf_config", "no-arch.json", cfg(architectures=None))
put("hf_config", "array.json", "[1, 2, 3]")
# found by the 10-minute run of 2026-12-04: optional values of another JSON type (an object as rms_norm_eps)
put("hf_config", "eps-object.json", cfg(rms_norm_eps={"architectures": ["LlamaForCausalLM"]}))
put("hf_config", "theta-string.json", cfg(rope_theta="10000"))
put("hf_config", "tied-number.json", cfg(tie_word_embeddings=1))

# ---- tokenizer_json --------------------------------------------------------------------------------
def bpe(byte_fallback, vocab, merges, merges_as_pairs=False, added=(), pre=None, unk="<unk>"):
    m = [list(p.split(" ")) for p in merges] if merges_as_pairs else list(merges)
    return json.dumps({
        "version": "1.0",
        "added_tokens": [{"id": vocab[t], "content": t, "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for t in added],
        "normalizer": None if pre else {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": pre,
        "decoder": {"type": "ByteLevel"} if pre else {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "byte_fallback": byte_fallback,
                  "fuse_unk": True, "vocab": vocab, "merges": m},
    })


sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    sp_vocab["<0x%02X>" % b] = len(sp_vocab)
for t in ["\u2581", "O", "n", "c", "e", "u", "p", "o", "a", "t", "i", "m", "\u2581O", "nc", "\u2581Once", "\u2581u", "\u2581up", "on"]:
    sp_vocab.setdefault(t, len(sp_vocab))
put("tokenizer_json", "sentencepiece-bpe.json",
    bpe(True, sp_vocab, ["\u2581 O", "n c", "u p", "\u2581 u", "o n"], added=["<unk>", "<s>", "</s>"]))
put("tokenizer_json", "sentencepiece-pairs.json",
    bpe(True, sp_vocab, ["\u2581 O", "n c", "u p"], merges_as_pairs=True, added=["<s>", "</s>"]))
# byte fallback set but no byte tokens: unknown characters become <unk> (issue 17, item 12)
nb_vocab = {k: v for k, v in sp_vocab.items() if not k.startswith("<0x")}
nb_vocab = {k: i for i, k in enumerate(nb_vocab)}
put("tokenizer_json", "fallback-without-bytes.json", bpe(True, nb_vocab, ["\u2581 O", "n c"], added=["<unk>", "<s>", "</s>"]))
# GPT-2 style byte-level BPE
bl = [chr(c) for c in range(ord("!"), ord("~") + 1)] + [chr(c) for c in range(0xA1, 0xAD)] + [chr(c) for c in range(0xAE, 0x100)]
n = 0
for b in range(256):
    if chr(b) not in bl:
        bl.append(chr(256 + n))
        n += 1
bl_vocab = {c: i for i, c in enumerate(bl)}
for t in ["\u0120t", "he", "\u0120the", "<|endoftext|>"]:
    bl_vocab[t] = len(bl_vocab)
put("tokenizer_json", "byte-level.json", bpe(False, bl_vocab, ["\u0120 t", "h e", "\u0120t he"], added=["<|endoftext|>"],
                                              pre={"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
                                              unk=None))
put("tokenizer_json", "wrong-types.json", json.dumps({"model": {"type": "BPE", "vocab": [1, 2], "merges": {"a": 1}}}))
# found by the 10-minute run of 2026-12-04: an id past int64 (parsed as a double; converting it is
# undefined behaviour), and a fractional one
put("tokenizer_json", "huge-id.json", bpe(True, dict(sp_vocab, p=3333333333333333333333333333339), ["n c"], added=["<unk>"])
    .replace("3.3333333333333333e+30", "3333333333333333333333333333339"))
put("tokenizer_json", "fractional-id.json", json.dumps({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0.5}}}))
put("tokenizer_json", "unigram.json", json.dumps({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}))

# ---- safetensors_index: beside two valid shards (fuzz/tiny_hf.hpp) ----------------------------------
names = ["model.embed_tokens.weight"] + ["model.layers.0.%s.weight" % t for t in [
    "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]] + ["model.norm.weight", "lm_head.weight"]
good = {nm: "model-0000%d-of-00002.safetensors" % (i % 2 + 1) for i, nm in enumerate(names)}
put("safetensors_index", "good.json", json.dumps({"metadata": {"total_size": 0}, "weight_map": good}))
bad = dict(good)
bad[names[0]] = "../../etc/passwd"
put("safetensors_index", "escaping.json", json.dumps({"weight_map": bad}))
bad = dict(good)
bad[names[1]] = "model-00003-of-00002.safetensors"
put("safetensors_index", "missing-shard.json", json.dumps({"weight_map": bad}))
bad = dict(good)
bad[names[2]] = 7
put("safetensors_index", "not-a-string.json", json.dumps({"weight_map": bad}))
bad = dict(good)
bad[names[3]] = good[names[4]]
put("safetensors_index", "wrong-shard.json", json.dumps({"weight_map": bad}))
put("safetensors_index", "no-map.json", json.dumps({"metadata": {}}))

# ---- safetensors: hand-made headers ----------------------------------------------------------------
def st(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "zero-dim.safetensors", st({"w": {"dtype": "F32", "shape": [0, 128], "data_offsets": [0, 0]}}))
put("safetensors", "f16.safetensors", st({"__metadata__": {"format": "pt"}, "w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}, bytes(8)))
put("safetensors", "bf16-fp8.safetensors", st({"a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
                                               "b": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [8, 12]}}, bytes(12)))
put("safetensors", "overlap.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
put("safetensors", "overflow.safetensors", st({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}))
put("safetensors", "huge-header-length.safetensors", struct.pack("<Q", 2 ** 63) + b"{}")

# ---- gguf: a hand-written GGUF writer (the format of ggml's docs/gguf.md), small files --------------
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def gstr(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, i) for i in items)
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}[t]
    return struct.pack("<" + fmt, v)


def gguf(kv, tensors=(), version=3, align=32):
    """kv: [(key, type, value)]; tensors: [(name, dims, ggml_type, bytes)]"""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv))
    for k, t, v in kv:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    off = 0
    blobs = []
    for name, dims, ty, data in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ty, off)
        blobs.append((off, data))
        off += (len(data) + align - 1) // align * align
    out += bytes((-len(out)) % align)
    for o, data in blobs:
        out += data + bytes((-len(data)) % align)
    return out


every_type = [("u8", U8, 7), ("i8", I8, -7), ("u16", U16, 700), ("i16", I16, -700), ("u32", U32, 70000),
              ("i32", I32, -70000), ("f32", F32, 0.5), ("bool", BOOL, True), ("str", STR, "caf\u00e9 \x1b[31m"),
              ("u64", U64, 2 ** 40), ("i64", I64, -2 ** 40), ("f64", F64, 1e300),
              ("arr.i32", ARR, (I32, [1, 2, 3])), ("arr.str", ARR, (STR, ["a", "", "\x00"])),
              ("arr.nested", ARR, (ARR, [(U8, [1]), (U8, [])]))]
put("gguf", "every-value-type.gguf", gguf([("general.architecture", STR, "llama")] + [("t." + k, t, v) for k, t, v in every_type]))
put("gguf", "f32-tensor.gguf", gguf([("general.alignment", U32, 32)], [("w", [4, 2], 0, struct.pack("<8f", *range(8)))]))
put("gguf", "q8_0-tensor.gguf", gguf([], [("w", [32, 1], 8, struct.pack("<e", 0.25) + bytes(range(32)))]))
put("gguf", "version-2.gguf", gguf([("general.name", STR, "v2")], version=2))
# regressions (issue 17): a zero dimension, nested empty arrays, a huge count, an offset past the end
put("gguf", "zero-dim.gguf", gguf([], [("w", [0, 128], 0, b"")]))
put("gguf", "nested-empty.gguf", gguf([("x", ARR, (ARR, [(U8, [])] * 64))]))
put("gguf", "huge-count.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 2 ** 62))
put("gguf", "bad-offset.gguf", gguf([], [("w", [4], 0, bytes(16))])[:-8])
llama_kv = [("general.architecture", STR, "llama"), ("llama.context_length", U32, 64), ("llama.embedding_length", U32, 32),
            ("llama.block_count", U32, 1), ("llama.feed_forward_length", U32, 64), ("llama.attention.head_count", U32, 0),
            ("llama.attention.layer_norm_rms_epsilon", F32, float("nan")), ("llama.rope.freq_base", F32, -1.0)]
put("gguf", "bad-hparams.gguf", gguf(llama_kv))

# ---- llama2c: first byte even = checkpoint, odd = tokenizer.bin with the vocabulary size next -------
hdr = struct.pack("<7i", 8, 16, 1, 2, 2, 16, 4)  # dim, hidden, layers, heads, kv heads, vocab, seq_len
# embeddings, rms_att, wq wk wv wo, rms_ffn, w1 w2 w3, rms_final, freq_cis real and imaginary (seq_len × head_size/2)
n_w = 16 * 8 + 8 + 4 * 8 * 8 + 8 + 3 * 16 * 8 + 8 + 2 * 4 * 2
put("llama2c", "tiny-model.bin", b"\x00" + hdr + struct.pack("<%df" % n_w, *([0.01] * n_w)))
put("llama2c", "shared-classifier-negative-vocab.bin", b"\x00" + struct.pack("<7i", 32, 64, 1, 4, 4, -16, 8))
put("llama2c", "zero-dims.bin", b"\x00" + struct.pack("<7i", 0, 0, 0, 0, 0, 0, 0))
put("llama2c", "huge-seq-len.bin", b"\x00" + struct.pack("<7i", 32, 64, 1, 4, 4, 16, 2 ** 24))
tok = struct.pack("<i", 8)
for i, piece in enumerate([b"<unk>", b"<s>", b"</s>", b" ", b"a", b"b", b" ab", b"<0x41>"] ):
    tok += struct.pack("<fi", -float(i), len(piece)) + piece
put("llama2c", "tokenizer.bin", b"\x01" + struct.pack("<H", 8) + tok)
put("llama2c", "tokenizer-short.bin", b"\x01" + struct.pack("<H", 9) + tok)
put("llama2c", "tokenizer-negative-length.bin", b"\x01" + struct.pack("<H", 1) + struct.pack("<ifi", 4, 0.0, -5))

# ---- imatrix: llama-imatrix's GGUF and the legacy .dat ---------------------------------------------
put("imatrix", "tiny.imatrix.gguf", gguf([("general.type", STR, "imatrix"), ("imatrix.datasets", ARR, (STR, ["text"])),
                                          ("imatrix.chunk_count", U32, 2), ("imatrix.chunk_size", U32, 32)],
                                         [("blk.0.attn_q.weight.in_sum2", [4], 0, struct.pack("<4f", 1, 2, 3, 4)),
                                          ("blk.0.attn_q.weight.counts", [1], 0, struct.pack("<f", 64))]))
put("imatrix", "empty-in-sum2.gguf", gguf([], [("w.in_sum2", [0], 0, b""), ("w.counts", [1], 0, struct.pack("<f", 1))]))
put("imatrix", "negative.gguf", gguf([], [("w.in_sum2", [2], 0, struct.pack("<2f", -1, 2)), ("w.counts", [1], 0, struct.pack("<f", -3))]))


def dat(entries, tail=True):
    b = struct.pack("<i", len(entries))
    for name, ncall, vals in entries:
        b += struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", ncall, len(vals)) + struct.pack("<%df" % len(vals), *vals)
    if tail:
        b += struct.pack("<i", 2) + struct.pack("<i", 4) + b"text"
    return b


put("imatrix", "tiny.dat", dat([("blk.0.attn_q.weight", 2, [1.0, 2.0, 3.0, 4.0]), ("output.weight", 2, [0.5] * 8)]))
put("imatrix", "no-tail.dat", dat([("w", 1, [1.0])], tail=False))
put("imatrix", "nan.dat", dat([("w", 1, [float("nan"), float("inf")])]))
put("imatrix", "negative-count.dat", struct.pack("<i", -1))

# ---- hf_quant: a 4-byte length, config.json with its quantization_config, then model.safetensors ----
def ckpt(qc, tensors):
    c = dict(base)
    c["quantization_config"] = qc
    cj = json.dumps(c).encode()
    header = {}
    data = b""
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    return struct.pack("<I", len(cj)) + cj + st(header, data)


gptq = {"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": True, "desc_act": False, "checkpoint_format": "gptq"}
q = "model.layers.0.self_attn.q_proj."
put("hf_quant", "gptq-one-tensor.bin", ckpt(gptq, [(q + "qweight", "I32", [8, 64], bytes(8 * 64 * 4)),
                                                   (q + "qzeros", "I32", [2, 8], bytes(2 * 8 * 4)),
                                                   (q + "scales", "F16", [2, 64], bytes(2 * 64 * 2)),
                                                   (q + "g_idx", "I32", [64], bytes(64 * 4))]))
put("hf_quant", "gptq-bad-gidx.bin", ckpt(dict(gptq, desc_act=True), [(q + "qweight", "I32", [8, 64], bytes(8 * 64 * 4)),
                                                                     (q + "qzeros", "I32", [2, 8], bytes(2 * 8 * 4)),
                                                                     (q + "scales", "F16", [2, 64], bytes(2 * 64 * 2)),
                                                                     (q + "g_idx", "I32", [64], struct.pack("<64i", *([99] * 64)))]))
put("hf_quant", "awq-bits-3.bin", ckpt({"quant_method": "awq", "bits": 3, "group_size": 32, "zero_point": True, "version": "gemm"}, []))
put("hf_quant", "compressed-tensors.bin", ckpt({"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {
    "group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 32}}},
    "ignore": ["lm_head"]}, []))
put("hf_quant", "bnb-nf4.bin", ckpt({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                     "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "bfloat16"}, []))
put("hf_quant", "group-size-zero.bin", ckpt(dict(gptq, group_size=0), []))

print("seeds written under", root, file=sys.stderr)
