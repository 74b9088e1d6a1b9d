"""Time of the open-boundary LODE spherical expansion of a large cluster: values, values with
positions gradients, and the backward product ∂L/∂positions of L = ½ Σ X².

The cluster is a sphere of random Na/Cl atoms (at least 2 Å apart) at the density of the
shipped boxes, with no periodicity (``pbc`` all false): every pair is computed, from splined
pair radial functions and their analytic multipole tail. featomic has no open-boundary LODE, so
there is no peer in this table. Run ``python benchmarks/lode_open.py --help`` for the options.
"""

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HYPERS = HERE.parent / "python" / "farsighted" / "data" / "lode_hypers.json"
DENSITY = 0.0379  # atoms / Å³, the mean of the shipped Na/Cl boxes
MIN_DISTANCE = 2.0  # Å


def nacl_cluster(n_atoms: int, seed: int = 0):
    """A sphere of ``n_atoms`` random Na/Cl atoms, no two closer than ``MIN_DISTANCE``"""
    import ase
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    radius = (3 * n_atoms / (4 * np.pi * DENSITY)) ** (1 / 3)
    positions = np.zeros((0, 3))
    while len(positions) < n_atoms:
        candidates = rng.uniform(-radius, radius, size=(4 * n_atoms, 3))
        candidates = candidates[np.linalg.norm(candidates, axis=1) < radius]
        for candidate in candidates:
            if len(positions) == n_atoms:
                break
            if len(positions) and cKDTree(positions).query(candidate)[0] < MIN_DISTANCE:
                continue
            positions = np.vstack([positions, candidate])
    numbers = np.array([11, 17] * (n_atoms // 2) + [11] * (n_atoms % 2))
    return ase.Atoms(numbers=numbers, positions=positions, pbc=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument(
        "--skip-gradients",
        type=int,
        nargs="*",
        default=[],
        help="sizes whose explicit positions gradients are not computed (memory: ~14 GB at 2000)",
    )
    parser.add_argument(
        "--output", default=str(HERE / "results" / "lode_open.rst"), help="table (RST)"
    )
    args = parser.parse_args()

    import json

    import farsighted

    hypers = json.loads(HYPERS.read_text())
    calculator = farsighted.LodeSphericalExpansion(**hypers)
    start = time.perf_counter()
    calculator.compute(nacl_cluster(20))  # builds the pair radial tables
    setup = time.perf_counter() - start

    rows = []
    for n_atoms in args.sizes:
        cluster = nacl_cluster(n_atoms)
        start = time.perf_counter()
        descriptor = calculator.compute(cluster)
        values = time.perf_counter() - start
        # L = ½ Σ X², so that ∂L/∂X is the TensorMap of the values
        start = time.perf_counter()
        [(forces, _, _)] = calculator.backward(cluster, descriptor)
        backward = time.perf_counter() - start
        # translation invariance: Σⱼ ∂L/∂rⱼ = 0
        drift = np.abs(forces.sum(axis=0)).max() / np.abs(forces).max()
        gradients = None
        if n_atoms not in args.skip_gradients:
            start = time.perf_counter()
            calculator.compute(cluster, gradients=["positions"])
            gradients = time.perf_counter() - start
        rows.append((n_atoms, values, gradients, backward, drift))
        print(
            f"N = {n_atoms}: values {values:.2f} s, with positions gradients "
            f"{_seconds(gradients)}, backward {backward:.2f} s, |Σⱼ ∂L/∂rⱼ| {drift:.1e}"
        )

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"Measured on {datetime.date.today()} on a machine with {os.cpu_count()} CPU cores "
        f"({platform.machine()}), load average {load} at the end, farsighted "
        f"{farsighted.__version__}.",
        "",
        f"Settings: random Na/Cl clusters (spheres at {DENSITY} atoms/Å³, atoms at least "
        f"{MIN_DISTANCE} Å apart, pbc all false); hyper-parameters of ``lode_hypers.json`` "
        "(exponent 1, smearing 1 Å, max_angular 4, max_radial 5, radius 4 Å, default spline "
        f"accuracy). Building the pair radial tables on the first call took {setup:.1f} s and is "
        "not included. ``backward`` is the backward product of L = ½ Σ X² (∂L/∂X is the "
        "TensorMap of the values, TensorMap conversions included), and as a check the largest "
        "component of Σⱼ ∂L/∂rⱼ (zero by translation invariance) relative to the largest of "
        "∂L/∂rⱼ.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - N atoms",
        "     - values",
        "     - values + positions gradients",
        "     - backward",
        "     - Σⱼ ∂L/∂rⱼ",
    ]
    for n_atoms, values, gradients, backward, drift in rows:
        lines += [
            f"   * - {n_atoms}",
            f"     - {values:.2f} s",
            f"     - {_seconds(gradients)}",
            f"     - {backward:.2f} s",
            f"     - {drift:.0e}",
        ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"table written to {args.output}")


def _seconds(value) -> str:
    return "not run" if value is None else f"{value:.2f} s"


if __name__ == "__main__":
    main()
