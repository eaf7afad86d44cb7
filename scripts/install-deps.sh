#!/usr/bin/env bash
# Installs what vernier's build and tests need on Debian/Ubuntu, and nothing else.
#   C++ build : g++, cmake, ninja, Google Highway, fmt, CLI11, nlohmann-json, OpenBLAS + LAPACKE
#               (GPTQ's Hessian products and Cholesky factorisations)
#   tests     : GoogleTest, Google Benchmark, python3-venv (interop tests), chromium (the HTML
#               reports rendered headless and screenshotted, as a person would look at them),
#               clang + libclang-rt (libFuzzer and its sanitizers: scripts/fuzz.sh), GNU time (the
#               peak RSS of scripts/big_model_check.sh)
#   Python    : a project virtual environment in .venv with numpy, ml_dtypes
#               (independent FP8/BF16 codecs), gguf (llama.cpp's reader), safetensors and
#               tokenizers (Hugging Face's, the reference for byte-level BPE), used only by the
#               interop tests.
# Idempotent: packages already present are skipped, and the venv is reused.
# Runs as root, or through sudo when it is available.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  g++ cmake ninja-build pkg-config
  libhwy-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libopenblas-dev liblapacke-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv python3-pip
  chromium
  clang-14 libclang-rt-14-dev time
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# Python interop tools, in the project's own virtual environment (never the system site-packages).
venv="$here/.venv"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if [ ! -x "$venv/bin/python" ]; then
  echo "install-deps: creating Python virtual environment $venv"
  "$py" -m venv "$venv"
fi
want="numpy ml_dtypes gguf safetensors tokenizers"
if ! "$venv/bin/python" -c "import numpy, ml_dtypes, gguf, safetensors, tokenizers" 2>/dev/null; then
  echo "install-deps: installing Python test packages into .venv: $want"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $want
else
  echo "install-deps: Python test packages present in .venv"
fi
