"""The monomers of the binding curves: cations, anions, polar and apolar neutral molecules.
Starting geometries from ASE's G2 collection or built from standard bond lengths, relaxed
once with RHF/6-31G* and then kept rigid.

    python -m farsighted.demo.dimer_monomers   # writes dimer_monomers_hf.xyz (a few minutes)
"""

import numpy as np
from ase import Atoms
from ase.build import molecule


def _ring(symbols, radius, hydrogens):
    """A planar regular ring in the xy plane, with an H outward of every atom listed in
    ``hydrogens`` (index → bond length)"""
    n = len(symbols)
    angles = 2 * np.pi * np.arange(n) / n
    directions = np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], axis=1)
    positions = list(radius * directions)
    all_symbols = list(symbols)
    for index, length in hydrogens.items():
        positions.append((radius + length) * directions[index])
        all_symbols.append("H")
    return Atoms(all_symbols, positions)


def _tetrahedral(center, bonded, lengths):
    """``center`` with ``bonded`` atoms at ``lengths`` along the four tetrahedral directions"""
    directions = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
    positions = [np.zeros(3)] + [length * d for length, d in zip(lengths, directions)]
    return Atoms([center] + list(bonded), positions[: len(bonded) + 1])


def _without_acidic_hydrogen(atoms):
    """``atoms`` without the H bonded to an O (the deprotonated acid or alcohol)"""
    oxygens = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "O"]
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        if symbol == "H" and min(atoms.get_distance(i, o) for o in oxygens) < 1.1:
            del atoms[i]
            return atoms
    raise ValueError("no O-H hydrogen")


def _with_hydrogen_on(atoms, index, length=1.02):
    """``atoms`` with an H added to atom ``index``, opposite to the mean of its bonds"""
    others = [i for i in range(len(atoms)) if i != index and atoms.get_distance(index, i) < 1.6]
    away = -sum(atoms.get_distance(index, i, vector=True) for i in others)
    if np.linalg.norm(away) < 1e-6:
        away = np.array([0.0, 0.0, 1.0])
    atoms = atoms.copy()
    atoms.append("H")
    atoms.positions[-1] = atoms.positions[index] + length * away / np.linalg.norm(away)
    return atoms


def guanidinium():
    positions, symbols = [[0.0, 0.0, 0.0]], ["C"]
    for k in range(3):
        angle = 2 * np.pi * k / 3
        u = np.array([np.cos(angle), np.sin(angle), 0.0])
        n = 1.33 * u
        positions.append(n)
        symbols.append("N")
        for side in (+1, -1):
            a = angle + side * np.pi / 3
            positions.append(n + 1.01 * np.array([np.cos(a), np.sin(a), 0.0]))
            symbols.append("H")
    return Atoms(symbols, positions)


def methylammonium():
    atoms = molecule("H3CNH2")
    nitrogen = atoms.get_chemical_symbols().index("N")
    return _with_hydrogen_on(atoms, nitrogen)


def methanesulfonate():
    symbols, positions = ["S", "C"], [[0, 0, 0], [0, 0, -1.78]]
    for k in range(3):
        angle = 2 * np.pi * k / 3
        # S-O 1.46 Å at 106° from the S-C bond
        theta = np.deg2rad(180 - 106)
        positions.append(
            1.46
            * np.array(
                [np.sin(theta) * np.cos(angle), np.sin(theta) * np.sin(angle), np.cos(theta)]
            )
        )
        symbols.append("O")
        theta_h = np.deg2rad(110)
        h = np.array(
            [
                np.sin(theta_h) * np.cos(angle + np.pi / 3),
                np.sin(theta_h) * np.sin(angle + np.pi / 3),
                np.cos(theta_h),
            ]
        )
        positions.append(np.array([0, 0, -1.78]) + 1.09 * h)
        symbols.append("H")
    return Atoms(symbols, positions)


def phenolate():
    atoms = molecule("C6H6")
    carbons = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "C"]
    hydrogen = next(
        i
        for i, s in enumerate(atoms.get_chemical_symbols())
        if s == "H" and atoms.get_distance(i, carbons[0]) < 1.2
    )
    direction = atoms.positions[hydrogen] - atoms.positions[carbons[0]]
    atoms.positions[hydrogen] = atoms.positions[carbons[0]] + 1.28 * direction / np.linalg.norm(
        direction
    )
    atoms.symbols[hydrogen] = "O"
    return atoms


def nitrate():
    angles = 2 * np.pi * np.arange(3) / 3
    positions = [[0, 0, 0]] + [[1.26 * np.cos(a), 1.26 * np.sin(a), 0] for a in angles]
    return Atoms("NO3", positions)


def imidazolium():
    # N1 C2 N3 C4 C5, every atom with an H (two N-H, three C-H)
    return _ring(["N", "C", "N", "C", "C"], 1.14, {0: 1.01, 1: 1.08, 2: 1.01, 3: 1.08, 4: 1.08})


def pyridinium():
    atoms = molecule("C5H5N")
    nitrogen = atoms.get_chemical_symbols().index("N")
    return _with_hydrogen_on(atoms, nitrogen, 1.01)


# name → (charge, kind, builder of the starting geometry)
MONOMERS = {
    "ammonium": (+1, "cation", lambda: _tetrahedral("N", "HHHH", [1.03] * 4)),
    "methylammonium": (+1, "cation", methylammonium),
    "guanidinium": (+1, "cation", guanidinium),
    "imidazolium": (+1, "cation", imidazolium),
    "pyridinium": (+1, "cation", pyridinium),
    "sodium": (+1, "cation", lambda: Atoms("Na", [[0, 0, 0]])),
    "acetate": (-1, "anion", lambda: _without_acidic_hydrogen(molecule("CH3COOH"))),
    "formate": (-1, "anion", lambda: _without_acidic_hydrogen(molecule("HCOOH"))),
    "methanesulfonate": (-1, "anion", methanesulfonate),
    "phenolate": (-1, "anion", phenolate),
    "nitrate": (-1, "anion", nitrate),
    "chloride": (-1, "anion", lambda: Atoms("Cl", [[0, 0, 0]])),
    "water": (0, "polar", lambda: molecule("H2O")),
    "methanol": (0, "polar", lambda: molecule("CH3OH")),
    "ammonia": (0, "polar", lambda: molecule("NH3")),
    "acetamide": (0, "polar", lambda: molecule("CH3CONH2")),
    "pyridine": (0, "polar", lambda: molecule("C5H5N")),
    "acetonitrile": (0, "polar", lambda: molecule("CH3CN")),
    "formaldehyde": (0, "polar", lambda: molecule("H2CO")),
    "methane": (0, "apolar", lambda: molecule("CH4")),
    "ethane": (0, "apolar", lambda: molecule("C2H6")),
    "benzene": (0, "apolar", lambda: molecule("C6H6")),
}


def starting_geometry(name):
    atoms = MONOMERS[name][2]()
    atoms.positions -= atoms.get_center_of_mass()
    return atoms


def relax(name):
    """The monomer ``name`` relaxed with RHF/6-31G* (BFGS, forces below 0.01 eV/Å), centred
    on its centre of mass, with ``name``, ``charge``, ``kind`` and ``energy_hf`` (eV) in its
    ``info``"""
    from ase.optimize import BFGS

    from .hartree_fock import HartreeFock

    charge, kind, _ = MONOMERS[name]
    atoms = starting_geometry(name)
    atoms.calc = HartreeFock(charge)
    if len(atoms) > 1:
        BFGS(atoms, logfile=None).run(fmax=0.01, steps=200)
    energy = atoms.get_potential_energy()
    result = Atoms(atoms.numbers, atoms.positions - atoms.get_center_of_mass())
    result.info.update(name=name, charge=charge, kind=kind, energy_hf=energy)
    return result


def main(argv=None):
    import argparse
    import time

    import ase.io

    from ..data import _DATA_DIR

    parser = argparse.ArgumentParser(description="relax the monomers of the binding curves")
    parser.add_argument("--output", default=str(_DATA_DIR / "dimer_monomers_hf.xyz"))
    args = parser.parse_args(argv)
    relaxed = []
    for name in MONOMERS:
        start = time.perf_counter()
        relaxed.append(relax(name))
        energy = relaxed[-1].info["energy_hf"]
        print(f"{name:18s} E = {energy:.6f} eV: {time.perf_counter() - start:.0f} s", flush=True)
    ase.io.write(args.output, relaxed)


if __name__ == "__main__":
    main()
