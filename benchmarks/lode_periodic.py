"""Side-by-side benchmark of farsighted and featomic for the periodic LODE spherical expansion.

Both calculators run in the same process, on the same random Na/Cl boxes and with the same
hyper-parameters; every result of farsighted is checked against featomic's before its timing is
reported. Run ``python benchmarks/lode_periodic.py --help`` for the options, and see
``benchmarks/README.md``.
"""

import argparse
import datetime
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

DENSITY = 0.04  # atoms / Å³
SMEARING = 1.0
EXPONENT = 1
MAX_ANGULAR = 4
MAX_RADIAL = 5
RADIUS = 4.0
FEATOMIC_SPLINE_ACCURACY = None  # exact radial integrals
FARSIGHTED_SPLINE_ACCURACY = 1e-12

DEFAULT_SIZES = [64, 216, 512, 1000, 2000]
DEFAULT_GRADIENT_SIZES = [64, 216, 512]
QUICK_SIZES = [64, 216]
QUICK_GRADIENT_SIZES = [64]

VALUES = "values"
POSITIONS = "values + positions gradients"
STRAIN = "values + positions + strain gradients"

NOT_AVAILABLE = "—"


class MetadataMismatch(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# structures and settings
# ----------------------------------------------------------------------------------------------


def nacl_box(n_atoms, seed):
    """Cubic box of ``n_atoms`` (half Na, half Cl) at uniformly random positions, at a number
    density of 0.04 atoms/Å³"""
    import ase

    rng = np.random.default_rng([seed, n_atoms])
    length = (n_atoms / DENSITY) ** (1.0 / 3.0)
    n_na = n_atoms // 2
    numbers = np.array([11] * n_na + [17] * (n_atoms - n_na))
    positions = rng.uniform(0.0, length, size=(n_atoms, 3))
    return ase.Atoms(numbers=numbers, positions=positions, cell=np.eye(3) * length, pbc=True)


def hypers(spline_accuracy):
    return {
        "density": {
            "type": "SmearedPowerLaw",
            "smearing": SMEARING,
            "exponent": EXPONENT,
        },
        "basis": {
            "type": "TensorProduct",
            "max_angular": MAX_ANGULAR,
            "radial": {"type": "Gto", "max_radial": MAX_RADIAL, "radius": RADIUS},
            "spline_accuracy": spline_accuracy,
        },
    }


def count_k_vectors(cell, k_cutoff):
    """Number of reciprocal lattice vectors with 0 < |k| ≤ k_cutoff in a half space (k and -k
    count once), i.e. the number of structure factors a Ewald-like sum needs"""
    cell = np.asarray(cell, dtype=np.float64)
    reciprocal = 2.0 * np.pi * np.linalg.inv(cell).T
    bounds = [math.floor(k_cutoff * np.linalg.norm(a) / (2.0 * np.pi)) for a in cell]
    ranges = [np.arange(-b, b + 1) for b in bounds]
    n = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    k2 = np.sum((n @ reciprocal) ** 2, axis=1)
    full = int(np.count_nonzero((k2 > 0.0) & (k2 <= k_cutoff**2)))
    return full // 2


# ----------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------


def _rss_kib(field):
    """Current (VmRSS) or peak (VmHWM) resident memory of this process in KiB, from /proc"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


_PROCESS_PEAK_KIB = [0]


def process_peak_rss_mib():
    """Peak resident memory of the whole process in MiB. Resetting VmHWM also resets what
    ``getrusage(RUSAGE_SELF).ru_maxrss`` reports, so the peaks seen before every reset are
    remembered here."""
    peaks = [_PROCESS_PEAK_KIB[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]
    current = _rss_kib("VmHWM")
    if current is not None:
        peaks.append(current)
    return max(peaks) / 1024.0


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); returns whether it worked"""
    _PROCESS_PEAK_KIB[0] = int(process_peak_rss_mib() * 1024)
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _release_memory():
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def timed_compute(calculator, system, gradients, repeats, repeat_below):
    """Run ``calculator.compute`` once, and again up to ``repeats`` runs in total while a run
    takes less than ``repeat_below`` seconds. Returns the first result, the list of times, and
    the peak memory increase during the first run (MiB, ``None`` where it can not be measured).
    """
    _release_memory()
    before = _rss_kib("VmRSS")
    can_measure = before is not None and _reset_peak_rss()

    start = time.perf_counter()
    result = calculator.compute(system, gradients=gradients)
    times = [time.perf_counter() - start]

    peak_mib = None
    if can_measure:
        peak = _rss_kib("VmHWM")
        if peak is not None:
            peak_mib = max(peak - before, 0) / 1024.0

    while len(times) < repeats and times[-1] < repeat_below:
        start = time.perf_counter()
        extra = calculator.compute(system, gradients=gradients)
        times.append(time.perf_counter() - start)
        del extra

    return result, times, peak_mib


def _check_same_labels(reference, ours, what):
    if reference.names != ours.names or reference != ours:
        raise MetadataMismatch(
            f"{what} differ: featomic has {reference.names} x {len(reference)}, "
            f"farsighted has {ours.names} x {len(ours)}"
        )


def _relative(reference, ours):
    reference = np.asarray(reference)
    ours = np.asarray(ours)
    if reference.shape != ours.shape:
        raise MetadataMismatch(f"array shapes differ: {reference.shape} vs {ours.shape}")
    if reference.size == 0:
        return 0.0
    scale = float(np.max(np.abs(reference)))
    difference = float(np.max(np.abs(ours - reference)))
    return difference / scale if scale > 0.0 else difference


def max_relative_difference(reference, ours, gradient=None):
    """max over blocks of max|ours − reference| / max|reference|, for the values
    (``gradient=None``) or for one gradient; the metadata must be identical"""
    _check_same_labels(reference.keys, ours.keys, "keys")
    worst = 0.0
    for key, reference_block in reference.items():
        block = ours.block(key)
        if gradient is not None:
            reference_block = reference_block.gradient(gradient)
            block = block.gradient(gradient)
        where = f"block {dict(zip(key.names, key.values.tolist()))}"
        if gradient is not None:
            where += f" ({gradient} gradient)"
        _check_same_labels(reference_block.samples, block.samples, f"samples of {where}")
        if len(reference_block.components) != len(block.components):
            raise MetadataMismatch(f"number of components of {where} differ")
        for reference_component, component in zip(reference_block.components, block.components):
            _check_same_labels(reference_component, component, f"components of {where}")
        _check_same_labels(reference_block.properties, block.properties, f"properties of {where}")
        worst = max(worst, _relative(reference_block.values, block.values))
    return worst


# ----------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------


def _git_commit():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _load_average():
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def machine_info():
    import featomic
    import metatensor

    import farsighted

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS"),
        "load_average_at_start": _load_average(),
        "versions": {
            "farsighted": farsighted.__version__,
            "featomic": featomic.__version__,
            "metatensor-core": getattr(metatensor, "__version__", None),
            "numpy": np.__version__,
        },
        "farsighted_git_commit": _git_commit(),
    }


def _seconds(value):
    if value is None:
        return NOT_AVAILABLE
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    if value < 10:
        return f"{value:.3f} s"
    return f"{value:.1f} s"


def _difference(value):
    return NOT_AVAILABLE if value is None else f"{value:.1e}"


def _ratio(case):
    featomic, ours = case["featomic_time_s"], case["farsighted_time_s"]
    if featomic is None or ours is None or ours == 0.0:
        return NOT_AVAILABLE
    return f"{featomic / ours:.1f}x"


def _memory(value):
    return NOT_AVAILABLE if value is None else f"{value:.0f}"


CALCULATIONS = [VALUES, POSITIONS, STRAIN]

TABLE_HEADER = [
    "calculation",
    "N",
    "k-vectors",
    "featomic",
    "farsighted",
    "speed-up",
    "rel.diff values",
    "rel.diff gradients",
    "peak MiB featomic",
    "peak MiB farsighted",
]


def table_rows(cases):
    """One row per case, grouped by calculation, by increasing size"""
    rows = []
    order = sorted(cases, key=lambda c: (CALCULATIONS.index(c["calculation"]), c["n_atoms"]))
    for case in order:
        rows.append(
            [
                case["calculation"],
                str(case["n_atoms"]),
                str(case["n_k_vectors"]),
                _seconds(case["featomic_time_s"]),
                _seconds(case["farsighted_time_s"]),
                _ratio(case),
                _difference(case["max_relative_difference_values"]),
                _difference(case["max_relative_difference_positions"]),
                _memory(case["featomic_peak_memory_mib"]),
                _memory(case["farsighted_peak_memory_mib"]),
            ]
        )
    return rows


def text_table(header, rows):
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(row):
        cells = []
        for i, cell in enumerate(row):
            cells.append(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]))
        return "  ".join(cells).rstrip()

    separator = "  ".join("-" * width for width in widths)
    output = [line(header), separator]
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            output.append("")
        output.append(line(row))
        previous = row[0]
    return "\n".join(output)


def settings_description():
    return (
        f"random Na/Cl boxes (half Na, half Cl, uniformly random positions, cubic cells, "
        f"{DENSITY} atoms/Å³); SmearedPowerLaw density, exponent {EXPONENT}, smearing "
        f"{SMEARING} Å; TensorProduct basis, max_angular {MAX_ANGULAR}, Gto radial basis, "
        f"max_radial {MAX_RADIAL} ({MAX_RADIAL + 1} functions), radius {RADIUS} Å; "
        f"default k_cutoff (1.2π/σ); featomic with exact radial integrals "
        f"(spline_accuracy None), farsighted with spline_accuracy "
        f"{FARSIGHTED_SPLINE_ACCURACY:g}"
    )


def rst_report(results):
    machine = results["machine"]
    versions = machine["versions"]
    cpu = f"{machine['usable_cpus']} CPU cores"
    if machine["cpu_model"]:
        cpu += f" ({machine['cpu_model']})"
    threads = machine["RAYON_NUM_THREADS"]
    if threads:
        cpu += f", RAYON_NUM_THREADS={threads}"
    commit = machine["farsighted_git_commit"]
    commit = (
        f" (git {commit[:12]}{'+dirty' if commit.endswith('+dirty') else ''})" if commit else ""
    )

    def escape(text):
        return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`")

    lines = [
        (
            f"Measured on {results['date'][:10]} on a machine with {escape(cpu)}, "
            f"farsighted {versions['farsighted']}{commit}, featomic {versions['featomic']}, "
            f"Python {machine['python']}."
        ),
        "",
        (
            f"Settings: {escape(settings_description())}. Times are wall-clock times of one "
            "``compute`` call (best of several runs for short cases), after a warm-up call; "
            "setting up the farsighted calculator (construction and radial spline tables, built "
            "on a first call on a 2-atom box) took "
            f"{_seconds(results['farsighted_construction_time_s'])} and is not included. "
            "Peak memory is the increase of the resident memory during the call, result "
            "included."
        ),
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    header = [
        "Calculation",
        "N atoms",
        "k-vectors",
        "featomic",
        "farsighted",
        "Speed-up",
        "Max rel. diff. (values)",
        "Max rel. diff. (positions gradients)",
        "Peak memory featomic (MiB)",
        "Peak memory farsighted (MiB)",
    ]
    for row in [header] + table_rows(results["cases"]):
        for i, cell in enumerate(row):
            lines.append(("   * - " if i == 0 else "     - ") + escape(cell))
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------


def _sizes(text):
    try:
        sizes = sorted({int(value) for value in text.split(",") if value.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got '{text}'"
        ) from None
    if any(size < 2 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be at least 2 atoms")
    return sizes


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Time farsighted against featomic for the periodic LODE spherical expansion",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="comma-separated numbers of atoms for the values-only benchmark "
        f"(default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument(
        "--gradient-sizes",
        type=_sizes,
        default=None,
        help="comma-separated numbers of atoms for the positions gradients benchmark "
        f"(default {','.join(map(str, DEFAULT_GRADIENT_SIZES))}; use '' to skip)",
    )
    parser.add_argument(
        "--strain-sizes",
        type=_sizes,
        default=None,
        help="comma-separated numbers of atoms for farsighted alone with positions and strain "
        "gradients (default: the gradient sizes; use '' to skip)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: sizes {','.join(map(str, QUICK_SIZES))}, gradients "
        f"{','.join(map(str, QUICK_GRADIENT_SIZES))}; results go to lode_periodic_quick.*",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="at most this many runs per case, the best one is reported (default 3)",
    )
    parser.add_argument(
        "--repeat-below",
        type=float,
        default=1.0,
        help="repeat a case only while a run takes less than this many seconds (default 1)",
    )
    parser.add_argument("--seed", type=int, default=20240601, help="seed for the structures")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-9,
        help="largest accepted relative difference with featomic (default 1e-9)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="number of threads for both calculators (sets RAYON_NUM_THREADS; default: "
        "the environment's value, or all cores)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=HERE / "results",
        help="where to write the .json and .rst results (default benchmarks/results)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="base name of the results files (default lode_periodic, or lode_periodic_quick "
        "with --quick)",
    )
    parser.add_argument("--no-save", action="store_true", help="only print the table")
    args = parser.parse_args(argv)

    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.gradient_sizes is None:
        args.gradient_sizes = QUICK_GRADIENT_SIZES if args.quick else DEFAULT_GRADIENT_SIZES
    if args.strain_sizes is None:
        args.strain_sizes = args.gradient_sizes
    if args.name is None:
        args.name = "lode_periodic_quick" if args.quick else "lode_periodic"
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads is not None:
        # must happen before the first parallel call creates the thread pools
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)

    import featomic

    import farsighted

    started = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info()
    log(
        f"farsighted {machine['versions']['farsighted']}, featomic "
        f"{machine['versions']['featomic']}, {machine['usable_cpus']} CPU cores "
        f"(RAYON_NUM_THREADS={machine['RAYON_NUM_THREADS']})"
    )

    featomic_hypers = hypers(FEATOMIC_SPLINE_ACCURACY)
    farsighted_hypers = hypers(FARSIGHTED_SPLINE_ACCURACY)

    start = time.perf_counter()
    featomic_calculator = featomic.LodeSphericalExpansion(**featomic_hypers)
    featomic_construction = time.perf_counter() - start

    # farsighted builds its radial spline tables on the first compute: the set-up time is the
    # construction plus a first call on a tiny system
    start = time.perf_counter()
    farsighted_calculator = farsighted.LodeSphericalExpansion(**farsighted_hypers)
    farsighted_calculator.compute(nacl_box(2, args.seed))
    farsighted_construction = time.perf_counter() - start
    k_cutoff = farsighted_calculator.k_cutoff
    log(
        f"construction: featomic {_seconds(featomic_construction)}, "
        f"farsighted {_seconds(farsighted_construction)}; k_cutoff = {k_cutoff:.6f} Å⁻¹"
    )

    # warm-up on a tiny system, with every gradient we will ask for later
    warm_up = nacl_box(8, args.seed)
    start = time.perf_counter()
    featomic_calculator.compute(warm_up, gradients=["positions"])
    farsighted_calculator.compute(warm_up, gradients=["positions", "strain"])
    log(f"warm-up: {_seconds(time.perf_counter() - start)}")

    cases = []
    failures = []

    def check(case, reference, ours, gradient=None):
        name = "values" if gradient is None else f"{gradient} gradients"
        try:
            difference = max_relative_difference(reference, ours, gradient)
        except MetadataMismatch as error:
            failures.append(f"{case['calculation']}, N = {case['n_atoms']}: {error}")
            log(f"  ERROR: metadata mismatch: {error}")
            return None
        if not difference <= args.tolerance:
            failures.append(
                f"{case['calculation']}, N = {case['n_atoms']}: relative difference on {name} "
                f"{difference:.3e} > {args.tolerance:.1e}"
            )
            log(f"  ERROR: {name} differ by {difference:.3e} (tolerance {args.tolerance:.1e})")
        return difference

    def new_case(calculation, n_atoms, n_k):
        return {
            "calculation": calculation,
            "n_atoms": n_atoms,
            "n_k_vectors": n_k,
            "featomic_time_s": None,
            "featomic_times_s": [],
            "farsighted_time_s": None,
            "farsighted_times_s": [],
            "max_relative_difference_values": None,
            "max_relative_difference_positions": None,
            "featomic_peak_memory_mib": None,
            "farsighted_peak_memory_mib": None,
        }

    def run(calculator, system, gradients):
        return timed_compute(calculator, system, gradients, args.repeats, args.repeat_below)

    all_sizes = sorted(set(args.sizes) | set(args.gradient_sizes) | set(args.strain_sizes))
    for n_atoms in all_sizes:
        system = nacl_box(n_atoms, args.seed)
        n_k = count_k_vectors(system.cell.array, k_cutoff)
        log(f"N = {n_atoms} ({n_k} k-vectors in a half space)")
        reference = None
        reference_has_positions = False

        if n_atoms in args.sizes:
            case = new_case(VALUES, n_atoms, n_k)
            reference, times, memory = run(featomic_calculator, system, [])
            case["featomic_times_s"], case["featomic_peak_memory_mib"] = times, memory
            ours, times, memory = run(farsighted_calculator, system, [])
            case["farsighted_times_s"], case["farsighted_peak_memory_mib"] = times, memory
            case["max_relative_difference_values"] = check(case, reference, ours)
            del ours
            cases.append(case)

        if n_atoms in args.gradient_sizes:
            case = new_case(POSITIONS, n_atoms, n_k)
            reference = None
            _release_memory()
            reference, times, memory = run(featomic_calculator, system, ["positions"])
            reference_has_positions = True
            case["featomic_times_s"], case["featomic_peak_memory_mib"] = times, memory
            ours, times, memory = run(farsighted_calculator, system, ["positions"])
            case["farsighted_times_s"], case["farsighted_peak_memory_mib"] = times, memory
            case["max_relative_difference_values"] = check(case, reference, ours)
            case["max_relative_difference_positions"] = check(case, reference, ours, "positions")
            del ours
            cases.append(case)

        if n_atoms in args.strain_sizes:
            # farsighted alone: featomic has no strain gradients. Values and positions
            # gradients are still checked against featomic where they were computed above.
            case = new_case(STRAIN, n_atoms, n_k)
            ours, times, memory = run(farsighted_calculator, system, ["positions", "strain"])
            case["farsighted_times_s"], case["farsighted_peak_memory_mib"] = times, memory
            if reference is not None:
                case["max_relative_difference_values"] = check(case, reference, ours)
            if reference_has_positions:
                case["max_relative_difference_positions"] = check(
                    case, reference, ours, "positions"
                )
            del ours
            cases.append(case)

        for case in cases:
            if case["n_atoms"] != n_atoms:
                continue
            for code in ("featomic", "farsighted"):
                if case[f"{code}_times_s"]:
                    case[f"{code}_time_s"] = min(case[f"{code}_times_s"])
            log(
                f"  {case['calculation']}: featomic {_seconds(case['featomic_time_s'])}, "
                f"farsighted {_seconds(case['farsighted_time_s'])}, ratio {_ratio(case)}, "
                f"max rel. diff. values {_difference(case['max_relative_difference_values'])}, "
                f"positions {_difference(case['max_relative_difference_positions'])}"
            )
        reference = None
        _release_memory()

    total = time.perf_counter() - started
    results = {
        "benchmark": "lode_periodic",
        "date": date,
        "command": [Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv)),
        "machine": machine,
        "settings": {
            "description": settings_description(),
            "atom_density_per_A3": DENSITY,
            "seed": args.seed,
            "k_cutoff": k_cutoff,
            "featomic_hypers": featomic_hypers,
            "farsighted_hypers": farsighted_hypers,
            "sizes": args.sizes,
            "gradient_sizes": args.gradient_sizes,
            "strain_sizes": args.strain_sizes,
            "repeats": args.repeats,
            "repeat_below_s": args.repeat_below,
            "tolerance": args.tolerance,
            "time": "best of the runs of time.perf_counter() around one compute() call",
            "peak_memory": "increase of VmHWM over VmRSS before the first compute() call, MiB",
        },
        "featomic_construction_time_s": featomic_construction,
        "farsighted_construction_time_s": farsighted_construction,
        "total_time_s": total,
        "load_average_at_end": _load_average(),
        "max_rss_mib": process_peak_rss_mib(),
        "passed": not failures,
        "failures": failures,
        "cases": cases,
    }

    print()
    print(
        f"farsighted {machine['versions']['farsighted']} vs featomic "
        f"{machine['versions']['featomic']} on {machine['usable_cpus']} CPU cores "
        f"({machine['cpu_model']}), {results['date']}"
    )
    print(
        f"farsighted calculator construction: {_seconds(farsighted_construction)} "
        f"(featomic: {_seconds(featomic_construction)}); k_cutoff = {k_cutoff:.4f} Å⁻¹; "
        "k-vectors counted in a half space"
    )
    print()
    print(text_table(TABLE_HEADER, table_rows(cases)))
    print()
    print(f"total time {_seconds(total)}, peak RSS of the process {results['max_rss_mib']:.0f} MiB")

    if not args.no_save:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        if failures:
            path = args.output_dir / f"{args.name}.failed.json"
            path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            print(f"wrote {path} (the .rst table is only written when the check passes)")
        else:
            json_path = args.output_dir / f"{args.name}.json"
            json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            rst_path = args.output_dir / f"{args.name}.rst"
            rst_path.write_text(rst_report(results))
            print(f"wrote {json_path} and {rst_path}")

    if failures:
        print(file=sys.stderr)
        print("FAILED: farsighted does not agree with featomic:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"all cases agree with featomic within {args.tolerance:.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
