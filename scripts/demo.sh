#!/usr/bin/env bash
# Set everything up and run the main job on the data set shipped with the package.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh demo
"$VENV_PYTHON" -m farsighted demo "$@"
