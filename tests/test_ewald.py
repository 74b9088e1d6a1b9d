"""Ewald split (``accuracy``) against converged pure k-space sums, and finite differences."""

import numpy as np
import pytest

import farsighted

from helpers import lode_hypers, max_relative_difference, random_triclinic_system

GRADIENTS = ["positions", "strain"]


def split_and_converged(system, accuracy, **kwargs):
    hypers = lode_hypers(weight=0.3, spline=1e-12, **kwargs)
    split = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy)
    converged = farsighted.LodeSphericalExpansion(**hypers, k_cutoff=9.0 / kwargs["smearing"])
    return (
        split.compute(system, gradients=GRADIENTS),
        converged.compute(system, gradients=GRADIENTS),
    )


def check_accuracy(system, accuracy, **kwargs):
    split, converged = split_and_converged(system, accuracy, **kwargs)
    for parameter in [None, "positions", "strain"]:
        error = max_relative_difference(split, converged, parameter)
        assert error <= accuracy, f"{kwargs} {parameter}: {error:.2e}"


CASES = [(1, 1.0)] + [
    pytest.param(p, s, marks=pytest.mark.slow)
    for p in [1, 6, 0.5, 4.3]
    for s in [0.5, 1.0, 2.0]
    if (p, s) != (1, 1.0)
]


@pytest.mark.parametrize("exponent, smearing", CASES)
def test_split_matches_converged_k_space(exponent, smearing):
    # a triclinic two-type cell, smaller than the real-space cutoff
    system = random_triclinic_system(6, seed=3, types=(8, 11))
    check_accuracy(system, 1e-4, exponent=exponent, smearing=smearing)


@pytest.mark.slow
@pytest.mark.parametrize("exponent, accuracy, smearing", [(1, 1e-4, 0.2), (6, 1e-8, 0.5)])
def test_split_small_smearing_and_high_accuracy(exponent, accuracy, smearing):
    system = random_triclinic_system(6, seed=5, types=(8, 11)).repeat((2, 1, 1))
    check_accuracy(system, accuracy, exponent=exponent, smearing=smearing)


@pytest.mark.slow
def test_split_finite_differences():
    """Positions and strain gradients of the split against its own values"""
    system = random_triclinic_system(5, seed=8, types=(8, 11))
    hypers = lode_hypers(smearing=0.6, exponent=1, spline=1e-12)
    calculator = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-10)
    descriptor = calculator.compute(system, gradients=GRADIENTS)
    h = 1e-4
    # the truncations jump by ≲ accuracy when a pair or k-vector crosses a cutoff: ≲ 1e-6 here
    for atom, alpha in [(0, 0), (3, 2)]:
        values = []
        for sign in [1, -1]:
            moved = system.copy()
            moved.positions[atom, alpha] += sign * h
            values.append(calculator.compute(moved))
        for key, block in descriptor.items():
            gradient = block.gradient("positions")
            derivative = (values[0].block(key).values - values[1].block(key).values) / (2 * h)
            rows = gradient.samples.values[:, 2] == atom
            expected = np.zeros_like(block.values)
            expected[gradient.samples.values[rows, 0]] = gradient.values[rows, alpha]
            scale = max(np.abs(block.values).max(), 1e-12)
            assert np.abs(derivative - expected).max() < 1e-6 * scale, key
    for alpha, beta in [(0, 1), (2, 2)]:
        values = []
        for sign in [1, -1]:
            strain = np.eye(3)
            strain[alpha, beta] += sign * h
            moved = system.copy()
            moved.set_cell(system.cell.array @ strain, scale_atoms=False)
            moved.positions = system.positions @ strain
            values.append(calculator.compute(moved))
        for key, block in descriptor.items():
            derivative = (values[0].block(key).values - values[1].block(key).values) / (2 * h)
            expected = block.gradient("strain").values[:, alpha, beta]
            scale = max(np.abs(block.values).max(), 1e-12)
            assert np.abs(derivative - expected).max() < 1e-6 * scale, key


def test_open_systems_keep_their_path():
    molecule = random_triclinic_system(4, seed=2, types=(8, 11))
    molecule.pbc = False
    hypers = lode_hypers(smearing=0.8)
    split = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-6).compute(molecule)
    exact = farsighted.LodeSphericalExpansion(**hypers).compute(molecule)
    assert max_relative_difference(split, exact) == 0.0


def test_conflicting_parameters():
    with pytest.raises(ValueError, match="accuracy and k_cutoff"):
        farsighted.LodeSphericalExpansion(**lode_hypers(), k_cutoff=3.0, accuracy=1e-4)
    with pytest.raises(ValueError, match="accuracy"):
        farsighted.LodeSphericalExpansion(**lode_hypers(), accuracy=0.5)
