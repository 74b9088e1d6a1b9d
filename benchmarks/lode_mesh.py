"""Scale benchmark of the particle mesh (issue 14): LODE features of Na/Cl boxes from 10³ to
10⁵ atoms and beyond, side by side with the Ewald split's k-space sum, featomic, and
torch-pme's PME Coulomb potential, in one run.

Settings (the issue's): Na/Cl boxes at 0.04 atoms/Å³, p = 1, σ = 1 Å, l ≤ 4, 6 radial
functions (radius 4 Å), accuracy ε = 1e-5. Each (method, size) runs in a fresh subprocess so
that its peak memory (max RSS) is its own; times are the best of ``--repeat`` calls after one
warm-up call (which builds the tables; ``--repeat 0``: that one call, for 10⁶ atoms).
Columns:

- ``mesh``: farsighted with the cost model's choice (``reciprocal="auto"``; the mesh at these
  sizes), values; ``backward``: its backward product with G = the features (∂L/∂positions
  and ∂L/∂cell of L = ½ Σ features²);
- ``k-sum``: farsighted with ``reciprocal="kspace"`` (the split's wide part over k-vectors);
- ``featomic``: featomic's ``LodeSphericalExpansion`` at its default k_cutoff (1.2π/σ; its
  own accuracy, coarser than ε), values;
- ``torch-pme``: torch-pme's PME Coulomb potential of the charges ±1 tuned to the same ε
  (energy and forces; one channel against the 6 × 25 × 2 of LODE).

The accuracy reached (measured/ε for ε = 1e-3 … 1e-8: values, and the backward product's
positions and cell gradients) is measured at the smallest size with the mesh forced, against
the converged pure k-space sum (k_cutoff = 9/σ, splines to 1e-12, 1e-10 for slabs), for the
random atoms of the benchmark and for a rattled rock-salt crystal of about as many atoms
(nearly symmetric, with blocks 9 to 60 times smaller than the random box's: the worst case
for an error relative to each block's largest entry; the worst block's λ, largest entry and
absolute error are reported beside the ratios). The
log-log slope of the time is fitted between consecutive sizes.

``--exponent 6`` gives the dispersion case (torch-pme: ``InversePowerLawPotential(6)`` on PME
with the parameters its tuner gives for Coulomb at ε, the only tuner it has), ``--geometry
slab`` Na/Cl slabs (the same boxes, periodic along x and y only; featomic and torch-pme have no
slabs), ``--geometry open`` Na/Cl clusters (the same atoms, no periodicity: the mesh of a box
about twice the cluster, against ``k-sum`` = the pair sums over all pairs; the accuracy is
measured against the pair sums without split). Run ``python benchmarks/lode_mesh.py --help``.
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
ACCURACIES = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
METHODS = ["mesh", "backward", "k-sum", "featomic", "torch-pme"]
SLAB_METHODS = ["mesh", "backward", "k-sum"]
GEOMETRIES = {"bulk": [True] * 3, "slab": [True, True, False], "open": [False] * 3}
NOT_AVAILABLE = "—"


def hypers(exponent=EXPONENT):
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": SMEARING, "exponent": exponent},
        "basis": {
            "type": "TensorProduct",
            "max_angular": MAX_ANGULAR,
            "radial": {"type": "Gto", "max_radial": MAX_RADIAL, "radius": RADIUS},
        },
    }


def best_time(function, repeat):
    """The best of `repeat` calls after a warm-up call (which builds tables and plans); with
    `repeat` = 0 the one call that builds them (the largest sizes, where a call takes minutes)"""
    if repeat == 0:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def structure(n_atoms, geometry):
    """The Na/Cl box of the benchmark, or the same atoms as a slab periodic along x and y, or
    as a cluster"""
    atoms = nacl_box(n_atoms, 0)
    atoms.pbc = GEOMETRIES[geometry]
    return atoms


def rattled_crystal(n_atoms, geometry):
    """Rock salt (a = 5.64 Å) of about `n_atoms` in cubic cells, atoms moved by 0.05 Å, as a
    bulk crystal, a slab periodic along x and y, or a cluster"""
    import ase.build

    repeat = max(1, round((n_atoms / 8) ** (1 / 3)))
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=1)
    atoms.pbc = GEOMETRIES[geometry]
    return atoms


def run_case(method, n_atoms, repeat, exponent, geometry):
    """The time of one (method, size) in this process, and what it chose"""
    atoms = structure(n_atoms, geometry)
    info = {}
    if method in ("mesh", "backward", "k-sum"):
        import farsighted
        from farsighted.systems import to_system_arrays

        reciprocal = "kspace" if method == "k-sum" else "auto"
        calculator = farsighted.LodeSphericalExpansion(
            **hypers(exponent), accuracy=ACCURACY, reciprocal=reciprocal
        )
        arrays = to_system_arrays(atoms)
        try:
            info["ewald_grid"] = calculator._calculator.ewald_grid(arrays)
        except ValueError:
            info["ewald_grid"] = None  # an open system summed over all pairs, without split
        info["mesh"] = calculator._calculator.mesh_choice(arrays)
        if method == "backward":
            descriptor = calculator.compute(atoms)
            seconds = best_time(lambda: calculator.backward(atoms, descriptor), repeat)
        else:
            seconds = best_time(lambda: calculator.compute(atoms), repeat)
    elif method == "featomic":
        import featomic

        calculator = featomic.LodeSphericalExpansion(**hypers(exponent))
        seconds = best_time(lambda: calculator.compute(atoms), repeat)
    elif method == "torch-pme":
        from torch_lode import torchpme_times

        pme = torchpme_times(atoms, accuracy=ACCURACY, exponent=exponent, methods=["PME"])
        seconds, info["torch_pme"] = pme["PME"], pme["PME parameters"]
    else:
        raise ValueError(f"unknown method {method}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (Linux: KiB)
    return {"seconds": seconds, "peak_memory_gib": peak, **info}


def measured_accuracy(atoms, exponent, geometry):
    """measured error / ε for each ε of ACCURACIES: max over blocks of max|mesh - converged| /
    max|converged| for the values, and max|mesh - converged| / max|converged| for the backward
    product's positions and cell gradients (G = the converged features), the mesh forced;
    and the largest entry of the blocks of each λ"""
    import farsighted

    # open systems: the pair sums over all pairs, without split
    converge = {} if geometry == "open" else {"k_cutoff": 9.0 / SMEARING}
    reference = hypers(exponent)
    reference["basis"]["spline_accuracy"] = 1e-10 if geometry == "slab" else 1e-12
    converged = farsighted.LodeSphericalExpansion(**reference, **converge)
    expected = converged.compute(atoms)
    # open systems have no cell gradient: their strain derivative (the virial) instead
    pick = (lambda result: result[2]) if geometry == "open" else (lambda result: result[1])
    [(forces_converged, *rest)] = converged.backward(atoms, expected)
    cell_converged = pick([forces_converged, *rest])
    largest = {}
    for key, block in expected.items():
        o3_lambda = int(key["o3_lambda"])
        largest[o3_lambda] = max(largest.get(o3_lambda, 0.0), float(np.abs(block.values).max()))
    print(f"largest entry of the blocks of each λ: {largest}", flush=True)
    ratios = {}
    for accuracy in ACCURACIES:
        mesh = farsighted.LodeSphericalExpansion(
            **hypers(exponent), accuracy=accuracy, reciprocal="mesh"
        )
        actual = mesh.compute(atoms)
        # (error / largest entry, error, largest entry, λ) of each block
        blocks = []
        for key, block in expected.items():
            error = np.abs(actual.block(key).values - block.values).max()
            entry = np.abs(block.values).max()
            blocks.append((error / entry, error, entry, int(key["o3_lambda"])))
        values, worst_error, worst_largest, worst_lambda = max(blocks)
        [(forces_mesh, *rest)] = mesh.backward(atoms, expected)
        cell_mesh = pick([forces_mesh, *rest])
        forces = np.abs(forces_mesh - forces_converged).max() / np.abs(forces_converged).max()
        cell = np.abs(cell_mesh - cell_converged).max() / np.abs(cell_converged).max()
        ratios[f"{accuracy:.0e}"] = {
            "values": float(values / accuracy),
            "forces": float(forces / accuracy),
            "cell": float(cell / accuracy),
            # what sets the values' ratio: the absolute error, or the block's largest entry
            "worst_block": {
                "o3_lambda": worst_lambda,
                "largest_entry": float(worst_largest),
                "error_over_epsilon": float(worst_error / accuracy),
            },
        }
        print(f"ε = {accuracy:.0e}: measured error / ε {ratios[f'{accuracy:.0e}']}", flush=True)
    return ratios, largest


def accuracy_table(by_structure):
    """measured / ε of each structure, side by side"""
    parts = ["values", "forces", "cell"]
    header = ["ε"] + [f"{name} {part} / ε" for name in by_structure for part in parts]
    epsilons = next(iter(by_structure.values()))
    rows = [
        [accuracy]
        + [f"{ratios[accuracy][part]:.2g}" for ratios in by_structure.values() for part in parts]
        for accuracy in epsilons
    ]
    return text_table(header, rows)


def scale_table(by_structure, largest_by_structure):
    """The values' worst block of each structure and ε: its λ, its largest entry and its
    absolute error / ε, then the largest entry of each λ: what separates the structures"""
    header = ["ε"] + [
        f"{name} {part}" for name in by_structure for part in ["λ", "largest", "error / ε"]
    ]
    epsilons = next(iter(by_structure.values()))
    rows = []
    for accuracy in epsilons:
        row = [accuracy]
        for ratios in by_structure.values():
            worst = ratios[accuracy]["worst_block"]
            row += [
                str(worst["o3_lambda"]),
                f"{worst['largest_entry']:.3g}",
                f"{worst['error_over_epsilon']:.2g}",
            ]
        rows.append(row)
    largest = "; ".join(
        f"{name}: " + ", ".join(f"λ = {l}: {v:.3g}" for l, v in sorted(by_l.items()))
        for name, by_l in largest_by_structure.items()
    )
    return f"{text_table(header, rows)}\n\nLargest entry of the blocks of each λ: {largest}"


def subprocess_case(method, n_atoms, args):
    command = [sys.executable, __file__, "--case", method, str(n_atoms)]
    command += ["--repeat", str(args.repeat), "--exponent", str(args.exponent)]
    command += ["--geometry", args.geometry]
    timeout = args.timeout
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=HERE, check=True
        ).stdout
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {timeout} s"}
    except subprocess.CalledProcessError as error:
        # a process killed for memory (SIGKILL) writes nothing
        lines = error.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {error.returncode}"}
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
    parser.add_argument(
        "--repeat", type=int, default=2, help="calls timed after a warm-up (0: one, no warm-up)"
    )
    parser.add_argument(
        "--k-sum-max", type=int, default=20000, help="largest size for the split's k-sum"
    )
    parser.add_argument("--featomic-max", type=int, default=4000, help="largest featomic size")
    parser.add_argument("--methods", nargs="+", help="a subset of the methods (all by default)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--exponent", type=int, default=EXPONENT, help="p of the density")
    parser.add_argument(
        "--geometry", choices=list(GEOMETRIES), default="bulk", help="slab: periodic along x, y"
    )
    parser.add_argument(
        "--accuracy-size", type=int, help="size of the accuracy measurement (0: none)"
    )
    parser.add_argument("--case", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--output", type=Path, help="results/lode_mesh[_p6][_slab|_open] by default"
    )
    args = parser.parse_args()

    if args.case is not None:
        method, n_atoms = args.case
        case = run_case(method, int(n_atoms), args.repeat, args.exponent, args.geometry)
        print(json.dumps(case))
        return
    suffix = (f"_p{args.exponent}" if args.exponent != EXPONENT else "") + (
        f"_{args.geometry}" if args.geometry != "bulk" else ""
    )
    output = args.output or RESULTS / f"lode_mesh{suffix}"
    methods = METHODS if args.geometry == "bulk" else SLAB_METHODS
    if args.methods is not None:
        unknown = set(args.methods) - set(methods)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)} for {args.geometry}: {methods}")
        methods = [method for method in methods if method in args.methods]

    sizes = [500, 2000] if args.quick else sorted(args.sizes)
    limits = {"k-sum": args.k_sum_max, "featomic": args.featomic_max}
    results = {"machine": machine_info(), "date": datetime.datetime.now().isoformat()}
    results["settings"] = {
        "density_atoms_per_A3": DENSITY,
        "exponent": args.exponent,
        "geometry": args.geometry,
        "smearing": SMEARING,
        "max_angular": MAX_ANGULAR,
        "max_radial": MAX_RADIAL,
        "radius": RADIUS,
        "accuracy": ACCURACY,
    }
    accuracy_size = sizes[0] if args.accuracy_size is None else args.accuracy_size
    results["accuracy_size"] = accuracy_size
    results["accuracy_over_epsilon"] = {}
    results["largest_entry_by_lambda"] = {}
    for name, build in [("random", structure), ("crystal", rattled_crystal)]:
        if accuracy_size > 0:
            atoms = build(accuracy_size, args.geometry)
            ratios, largest = measured_accuracy(atoms, args.exponent, args.geometry)
            results["accuracy_over_epsilon"][name] = ratios
            results["largest_entry_by_lambda"][name] = largest
    cases = {}
    for n_atoms in sizes:
        for method in methods:
            if n_atoms > limits.get(method, np.inf):
                continue
            cases[f"{method} {n_atoms}"] = case = subprocess_case(method, n_atoms, args)
            print(method, n_atoms, case, flush=True)
    results["cases"] = cases

    header = ["N"] + [f"{m} (s)" for m in methods] + ["backward/mesh", "k-sum/mesh"]
    header += ["mesh GiB", "backward GiB"]
    rows = []
    for n_atoms in sizes:
        row = [str(n_atoms)]
        seconds = {}
        for method in methods:
            case = cases.get(f"{method} {n_atoms}", {})
            seconds[method] = case.get("seconds")
            row.append(f"{case['seconds']:.3g}" if "seconds" in case else NOT_AVAILABLE)
        for method in ["backward", "k-sum"]:
            mine, mesh = seconds.get(method), seconds.get("mesh")
            ratio = mine and mesh and mine / mesh
            row.append(f"{ratio:.2f}" if ratio else NOT_AVAILABLE)
        for method in ["mesh", "backward"]:
            case = cases.get(f"{method} {n_atoms}", {})
            row.append(f"{case['peak_memory_gib']:.2f}" if "peak_memory_gib" in case else "")
        rows.append(row)
    table = text_table(header, rows)
    timed = [n for n in sizes if "seconds" in cases.get(f"mesh {n}", {})]
    slopes = slope(timed, [cases[f"mesh {n}"]["seconds"] for n in timed])
    pairs = [f"{a}-{b}" for a, b in zip(timed, timed[1:])]
    results["mesh_log_log_slopes"] = dict(zip(pairs, slopes))
    print(table)
    print("log-log slopes of the mesh values:", results["mesh_log_log_slopes"])

    accuracy = ""
    if results["accuracy_over_epsilon"]:
        accuracy = accuracy_table(results["accuracy_over_epsilon"])
        print(accuracy)
        scale = scale_table(results["accuracy_over_epsilon"], results["largest_entry_by_lambda"])
        print(scale)
        accuracy = (
            f"Measured error / ε at N = {accuracy_size} (random; crystal: rattled rock salt of "
            f"about as many atoms), mesh forced:\n\n```\n{accuracy}\n```\n\n"
            f"The values' worst block (its λ, largest entry and absolute error / ε):\n\n"
            f"```\n{scale}\n```\n\n"
        )
    errors = "".join(
        f"- {name}: {case['error']}\n" for name, case in cases.items() if "error" in case
    )
    errors = f"Not measured:\n\n{errors}\n" if errors else ""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    output.with_suffix(".md").write_text(
        f"# Particle mesh at scale ({results['date']})\n\n"
        f"Settings: {results['settings']}\n\n{accuracy}"
        f"```\n{table}\n```\n\n{errors}Log-log slopes of the mesh values: "
        f"{results['mesh_log_log_slopes']}\n\nMachine: {results['machine']}\n"
    )


if __name__ == "__main__":
    main()
