"""Strain and positions gradients of the LODE spherical expansion against central finite
differences, on random triclinic multi-species cells.

Strain convention: positions and cell are deformed as r' = r (1 + ε) (row vectors), and the
gradient component [xyz_1 = α, xyz_2 = β] is ∂feature/∂ε_αβ, for all nine (also non-symmetric)
components.
"""

import itertools

import ase
import numpy as np
import pytest

import farsighted

from helpers import strain_by_finite_differences, values_by_key

DISPLACEMENT = 1e-5
RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9


def k_vectors_near_cutoff(cell: np.ndarray, k_cutoff: float, margin: float = 1e-4) -> bool:
    """Whether a k-vector of ``cell`` lies within ``margin`` (relative) of ``k_cutoff``.

    The k-vectors are selected with a sharp cutoff: a k-vector crossing it between the two
    finite-difference displacements would make a jump. A strain of 1e-5 changes |k| by ~1e-5
    relative, so finite differences need cells without k-vectors that close to the cutoff.
    """
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    heights = 2 * np.pi / np.linalg.norm(cell, axis=1)
    n_max = np.ceil(k_cutoff * (1 + 2 * margin) / heights).astype(int) + 1
    ms = np.array(list(itertools.product(*[range(-n, n + 1) for n in n_max])), dtype=float)
    norms = np.linalg.norm(ms @ reciprocal, axis=1)
    return bool(np.min(np.abs(norms / k_cutoff - 1.0)) <= margin)


def random_system(seed: int, n_atoms: int, species, k_cutoff=None) -> ase.Atoms:
    """A random triclinic cell (~11 Å³ per atom) with atoms at least 0.9 Å apart, and no
    k-vector close to ``k_cutoff``"""
    rng = np.random.default_rng(seed)
    length = (11.0 * n_atoms) ** (1 / 3)
    while True:
        cell = length * (np.eye(3) + rng.normal(scale=0.15, size=(3, 3)))
        if np.linalg.det(cell) < 0:
            cell[[0, 1]] = cell[[1, 0]]
        if k_cutoff is None or not k_vectors_near_cutoff(cell, k_cutoff):
            break
    numbers = np.array([species[i % len(species)] for i in range(n_atoms)])
    rng.shuffle(numbers)
    while True:
        atoms = ase.Atoms(
            numbers=numbers, positions=rng.uniform(size=(n_atoms, 3)) @ cell, cell=cell, pbc=True
        )
        distances = atoms.get_all_distances(mic=True)
        distances[np.diag_indices_from(distances)] = np.inf
        if distances.min() > 0.9:
            return atoms


def calculator(exponent, center_atom_weight, smearing=0.8):
    return farsighted.LodeSphericalExpansion(
        density={
            "type": "SmearedPowerLaw",
            "smearing": smearing,
            "exponent": exponent,
            "center_atom_weight": center_atom_weight,
        },
        basis={
            "type": "TensorProduct",
            "max_angular": 3,
            "radial": {"type": "Gto", "max_radial": 3, "radius": 3.0},
            "spline_accuracy": None,
        },
    )


def check_gradient(key, analytic, numeric):
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    error = np.abs(analytic - numeric).max()
    assert error <= RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE, (
        f"block {key}: max |analytic - finite difference| = {error:.3e}, "
        f"max |gradient| = {scale:.3e}"
    )


def check_strain_gradients(calc, atoms):
    assert not k_vectors_near_cutoff(atoms.cell.array, calc.k_cutoff)
    descriptor = calc.compute(atoms, gradients=["strain"])

    numeric = strain_by_finite_differences(calc, atoms, DISPLACEMENT)

    assert len(numeric) == len(descriptor.keys)
    for key, block in descriptor.items():
        key = tuple(int(v) for v in key.values)
        gradient = block.gradient("strain")
        assert gradient.samples.names == ["sample"]
        assert [c.names for c in gradient.components] == [["xyz_1"], ["xyz_2"], ["o3_mu"]]
        n_samples = len(block.samples)
        analytic = np.zeros((n_samples, 3, 3) + block.values.shape[1:])
        # every sample has a strain gradient row
        samples = gradient.samples.column("sample")
        assert sorted(samples) == list(range(n_samples))
        analytic[samples] = gradient.values
        check_gradient(key, analytic, numeric[key])


CASES = [
    # (seed, n_atoms, species)
    (1, 6, [1, 8]),
    (2, 8, [1, 6, 8]),
    (3, 10, [11, 17, 1]),
]


@pytest.mark.parametrize("center_atom_weight", [1.0, 0.5])
@pytest.mark.parametrize("exponent", [0, 1, 3, 6])
@pytest.mark.parametrize("seed, n_atoms, species", CASES)
def test_strain_finite_differences(seed, n_atoms, species, exponent, center_atom_weight):
    calc = calculator(exponent, center_atom_weight)
    atoms = random_system(seed, n_atoms, species, calc.k_cutoff)
    check_strain_gradients(calc, atoms)


@pytest.mark.parametrize("exponent", [1, 6])
def test_strain_small_smearing(exponent):
    """A smearing smaller than the GTO width, with many more k-vectors"""
    calc = calculator(exponent, 1.0, smearing=0.4)
    atoms = random_system(4, 7, [8, 1, 6], calc.k_cutoff)
    check_strain_gradients(calc, atoms)


def test_strain_several_systems():
    """With several systems, each strain gradient row belongs to the right sample"""
    calc = calculator(1, 1.0)
    systems = [random_system(5, 6, [1, 8]), random_system(6, 9, [1, 6, 8])]
    together = calc.compute(systems, gradients=["strain", "positions"])
    for s, atoms in enumerate(systems):
        alone = calc.compute(atoms, gradients=["strain", "positions"])
        for key, block in alone.items():
            full = together.block(key)
            rows = np.nonzero(full.samples.column("system") == s)[0]
            np.testing.assert_array_equal(
                full.samples.column("atom")[rows], block.samples.column("atom")
            )
            np.testing.assert_allclose(full.values[rows], block.values, rtol=1e-12, atol=1e-14)

            gradient = full.gradient("strain")
            mask = np.isin(gradient.samples.column("sample"), rows)
            np.testing.assert_allclose(
                gradient.values[mask], block.gradient("strain").values, rtol=1e-12, atol=1e-14
            )


@pytest.mark.parametrize("exponent, center_atom_weight", [(1, 0.5), (6, 1.0)])
def test_positions_finite_differences(exponent, center_atom_weight):
    calc = calculator(exponent, center_atom_weight)
    atoms = random_system(2, 8, [1, 6, 8], calc.k_cutoff)
    descriptor = calc.compute(atoms, gradients=["positions"])
    n_atoms = len(atoms)

    numeric = {}
    for j, alpha in itertools.product(range(n_atoms), range(3)):
        displaced = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[j, alpha] += sign * DISPLACEMENT
            displaced.append(values_by_key(calc.compute(moved)))
        for key in displaced[0]:
            derivative = (displaced[0][key] - displaced[1][key]) / (2 * DISPLACEMENT)
            numeric.setdefault(
                key, np.zeros((derivative.shape[0], n_atoms, 3) + derivative.shape[1:])
            )
            numeric[key][:, j, alpha] = derivative

    for key, block in descriptor.items():
        key = tuple(int(v) for v in key.values)
        gradient = block.gradient("positions")
        assert gradient.samples.names == ["sample", "system", "atom"]
        assert [c.names for c in gradient.components] == [["xyz"], ["o3_mu"]]
        assert np.all(gradient.samples.column("system") == 0)
        samples = gradient.samples.column("sample")
        neighbors = gradient.samples.column("atom")
        # no duplicated gradient samples
        assert len(set(zip(samples.tolist(), neighbors.tolist()))) == len(samples)
        analytic = np.zeros((len(block.samples), n_atoms, 3) + block.values.shape[1:])
        analytic[samples, neighbors] = gradient.values
        check_gradient(key, analytic, numeric[key])
