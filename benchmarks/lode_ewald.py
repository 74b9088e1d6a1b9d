"""Equal-accuracy benchmark of farsighted's Ewald split against featomic's reciprocal-space sum.

featomic computes the periodic LODE expansion by a reciprocal-space sum with its default
``k_cutoff`` (1.2π/σ). Its error is measured against a converged reference, and farsighted is
then run with ``"accuracy"`` set to that error (Ewald split, parameters from the cost model); the
speed-up is reported only together with farsighted's own error against the same reference,
which must not be larger than featomic's ("equal accuracy").

The reference is farsighted's pure reciprocal-space sum with k_cutoff = 6.5/σ (terms beyond are
below e^{-21} of the leading ones); at equal k_cutoff that path agrees with featomic to ~1e-13
(``benchmarks/lode_periodic.py``). Run ``python benchmarks/lode_ewald.py --help``.
"""

import argparse
import datetime
import json
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
    count_k_vectors,
    machine_info,
    max_relative_difference,
    nacl_box,
    text_table,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

REFERENCE_K_SIGMA = 6.5
FEATOMIC_DEFAULT_K_SIGMA = 1.2 * np.pi

VALUES = "values"
POSITIONS = "values + positions gradients"

# (smearing, calculation, sizes): the cases of the issue
DEFAULT_CASES = [(0.3, VALUES, [216, 512]), (1.0, POSITIONS, [216, 512])]
QUICK_CASES = [(0.3, VALUES, [64]), (1.0, POSITIONS, [64])]


def hypers(smearing, k_cutoff=None, accuracy=None, spline_accuracy=None):
    """featomic-style hyper-parameters; ``k_cutoff=None`` leaves featomic's default"""
    result = {
        "density": {"type": "SmearedPowerLaw", "smearing": smearing, "exponent": EXPONENT},
        "basis": {
            "type": "TensorProduct",
            "max_angular": MAX_ANGULAR,
            "radial": {"type": "Gto", "max_radial": MAX_RADIAL, "radius": RADIUS},
            "spline_accuracy": spline_accuracy,
        },
    }
    if k_cutoff is not None:
        result["k_cutoff"] = k_cutoff
    if accuracy is not None:
        result["accuracy"] = accuracy
    return result


def timed(function, repeats, repeat_below):
    """First result and best time of up to ``repeats`` runs (repeated while a run is shorter
    than ``repeat_below`` seconds)"""
    start = time.perf_counter()
    result = function()
    times = [time.perf_counter() - start]
    while len(times) < repeats and times[-1] < repeat_below:
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return result, min(times)


def errors(reference, result, gradients):
    values = max_relative_difference(reference, result)
    positions = max_relative_difference(reference, result, "positions") if gradients else None
    return values, positions


def run_case(smearing, calculation, n_atoms, args, log):
    import featomic

    import farsighted

    gradients = ["positions"] if calculation == POSITIONS else []
    atoms = nacl_box(n_atoms, args.seed)
    warm_up = nacl_box(8, args.seed)

    reference_calculator = farsighted.LodeSphericalExpansion(
        **hypers(smearing, REFERENCE_K_SIGMA / smearing, spline_accuracy=1e-12)
    )
    log(f"  reference (pure k-space, k_cutoff = {REFERENCE_K_SIGMA}/σ)")
    start = time.perf_counter()
    reference = reference_calculator.compute(atoms, gradients=gradients)
    reference_time = time.perf_counter() - start
    del reference_calculator

    featomic_calculator = featomic.LodeSphericalExpansion(**hypers(smearing))
    featomic_calculator.compute(warm_up, gradients=gradients)
    log("  featomic (default k_cutoff)")
    featomic_result, featomic_time = timed(
        lambda: featomic_calculator.compute(atoms, gradients=gradients),
        args.repeats,
        args.repeat_below,
    )
    featomic_errors = errors(reference, featomic_result, gradients)
    del featomic_result

    pure_calculator = farsighted.LodeSphericalExpansion(
        **hypers(smearing, FEATOMIC_DEFAULT_K_SIGMA / smearing, spline_accuracy=1e-12)
    )
    pure_calculator.compute(warm_up, gradients=gradients)
    log("  farsighted, pure k-space (featomic's k_cutoff)")
    pure_result, pure_time = timed(
        lambda: pure_calculator.compute(atoms, gradients=gradients),
        args.repeats,
        args.repeat_below,
    )
    pure_errors = errors(reference, pure_result, gradients)
    del pure_result

    # equal accuracy is about the measured errors: `accuracy` starts at featomic's error and is
    # loosened by √10 while the split's errors stay within featomic's; the fastest is kept
    target = min(e for e in featomic_errors if e is not None)
    candidates = [args.accuracy] if args.accuracy else [target * 10.0 ** (k / 2) for k in range(7)]
    best = None
    for accuracy in candidates:
        if accuracy > 0.1:
            break
        split_calculator = farsighted.LodeSphericalExpansion(
            **hypers(smearing, accuracy=accuracy, spline_accuracy=1e-12)
        )
        start = time.perf_counter()
        split_calculator.compute(atoms, gradients=gradients)
        first_call = time.perf_counter() - start
        log(f"  farsighted, Ewald split (accuracy {accuracy:.1e})")
        split_result, split_time = timed(
            lambda c=split_calculator: c.compute(atoms, gradients=gradients),
            args.repeats,
            args.repeat_below,
        )
        split_errors = errors(reference, split_result, gradients)
        del split_result
        within = all(
            ours <= theirs
            for ours, theirs in zip(split_errors, featomic_errors)
            if ours is not None
        )
        log(f"    {split_time:.3f} s, errors {split_errors}")
        if best is None or (within and (not best[-1] or split_time < best[2])):
            best = (accuracy, first_call, split_time, split_errors, within)
        if not within:
            break
    accuracy, first_call, split_time, split_errors, equal = best
    return {
        "smearing": smearing,
        "calculation": calculation,
        "n_atoms": n_atoms,
        "featomic_k_vectors": count_k_vectors(atoms.cell, FEATOMIC_DEFAULT_K_SIGMA / smearing),
        "reference_time_s": reference_time,
        "featomic_time_s": featomic_time,
        "featomic_errors": featomic_errors,
        "pure_time_s": pure_time,
        "pure_errors": pure_errors,
        "accuracy": accuracy,
        "split_first_call_s": first_call,
        "split_time_s": split_time,
        "split_errors": split_errors,
        "equal_accuracy": bool(equal),
    }


def _seconds(value):
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _errors(pair):
    values, positions = pair
    return f"{values:.1e}" if positions is None else f"{values:.1e} / {positions:.1e}"


HEADER = [
    "σ (Å)",
    "calculation",
    "N",
    "featomic",
    "error featomic",
    "farsighted split",
    "error split",
    "speed-up",
    "farsighted pure",
    "speed-up pure",
]


def rows(cases):
    return [
        [
            f"{case['smearing']:g}",
            case["calculation"],
            str(case["n_atoms"]),
            _seconds(case["featomic_time_s"]),
            _errors(case["featomic_errors"]),
            _seconds(case["split_time_s"]),
            _errors(case["split_errors"]),
            f"{case['featomic_time_s'] / case['split_time_s']:.1f}x",
            _seconds(case["pure_time_s"]),
            f"{case['featomic_time_s'] / case['pure_time_s']:.1f}x",
        ]
        for case in cases
    ]


def rst_report(results):
    machine = results["machine"]
    versions = machine["versions"]
    lines = [
        f"Measured on {results['date'][:10]} on a machine with {machine['usable_cpus']} CPU "
        f"cores, farsighted {versions['farsighted']} (git "
        f"{(machine['farsighted_git_commit'] or '?')[:12]}), featomic {versions['featomic']}.",
        "",
        f"Random Na/Cl cubic boxes at {DENSITY} atoms/Å³; SmearedPowerLaw exponent {EXPONENT}; "
        f"max_angular {MAX_ANGULAR}, {MAX_RADIAL + 1} Gto radial functions of radius {RADIUS} Å. "
        "Errors are max over blocks of max\\|X − X_ref\\| / max\\|X_ref\\| (values / positions "
        f"gradients) against farsighted's pure k-space sum at k_cutoff = {REFERENCE_K_SIGMA}/σ. "
        "featomic runs with its default k_cutoff (1.2π/σ) and exact radial integrals; the Ewald "
        "split runs with the loosest ``accuracy`` (featomic's error times 10^(k/2), k = 0 to 6) "
        "whose measured errors stay within featomic's; 'pure' is farsighted's "
        "reciprocal-space sum with featomic's k_cutoff. Times are the best of several "
        "``compute`` calls after a first call (which builds the split tables).",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    for row in [HEADER] + rows(results["cases"]):
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small boxes only (smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=2.0)
    parser.add_argument(
        "--accuracy", type=float, default=None, help="fixed accuracy instead of featomic's error"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    cases = []
    for smearing, calculation, sizes in QUICK_CASES if args.quick else DEFAULT_CASES:
        for n_atoms in sizes:
            log(f"σ = {smearing} Å, {calculation}, N = {n_atoms}")
            cases.append(run_case(smearing, calculation, n_atoms, args, log))

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": machine_info(),
        "cases": cases,
    }
    print(text_table(HEADER, rows(cases)))
    if not args.quick:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "lode_ewald.json").write_text(json.dumps(results, indent=2))
        (args.output / "lode_ewald.rst").write_text(rst_report(results))
    failed = [c for c in cases if not c["equal_accuracy"]]
    for case in failed:
        log(
            f"NOT equal accuracy: σ = {case['smearing']}, N = {case['n_atoms']}: split "
            f"{case['split_errors']} vs featomic {case['featomic_errors']}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
