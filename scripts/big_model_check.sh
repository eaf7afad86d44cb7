#!/usr/bin/env bash
# Models larger than memory (docs/reliability.md): `vernier synth` writes an F16 model larger than this
# machine's RAM (default 16 LLaMA blocks of width 8192 and FFN 28672: 15.6 billion parameters, 29 GiB),
# then quantize to Q4_K_M, quantize to a GPTQ-layout checkpoint, convert to safetensors and
# inspect --stats run on it, each in a memory cgroup limited to 1 GiB + the largest tensor, with its
# peak RSS (GNU time) and wall time recorded. Fails if a step fails, is killed by the limit, or peaks
# above the bound. Each output is removed before the next step: about 2 × the model's size of disk.
#
#   scripts/big_model_check.sh [WORKDIR]      (default: build/big-model; .ci/run runs it with VERNIER_BIG_MODEL=1)
#   VERNIER_BIG_LAYERS=N   blocks (16); VERNIER_BIN=path/to/vernier (build/release/vernier)
#   VERNIER_BIG_STEPS="synth inspect_stats"   only these steps (default: all; synth is always first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VERNIER_BIN:-$here/build/release/vernier}
work=${1:-$here/build/big-model}
layers=${VERNIER_BIG_LAYERS:-16}
dim=8192
ffn=28672
largest=$((dim * ffn * 2))           # an FFN matrix in F16
limit=$(((1 << 30) + largest))       # the promise: peak RSS <= 1 GiB + the largest tensor
[ -x "$bin" ] || { echo "big-model: $bin not found: build first (cmake --build --preset release)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "big-model: GNU time (/usr/bin/time) missing: run scripts/install-deps.sh" >&2; exit 1; }
mkdir -p "$work"
model_bytes=$(( (layers * (4 * dim * dim + 3 * dim * ffn) + 2 * dim * 512) * 2 ))
need=$((model_bytes * 21 / 10))
free=$(df --output=avail -B1 "$work" | tail -1)
if [ "$free" -lt "$need" ]; then
  echo "big-model: $work has $((free >> 30)) GiB free, $((need >> 30)) GiB needed" >&2
  exit 1
fi

# A memory cgroup: v1 (memory.limit_in_bytes), v2 (memory.max), or systemd-run's scope.
cg=""
limited() {  # limited NAME CMD...: runs CMD in the cgroup under GNU time
  local name=$1
  shift
  local timing="$work/$name.time"
  if [ -n "$cg" ]; then
    /usr/bin/time -f "%M %e %x" -o "$timing" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
  else
    /usr/bin/time -f "%M %e %x" -o "$timing" systemd-run --quiet --scope -p MemoryMax="$limit" -p MemorySwapMax=0 "$@"
  fi
}
if [ -w /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/vernier-big-$$
  mkdir "$cg"
  echo "$limit" > "$cg/memory.limit_in_bytes"
  [ -e "$cg/memory.memsw.limit_in_bytes" ] && echo "$limit" > "$cg/memory.memsw.limit_in_bytes"
elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  cg=/sys/fs/cgroup/vernier-big-$$
  mkdir "$cg"
  echo "$limit" > "$cg/memory.max"
  echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
elif ! systemd-run --quiet --scope -p MemoryMax=1G true 2>/dev/null; then
  echo "big-model: no memory cgroup can be made here (need root with cgroup v1/v2, or systemd-run)" >&2
  exit 1
fi
cleanup() {
  [ -n "$cg" ] && [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
  rm -rf "$work/big.gguf" "$work/q4km.gguf" "$work/gptq" "$work/big.safetensors"
}
trap cleanup EXIT

summary="$work/summary.txt"
printf "model: %d blocks, dim %d, FFN %d, F16: %d bytes (%.1f GiB); RAM %s; limit %d bytes (1 GiB + largest tensor %d)\n" \
  "$layers" "$dim" "$ffn" "$model_bytes" "$(awk -v b="$model_bytes" 'BEGIN{print b / 1073741824}')" \
  "$(free -b | awk '/Mem:/{print $2}')" "$limit" "$largest" | tee "$summary"
status=0
steps=${VERNIER_BIG_STEPS:-synth quantize_q4_k_m quantize_gptq_layout convert_safetensors inspect_stats}
step() {  # step NAME OUTPUT CMD...
  local name=$1 out=$2
  shift 2
  case " $steps " in *" $name "*) ;; *) return 0 ;; esac
  echo "big-model: $name ..." >&2
  local rc=0
  limited "$name" "$@" > "$work/$name.log" 2>&1 || rc=$?
  # GNU time's last line (a killed or failing command gets a line before it)
  local rss_kib=0 secs=0 code=0
  read -r rss_kib secs code < <(tail -1 "$work/$name.time") || true
  local out_bytes=0
  [ -n "$out" ] && [ -e "$out" ] && out_bytes=$(du -sb "$out" | cut -f1)
  local verdict=ok
  if [ "$rc" -ne 0 ]; then verdict="FAILED (exit $rc; see $work/$name.log)"; status=1;
  elif [ $((rss_kib * 1024)) -gt "$limit" ]; then verdict="OVER THE BOUND"; status=1; fi
  printf "%-22s peak RSS %6d MiB  wall %7.1f s  output %6.2f GiB  %s\n" "$name" $((rss_kib / 1024)) "$secs" \
    "$(awk -v b="$out_bytes" 'BEGIN{print b / 1073741824}')" "$verdict" | tee -a "$summary"
}

step synth "$work/big.gguf" "$bin" synth -o "$work/big.gguf" --force --type f16 --dim $dim --ffn $ffn --layers "$layers" --seed 1
step quantize_q4_k_m "$work/q4km.gguf" "$bin" quantize "$work/big.gguf" -o "$work/q4km.gguf" --force --type Q4_K_M
rm -f "$work/q4km.gguf"
step quantize_gptq_layout "$work/gptq" "$bin" quantize "$work/big.gguf" -o "$work/gptq" --force --layout gptq --scheme int4-sym-g128
rm -rf "$work/gptq"
step convert_safetensors "$work/big.safetensors" "$bin" convert "$work/big.gguf" -o "$work/big.safetensors" --force --type f16
rm -f "$work/big.safetensors"
step inspect_stats "" "$bin" inspect "$work/big.gguf" --stats
exit $status
