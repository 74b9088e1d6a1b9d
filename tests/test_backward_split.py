"""The backward product of calculators with ``accuracy`` (the Ewald split) against the explicit
positions and strain gradients contracted with random ∂L/∂features.

The explicit gradients may use another split than the backward product (the cost model's
choice depends on the gradients asked for), so they agree within the accuracy; the Rust tests
(``rust/farsighted/tests/split_backward.rs``) compare one forced split to ~1e-14, check the
cell against finite differences and the converged reciprocal-space backward product.
"""

import numpy as np
import pytest
from test_backward import explicit_reference, random_gradient, reference_cell, relative_error

import farsighted

from helpers import lode_hypers, random_triclinic_system


@pytest.mark.parametrize(
    "exponent",
    [1, pytest.param(6, marks=pytest.mark.slow), pytest.param(2.5, marks=pytest.mark.slow)],
)
def test_split_against_explicit_gradients(exponent, rng):
    # 48 atoms in a ~11 Å cell with σ = 0.5 Å: the cost model favours a real split
    atoms = random_triclinic_system(6, seed=7, types=(8, 11)).repeat((2, 2, 2))
    atoms.rattle(0.2, seed=3)
    hypers = lode_hypers(exponent=exponent, smearing=0.5, max_angular=2, max_radial=2, weight=0.5)
    calculator = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-8)
    descriptor = calculator.compute(atoms, gradients=["positions", "strain"])
    gradient = random_gradient(descriptor, rng)
    [(grad_positions, grad_cell, grad_strain)] = calculator.backward(atoms, gradient)
    [positions], [strain] = explicit_reference(descriptor, gradient, [atoms])
    assert relative_error(grad_positions, positions) < 1e-6
    assert relative_error(grad_cell, reference_cell(atoms, strain, positions)) < 1e-6
    assert relative_error(grad_strain, strain) < 1e-6
    # translation invariance
    assert np.abs(grad_positions.sum(axis=0)).max() < 1e-10 * np.abs(grad_positions).max()
