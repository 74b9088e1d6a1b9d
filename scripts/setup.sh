#!/usr/bin/env bash
# Install everything farsighted needs on a fresh machine (Rust toolchain and Python 3.9+ are
# assumed), then build and install the package in editable mode. Idempotent: a second run
# only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
extras=${1:-}

# cmake >= 3.22 builds metatensor-core for the Rust `metatensor` feature
if ! command -v cmake >/dev/null || ! cmake --version | awk 'NR==1 {split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 22))}'; then
    "$PYTHON" -m pip install --quiet "cmake>=3.22"
fi

"$PYTHON" -m pip install --quiet "maturin>=1.5,<2"
if [ -n "$extras" ]; then
    "$PYTHON" -m pip install --quiet --no-build-isolation -e ".[$extras]"
else
    "$PYTHON" -m pip install --quiet --no-build-isolation -e .
fi
