"""vernier's FP16, BF16, FP8 E4M3 and E5M2 codecs against independent implementations.

ml_dtypes (the bfloat16/float8 types JAX uses) and numpy's float16 decode every code and encode a
dense sweep of float32 inputs (every value, midpoint and the floats next to each midpoint of each
format, the overflow region, specials, and random bit patterns); vernier must agree bit for bit.
ml_dtypes casts are non-saturating (overflow → Inf, or NaN for E4M3fn), so that is the mode compared
directly; the saturating mode is compared with the ml_dtypes cast of the input clipped to ±max.
NaN results are compared as NaN with the same sign (payload bits are not part of either contract).
"""
import os
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np

DUMP = os.environ["VERNIER_CODEC_DUMP"]
FORMATS = {
    "fp16": (np.float16, np.uint16),
    "bf16": (ml_dtypes.bfloat16, np.uint16),
    "fp8_e4m3": (ml_dtypes.float8_e4m3fn, np.uint8),
    "fp8_e5m2": (ml_dtypes.float8_e5m2, np.uint8),
}

failures = 0
passed = 0


def check(name, ok, detail=""):
    global failures, passed
    if ok:
        passed += 1
    else:
        failures += 1
        print(f"FAIL {name} {detail}")


def run(*args):
    subprocess.run([DUMP, *args], check=True)


def sweep(dtype, utype):
    with np.errstate(all="ignore"):
        return _sweep(dtype, utype)


def _sweep(dtype, utype):
    codes = np.arange(np.iinfo(utype).max + 1, dtype=np.uint64).astype(utype)
    vals = codes.view(dtype).astype(np.float64)
    finite = np.unique(np.abs(vals[np.isfinite(vals)]))
    nxt = np.append(finite[1:], finite[-1] * 2)  # past the top: overflow region
    mids = ((finite + nxt) / 2).astype(np.float32)
    f = finite.astype(np.float32)
    pos = np.concatenate([
        f, mids,
        np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf)),
        np.nextafter(f, np.float32(np.inf)),
        np.array([np.finfo(np.float32).max, np.finfo(np.float32).tiny, 1e-45, np.inf], dtype=np.float32),
    ])
    rng = np.random.default_rng(2024)
    rand_bits = rng.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    top = float(finite[-1])
    rand_range = rng.uniform(-1.1 * top, 1.1 * top, size=100_000).astype(np.float32)
    return np.concatenate([pos, -pos, np.array([0.0, -0.0, np.nan, -np.nan], dtype=np.float32),
                           rand_bits, rand_range]).astype(np.float32)


def same_bits(ours, theirs, dtype):
    a = ours.view(dtype).astype(np.float32)
    b = theirs.view(dtype).astype(np.float32)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    sign_a = np.signbit(a)
    sign_b = np.signbit(b)
    ok = np.where(nan_a | nan_b, nan_a & nan_b & (sign_a == sign_b), ours == theirs)
    return ok


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dtype, utype) in FORMATS.items():
            # 1. every code decodes to the same float32 (NaN to NaN with the same sign)
            out = os.path.join(tmp, f"{name}.dec")
            run("decode", name, out)
            ours = np.fromfile(out, dtype=np.float32)
            codes = np.arange(np.iinfo(utype).max + 1, dtype=np.uint64).astype(utype)
            with np.errstate(all="ignore"):
                theirs = codes.view(dtype).astype(np.float32)
            nan = np.isnan(theirs)
            ok = np.where(nan, np.isnan(ours) & (np.signbit(ours) == np.signbit(theirs)),
                          ours.view(np.uint32) == theirs.view(np.uint32))
            check(f"{name} decode all {len(codes)} codes", ok.all(),
                  f"first mismatch at code {np.argmin(ok) if not ok.all() else -1}")

            # 2. the dense sweep, non-saturating: bit for bit with the reference cast
            x = sweep(dtype, utype)
            inp = os.path.join(tmp, f"{name}.in")
            x.tofile(inp)
            enc = os.path.join(tmp, f"{name}.enc")
            run("encode", name, "nonsat", inp, enc)
            ours = np.fromfile(enc, dtype=utype)
            with np.errstate(all="ignore"):
                theirs = x.astype(dtype).view(utype)
            ok = same_bits(ours, theirs, dtype)
            bad = np.flatnonzero(~ok)
            check(f"{name} encode {len(x)} inputs (non-saturating)", ok.all(),
                  "" if ok.all() else f"x={x[bad[0]]!r} ours={ours[bad[0]]:#x} theirs={theirs[bad[0]]:#x}")

            # 3. saturating: the reference cast of the input clipped to ±max finite
            top = np.float32(float(ml_dtypes.finfo(dtype).max) if dtype is not np.float16 else 65504.0)
            run("encode", name, "sat", inp, enc)
            ours = np.fromfile(enc, dtype=utype)
            with np.errstate(all="ignore"):
                theirs = np.clip(x, -top, top).astype(dtype).view(utype)
            ok = same_bits(ours, theirs, dtype)
            bad = np.flatnonzero(~ok)
            check(f"{name} encode {len(x)} inputs (saturating)", ok.all(),
                  "" if ok.all() else f"x={x[bad[0]]!r} ours={ours[bad[0]]:#x} theirs={theirs[bad[0]]:#x}")
    print(f"{passed} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
