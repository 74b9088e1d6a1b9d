"""Real (non-integer) exponents p of the smeared power-law density, on periodic cells.

- values against the independent numpy/scipy implementation of test_reference.py, whose
  Γ((3-p)/2, x) comes from mpmath for the negative arguments of p > 3;
- positions and strain gradients against central finite differences;
- continuity in p: the features at p = 1 ± 1e-6 and 3 - 1e-6 are those at p = 1 and p = 3 to
  first order in the change of p.
"""

import itertools

import numpy as np
import pytest
from test_reference import reference_lode

import farsighted

from helpers import lode_hypers, random_triclinic_system, values_by_key
from test_strain import (
    DISPLACEMENT,
    calculator,
    check_gradient,
    check_strain_gradients,
    random_system,
)


def relative_error(descriptor, reference):
    """max |ours - reference| / max |reference| over all blocks"""
    scale = max(np.abs(v).max() for v in reference.values())
    worst = 0.0
    for key, block in descriptor.items():
        l, center, neighbor = (
            int(key["o3_lambda"]),
            int(key["center_type"]),
            int(key["neighbor_type"]),
        )
        for sample, (_, atom) in enumerate(block.samples.values):
            expected = reference[(l, center, neighbor, atom)]
            worst = max(worst, np.abs(block.values[sample] - expected).max() / scale)
    return worst


@pytest.mark.parametrize(
    "exponent",
    [pytest.param(p, marks=pytest.mark.slow) for p in (0.5, 1.5, 2.5)] + [4.3],
)
def test_against_independent_implementation(exponent):
    system = random_triclinic_system(4, seed=5, types=(1, 8))
    system.set_cell(system.cell.array * 0.8, scale_atoms=True)
    sigma, max_angular, max_radial, radius = 1.0, 2, 2, 3.0
    reference = reference_lode(system, exponent, sigma, max_angular, max_radial, radius)
    hypers = lode_hypers(exponent, sigma, max_angular, max_radial, radius)
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(system)
    assert relative_error(ours, reference) < 1e-12


@pytest.mark.parametrize("exponent, center_atom_weight", [(2.5, 0.5), (4.3, 1.0)])
def test_strain_finite_differences(exponent, center_atom_weight):
    calc = calculator(exponent, center_atom_weight)
    check_strain_gradients(calc, random_system(1, 6, [1, 8], calc.k_cutoff))


@pytest.mark.parametrize("exponent, center_atom_weight", [(1.5, 0.5), (4.3, 1.0)])
def test_positions_finite_differences(exponent, center_atom_weight):
    calc = calculator(exponent, center_atom_weight)
    atoms = random_system(2, 5, [1, 8], calc.k_cutoff)
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
        analytic = np.zeros((len(block.samples), n_atoms, 3) + block.values.shape[1:])
        samples = gradient.samples.column("sample")
        analytic[samples, gradient.samples.column("atom")] = gradient.values
        check_gradient(key, analytic, numeric[key])


@pytest.mark.parametrize("exponent, change", [(1, 1e-6), (1, -1e-6), (3, -1e-6)])
def test_continuous_in_the_exponent(exponent, change):
    """Integer exponents are not special: p = 1 ± 1e-6 differs from p = 1 by O(1e-6), as the
    derivative in p (by a backward difference with step 1e-4) predicts; the same below p = 3,
    where the k = 0 term is still dropped"""
    atoms = random_system(3, 6, [1, 8])

    def features(p):
        calc = farsighted.LodeSphericalExpansion(**lode_hypers(p, 0.8, 2, 2, 3.0))
        return values_by_key(calc.compute(atoms))

    at, near, before = features(exponent), features(exponent + change), features(exponent - 1e-4)
    for key in at:
        scale = np.abs(at[key]).max()
        linear = at[key] + change * (at[key] - before[key]) / 1e-4
        assert np.abs(near[key] - at[key]).max() < 1e-4 * scale, key
        assert np.abs(near[key] - linear).max() < 1e-8 * scale, key
