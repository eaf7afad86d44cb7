"""Byte-level BPE, and a real SentencePiece-style BPE tokenizer.json, against Hugging Face `tokenizers`
(the reference implementation).

Trains two small byte-level BPE tokenizers with `tokenizers` on a shared text — one with GPT-2's
pre-tokenizer (ByteLevel's own regex), one with LLaMA 3's (a Split regex, then ByteLevel) — saves
each tokenizer.json, and checks that vernier's runtime tokenizer gives the same ids on several texts,
both read from tokenizer.json and after the tokenizer is written to GGUF as "gpt2" and read back.
Skips (77) where `tokenizers` or the shared texts are missing."""
import os
import subprocess
import sys
import tempfile

try:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError:
    print("SKIP: the tokenizers package is missing; run scripts/install-deps.sh")
    sys.exit(77)

DUMP = os.environ["VERNIER_TOKENIZE_DUMP"]
SHARED = os.environ.get("VERNIER_SHARED_DIR", "")
texts_dir = os.path.join(SHARED, "text")
if not os.path.isdir(texts_dir):
    print(f"SKIP: no shared texts at {texts_dir}")
    sys.exit(77)

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")

train_text = open(os.path.join(texts_dir, "tinystories-excerpt.txt"), encoding="utf-8").read()
wiki = open(os.path.join(texts_dir, "wiki.test.raw"), encoding="utf-8").read()
tricky = ("Don't  stop:  it's 2024!\n\n\tTabs\tand   spaces   \nI'LL say WE'VE 12345 items; "
          "naïve café — “quotes” ‘single’ 東京 123456789 x²+y² ½ ... ?!?\r\n\r\n  trailing   ")
samples = {"tinystories": train_text, "wiki": wiki[:300000], "tricky": tricky}


def make(kind):
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator([train_text, wiki[:200000]], trainer=trainer)
    return tok


failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for kind in ("gpt2", "llama3"):
        tok = make(kind)
        d = os.path.join(tmp, kind)
        os.makedirs(d)
        tok.save(os.path.join(d, "tokenizer.json"))
        for name, text in samples.items():
            path = os.path.join(tmp, f"{kind}-{name}.txt")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            want = tok.encode(text, add_special_tokens=False).ids
            for mode in ("hf", "gguf"):
                args = [DUMP, "hf", d, path] if mode == "hf" else [DUMP, "gguf", d, os.path.join(tmp, f"{kind}.gguf"), path]
                r = subprocess.run(args, capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"FAIL {kind} {name} {mode}: exit {r.returncode}: {r.stderr.strip()}")
                    failures += 1
                    continue
                got = [int(v) for v in r.stdout.split()]
                if got != want:
                    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
                    print(f"FAIL {kind} {name} {mode}: {len(got)} vs {len(want)} tokens, first difference at {i}: "
                          f"vernier {got[i:i + 5]} tokenizers {want[i:i + 5]} "
                          f"({tok.decode(want[max(0, i - 3):i + 3])!r})")
                    failures += 1
                else:
                    print(f"ok   {kind} {name} {mode}: {len(got)} tokens identical")
# A real SentencePiece-style BPE tokenizer.json (Prepend/Replace normalizer, byte fallback, ranked
# merges): TinyStories-656K's, in Hugging Face mode only (its GGUF form is llama.cpp's score-based
# vocabulary, which tokenizes as llama.cpp does).
tiny = os.path.join(SHARED, "models", "TinyStories-656K")
if os.path.isfile(os.path.join(tiny, "tokenizer.json")):
    tok = Tokenizer.from_file(os.path.join(tiny, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in {"tinystories": train_text, "wiki": wiki[:100000], "tricky": tricky}.items():
            path = os.path.join(tmp, f"tiny-{name}.txt")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            want = tok.encode(text, add_special_tokens=False).ids
            r = subprocess.run([DUMP, "hf", tiny, path], capture_output=True, text=True)
            got = [int(v) for v in r.stdout.split()] if r.returncode == 0 else None
            if got != want:
                i = 0 if got is None else next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
                print(f"FAIL TinyStories-656K {name}: " + (f"exit {r.returncode}: {r.stderr.strip()}" if got is None else
                      f"{len(got)} vs {len(want)} tokens, first difference at {i}: vernier {got[i:i + 5]} tokenizers {want[i:i + 5]}"))
                failures += 1
            else:
                print(f"ok   TinyStories-656K {name}: {len(got)} tokens identical")
else:
    print(f"(no {tiny}: the SentencePiece-style BPE case is not run)")
sys.exit(1 if failures else 0)
