#!/usr/bin/env bash
# The ctest entry of the GPU check (issue 12): skips (77) unless python3 has torch with a CUDA device and
# transformers; there it prepares the checkpoints and runs tests/gpu/transformers_loads_checkpoints.py.
# Usage: run_transformers_check.sh SOURCE_DIR BUILD_DIR SHARED_DIR
set -uo pipefail
src=$1 build=$2 shared=$3
py=${PYTHON:-python3}
if ! "$py" -c "import sys, torch, transformers; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "SKIP: no python3 with torch, transformers and a CUDA device (on the GPU machine: docs/layouts/README.md)"
  exit 77
fi
if [ ! -f "$shared/models/TinyStories-656K/model.safetensors" ]; then
  echo "SKIP: $shared/models/TinyStories-656K absent"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$src" && tests/gpu/prepare_transformers_check.sh "$build" "$shared" "$work/gpu" > /dev/null || exit 1
export LD_LIBRARY_PATH="$work/gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$py" tests/gpu/transformers_loads_checkpoints.py --cases "$work/gpu/cases" --vernier "$work/gpu/bin/vernier" \
  --text "$work/gpu/tinystories-excerpt.txt" --awq-root "${AWQ_ROOT:-}" --out "$work/results.json"
