#!/usr/bin/env bash
# The checks that need a GPU, in one run: the CUDA tests (the torch module on the GPU against
# the Rust core), the torch path against the Rust core and torch-pme at 10⁵ atoms, and MD steps
# of a saved SOAP + LODE model at 10⁴ and 10⁵ atoms (with and without TorchScript's fuser) with
# torch's profile of one more step, written to $OUT (default: a temporary folder). About 11
# minutes on one NVIDIA H200 with 16 CPU cores: 1, 2 and 8 for the three parts.
#
# Run from anywhere, in an environment with farsighted[torch,test] and a CUDA build of torch:
#   bash benchmarks/gpu_check.sh [tests] [row] [md]   (all three by default)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PARTS=${*:-tests row md}
wants() { [[ " $PARTS " == *" $1 "* ]]; }
export PYTHONUNBUFFERED=1

python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv

if wants tests; then
    echo "== CUDA tests $(date +%T)"
    timeout 300 python3 -m pytest -q -s --runslow -p no:cacheprovider \
        tests/test_torch_lode.py::test_cuda_equals_rust \
        tests/test_torch_lode_geometries.py::test_cuda_equals_rust \
        tests/test_torch_mesh.py::test_cuda_at_scale_equals_rust 2>&1 | tee "$OUT/cuda_tests.log"
fi

cd benchmarks
if wants row; then
    echo "== torch path at 10⁵ atoms $(date +%T)"
    timeout 300 python3 torch_lode.py --device cuda --sizes 100000 --accuracy 1e-5 --md-atoms 0 \
        --torchpme PME --output "$OUT/torch_lode_mesh_1e5_cuda.json"
fi
if wants md; then
    # the 10⁵-atom step took 69 s, 33 s of it waiting on a lock: is it TorchScript compiling fused
    # kernels for each new number of pairs? Each step's time, with and without the fuser
    echo "== MD of 10⁴ atoms $(date +%T)"
    timeout 200 python3 torch_lode.py --device cuda --sizes --accuracy 1e-5 --md-atoms 10000 \
        --md-steps 12 --output "$OUT/torch_lode_md_10000_cuda.json" \
        --md-profile "$OUT/torch_lode_md_10000_cuda_profile.txt"
    echo "== MD of 10⁴ atoms without the fuser $(date +%T)"
    timeout 120 python3 torch_lode.py --device cuda --sizes --accuracy 1e-5 --md-atoms 10000 \
        --md-steps 4 --md-no-fusion --output "$OUT/torch_lode_md_10000_cuda_no_fusion.json"
    echo "== MD of 10⁵ atoms without the fuser $(date +%T)"
    timeout 300 python3 torch_lode.py --device cuda --sizes --accuracy 1e-5 --md-atoms 100000 \
        --md-steps 2 --md-no-fusion --output "$OUT/torch_lode_md_100000_cuda_no_fusion.json" \
        --md-profile "$OUT/torch_lode_md_100000_cuda_profile.txt"
fi
echo "== done $(date +%T): results in $OUT"
