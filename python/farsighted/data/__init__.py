"""Small data sets shipped with farsighted, used by the demo, the examples and the tests.

- ``nacl_boxes.xyz``: 20 random, neutral Na/Cl periodic boxes of 8 to 64 atoms (extended XYZ),
  made by :py:mod:`farsighted.demo.generate_nacl_boxes`;
- ``point_charges.xyz``: 400 random, neutral Na⁺/Cl⁻ periodic boxes of 16 to 64 atoms at number
  densities between 0.02 and 0.05 Å⁻³ (extended XYZ), with reference energies (eV, in ``info``)
  and forces (eV/Å, in ``arrays``) of the point charges ±1 e (``energy_coulomb``,
  ``forces_coulomb``: pymatgen's Ewald summation) and of a −C_ab/r⁶ dispersion with
  C_NaNa = 1, C_ClCl = 4, C_NaCl = 2 eV·Å⁶ (``energy_dispersion``, ``forces_dispersion``: lattice
  sum), made by :py:mod:`farsighted.demo.generate_point_charges`; read it with
  :func:`load_point_charges`;
- ``lode_hypers.json``: LODE hyper-parameters (featomic format) for the demo;
- ``dimer_monomers_hf.xyz``: 22 monomers (cations, anions, polar and apolar molecules) relaxed
  with RHF/6-31G* (``info``: ``name``, ``charge``, ``kind``, ``energy_hf`` in eV), made by
  :py:mod:`farsighted.demo.dimer_monomers`;
- ``dimers_hf.xyz``: 76 unrelaxed binding curves of 38 pairs of those monomers (every charge
  combination, two random orientations each, 16 points from contact to 10.5 Å beyond it):
  RHF/6-31G* binding energies (``energy_binding``, eV; density fitting, no counterpoise
  correction), the Mulliken charge of the first fragment (``mulliken_a``), the fragments'
  charge-dipole electrostatic energy (``energy_multipoles``) and the D3(BJ) dispersion binding
  energy (``energy_d3_binding``); ``arrays["fragment"]`` says which monomer each atom is in.
  Made by :py:mod:`farsighted.demo.generate_dimers` (about an hour on 2 cores);
- ``water_clusters_hf.xyz``: water clusters (H2O)n, n = 2-6, with RHF/def2-SVP energies,
  dipoles (e Å) and static polarizabilities (Å³, coupled-perturbed Hartree-Fock), and the same
  summed over their isolated molecules (``*_molecules``), made by
  :py:mod:`farsighted.demo.generate_water_clusters`.
"""

from __future__ import annotations

from pathlib import Path

_DATA_DIR = Path(__file__).resolve().parent


def available_datasets() -> list[str]:
    """Names of the files shipped in this folder (Python sources excluded)."""
    return sorted(
        path.name
        for path in _DATA_DIR.iterdir()
        if path.is_file() and path.suffix not in (".py", ".pyc")
    )


def dataset_path(name: str) -> Path:
    """Path to the shipped data file ``name`` (for example ``"nacl_boxes.xyz"``).

    Raises
    ------
    FileNotFoundError
        if no such file is shipped
    """
    path = _DATA_DIR / name
    if not path.is_file() or path.suffix in (".py", ".pyc"):
        raise FileNotFoundError(
            f"no shipped data file named '{name}', available: {available_datasets()}"
        )
    return path


def load_point_charges() -> list:
    """The random Na⁺/Cl⁻ point-charge boxes of ``point_charges.xyz``, with reference energies.

    Returns
    -------
    list of ase.Atoms
        400 neutral periodic structures of 16 to 64 atoms, as many Na as Cl, with initial charges
        set to +1 (Na) and −1 (Cl) elementary charges. Each structure's ``info`` holds
        ``structure_id`` (its index), ``number_density`` (atoms/Å³), ``energy_coulomb`` and
        ``energy_dispersion`` (eV); its ``arrays`` hold ``forces_coulomb`` and
        ``forces_dispersion`` (eV/Å, shape ``(n_atoms, 3)``). See
        :py:mod:`farsighted.demo.generate_point_charges` for how the references are computed.
    """
    import ase.io

    frames = ase.io.read(dataset_path("point_charges.xyz"), index=":", format="extxyz")
    for atoms in frames:
        atoms.set_initial_charges([1.0 if z == 11 else -1.0 for z in atoms.numbers])
    return frames
