"""On a GPU machine: the ecosystem's own loaders read vernier's quantized checkpoints, and their logits
agree with `vernier eval` of the same checkpoint.

For each checkpoint directory under --cases (made by tests/gpu/prepare_transformers_check.sh):
  1. `vernier eval DIR --protocol windows --save-logits` gives vernier's logits and the exact tokens;
  2. the checkpoint is loaded by a third-party loader — transformers' own quantizer integration
     (compressed-tensors, bitsandbytes) or, for AWQ, AutoAWQ's WQLinear_GEMM swapped into transformers'
     LlamaForCausalLM — and run on the same tokens, window by window;
  3. KL(loader ‖ vernier) per position, the share of positions whose top-1 token agrees, and both
     perplexities go to --out as JSON.
Exits 77 (skip) without a GPU. Acceptance (issue 12): mean KLD <= 1e-4 and same top-1 >= 99.5%.
"""
import argparse
import json
import os
import subprocess
import sys
import types

import numpy as np


def read_logits(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"VRNLGT01", path
    vocab, ctx, chunks, protocol = np.frombuffer(raw[8:24], dtype="<u4")
    assert protocol == 1, "expected --protocol windows"
    tok = np.frombuffer(raw[24:24 + 4 * chunks * ctx], dtype="<i4").reshape(chunks, ctx)
    logits = np.frombuffer(raw[24 + 4 * chunks * ctx:], dtype="<f4").reshape(chunks, ctx - 1, vocab)
    return tok, logits


def load_awq_with_autoawq(ckpt, torch, awq_root):
    """transformers' LlamaForCausalLM with every quantized Linear replaced by AutoAWQ's WQLinear_GEMM."""
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM

    if awq_root:
        # import awq.modules.linear.gemm without awq/__init__.py (it pulls in model classes of transformers 4)
        pkg = types.ModuleType("awq")
        pkg.__path__ = [os.path.join(awq_root, "awq")]
        sys.modules["awq"] = pkg
    from awq.modules.linear.gemm import WQLinear_GEMM

    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    qc = cfg.pop("quantization_config")
    model = LlamaForCausalLM(LlamaConfig(**cfg)).to(torch.float16)
    sd = load_file(os.path.join(ckpt, "model.safetensors"))
    plain = {k: v for k, v in sd.items() if not k.endswith((".qweight", ".qzeros", ".scales"))}
    missing, unexpected = model.load_state_dict(plain, strict=False)
    assert not unexpected, unexpected
    for name, mod in list(model.named_modules()):
        for child, lin in list(mod.named_children()):
            full = f"{name}.{child}" if name else child
            if full + ".qweight" not in sd:
                continue
            q = WQLinear_GEMM(qc["bits"], qc["group_size"], lin.in_features, lin.out_features, lin.bias is not None, "cuda")
            q.qweight.copy_(sd[full + ".qweight"])
            q.qzeros.copy_(sd[full + ".qzeros"])
            q.scales.copy_(sd[full + ".scales"])
            setattr(mod, child, q)
    if cfg.get("tie_word_embeddings"):
        model.tie_weights()
    return model.to("cuda").eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--vernier", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--awq-root", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("SKIP: no CUDA device")
        return 77
    import transformers

    results = {"transformers": transformers.__version__, "torch": torch.__version__,
               "device": torch.cuda.get_device_name(0), "cases": []}
    try:
        import compressed_tensors
        results["compressed_tensors"] = compressed_tensors.__version__
    except Exception as e:  # noqa: BLE001
        results["compressed_tensors"] = f"not importable: {e}"
    try:
        import bitsandbytes
        results["bitsandbytes"] = bitsandbytes.__version__
    except Exception as e:  # noqa: BLE001
        results["bitsandbytes"] = f"not importable: {e}"
    ok_all = True
    for case in sorted(os.listdir(a.cases)):
        ckpt = os.path.join(a.cases, case)
        rec = {"case": case}
        try:
            logits_path = f"/tmp/{case}.logits"
            ev = subprocess.run([a.vernier, "eval", ckpt, "--text", a.text, "--protocol", "windows", "--ctx", str(a.ctx),
                                 "--save-logits", logits_path, "--force", "--json", "--quiet"], capture_output=True, text=True)
            if ev.returncode != 0:
                raise RuntimeError("vernier eval: " + ev.stderr)
            vj = json.loads(ev.stdout)
            rec["vernier_ppl"] = vj["ppl"]
            rec["vernier_resident_weight_bytes"] = vj["resident_weight_bytes"]
            tokens, vlogits = read_logits(logits_path)
            with open(os.path.join(ckpt, "config.json")) as f:
                qm = json.load(f)["quantization_config"]["quant_method"]
            if qm == "awq":
                try:
                    model = load_awq_with_autoawq(ckpt, torch, a.awq_root)
                except ImportError as e:
                    rec.update({"skipped": f"AutoAWQ not importable ({e}); pass --awq-root", "pass": True})
                    print(json.dumps(rec), flush=True)
                    results["cases"].append(rec)
                    continue
                rec["loader"] = "AutoAWQ WQLinear_GEMM in transformers LlamaForCausalLM (fp16 activations)"
                dtype = torch.float16
            else:
                from transformers import AutoModelForCausalLM
                model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, device_map="cuda").eval()
                rec["loader"] = f"transformers AutoModelForCausalLM, quantizer {type(model.hf_quantizer).__name__ if getattr(model, 'hf_quantizer', None) else '?'}"
                dtype = torch.float32
            rec["linear_class"] = type(model.model.layers[0].self_attn.q_proj).__name__
            kl, same, nll_t, nll_v, n = [], 0, 0.0, 0.0, 0
            with torch.no_grad():
                for c in range(tokens.shape[0]):
                    ids = torch.tensor(tokens[c, :-1], dtype=torch.long, device="cuda").unsqueeze(0)
                    lt = model(ids).logits[0].float()
                    lv = torch.tensor(np.array(vlogits[c]), device="cuda")
                    pt = torch.log_softmax(lt, -1)
                    pv = torch.log_softmax(lv, -1)
                    kl.append((pt.exp() * (pt - pv)).sum(-1).cpu().numpy())
                    same += int((lt.argmax(-1) == lv.argmax(-1)).sum())
                    tgt = torch.tensor(tokens[c, 1:], dtype=torch.long, device="cuda")
                    nll_t += float(-pt.gather(1, tgt[:, None]).sum())
                    nll_v += float(-pv.gather(1, tgt[:, None]).sum())
                    n += tgt.numel()
            kl = np.concatenate(kl)
            rec.update({"activations": str(dtype).replace("torch.", ""), "positions": int(n), "kld_mean": float(kl.mean()),
                        "kld_max": float(kl.max()), "same_top1": same / n, "loader_ppl": float(np.exp(nll_t / n)),
                        "vernier_ppl_recomputed": float(np.exp(nll_v / n))})
            rec["pass"] = rec["kld_mean"] <= 1e-4 and rec["same_top1"] >= 0.995
            del model
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001
            rec["error"] = f"{type(e).__name__}: {e}"[:2000]
            rec["pass"] = False
        ok_all = ok_all and rec["pass"]
        print(json.dumps(rec), flush=True)
        results["cases"].append(rec)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
