"""Water clusters (H2O)n, n = 2-6, in varied geometries, with their RHF/def2-SVP energies,
dipole moments and static polarizabilities (coupled-perturbed Hartree-Fock), and the sums of
the same quantities over their molecules alone (each in its geometry in the cluster): the
non-additive, collective part is the difference.

    python -m farsighted.demo.generate_water_clusters
"""

import argparse
import time

import ase.io
import numpy as np
from ase import Atoms
from ase.units import Bohr, Hartree
from scipy.spatial.transform import Rotation

from ..data import _DATA_DIR
from .hartree_fock import RESPONSE_BASIS, dipole, molecule, polarizability

SEED = 2026
COUNTS = {2: 50, 3: 40, 4: 40, 5: 35, 6: 35}
OH, HOH = 0.957, 104.5  # starting water geometry (Å, degrees), distorted per molecule


def water(rng):
    """One water molecule with O at the origin, its bonds and angle distorted randomly"""
    r1, r2 = OH + rng.uniform(-0.05, 0.05, size=2)
    angle = np.deg2rad(HOH + rng.uniform(-6, 6))
    positions = np.array([[0, 0, 0], [r1, 0, 0], [r2 * np.cos(angle), r2 * np.sin(angle), 0]])
    return positions @ Rotation.random(random_state=int(rng.integers(2**31))).as_matrix().T


def cluster(n, rng):
    """n waters added one by one, each O 2.5-3.3 Å from a random O already placed, no O-O
    closer than 2.5 Å and no intermolecular H-O or H-H closer than 1.5 Å"""
    molecules = [water(rng)]
    while len(molecules) < n:
        anchor = molecules[rng.integers(len(molecules))][0]
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        candidate = water(rng) + anchor + rng.uniform(2.5, 3.3) * direction
        placed = np.concatenate(molecules)
        distances = np.linalg.norm(candidate[:, None, :] - placed[None, :, :], axis=2)
        oxygen_oxygen = np.linalg.norm(candidate[0] - placed[0::3], axis=1)
        if oxygen_oxygen.min() >= 2.5 and distances.min() >= 1.5:
            molecules.append(candidate)
    positions = np.concatenate(molecules)
    atoms = Atoms("OHH" * n, positions)
    atoms.positions -= atoms.get_center_of_mass()
    return atoms


def properties(atoms):
    """RHF energy (eV), dipole (e Å) and polarizability (Å³) of ``atoms``"""
    from pyscf import scf

    mf = scf.RHF(molecule(atoms, basis=RESPONSE_BASIS))
    mf.conv_tol = 1e-11
    mf.kernel()
    if not mf.converged:
        raise RuntimeError("RHF did not converge")
    return mf.e_tot * Hartree, dipole(mf) * Bohr, polarizability(mf) * Bohr**3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(_DATA_DIR / "water_clusters_hf.xyz"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    frames = []
    start = time.perf_counter()
    for n, count in COUNTS.items():
        for _ in range(count):
            atoms = cluster(n, rng)
            energy, mu, alpha = properties(atoms)
            monomers = [properties(atoms[3 * i : 3 * i + 3]) for i in range(n)]
            atoms.info.update(
                n_molecules=n,
                energy_hf=energy,
                # not 'dipole': ASE's extxyz reader would take it for a calculator result
                dipole_hf=mu,
                polarizability=alpha.ravel(),
                energy_molecules=sum(m[0] for m in monomers),
                dipole_molecules=sum(m[1] for m in monomers),
                polarizability_molecules=sum(m[2] for m in monomers).ravel(),
            )
            frames.append(atoms)
        ase.io.write(args.output, frames)
        print(f"n = {n}: {count} clusters, {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
