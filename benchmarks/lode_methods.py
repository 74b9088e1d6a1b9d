"""Time of every method of the LODE expansion, for the installed farsighted and, with
``--before PATH``, another build of it, in one run and on the same structures (see
``builds.py``): the k-space sum of a periodic box (values, values with positions and strain
gradients, backward), the Ewald split (values, backward), an open cluster (values, values with
gradients, backward) and a slab (values, backward).

Structures: random Na/Cl at 0.04 atoms/Å³ (half Na, half Cl, uniformly random positions,
seeded); hypers of python/farsighted/data/lode_hypers.json, default k_cutoff and splines; the
Ewald split with ``accuracy`` 1e-4. Each calculator computes once before it is timed (tables
built on first use are not timed). Run ``python benchmarks/lode_methods.py --help`` for the
options.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from builds import best_time, compare, machine, table, worker_arguments

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "python" / "farsighted" / "data"
DENSITY = 0.04


def random_nacl(n_atoms, box, pbc, seed):
    """``n_atoms`` Na/Cl at uniformly random positions in ``box`` (Å), periodic along ``pbc``;
    the cell rows of non-periodic directions are zero"""
    import ase

    rng = np.random.default_rng([seed, n_atoms])
    numbers = np.array([11] * (n_atoms // 2) + [17] * (n_atoms - n_atoms // 2))
    positions = rng.uniform(0.0, 1.0, size=(n_atoms, 3)) * box
    cell = np.diag([b if p else 0.0 for b, p in zip(box, pbc)])
    return ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)


def _case(calculator, atoms, what):
    """The call of one case, after a first ``compute`` that builds the calculator's tables"""
    values = calculator.compute(atoms)
    if what == "backward":
        return lambda: calculator.backward(atoms, values)
    return lambda: calculator.compute(atoms, gradients=what or [])


def worker(args):
    """Times of one build, as JSON on stdout"""
    import farsighted

    with open(DATA / "lode_hypers.json") as file:
        hypers = json.load(file)
    side = (args.atoms / DENSITY) ** (1 / 3)
    bulk = random_nacl(args.atoms, [side] * 3, [True] * 3, args.seed)
    cluster = random_nacl(
        args.open_atoms, [(args.open_atoms / DENSITY) ** (1 / 3)] * 3, [False] * 3, args.seed
    )
    slab_side = (args.slab_atoms / DENSITY / 12.0) ** 0.5
    slab = random_nacl(
        args.slab_atoms, [slab_side, slab_side, 12.0], [True, True, False], args.seed
    )
    gradients = ["positions", "strain"]
    kspace = farsighted.LodeSphericalExpansion(**hypers)
    split = farsighted.LodeSphericalExpansion(**hypers, accuracy=args.accuracy)

    cases = {
        "periodic values": (kspace, bulk, None),
        "periodic values + gradients": (kspace, bulk, gradients),
        "periodic backward": (kspace, bulk, "backward"),
        "Ewald split values": (split, bulk, None),
        "Ewald split backward": (split, bulk, "backward"),
        "open values": (kspace, cluster, None),
        "open values + gradients": (kspace, cluster, gradients),
        "open backward": (kspace, cluster, "backward"),
        "slab values": (kspace, slab, None),
        "slab backward": (kspace, slab, "backward"),
    }
    times = {}
    for name, (calculator, atoms, what) in cases.items():
        if args.cases and name not in args.cases.split(","):
            continue
        _, times[name] = best_time(_case(calculator, atoms, what), args.repeats)
    json.dump({"farsighted": str(Path(farsighted.__file__).parent), "times": times}, sys.stdout)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="another build to compare")
    parser.add_argument("--atoms", type=int, default=216, help="atoms of the periodic box")
    parser.add_argument("--open-atoms", type=int, default=512, help="atoms of the cluster")
    parser.add_argument("--slab-atoms", type=int, default=128, help="atoms of the slab")
    parser.add_argument("--accuracy", type=float, default=1e-4, help="of the Ewald split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="calls per case and run")
    parser.add_argument("--cases", default="", help="only these cases (names, comma-separated)")
    parser.add_argument("--output", type=Path, default=None, help="write the table here too")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    names = ["atoms", "open_atoms", "slab_atoms", "accuracy", "seed", "repeats", "cases"]
    best = compare(__file__, worker_arguments(args, names), args.before)
    lines = [
        f"Periodic box of {args.atoms} atoms, cluster of {args.open_atoms}, slab of "
        f"{args.slab_atoms} (12 Å thick), Na/Cl at {DENSITY} atoms/Å³; Ewald split accuracy "
        f"{args.accuracy:g}; best of {2 * args.repeats} calls; {machine()} at the end",
        "",
        table(best),
        "",
    ]
    lines += [f"- {name}: {result['farsighted']}" for name, result in best.items()]
    report = "\n".join(lines)
    print(report)
    if args.output is not None:
        args.output.write_text(report + "\n")


if __name__ == "__main__":
    main()
