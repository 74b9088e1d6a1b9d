"""The shipped water clusters (``water_clusters_hf.xyz``): symmetric, positive polarizabilities
whose collective part is a correction, and one cluster recomputed with pyscf, its
polarizability checked against finite fields (slow)."""

import ase.io
import numpy as np
import pytest

from farsighted.data import dataset_path


@pytest.fixture(scope="module")
def clusters():
    return ase.io.read(dataset_path("water_clusters_hf.xyz"), ":")


def test_water_clusters(clusters):
    sizes = [atoms.info["n_molecules"] for atoms in clusters]
    assert set(sizes) == {2, 3, 4, 5, 6} and len(clusters) >= 200
    for atoms in clusters:
        assert atoms.get_chemical_formula() == f"H{2 * len(atoms) // 3}O{len(atoms) // 3}"
        alpha = atoms.info["polarizability"].reshape(3, 3)
        molecules = atoms.info["polarizability_molecules"].reshape(3, 3)
        np.testing.assert_allclose(alpha, alpha.T, atol=1e-6 * np.abs(alpha).max())
        assert np.linalg.eigvalsh(alpha).min() > 0
        assert np.linalg.eigvalsh(molecules).min() > 0
        # the collective part is a correction, not the whole
        assert abs(np.trace(alpha) - np.trace(molecules)) < 0.2 * np.trace(molecules)


@pytest.mark.slow
def test_polarizability_recomputed(clusters):
    """A water dimer's dipole and polarizability from a fresh calculation, and its
    polarizability against finite fields"""
    pytest.importorskip("pyscf")
    from ase.units import Bohr
    from pyscf import scf

    from farsighted.demo.hartree_fock import (
        RESPONSE_BASIS,
        dipole,
        finite_field_polarizability,
        molecule,
        polarizability,
    )

    atoms = next(a for a in clusters if a.info["n_molecules"] == 2)
    mol = molecule(atoms, basis=RESPONSE_BASIS)
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-11
    mf.kernel()
    alpha = polarizability(mf) * Bohr**3
    np.testing.assert_allclose(alpha.ravel(), atoms.info["polarizability"], atol=1e-6)
    np.testing.assert_allclose(dipole(mf) * Bohr, atoms.info["dipole_hf"], atol=1e-6)
    # central differences in fields of 1e-3 a.u.: exact to O(1e-6) relative
    numeric = finite_field_polarizability(mol) * Bohr**3
    assert np.abs(numeric - alpha).max() < 1e-4 * np.abs(alpha).max()
