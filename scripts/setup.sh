#!/usr/bin/env bash
# Set up farsighted on a fresh machine: a Rust toolchain and Python >= 3.9 are assumed, nothing
# else. Everything is installed into a virtual environment inside the repository (.venv, or
# $FARSIGHTED_VENV), never into the machine's own Python, so the result does not depend on what
# that Python happens to hold. Idempotent: a second run only rebuilds what changed, and pip's
# cache keeps the large wheels (torch) from being downloaded twice.
#
# usage: bash scripts/setup.sh [EXTRAS]     e.g. EXTRAS=test,docs
# Other scripts source this file and then use "$VENV_PYTHON".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE_PYTHON=${PYTHON:-python3}
VENV=${FARSIGHTED_VENV:-$PWD/.venv}
extras=${1:-}

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the virtual environment $VENV"
    # no system site-packages: the environment starts empty
    "$BASE_PYTHON" -m venv "$VENV"
fi
VENV_PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONNOUSERSITE=1

# build tools, pinned to ranges known to work (wheel: some dependencies only ship sources)
"$VENV_PYTHON" -m pip install --quiet "pip>=24" "wheel" "setuptools>=70" "maturin>=1.5,<2"

# cmake >= 3.22 builds metatensor-core for the Rust `metatensor` feature
if ! command -v cmake >/dev/null || ! cmake --version | awk 'NR==1 {split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 22))}'; then
    "$VENV_PYTHON" -m pip install --quiet "cmake>=3.22"
fi

target="."
[ -n "$extras" ] && target=".[$extras]"
echo "== installing farsighted${extras:+ with extras $extras} into $VENV"
"$VENV_PYTHON" -m pip install --quiet --no-build-isolation -e "$target"
