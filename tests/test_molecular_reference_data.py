"""The shipped binding curves (``dimers_hf.xyz``) and their monomers: internal consistency
(charges, energies, curves), the physics they must show (integer fragment charges and the
fragments' electrostatics at long range), and a few points recomputed with pyscf (slow)."""

import ase.io
import numpy as np
import pytest

from farsighted.data import dataset_path

KINDS = {"cation": 1, "anion": -1, "polar": 0, "apolar": 0}


@pytest.fixture(scope="module")
def monomers():
    return {
        atoms.info["name"]: atoms
        for atoms in ase.io.read(dataset_path("dimer_monomers_hf.xyz"), ":")
    }


@pytest.fixture(scope="module")
def dimers():
    return ase.io.read(dataset_path("dimers_hf.xyz"), ":")


def test_monomers(monomers):
    assert len(monomers) >= 20
    for name, atoms in monomers.items():
        assert atoms.info["charge"] == KINDS[atoms.info["kind"]], name
        # centred on the centre of mass
        assert np.abs(atoms.get_center_of_mass()).max() < 1e-6, name
    kinds = [atoms.info["kind"] for atoms in monomers.values()]
    assert all(kinds.count(kind) >= 3 for kind in KINDS)


def test_binding_curves(dimers, monomers):
    curves = {}
    for atoms in dimers:
        curves.setdefault(atoms.info["curve"], []).append(atoms)
    groups = {atoms.info["group"] for atoms in dimers}
    assert groups == {"+/-", "+/+", "-/-", "ion/neutral", "neutral/neutral"}
    used = {atoms.info[key] for atoms in dimers for key in ("monomer_a", "monomer_b")}
    assert len(used) >= 20
    for points in curves.values():
        info = [atoms.info for atoms in points]
        distances = np.array([i["distance"] for i in info])
        assert len(points) == 16
        np.testing.assert_allclose(np.diff(distances), 0.7, atol=1e-9)
        assert distances[-1] - info[0]["contact_distance"] >= 10.0
        for atoms, i in zip(points, info):
            a, b = monomers[i["monomer_a"]], monomers[i["monomer_b"]]
            assert i["charge_a"] == a.info["charge"] and i["charge_b"] == b.info["charge"]
            binding = i["energy_dimer"] - i["energy_a"] - i["energy_b"]
            assert abs(i["energy_binding"] - binding) < 1e-8
            # rigid monomers, rotated: their energies are those of the relaxed monomers
            assert abs(i["energy_a"] - a.info["energy_hf"]) < 1e-5
            assert abs(i["energy_b"] - b.info["energy_hf"]) < 1e-5
            # the monomers' geometries: the same interatomic distances
            fragment_a = atoms[atoms.arrays["fragment"] == 0]
            np.testing.assert_allclose(
                np.sort(fragment_a.get_all_distances().ravel()),
                np.sort(a.get_all_distances().ravel()),
                atol=1e-6,
            )
        far = info[-1]
        # Hartree-Fock keeps integer fragment charges at long range (no spurious transfer)
        assert abs(far["mulliken_a"] - far["charge_a"]) < 0.02
        # and the far tail tends to the fragments' charge and dipole electrostatics
        if far["charge_a"] * far["charge_b"] != 0:
            scale = abs(far["energy_multipoles"])
            assert abs(far["energy_binding"] - far["energy_multipoles"]) < 0.02 * scale
        assert abs(far["energy_d3_binding"]) < 1e-3


@pytest.mark.slow
def test_points_recomputed(dimers, monomers):
    """The farthest and the closest point of a small ion-pair curve, and one monomer, from a
    fresh pyscf calculation"""
    pytest.importorskip("pyscf")
    from ase.units import Hartree

    from farsighted.demo.hartree_fock import hartree_fock

    name = "ammonium"
    assert (
        abs(hartree_fock(monomers[name], 1).e_tot * Hartree - monomers[name].info["energy_hf"])
        < 1e-6
    )
    curve = [atoms for atoms in dimers if atoms.info["pair"] == "ammonium+chloride"]
    if not curve:
        curve = [atoms for atoms in dimers if atoms.info["curve"] == dimers[0].info["curve"]]
    for atoms in (curve[0], curve[-1]):
        charge = atoms.info["charge_a"] + atoms.info["charge_b"]
        energy = hartree_fock(atoms, charge).e_tot * Hartree
        assert abs(energy - atoms.info["energy_dimer"]) < 1e-6
