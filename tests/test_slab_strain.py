"""Strain gradients and backward products of slabs (``pbc`` true along two cell vectors)
against independent references: central finite differences of the values under
r' = r (1 + ε), h' = h (1 + ε) (all nine components), the explicit gradients contracted with
random ∂L/∂features, and central finite differences of L = Σ G X with respect to the
periodic cell vectors at fixed positions.

The features do not depend on the non-periodic cell vector: its ∂L/∂cell row is zero, and
Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R holds whatever that row is.
"""

import ase
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from test_backward import explicit_reference, random_gradient

import farsighted

from helpers import lode_hypers, strain_by_finite_differences

SIGMA = 0.8
# k_cutoff σ = 7.6: the k-space sum is converged to ~1e-13, so that a k-vector crossing the
# cutoff between two displacements is invisible to the finite differences
HYPERS = dict(smearing=SIGMA, max_angular=3, max_radial=3, radius=3.0, k_cutoff=9.5)
DISPLACEMENT = 1e-5


def upright_slab():
    """Two types, a triclinic in-plane cell in the xy plane, atoms at different heights"""
    cell = [[4.2, 0.0, 0.0], [1.3, 3.9, 0.0], [0.0, 0.0, 0.0]]
    positions = [[0.2, 0.1, 0.0], [2.3, 1.9, 1.4], [3.1, 0.6, -0.9], [1.0, 2.5, 0.7]]
    return ase.Atoms("NaClNaCl", positions=positions, cell=cell, pbc=[True, True, False])


def tilted_slab():
    """The upright slab rotated, its periodic vectors as rows 0 and 2 (pbc [True, False,
    True]) and an arbitrary non-periodic row"""
    atoms = upright_slab()
    rotation = Rotation.from_euler("xyz", [0.4, -0.7, 1.1]).as_matrix()
    a, b, _ = atoms.cell.array @ rotation.T
    return ase.Atoms(
        atoms.numbers,
        positions=atoms.positions @ rotation.T,
        cell=[a, [0.3, 1.7, -0.4], b],
        pbc=[True, False, True],
    )


def calculator(exponent):
    return farsighted.LodeSphericalExpansion(**lode_hypers(exponent=exponent, weight=0.6, **HYPERS))


SLABS = {"upright": upright_slab, "tilted": tilted_slab}


@pytest.mark.slow
@pytest.mark.parametrize("exponent, geometry", [(1, "tilted"), (6, "upright"), (1.5, "tilted")])
def test_strain_by_finite_differences(exponent, geometry):
    atoms = SLABS[geometry]()
    calc = calculator(exponent)
    tensor = calc.compute(atoms, gradients=["strain"])
    numeric = strain_by_finite_differences(calc, atoms, DISPLACEMENT)
    scale = max(np.abs(n).max() for n in numeric.values())
    worst = 0.0
    for key, block in tensor.items():
        gradient = block.gradient("strain")
        assert gradient.samples.column("sample").tolist() == list(range(len(block.samples)))
        worst = max(worst, np.abs(gradient.values - numeric[tuple(key.values.tolist())]).max())
    assert worst < 1e-6 * scale, worst / scale


@pytest.mark.parametrize("exponent", [1, 6])
@pytest.mark.parametrize("geometry", SLABS)
def test_gradients_are_derivatives_at_default_k_cutoff(exponent, geometry, rng):
    """At the default k_cutoff (k_cutoff σ = 1.2π, where the summand of the k-space sum is
    ~1e-6 of its largest), the explicit strain and positions gradients and the backward
    product (positions and periodic cell rows) against central finite differences of the
    values: the truncation depends on the slab alone (|k∥| < k_cutoff, k_z summed to
    convergence), not on the internal cell's height, which moves with the atoms and the cell.
    Measured: at most 6e-10 of the largest derivative (the finite differences' own error)."""
    atoms = SLABS[geometry]()
    hypers = lode_hypers(exponent=exponent, weight=0.6, **dict(HYPERS, k_cutoff=None))
    del hypers["basis"]["spline_accuracy"]  # the default splines
    calc = farsighted.LodeSphericalExpansion(**hypers)
    tensor = calc.compute(atoms, gradients=["positions", "strain"])
    errors = {}

    numeric = strain_by_finite_differences(calc, atoms, DISPLACEMENT)
    scale = max(np.abs(n).max() for n in numeric.values())
    worst = 0.0
    for key, block in tensor.items():
        difference = block.gradient("strain").values - numeric[tuple(key.values.tolist())]
        worst = max(worst, np.abs(difference).max() / scale)
    errors["strain"] = worst

    def features(moved):
        return {tuple(k.values.tolist()): b.values for k, b in calc.compute(moved).items()}

    gradient = random_gradient(tensor, rng)
    weights = {tuple(k.values.tolist()): b.values for k, b in gradient.items()}

    def loss(moved):
        return sum(np.sum(weights[k] * v) for k, v in features(moved).items())

    [(backward_positions, backward_cell, _)] = calc.backward(atoms, gradient)
    numeric_positions = np.zeros((len(atoms), 3))
    scale = max(np.abs(block.gradient("positions").values).max() for block in tensor.blocks())
    worst = 0.0
    for j in range(len(atoms)):
        for alpha in range(3):
            shifted = []
            for sign in [1, -1]:
                moved = atoms.copy()
                moved.positions[j, alpha] += sign * DISPLACEMENT
                shifted.append(features(moved))
            for key, block in tensor.items():
                k = tuple(key.values.tolist())
                fd = (shifted[0][k] - shifted[1][k]) / (2 * DISPLACEMENT)
                numeric_positions[j, alpha] += np.sum(weights[k] * fd)
                positions = block.gradient("positions")
                explicit = np.zeros_like(fd)
                for row, (sample, _, atom) in enumerate(positions.samples.values):
                    if atom == j:
                        explicit[sample] = positions.values[row, alpha]
                worst = max(worst, np.abs(fd - explicit).max() / scale)
    errors["positions"] = worst
    error = np.abs(backward_positions - numeric_positions).max()
    errors["backward positions"] = error / np.abs(numeric_positions).max()

    numeric_cell = np.zeros((3, 3))
    for i in np.nonzero(atoms.pbc)[0]:
        for beta in range(3):
            results = []
            for sign in [1, -1]:
                moved = atoms.copy()
                cell = atoms.cell.array.copy()
                cell[i, beta] += sign * DISPLACEMENT
                moved.set_cell(cell, scale_atoms=False)
                results.append(loss(moved))
            numeric_cell[i, beta] = (results[0] - results[1]) / (2 * DISPLACEMENT)
    error = np.abs(backward_cell - numeric_cell).max()
    errors["backward cell"] = error / np.abs(numeric_cell).max()
    print(f"p={exponent} {geometry}:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert max(errors.values()) < 1e-8, errors


@pytest.mark.parametrize("exponent", [1, 6, 1.5])
@pytest.mark.parametrize("geometry", SLABS)
def test_backward_against_explicit_gradients(exponent, geometry, rng):
    """∂L/∂positions and Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R from the backward product against the
    contracted explicit gradients; the non-periodic row of ∂L/∂cell is zero"""
    atoms = SLABS[geometry]()
    calc = calculator(exponent)
    descriptor = calc.compute(atoms, gradients=["positions", "strain"])
    gradient = random_gradient(descriptor, rng)
    [(grad_positions, grad_cell, grad_strain)] = calc.backward(atoms, gradient)
    [positions], [strain] = explicit_reference(descriptor, gradient, [atoms])
    assert np.abs(grad_positions - positions).max() < 1e-12 * np.abs(positions).max()
    assert np.all(grad_cell[~atoms.pbc] == 0.0)
    virial = atoms.cell.array.T @ grad_cell + atoms.positions.T @ grad_positions
    # the non-periodic row is set to zero: with the k_z sums converged, the features do not
    # depend on the internal cell's third vector (measured: 2e-15)
    assert np.abs(virial - strain).max() < 1e-13 * np.abs(strain).max()
    assert np.abs(grad_strain - strain).max() < 1e-12 * np.abs(strain).max()


@pytest.mark.slow
@pytest.mark.parametrize("exponent, geometry", [(1, "upright"), (6, "tilted")])
def test_cell_gradient_by_finite_differences(exponent, geometry, rng):
    """∂L/∂cell of the periodic rows at fixed Cartesian positions, against central
    differences of L = Σ G X"""
    atoms = SLABS[geometry]()
    calc = calculator(exponent)
    gradient = random_gradient(calc.compute(atoms), rng)

    def loss(cell):
        moved = atoms.copy()
        moved.set_cell(cell, scale_atoms=False)
        return sum(
            np.sum(block.values * gradient.block(key).values)
            for key, block in calc.compute(moved).items()
        )

    [(_, grad_cell, _)] = calc.backward(atoms, gradient)
    numeric = np.zeros((3, 3))
    for i in np.nonzero(atoms.pbc)[0]:
        for beta in range(3):
            step = np.zeros((3, 3))
            step[i, beta] = DISPLACEMENT
            cell = atoms.cell.array
            numeric[i, beta] = (loss(cell + step) - loss(cell - step)) / (2 * DISPLACEMENT)
    assert np.abs(grad_cell - numeric).max() < 1e-6 * np.abs(numeric).max()


@pytest.mark.parametrize("exponent", [1, 6])
def test_split_backward_matches_converged_slab_sum(exponent, rng):
    # the 2D Ewald split against the pure 2D sum at k_cutoff σ = 7.6 (converged to ~1e-13)
    atoms = tilted_slab()
    pure = calculator(exponent)
    split = farsighted.LodeSphericalExpansion(
        **lode_hypers(exponent=exponent, weight=0.6, **dict(HYPERS, k_cutoff=None)),
        accuracy=1e-8,
    )
    gradient = random_gradient(pure.compute(atoms), rng)
    [(positions, cell, strain)] = split.backward(atoms, gradient)
    [(expected_positions, expected_cell, expected_strain)] = pure.backward(atoms, gradient)
    for actual, expected in [
        (positions, expected_positions),
        (cell, expected_cell),
        (strain, expected_strain),
    ]:
        assert np.abs(actual - expected).max() < 1e-6 * np.abs(expected).max()


def test_wires_stay_refused():
    gradient = random_gradient(calculator(1).compute(upright_slab()), np.random.default_rng(1))
    wire = upright_slab()
    wire.pbc = [True, False, False]
    calc = calculator(1)
    with pytest.raises(ValueError, match="wires"):
        calc.compute(wire, gradients=["strain"])
    with pytest.raises(ValueError, match="wires"):
        calc.backward(wire, gradient)


@pytest.mark.slow
@pytest.mark.parametrize("exponent, geometry", [(1, "tilted"), (6, "upright")])
def test_split_strain_matches_pure_sum(exponent, geometry):
    """The 2D Ewald split's strain gradients equal those of the converged pure slab sum
    (checked by finite differences above) within the requested accuracy"""
    atoms = SLABS[geometry]()
    common = dict(HYPERS, exponent=exponent, weight=0.6, spline=1e-10)
    pure = farsighted.LodeSphericalExpansion(**lode_hypers(**dict(common, k_cutoff=12 / SIGMA)))
    accuracy = 1e-6
    split = farsighted.LodeSphericalExpansion(
        **lode_hypers(**dict(common, k_cutoff=None)), accuracy=accuracy
    )
    reference = pure.compute(atoms, gradients=["strain"])
    result = split.compute(atoms, gradients=["strain"])
    scale = max(np.abs(block.gradient("strain").values).max() for block in reference.blocks())
    for key, block in reference.items():
        difference = result.block(key).gradient("strain").values - block.gradient("strain").values
        assert np.abs(difference).max() <= accuracy * scale, key
