#!/usr/bin/env bash
# Runs one Python interop test with the project's virtual environment; exits 77 (CTest's skip) with
# a message when that environment or its packages are missing, so a machine without them skips
# rather than fails, and says how to get them.
py="$1"; shift
if [ ! -x "$py" ]; then
  echo "SKIP: no Python virtual environment at $py; run scripts/install-deps.sh to create it"
  exit 77
fi
if ! "$py" -c "import numpy, ml_dtypes" 2>/dev/null; then
  echo "SKIP: numpy/ml_dtypes missing in $py; run scripts/install-deps.sh"
  exit 77
fi
exec "$py" "$@"
