#!/usr/bin/env bash
# The checks that need a GPU, in one run: the CUDA tests (the torch module on the GPU against
# the Rust core), the torch path against the Rust core and torch-pme at 10⁵ atoms, and MD steps
# of a saved SOAP + LODE model at 10⁴ and 10⁵ atoms with torch's profile of one more step,
# written to $OUT (default: a temporary folder). About 9 minutes on one NVIDIA H200 with 16
# CPU cores.
#
# Run from anywhere, in an environment with farsighted[torch,test] and a CUDA build of torch:
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1

python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv

echo "== CUDA tests $(date +%T)"
timeout 300 python3 -m pytest -q -s --runslow -p no:cacheprovider \
    tests/test_torch_lode.py::test_cuda_equals_rust \
    tests/test_torch_lode_geometries.py::test_cuda_equals_rust \
    tests/test_torch_mesh.py::test_cuda_at_scale_equals_rust 2>&1 | tee "$OUT/cuda_tests.log"

cd benchmarks
echo "== torch path at 10⁵ atoms $(date +%T)"
timeout 300 python3 torch_lode.py --device cuda --sizes 100000 --accuracy 1e-5 --md-atoms 0 \
    --torchpme PME --output "$OUT/torch_lode_mesh_1e5_cuda.json"
for atoms in 10000 100000; do
    echo "== MD of $atoms atoms $(date +%T)"
    timeout 400 python3 torch_lode.py --device cuda --sizes --accuracy 1e-5 \
        --md-atoms "$atoms" --md-steps 2 --output "$OUT/torch_lode_md_${atoms}_cuda.json" \
        --md-profile "$OUT/torch_lode_md_${atoms}_cuda_profile.txt"
done
echo "== done $(date +%T): results in $OUT"
