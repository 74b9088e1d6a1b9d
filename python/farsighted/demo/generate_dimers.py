"""Unrelaxed binding curves of rigid monomer pairs with RHF/6-31G* (pyscf, density fitting):
E_bind(R) = E(AB) - E(A) - E(B), B moved along the centre-of-mass axis from contact to 10.5 Å
beyond it (16 points), for pairs of every charge combination in random orientations.

Checks written with every curve: the Mulliken charge of each fragment (integer at the far
points: no spurious charge transfer), and the electrostatic energy of the fragments' charges
and dipoles at every distance (the far tail must tend to it).

    python -m farsighted.demo.generate_dimers --workers 2
"""

import argparse
import itertools
import time
from pathlib import Path

import ase.io
import numpy as np
from ase.data import atomic_numbers, vdw_radii
from ase.units import Bohr, Debye, Hartree
from scipy.spatial.transform import Rotation

from ..data import _DATA_DIR
from .hartree_fock import hartree_fock

SEED = 2026
POINTS = 16
STEP = 0.7  # Å: 16 points from contact to 10.5 Å beyond it
CONTACT = 0.75  # contact: the closest pair of atoms at this fraction of their van der Waals radii
ORIENTATIONS = 2
COULOMB = 14.399645  # e²/(4πε₀) in eV Å


def choose_pairs(monomers, rng):
    """Pairs of every charge combination: (kind A, kind B) → how many pairs"""
    by_kind = {}
    for atoms in monomers:
        by_kind.setdefault(atoms.info["kind"], []).append(atoms.info["name"])
    neutral = by_kind["polar"] + by_kind["apolar"]
    groups = {
        "+/-": [(a, b) for a in by_kind["cation"] for b in by_kind["anion"]],
        "+/+": list(itertools.combinations(by_kind["cation"], 2)),
        "-/-": list(itertools.combinations(by_kind["anion"], 2)),
        "ion/neutral": [(a, b) for a in by_kind["cation"] + by_kind["anion"] for b in neutral],
        "neutral/neutral": list(itertools.combinations(neutral, 2)),
    }
    counts = {"+/-": 12, "+/+": 5, "-/-": 5, "ion/neutral": 10, "neutral/neutral": 6}
    pairs = []
    for group, candidates in groups.items():
        chosen = rng.choice(len(candidates), size=counts[group], replace=False)
        pairs += [(group, *candidates[i]) for i in sorted(chosen)]
    return pairs


def contact_distance(a, b, direction):
    """The smallest centre-of-mass distance along ``direction`` at which no two atoms are
    closer than CONTACT × the sum of their van der Waals radii"""
    radii_a = np.array([vdw_radii[atomic_numbers[s]] for s in a.get_chemical_symbols()])
    radii_b = np.array([vdw_radii[atomic_numbers[s]] for s in b.get_chemical_symbols()])
    limit = CONTACT * (radii_a[:, None] + radii_b[None, :])
    for distance in np.arange(0.5, 30.0, 0.01):
        vectors = b.positions[None, :, :] + distance * direction - a.positions[:, None, :]
        if np.all(np.linalg.norm(vectors, axis=2) >= limit):
            return distance
    raise ValueError("no contact distance below 30 Å")


def dipole(mf, center):
    """The dipole moment (e Å) of the molecule of ``mf`` about ``center`` (Å)"""
    total = mf.dip_moment(unit="Debye", verbose=0) * Debye  # e Å, about the origin
    charge = mf.mol.charge
    return total - charge * np.asarray(center)


def multipole_energy(qa, qb, mua, mub, r):
    """Charge-charge, charge-dipole and dipole-dipole energy (eV) of A at the origin and B at
    ``r`` (Å), charges in e and dipoles in e Å"""
    d = np.linalg.norm(r)
    n = r / d
    energy = qa * qb / d
    # the potential of a dipole μ at distance R along n̂ from it is μ·n̂/R²
    energy += (qb * np.dot(mua, n) - qa * np.dot(mub, n)) / d**2
    energy += (np.dot(mua, mub) - 3 * np.dot(mua, n) * np.dot(mub, n)) / d**3
    return COULOMB * energy


def curve(task):
    """The binding curve of one oriented pair"""
    index, group, a, b, rotation_a, rotation_b, direction = task
    qa, qb = a.info["charge"], b.info["charge"]
    a = a.copy()
    b = b.copy()
    a.positions = a.positions @ Rotation.from_quat(rotation_a).as_matrix().T
    b.positions = b.positions @ Rotation.from_quat(rotation_b).as_matrix().T
    start = time.perf_counter()
    mf_a, mf_b = hartree_fock(a, qa), hartree_fock(b, qb)
    e_a, e_b = mf_a.e_tot * Hartree, mf_b.e_tot * Hartree
    mu_a, mu_b = dipole(mf_a, [0, 0, 0]), dipole(mf_b, [0, 0, 0])
    contact = contact_distance(a, b, direction)
    frames = []
    # far to near: each point starts from the converged density of the previous one; the
    # first from the monomers' densities side by side (no charge moved between them)
    guess = None
    for k in reversed(range(POINTS)):
        distance = contact + STEP * k
        dimer = a + b
        dimer.positions[len(a) :] += distance * direction
        if guess is None:
            dm_a, dm_b = mf_a.make_rdm1(), mf_b.make_rdm1()
            n_a = dm_a.shape[0]
            guess = np.zeros((n_a + dm_b.shape[0],) * 2)
            guess[:n_a, :n_a] = dm_a
            guess[n_a:, n_a:] = dm_b
        mf = hartree_fock(dimer, qa + qb, guess)
        guess = mf.make_rdm1()
        populations, charges = mf.mulliken_pop(verbose=0)
        dimer.info.update(
            curve=index,
            group=group,
            pair=f"{a.info['name']}+{b.info['name']}",
            monomer_a=a.info["name"],
            monomer_b=b.info["name"],
            charge_a=qa,
            charge_b=qb,
            distance=distance,
            contact_distance=contact,
            energy_binding=mf.e_tot * Hartree - e_a - e_b,
            energy_dimer=mf.e_tot * Hartree,
            energy_a=e_a,
            energy_b=e_b,
            mulliken_a=float(charges[: len(a)].sum()),
            energy_multipoles=multipole_energy(qa, qb, mu_a, mu_b, distance * direction),
        )
        dimer.arrays["fragment"] = np.array([0] * len(a) + [1] * len(b))
        frames.append(dimer)
    frames.reverse()
    return index, frames, time.perf_counter() - start


def dispersion_energy(atoms):
    """The D3(BJ) dispersion energy (eV) of ``atoms`` with the Hartree-Fock parameters
    (the ``dftd3`` package)"""
    from dftd3.interface import DispersionModel, RationalDampingParam

    model = DispersionModel(atoms.numbers, atoms.positions / Bohr)
    return model.get_dispersion(RationalDampingParam(method="hf"), grad=False)["energy"] * Hartree


def add_dispersion(frames):
    """Set ``energy_d3_binding`` (eV) of every point: D3(AB) - D3(A) - D3(B)"""
    for atoms in frames:
        mask = atoms.arrays["fragment"] == 0
        atoms.info["energy_d3_binding"] = (
            dispersion_energy(atoms)
            - dispersion_energy(atoms[mask])
            - dispersion_energy(atoms[~mask])
        )
    return frames


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monomers", default=str(_DATA_DIR / "dimer_monomers_hf.xyz"))
    parser.add_argument("--output", default=str(_DATA_DIR / "dimers_hf.xyz"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N curves")
    args = parser.parse_args(argv)

    monomers = {atoms.info["name"]: atoms for atoms in ase.io.read(args.monomers, ":")}
    rng = np.random.default_rng(SEED)
    tasks = []
    for group, name_a, name_b in choose_pairs(list(monomers.values()), rng):
        for _ in range(ORIENTATIONS):
            rotations = Rotation.random(2, random_state=int(rng.integers(2**31)))
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            quaternions = rotations.as_quat()
            tasks.append(
                (
                    len(tasks),
                    group,
                    monomers[name_a],
                    monomers[name_b],
                    quaternions[0],
                    quaternions[1],
                    direction,
                )
            )
    # every group early on: a run stopped before its end still has every charge combination
    by_group = {}
    for task in tasks:
        by_group.setdefault(task[1], []).append(task)
    tasks = [
        task
        for batch in itertools.zip_longest(*by_group.values())
        for task in batch
        if task is not None
    ]
    tasks = tasks[: args.limit]
    done = set()
    output = Path(args.output)
    if output.exists():
        done = {atoms.info["curve"] for atoms in ase.io.read(output, ":")}
    tasks = [task for task in tasks if task[0] not in done]
    print(f"{len(tasks)} curves to compute ({len(done)} done)", flush=True)

    start = time.perf_counter()
    if args.workers > 1:
        from multiprocessing import Pool

        results = Pool(args.workers).imap_unordered(curve, tasks)
    else:
        results = map(curve, tasks)
    for index, frames, seconds in results:
        ase.io.write(output, frames, append=True)
        near, far = frames[0].info, frames[-1].info
        print(
            f"curve {index:3d} {far['pair']:32s} E_bind near {near['energy_binding']:+.3f} "
            f"far {far['energy_binding']:+.4f} (multipoles {far['energy_multipoles']:+.4f}) eV, "
            f"Mulliken q_A far {far['mulliken_a']:+.3f}: {seconds:.0f} s",
            flush=True,
        )
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    # the dispersion energies of every point, and the curves in order
    frames = sorted(ase.io.read(output, ":"), key=lambda a: (a.info["curve"], a.info["distance"]))
    ase.io.write(output, add_dispersion(frames))


if __name__ == "__main__":
    main()
