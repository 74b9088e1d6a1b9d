#!/usr/bin/env bash
# Set everything up and run every test: Rust (with and without the metatensor feature),
# Python (slow tests included), lint, and the documentation build (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/setup.sh test,docs

echo "== Rust tests"
cargo test --release -p farsighted --features metatensor
cargo run --release -p farsighted --example rock_salt

echo "== Lint"
cargo fmt --all --check
cargo clippy --release -p farsighted --features metatensor --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p farsighted --no-deps
"$VENV_PYTHON" -m ruff check python tests examples benchmarks

echo "== Python tests"
"$VENV_PYTHON" -m pytest tests --runslow -q

echo "== Documentation"
rm -rf docs/_build
"$VENV_PYTHON" -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "documentation built in docs/_build/html"
