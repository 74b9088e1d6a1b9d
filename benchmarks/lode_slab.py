"""Time of the slab LODE expansion (pbc true along two cell vectors) of a random Na/Cl slab:
values, values with positions and strain gradients, and the backward product, for the
installed farsighted and, with ``--before PATH``, for another build of it (a directory from
which ``import farsighted`` finds that build), in one run and on the same structure.

Each build runs in its own subprocess (``--worker``); the builds alternate, twice each, and
the best time of each case is kept, so that a change of the machine's load affects both.
The first ``compute`` of a calculator builds its tables (splines of the radial integrals and
of the planar projections); it is timed separately. Run ``python benchmarks/lode_slab.py
--help`` for the options, and see ``benchmarks/README.md``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from builds import best_time, compare, machine, table, worker_arguments

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "python" / "farsighted" / "data"


def nacl_slab(n_atoms, side, thickness, seed):
    """``n_atoms`` (half Na, half Cl) at uniformly random positions in a slab of
    ``thickness`` Å, periodic along a square in-plane cell of ``side`` Å"""
    import ase

    rng = np.random.default_rng([seed, n_atoms])
    numbers = np.array([11] * (n_atoms // 2) + [17] * (n_atoms - n_atoms // 2))
    positions = rng.uniform(0.0, 1.0, size=(n_atoms, 3)) * [side, side, thickness]
    cell = [[side, 0.0, 0.0], [0.0, side, 0.0], [0.0, 0.0, 0.0]]
    return ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=[True, True, False])


def worker(args):
    """Times of one build, as JSON on stdout"""
    import farsighted

    with open(DATA / "lode_hypers.json") as file:
        hypers = json.load(file)
    atoms = nacl_slab(args.atoms, args.side, args.thickness, args.seed)
    calculator = farsighted.LodeSphericalExpansion(**hypers)
    start = time.perf_counter()
    calculator.compute(atoms)
    first = time.perf_counter() - start
    values, values_time = best_time(lambda: calculator.compute(atoms), args.repeats)
    _, gradients_time = best_time(
        lambda: calculator.compute(atoms, gradients=["positions", "strain"]), args.repeats
    )
    _, backward_time = best_time(lambda: calculator.backward(atoms, values), args.repeats)
    times = {
        "first compute": first,
        "values": values_time,
        "values + gradients": gradients_time,
        "backward": backward_time,
    }
    json.dump({"farsighted": str(Path(farsighted.__file__).parent), "times": times}, sys.stdout)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="another build to compare")
    parser.add_argument("--atoms", type=int, default=200)
    parser.add_argument("--side", type=float, default=16.0, help="in-plane cell side (Å)")
    parser.add_argument("--thickness", type=float, default=19.5, help="slab thickness (Å)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="calls per case and run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    names = ["atoms", "side", "thickness", "seed", "repeats"]
    best = compare(__file__, worker_arguments(args, names), args.before)
    print(
        f"{args.atoms}-atom Na/Cl slab, {args.side} × {args.side} Å, {args.thickness} Å thick; "
        f"hypers of python/farsighted/data/lode_hypers.json, default k_cutoff and splines; "
        f"{machine()} at the end"
    )
    print(table(best))
    for name, result in best.items():
        print(f"- {name}: {result['farsighted']}")


if __name__ == "__main__":
    main()
