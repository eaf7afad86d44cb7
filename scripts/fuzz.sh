#!/usr/bin/env bash
# Fuzzes every parser (fuzz/, docs/reliability.md) with libFuzzer under ASan and UBSan.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each, every target)
#
# Builds the fuzz preset (clang), makes the seed corpora (the committed tests/fuzz/seeds/, written by
# tests/fuzz/make_seeds.py, and files generated here with build/release/vernier from a tiny synthetic
# model, and ../shared's models when present), runs the
# targets VERNIER_FUZZ_JOBS at a time (2), and prints executions, coverage and findings per target.
# A finding (a crash, a sanitizer report, an exception that is not vernier::Error, a timeout, memory
# past the limit) leaves its input in build/fuzz/findings/ and makes the script fail.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
all=$(sed -n 's/^set(VERNIER_FUZZ_TARGETS \(.*\))$/\1/p' "$here/fuzz/targets.cmake")  # the one list of targets
targets=${*:-$all}
jobs=${VERNIER_FUZZ_JOBS:-2}
cli=${VERNIER_BIN:-$here/build/release/vernier}
shared=${VERNIER_SHARED_DIR:-$here/../shared}
work=$here/build/fuzz
cd "$here"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
[ -x "$cli" ] || { echo "fuzz: $cli not found (the seeds are made with it): cmake --build --preset release" >&2; exit 1; }

# ---- seeds --------------------------------------------------------------------------------------
seeds=$work/seeds
rm -rf "$seeds" "$work/findings"
mkdir -p "$seeds" "$work/corpus" "$work/findings"
for t in $all; do
  mkdir -p "$seeds/$t" "$work/corpus/$t"
  [ -d "tests/fuzz/seeds/$t" ] && cp tests/fuzz/seeds/$t/* "$seeds/$t/" 2>/dev/null || true
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cli" synth -o "$tmp/tiny.gguf" --dim 32 --ffn 64 --layers 1 --vocab 260 --ctx 64 --type f16 --quiet >/dev/null
printf 'Once upon a time there was a little cat. It liked the sun and the rain.\n%.0s' {1..40} > "$tmp/text.txt"
cp "$tmp/tiny.gguf" "$seeds/gguf/tiny-f16.gguf"
for q in Q8_0 Q4_0; do
  "$cli" quantize "$tmp/tiny.gguf" -o "$seeds/gguf/tiny-$q.gguf" --type "$q" --quiet >/dev/null
done
"$cli" convert "$tmp/tiny.gguf" -o "$seeds/safetensors/tiny-f16.safetensors" --type f16 >/dev/null
"$cli" convert "$tmp/tiny.gguf" -o "$seeds/safetensors/tiny-f32.safetensors" --type f32 >/dev/null
"$cli" imatrix "$tmp/tiny.gguf" -f "$tmp/text.txt" -o "$seeds/imatrix/made-tiny.gguf" --chunks 2 --ctx 32 >/dev/null 2>&1
"$cli" imatrix "$tmp/tiny.gguf" -f "$tmp/text.txt" -o "$seeds/imatrix/made-tiny.dat" --format dat --chunks 2 --ctx 32 >/dev/null 2>&1
cp "$seeds/imatrix/made-tiny.gguf" "$seeds/gguf/imatrix.gguf"
# quantized checkpoints, packed as the hf_quant target reads them: 4-byte length, config.json, safetensors
pack() { python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys
cfg = open(sys.argv[1], 'rb').read()
st = open(sys.argv[2], 'rb').read()
open(sys.argv[3], 'wb').write(struct.pack('<I', len(cfg)) + cfg + st)
EOF
}
for layout in gptq:int4-sym-g32 awq:int4-asym-g32 compressed-tensors:int4-sym-g32 compressed-tensors:int8-sym-channel bitsandbytes:nf4-b32; do
  l=${layout%%:*}
  s=${layout#*:}
  if "$cli" quantize "$tmp/tiny.gguf" -o "$tmp/ck-$l-$s" --layout "$l" --scheme "$s" --quiet >/dev/null 2>&1; then
    pack "$tmp/ck-$l-$s/config.json" "$tmp/ck-$l-$s/model.safetensors" "$seeds/hf_quant/$l-$s.bin"
  else
    echo "fuzz: no $l $s seed (quantize refused it)" >&2
  fi
done
if [ -d "$shared/models" ]; then
  cp "$shared/models/TinyStories-656K/config.json" "$seeds/hf_config/tinystories-656k.json"
  cp "$shared/models/TinyStories-656K/tokenizer.json" "$seeds/tokenizer_json/tinystories-656k.json"
  { printf '\x00'; cat "$shared/models/stories260K/stories260K.bin"; } > "$seeds/llama2c/stories260k-model.bin"
  { printf '\x01\x00\x02'; cat "$shared/models/stories260K/tok512.bin"; } > "$seeds/llama2c/tok512-vocab.bin"
else
  echo "fuzz: $shared not found: seeds without the shared models" >&2
fi
python3 - "$seeds/safetensors_index/two-shards.json" <<'EOF'
import json, sys
names = ["model.embed_tokens.weight"] + ["model.layers.0." + n + ".weight" for n in
         ["input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
          "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]] + ["model.norm.weight", "lm_head.weight"]
wm = {n: "model-0000%d-of-00002.safetensors" % (i % 2 + 1) for i, n in enumerate(names)}
json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(sys.argv[1], "w"))
EOF

# ---- runs ---------------------------------------------------------------------------------------
run_one() {
  local t=$1 secs=$2 work=$3
  local log=$work/findings/$t.log
  "$work/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$work/findings/$t-" "$work/corpus/$t" "$work/seeds/$t" > "$log" 2>&1
}
export -f run_one
echo "fuzz: ${secs} s per target, $jobs at a time: $targets"
rc=0
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$secs" "$work" || rc=1

printf '\n%-18s %12s %8s %8s %8s  %s\n' target executions exec/s cov ft result
for t in $targets; do
  log=$work/findings/$t.log
  execs=$(awk '/stat::number_of_executed_units:/{v=$2} END{print v}' "$log")
  speed=$(awk '/stat::average_exec_per_sec:/{v=$2} END{print v}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  result=clean
  if ls "$work/findings/$t-"* >/dev/null 2>&1; then result="FINDING: $(ls "$work/findings/$t-"* | head -1) (log $log)"; rc=1; fi
  printf '%-18s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $rc
