#!/usr/bin/env bash
# Here (no GPU needed): makes .gpu/ — vernier and the shared libraries it needs, TinyStories-656K's
# checkpoints in each layout, the text — for tests/gpu/transformers_loads_checkpoints.py on the GPU
# machine. .gpu/ and .whl/ are ignored by git (.git/info/exclude) and travel with the device tool's carry.
# Usage: tests/gpu/prepare_transformers_check.sh BUILD_DIR SHARED_DIR [OUT_DIR (default .gpu)]
set -euo pipefail
build=${1:-build/release}
shared=${2:-../shared}
out=${3:-.gpu}
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib" "$out/cases"
cp "$build/vernier" "$out/bin/"
for lib in $(ldd "$build/vernier" | awk '/=> \// {print $3}' | grep -E 'libfmt|libhwy'); do cp "$lib" "$out/lib/"; done
cp "$shared/text/tinystories-excerpt.txt" "$out/"
m="$shared/models/TinyStories-656K"
while read -r layout scheme; do
  "$build/vernier" quantize "$m" -o "$out/cases/$layout-$scheme" --layout "$layout" --scheme "$scheme" --quiet > /dev/null
done <<'CASES'
compressed-tensors int4-sym-g128
compressed-tensors int4-asym-g128
compressed-tensors int8-sym-channel
compressed-tensors fp8_e4m3-channel
bnb nf4-b64
bnb nf4-b64-dq
awq int4-asym-g128
CASES
du -sh "$out" .whl 2>/dev/null || true
