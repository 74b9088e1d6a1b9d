"""Scale benchmark of the particle mesh (issue 14): LODE features of Na/Cl boxes from 10³ to
10⁵ atoms and beyond, side by side with the Ewald split's k-space sum, featomic, and
torch-pme's PME Coulomb potential, in one run.

Settings (the issue's): Na/Cl boxes at 0.04 atoms/Å³, p = 1, σ = 1 Å, l ≤ 4, 6 radial
functions (radius 4 Å), accuracy ε = 1e-5. Each (method, size) runs in a fresh subprocess so
that its peak memory (max RSS) is its own; times are the best of ``--repeat`` calls after one
warm-up call (which builds the tables). Columns:

- ``mesh``: farsighted with the cost model's choice (``reciprocal="auto"``; the mesh at these
  sizes), values; ``backward``: its backward product with G = the features (∂L/∂positions
  and ∂L/∂cell of L = ½ Σ features²);
- ``k-sum``: farsighted with ``reciprocal="kspace"`` (the split's wide part over k-vectors);
- ``featomic``: featomic's ``LodeSphericalExpansion`` at its default k_cutoff (1.2π/σ; its
  own accuracy, coarser than ε), values;
- ``torch-pme``: torch-pme's PME Coulomb potential of the charges ±1 tuned to the same ε
  (energy and forces; one channel against the 6 × 25 × 2 of LODE).

The accuracy reached (measured/ε, values and backward) is measured at the smallest size
against the converged pure k-space sum (k_cutoff = 6.5/σ). The log-log slope of the time is
fitted between consecutive sizes. Run ``python benchmarks/lode_mesh.py --help``.
"""

import argparse
import datetime
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from lode_periodic import (
    DENSITY,
    EXPONENT,
    MAX_ANGULAR,
    MAX_RADIAL,
    RADIUS,
    SMEARING,
    machine_info,
    nacl_box,
    text_table,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

ACCURACY = 1e-5
METHODS = ["mesh", "backward", "k-sum", "featomic", "torch-pme"]
NOT_AVAILABLE = "—"


def hypers():
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": SMEARING, "exponent": EXPONENT},
        "basis": {
            "type": "TensorProduct",
            "max_angular": MAX_ANGULAR,
            "radial": {"type": "Gto", "max_radial": MAX_RADIAL, "radius": RADIUS},
        },
    }


def best_time(function, repeat):
    function()  # warm-up: tables, plans
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(method, n_atoms, repeat):
    """The time of one (method, size) in this process, and what it chose"""
    atoms = nacl_box(n_atoms, 0)
    info = {}
    if method in ("mesh", "backward", "k-sum"):
        import farsighted
        from farsighted.systems import to_system_arrays

        reciprocal = "kspace" if method == "k-sum" else "auto"
        calculator = farsighted.LodeSphericalExpansion(
            **hypers(), accuracy=ACCURACY, reciprocal=reciprocal
        )
        arrays = to_system_arrays(atoms)
        info["ewald_grid"] = calculator._calculator.ewald_grid(arrays)
        info["mesh"] = calculator._calculator.mesh_choice(arrays)
        if method == "backward":
            descriptor = calculator.compute(atoms)
            seconds = best_time(lambda: calculator.backward(atoms, descriptor), repeat)
        else:
            seconds = best_time(lambda: calculator.compute(atoms), repeat)
    elif method == "featomic":
        import featomic

        calculator = featomic.LodeSphericalExpansion(**hypers())
        seconds = best_time(lambda: calculator.compute(atoms), repeat)
    elif method == "torch-pme":
        from torch_lode import torchpme_times

        seconds = torchpme_times(atoms, accuracy=ACCURACY)["PME"]
    else:
        raise ValueError(f"unknown method {method}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (Linux: KiB)
    return {"seconds": seconds, "peak_memory_gib": peak, **info}


def measured_accuracy(n_atoms):
    """max over blocks of max|mesh - converged| / max|converged|, for the values and for the
    backward product's positions gradient, in units of ε"""
    import farsighted

    atoms = nacl_box(n_atoms, 0)
    mesh = farsighted.LodeSphericalExpansion(**hypers(), accuracy=ACCURACY, reciprocal="mesh")
    converged = farsighted.LodeSphericalExpansion(**hypers(), k_cutoff=6.5 / SMEARING)
    expected = converged.compute(atoms)
    actual = mesh.compute(atoms)
    values = max(
        np.abs(actual.block(key).values - block.values).max() / np.abs(block.values).max()
        for key, block in expected.items()
    )
    [(forces_mesh, cell_mesh, _)] = mesh.backward(atoms, expected)
    [(forces_converged, cell_converged, _)] = converged.backward(atoms, expected)
    forces = np.abs(forces_mesh - forces_converged).max() / np.abs(forces_converged).max()
    cell = np.abs(cell_mesh - cell_converged).max() / np.abs(cell_converged).max()
    return {"values": values / ACCURACY, "forces": forces / ACCURACY, "cell": cell / ACCURACY}


def subprocess_case(method, n_atoms, repeat, timeout):
    command = [sys.executable, __file__, "--case", method, str(n_atoms), "--repeat", str(repeat)]
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=HERE, check=True
        ).stdout
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {timeout} s"}
    except subprocess.CalledProcessError as error:
        return {"error": error.stderr.strip().splitlines()[-1]}
    return json.loads(output.strip().splitlines()[-1])


def slope(sizes, times):
    return [
        float(np.log(times[i + 1] / times[i]) / np.log(sizes[i + 1] / sizes[i]))
        for i in range(len(sizes) - 1)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--quick", action="store_true", help="sizes 500 and 2000 only")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--k-sum-max", type=int, default=20000, help="largest size for the split's k-sum"
    )
    parser.add_argument("--featomic-max", type=int, default=4000, help="largest featomic size")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--case", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS / "lode_mesh")
    args = parser.parse_args()

    if args.case is not None:
        method, n_atoms = args.case
        print(json.dumps(run_case(method, int(n_atoms), args.repeat)))
        return

    sizes = [500, 2000] if args.quick else sorted(args.sizes)
    limits = {"k-sum": args.k_sum_max, "featomic": args.featomic_max}
    results = {"machine": machine_info(), "date": datetime.datetime.now().isoformat()}
    results["settings"] = {
        "density_atoms_per_A3": DENSITY,
        "exponent": EXPONENT,
        "smearing": SMEARING,
        "max_angular": MAX_ANGULAR,
        "max_radial": MAX_RADIAL,
        "radius": RADIUS,
        "accuracy": ACCURACY,
    }
    results["accuracy_over_epsilon"] = measured_accuracy(sizes[0])
    print(f"measured error / ε at N = {sizes[0]}: {results['accuracy_over_epsilon']}", flush=True)
    cases = {}
    for n_atoms in sizes:
        for method in METHODS:
            if n_atoms > limits.get(method, np.inf):
                continue
            cases[f"{method} {n_atoms}"] = case = subprocess_case(
                method, n_atoms, args.repeat, args.timeout
            )
            print(method, n_atoms, case, flush=True)
    results["cases"] = cases

    header = ["N"] + [f"{m} (s)" for m in METHODS] + ["backward/mesh", "k-sum/mesh", "mesh GiB"]
    rows = []
    for n_atoms in sizes:
        row = [str(n_atoms)]
        seconds = {}
        for method in METHODS:
            case = cases.get(f"{method} {n_atoms}", {})
            seconds[method] = case.get("seconds")
            row.append(f"{case['seconds']:.3g}" if "seconds" in case else NOT_AVAILABLE)
        for method in ["backward", "k-sum"]:
            ratio = seconds[method] and seconds["mesh"] and seconds[method] / seconds["mesh"]
            row.append(f"{ratio:.2f}" if ratio else NOT_AVAILABLE)
        mesh = cases.get(f"mesh {n_atoms}", {})
        row.append(f"{mesh['peak_memory_gib']:.2f}" if "peak_memory_gib" in mesh else "")
        rows.append(row)
    table = text_table(header, rows)
    timed = [n for n in sizes if "seconds" in cases.get(f"mesh {n}", {})]
    slopes = slope(timed, [cases[f"mesh {n}"]["seconds"] for n in timed])
    pairs = [f"{a}-{b}" for a, b in zip(timed, timed[1:])]
    results["mesh_log_log_slopes"] = dict(zip(pairs, slopes))
    print(table)
    print("log-log slopes of the mesh values:", results["mesh_log_log_slopes"])

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.output.with_suffix(".md").write_text(
        f"# Particle mesh at scale ({results['date']})\n\n"
        f"Settings: {results['settings']}\n\n"
        f"Measured error / ε at N = {sizes[0]}: {results['accuracy_over_epsilon']}\n\n"
        f"```\n{table}\n```\n\nLog-log slopes of the mesh values: "
        f"{results['mesh_log_log_slopes']}\n\nMachine: {results['machine']}\n"
    )


if __name__ == "__main__":
    main()
