#!/usr/bin/env bash
# Here (no GPU needed): makes .gpu/ — vernier and the shared libraries it needs, TinyStories-656K's
# checkpoints in each layout, the text — for tests/gpu/transformers_loads_checkpoints.py on the GPU
# machine. .gpu/ and .whl/ are ignored by git (.git/info/exclude) and travel with the device tool's carry.
# Usage: tests/gpu/prepare_transformers_check.sh BUILD_DIR SHARED_DIR
set -euo pipefail
build=${1:-build/release}
shared=${2:-../shared}
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/cases
cp "$build/vernier" .gpu/bin/
for lib in $(ldd "$build/vernier" | awk '/=> \// {print $3}' | grep -E 'libfmt|libhwy'); do cp "$lib" .gpu/lib/; done
cp "$shared/text/tinystories-excerpt.txt" .gpu/
m="$shared/models/TinyStories-656K"
while read -r layout scheme; do
  "$build/vernier" quantize "$m" -o ".gpu/cases/$layout-$scheme" --layout "$layout" --scheme "$scheme" --quiet > /dev/null
done <<'CASES'
compressed-tensors int4-sym-g128
compressed-tensors int4-asym-g128
compressed-tensors int8-sym-channel
compressed-tensors fp8_e4m3-channel
bnb nf4-b64
bnb nf4-b64-dq
awq int4-asym-g128
CASES
du -sh .gpu .whl 2>/dev/null || true
