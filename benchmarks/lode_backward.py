"""Time of the backward (vector-Jacobian) product against the time of the values, for the
periodic LODE spherical expansion of large random Na/Cl boxes.

For each size, the values are computed with ``compute`` and the backward product of
L = ½ Σ X² (so that ∂L/∂X = X, the TensorMap of the values) with ``backward``; both through
the Python API, TensorMap conversions included. Each size runs with the pure k-space sum
(default k_cutoff) and/or the Ewald split (``accuracy``), see ``--methods``. Run
``python benchmarks/lode_backward.py --help`` for the options, and see ``benchmarks/README.md``.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "python" / "farsighted" / "data"

DEFAULT_SIZES = [1000, 3000, 10000]
METHODS = ["kspace", "split"]
QUICK_SIZES = [200, 500]


def shipped_density():
    """Mean number density (atoms/Å³) of the shipped Na/Cl boxes"""
    import ase.io

    frames = ase.io.read(DATA / "nacl_boxes.xyz", index=":")
    return float(np.mean([len(atoms) / atoms.get_volume() for atoms in frames]))


def nacl_box(n_atoms, density, seed):
    """Cubic box of ``n_atoms`` (half Na, half Cl) at uniformly random positions"""
    import ase

    rng = np.random.default_rng([seed, n_atoms])
    length = (n_atoms / density) ** (1.0 / 3.0)
    numbers = np.array([11] * (n_atoms // 2) + [17] * (n_atoms - n_atoms // 2))
    positions = rng.uniform(0.0, length, size=(n_atoms, 3))
    return ase.Atoms(numbers=numbers, positions=positions, cell=np.eye(3) * length, pbc=True)


def best_time(function, repeats, repeat_below):
    """Run ``function`` once, and again (up to ``repeats`` runs) while a run takes less than
    ``repeat_below`` seconds; returns the first result and the best time"""
    start = time.perf_counter()
    result = function()
    times = [time.perf_counter() - start]
    while len(times) < repeats and times[-1] < repeat_below:
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return result, min(times)


def count_k_vectors(calculator, atoms):
    """Half-space k-vectors below the cutoff, for a cubic cell"""
    length = atoms.cell.array[0, 0]
    bound = int(calculator.k_cutoff * length / (2 * np.pi))
    n = np.arange(-bound, bound + 1)
    k2 = (2 * np.pi / length) ** 2 * (
        n[:, None, None] ** 2 + n[None, :, None] ** 2 + n[None, None, :] ** 2
    )
    return int(np.count_nonzero((k2 > 0) & (k2 < calculator.k_cutoff**2))) // 2


def _seconds(value):
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def rst_report(results):
    machine = results["machine"]
    lines = [
        (
            f"Measured on {results['date'][:10]} on a machine with {machine['usable_cpus']} CPU "
            f"cores ({machine['cpu_model']}), load average {machine['load_average']} at the "
            f"start, farsighted {machine['farsighted']}, Python {machine['python']}."
        ),
        "",
        (
            f"Settings: random Na/Cl boxes (half Na, half Cl, uniformly random positions, cubic "
            f"cells) at the density of the shipped data, {results['density']:.4f} atoms/Å³; "
            f"hyper-parameters of ``python/farsighted/data/lode_hypers.json`` "
            f"({results['hypers_description']}). Times are wall-clock times of one call "
            "(best of several for short cases) after a warm-up on a small box: ``compute`` "
            "without gradients, and ``backward`` for L = ½ Σ X² (∂L/∂X is the TensorMap of the "
            'values), TensorMap conversions included. "split": the Ewald split with ``accuracy`` '
            "(σw and the cutoffs from the cost model for the values; the k-vectors of its wide "
            "part are not listed). As a check, the largest component of "
            "Σⱼ ∂L/∂rⱼ (zero by translation invariance) relative to the largest of ∂L/∂rⱼ."
        ),
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    header = [
        "N atoms",
        "method",
        "k-vectors",
        "values",
        "backward",
        "backward / values",
        "Σⱼ ∂L/∂rⱼ",
    ]
    rows = [header]
    for case in results["cases"]:
        method = case.get("method", "kspace")
        rows.append(
            [
                str(case["n_atoms"]),
                "k-space" if method == "kspace" else f"split, accuracy {results['accuracy']:g}",
                "—" if case["n_k"] is None else str(case["n_k"]),
                _seconds(case["values_s"]),
                _seconds(case["backward_s"]),
                f"{case['backward_s'] / case['values_s']:.2f}",
                f"{case['translation_check']:.1e}",
            ]
        )
    for row in rows:
        for i, cell in enumerate(row):
            lines.append(("   * - " if i == 0 else "     - ") + cell)
    lines.append("")
    return "\n".join(lines)


def time_case(calculator, atoms, args):
    """Times of the values and of the backward product for one box"""
    values, values_time = best_time(
        partial(calculator.compute, atoms), args.repeats, args.repeat_below
    )
    [(grad_positions, _)], backward_time = best_time(
        partial(calculator.backward, atoms, values), args.repeats, args.repeat_below
    )
    check = float(np.abs(grad_positions.sum(axis=0)).max() / np.abs(grad_positions).max())
    return {
        "n_atoms": len(atoms),
        "n_k": count_k_vectors(calculator, atoms),
        "values_s": values_time,
        "backward_s": backward_time,
        "translation_check": check,
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(x) for x in text.split(",")],
        default=None,
        help=f"comma-separated numbers of atoms (default {DEFAULT_SIZES})",
    )
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, no report")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods",
        type=lambda text: text.split(","),
        default=METHODS,
        help="comma-separated subset of kspace (default k_cutoff) and split (accuracy)",
    )
    parser.add_argument(
        "--accuracy", type=float, default=1e-6, help="accuracy of the split (default 1e-6)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "lode_backward",
        help="where to write the .json and .rst reports (without suffix)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else (args.sizes or DEFAULT_SIZES)

    import farsighted

    with open(DATA / "lode_hypers.json") as file:
        hypers = json.load(file)
    calculators = {
        "kspace": farsighted.LodeSphericalExpansion(**hypers),
        "split": farsighted.LodeSphericalExpansion(**hypers, accuracy=args.accuracy),
    }
    calculator = calculators["kspace"]
    density = shipped_density()
    warm_up = nacl_box(64, density, args.seed)
    for method in args.methods:
        calculators[method].backward(warm_up, calculators[method].compute(warm_up))

    cpu_model = None
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), None
            )
    basis = hypers["basis"]
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {
            "usable_cpus": len(os.sched_getaffinity(0)),
            "cpu_model": cpu_model,
            "load_average": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
            "farsighted": farsighted.__version__,
            "python": platform.python_version(),
        },
        "density": density,
        "accuracy": args.accuracy,
        "hypers": hypers,
        "hypers_description": (
            f"SmearedPowerLaw, exponent {hypers['density']['exponent']}, smearing "
            f"{hypers['density']['smearing']} Å; max_angular {basis['max_angular']}, Gto "
            f"max_radial {basis['radial']['max_radial']}, radius {basis['radial']['radius']} Å; "
            f"default k_cutoff {calculator.k_cutoff:.3f} Å⁻¹ and spline accuracy"
        ),
        "cases": [],
    }
    for n_atoms in sizes:
        atoms = nacl_box(n_atoms, density, args.seed)
        for method in args.methods:
            if method == "split":
                # the split tables of this box's σw are built on first use, not timed
                calculators[method].compute(atoms)
            case = time_case(calculators[method], atoms, args)
            case["method"] = method
            if method == "split":
                case["n_k"] = None
            results["cases"].append(case)
            print(
                f"N = {n_atoms:6d} {method:6s}: values {_seconds(case['values_s'])}, backward "
                f"{_seconds(case['backward_s'])}, ratio "
                f"{case['backward_s'] / case['values_s']:.2f} "
                f"(translation check {case['translation_check']:.1e})",
                flush=True,
            )

    if not args.quick:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        args.output.with_suffix(".rst").write_text(rst_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
