"""Generate ``nacl_boxes.xyz``, the small data set of random Na/Cl boxes shipped with farsighted.

Each structure is a periodic box holding as many Na as Cl atoms (8 to 64 atoms in total), at a
number density drawn uniformly between 0.03 and 0.05 atoms/Å³, in a random triclinic cell
(lengths within a factor 1.25 of each other, angles between 75° and 105°). Atoms are placed one at
a time uniformly in the cell, and a trial position is rejected when it comes closer than 2.0 Å to
an atom already placed (minimum-image distance under periodic boundary conditions); a box where
too many trials fail is drawn again from scratch.

The generator is seeded, so running it again gives the same file::

    python -m farsighted.demo.generate_nacl_boxes  # writes farsighted/data/nacl_boxes.xyz

Each frame's ``info`` records its index (``structure_id``) and its ``number_density`` (Å⁻³).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import farsighted.data

SEED = 20240917
N_STRUCTURES = 20
MIN_ATOMS = 8
MAX_ATOMS = 64
DENSITY_RANGE = (0.03, 0.05)  # atoms / Å³
ANGLE_RANGE = (75.0, 105.0)  # degrees
LENGTH_RATIO = 1.25
MIN_DISTANCE = 2.0  # Å
MAX_TRIALS_PER_ATOM = 1000


def random_cell(rng: np.random.Generator, volume: float) -> np.ndarray:
    """A random triclinic cell (rows are the lattice vectors) of the given volume."""
    from ase.geometry import cellpar_to_cell

    while True:
        lengths = rng.uniform(1.0, LENGTH_RATIO, size=3)
        angles = rng.uniform(*ANGLE_RANGE, size=3)
        cos = np.cos(np.radians(angles))
        # the squared volume of the unit-length cell must be clearly positive
        gram = 1 - (cos**2).sum() + 2 * cos.prod()
        if gram < 0.5:
            continue
        cell = cellpar_to_cell(np.concatenate([lengths, angles]))
        scale = (volume / abs(np.linalg.det(cell))) ** (1 / 3)
        return cell * scale


def random_positions(rng: np.random.Generator, cell: np.ndarray, n_atoms: int) -> np.ndarray | None:
    """Place ``n_atoms`` atoms at least ``MIN_DISTANCE`` apart (minimum image), or give up."""
    from ase.geometry import get_distances

    positions = np.zeros((0, 3))
    for _ in range(n_atoms):
        for _ in range(MAX_TRIALS_PER_ATOM):
            trial = rng.uniform(size=3) @ cell
            if len(positions) == 0:
                break
            _, distances = get_distances(trial[None], positions, cell=cell, pbc=True)
            if distances.min() >= MIN_DISTANCE:
                break
        else:
            return None
        positions = np.vstack([positions, trial])
    return positions


def random_nacl_boxes(
    seed: int, n_structures: int, atoms_range: tuple, density_range: tuple
) -> list:
    """``n_structures`` neutral random Na/Cl boxes (``ase.Atoms``), with between
    ``atoms_range[0]`` and ``atoms_range[1]`` atoms (even) at number densities drawn uniformly in
    ``density_range``; also used by :py:mod:`farsighted.demo.generate_point_charges`."""
    import ase

    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < n_structures:
        n_pairs = int(rng.integers(atoms_range[0] // 2, atoms_range[1] // 2 + 1))
        n_atoms = 2 * n_pairs
        density = rng.uniform(*density_range)
        cell = random_cell(rng, n_atoms / density)
        positions = random_positions(rng, cell, n_atoms)
        if positions is None:
            continue
        numbers = np.array([11, 17] * n_pairs)
        rng.shuffle(numbers)
        atoms = ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
        atoms.info["structure_id"] = len(frames)
        atoms.info["number_density"] = round(float(density), 6)
        frames.append(atoms)
    return frames


def generate(seed: int = SEED, n_structures: int = N_STRUCTURES) -> list:
    """The list of ``ase.Atoms`` of the data set."""
    return random_nacl_boxes(seed, n_structures, (MIN_ATOMS, MAX_ATOMS), DENSITY_RANGE)


def write_data_set(generate, name: str, description: str, seed: int, n_structures: int, argv):
    """The command line of the generators: write the frames of ``generate(seed, n_structures)``
    to the shipped file ``name`` of :py:mod:`farsighted.data` (or to ``--output``)."""
    import ase.io

    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument(
        "--output",
        default=str(Path(farsighted.data.__file__).with_name(name)),
        help="where to write the extended XYZ file (default: the shipped one, in farsighted.data)",
    )
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--n-structures", type=int, default=n_structures)
    args = parser.parse_args(argv)

    frames = generate(args.seed, args.n_structures)
    ase.io.write(args.output, frames, format="extxyz")
    n_atoms = sum(len(frame) for frame in frames)
    print(f"wrote {len(frames)} structures ({n_atoms} atoms) to {args.output}")


def main(argv=None):
    write_data_set(generate, "nacl_boxes.xyz", __doc__, SEED, N_STRUCTURES, argv)


if __name__ == "__main__":
    main()
