"""The backward (vector-Jacobian) product against the explicit positions and strain gradients
contracted with random ∂L/∂features, and against finite differences with respect to the cell
(periodic systems) and the positions (open systems).

The reference for the cell is ∂L/∂h = h⁻ᵀ (Ξ − Rᵀ ∂L/∂R), where Ξ_αβ = Σ G · ∂X/∂ε_αβ is the
contraction of the explicit strain gradients (r' = r (1 + ε), h' = h (1 + ε)).
"""

import ase
import numpy as np
import pytest
from metatensor import Labels, TensorBlock, TensorMap

import farsighted

from helpers import lode_hypers, random_triclinic_system

TOLERANCE = 1e-10


def random_gradient(descriptor: TensorMap, rng) -> TensorMap:
    """∂L/∂features with the metadata of ``descriptor`` and random values"""
    blocks = [
        TensorBlock(
            values=rng.normal(size=block.values.shape),
            samples=block.samples,
            components=block.components,
            properties=block.properties,
        )
        for block in descriptor.blocks()
    ]
    return TensorMap(descriptor.keys, blocks)


def explicit_reference(descriptor: TensorMap, gradient: TensorMap, systems):
    """(∂L/∂positions, ∂L/∂strain) of each system from the explicit gradients"""
    positions = [np.zeros((len(atoms), 3)) for atoms in systems]
    strain = [np.zeros((3, 3)) for _ in systems]
    for key, block in descriptor.items():
        g = gradient.block(key).values
        position_gradient = block.gradient("positions")
        sample, system, atom = (
            position_gradient.samples.column(name) for name in ["sample", "system", "atom"]
        )
        contribution = np.einsum("smn,sxmn->sx", g[sample], position_gradient.values)
        for s in range(len(systems)):
            mask = system == s
            np.add.at(positions[s], atom[mask], contribution[mask])

        strain_gradient = block.gradient("strain")
        rows = strain_gradient.samples.column("sample")
        contribution = np.einsum("smn,sabmn->sab", g[rows], strain_gradient.values)
        sample_system = block.samples.column("system")[rows]
        for s in range(len(systems)):
            strain[s] += contribution[sample_system == s].sum(axis=0)
    return positions, strain


def reference_cell(atoms, strain, positions_gradient):
    cell = atoms.cell.array
    return np.linalg.inv(cell).T @ (strain - atoms.positions.T @ positions_gradient)


def relative_error(actual, expected):
    return np.abs(actual - expected).max() / np.abs(expected).max()


def check(calculator, systems, rng, **selection):
    descriptor = calculator.compute(systems, gradients=["positions", "strain"], **selection)
    gradient = random_gradient(descriptor, rng)
    results = calculator.backward(systems, gradient)
    positions, strain = explicit_reference(descriptor, gradient, systems)
    assert len(results) == len(systems)
    for atoms, (grad_positions, grad_cell, grad_strain), expected_positions, expected_strain in zip(
        systems, results, positions, strain
    ):
        assert grad_positions.shape == (len(atoms), 3)
        assert grad_cell.shape == (3, 3)
        assert relative_error(grad_positions, expected_positions) < TOLERANCE
        expected_cell = reference_cell(atoms, expected_strain, expected_positions)
        assert relative_error(grad_cell, expected_cell) < TOLERANCE
        # the strain part is the contraction with the explicit strain gradients
        assert relative_error(grad_strain, expected_strain) < TOLERANCE


@pytest.mark.parametrize("center_atom_weight", [1.0, 0.5])
@pytest.mark.parametrize("exponent", [0, 1, 6])
def test_against_explicit_gradients(exponent, center_atom_weight, rng):
    calculator = farsighted.LodeSphericalExpansion(
        **lode_hypers(exponent=exponent, weight=center_atom_weight)
    )
    systems = [
        random_triclinic_system(7, seed=1, types=(1, 8, 11)),
        random_triclinic_system(5, seed=2, types=(8, 6)),
    ]
    check(calculator, systems, rng)


def test_selected_keys_and_samples(rng):
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, weight=0.5))
    systems = [
        random_triclinic_system(7, seed=3, types=(1, 8, 11)),
        random_triclinic_system(6, seed=4, types=(1, 8)),
    ]
    keys = Labels(
        ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"],
        np.array([[0, 1, 1, 8], [1, 1, 8, 8], [3, 1, 11, 1], [2, 1, 8, 1]], dtype=np.int32),
    )
    samples = Labels(["system", "atom"], np.array([[0, 0], [0, 3], [1, 1], [1, 5], [0, 6]]))
    check(calculator, systems, rng, selected_keys=keys, selected_samples=samples)


def test_selected_properties(rng):
    """A gradient on some radial channels only: the others have a zero gradient"""
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1))
    atoms = random_triclinic_system(6, seed=5)
    properties = Labels(["n"], np.array([[2], [0]], dtype=np.int32))
    descriptor = calculator.compute(atoms, gradients=["positions", "strain"])
    partial = random_gradient(calculator.compute(atoms, selected_properties=properties), rng)
    # the same gradient with all properties, zeros for the missing ones
    full_blocks = []
    for key, block in descriptor.items():
        values = np.zeros_like(block.values)
        values[..., [2, 0]] = partial.block(key).values
        full_blocks.append(TensorBlock(values, block.samples, block.components, block.properties))
    full = TensorMap(descriptor.keys, full_blocks)
    positions, strain = explicit_reference(descriptor, full, [atoms])
    [(grad_positions, grad_cell, _)] = calculator.backward(atoms, partial)
    assert relative_error(grad_positions, positions[0]) < TOLERANCE
    assert relative_error(grad_cell, reference_cell(atoms, strain[0], positions[0])) < TOLERANCE


def test_complete_blocks_are_not_copied(rng):
    """A gradient block with every radial channel in order goes to the Rust core as the block's
    own array (G is 2.4 GB at 10⁶ atoms); a block with some of them is scattered into a new
    array, zero for the others"""
    from farsighted._backward import gradient_blocks

    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1))
    atoms = random_triclinic_system(6, seed=5)
    gradient = random_gradient(calculator.compute(atoms), rng)
    n_properties = gradient.block(0).values.shape[-1]
    for (_, _, values), block in zip(gradient_blocks(gradient, n_properties), gradient.blocks()):
        assert np.shares_memory(values, block.values)
    properties = Labels(["n"], np.array([[2], [0]], dtype=np.int32))
    partial = random_gradient(calculator.compute(atoms, selected_properties=properties), rng)
    for (_, _, values), block in zip(gradient_blocks(partial, n_properties), partial.blocks()):
        assert not np.shares_memory(values, block.values)
        np.testing.assert_array_equal(values[..., [2, 0]], block.values)
        assert not values[..., [1, 3]].any()


def test_cell_finite_differences(rng):
    """∂L/∂cell at fixed Cartesian positions, against central differences of L = Σ G X"""
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, max_angular=2))
    atoms = random_triclinic_system(6, seed=6)
    gradient = random_gradient(calculator.compute(atoms), rng)

    def loss(cell):
        moved = atoms.copy()
        moved.set_cell(cell, scale_atoms=False)
        descriptor = calculator.compute(moved)
        return sum(
            np.sum(block.values * gradient.block(key).values) for key, block in descriptor.items()
        )

    [(_, grad_cell, _)] = calculator.backward(atoms, gradient)
    delta = 1e-5
    numeric = np.zeros((3, 3))
    for i in range(3):
        for beta in range(3):
            step = np.zeros((3, 3))
            step[i, beta] = delta
            cell = atoms.cell.array
            numeric[i, beta] = (loss(cell + step) - loss(cell - step)) / (2 * delta)
    assert relative_error(grad_cell, numeric) < 1e-6


def test_bad_metadata(rng):
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, max_angular=1))
    atoms = random_triclinic_system(4, seed=7, types=(1, 8))
    descriptor = calculator.compute(atoms)
    gradient = random_gradient(descriptor, rng)
    block = gradient.block(0)

    def with_block(new_block, keys=gradient.keys):
        return TensorMap(keys, [new_block] + [b.copy() for b in gradient.blocks()[1:]])

    renamed = Labels(["o3_lambda", "o3_sigma", "center", "neighbor_type"], gradient.keys.values)
    with pytest.raises(ValueError, match="keys must be named"):
        calculator.backward(atoms, TensorMap(renamed, [b.copy() for b in gradient.blocks()]))

    components = [Labels(["o3_mu"], np.array([[1]], dtype=np.int32))]
    wrong = TensorBlock(block.values, block.samples, components, block.properties)
    with pytest.raises(ValueError, match="o3_mu"):
        calculator.backward(atoms, with_block(wrong))

    properties = Labels(["n"], np.arange(3, 3 + block.values.shape[2]).reshape(-1, 1))
    wrong = TensorBlock(block.values, block.samples, block.components, properties)
    with pytest.raises(ValueError, match="property n"):
        calculator.backward(atoms, with_block(wrong))

    # an atom whose type is not the block's center_type
    center_type = int(gradient.keys.column("center_type")[0])
    other = int(np.nonzero(atoms.numbers != center_type)[0][0])
    samples = Labels(["system", "atom"], np.array([[0, other]], dtype=np.int32))
    wrong = TensorBlock(block.values[:1], samples, block.components, block.properties)
    with pytest.raises(ValueError, match="not center_type"):
        calculator.backward(atoms, with_block(wrong))

    samples = Labels(["system", "atom"], np.array([[1, 0]], dtype=np.int32))
    wrong = TensorBlock(block.values[:1], samples, block.components, block.properties)
    with pytest.raises(ValueError, match="does not exist"):
        calculator.backward(atoms, with_block(wrong))

    # a system without atoms of the block's neighbor_type
    index = next(
        k for k, key in enumerate(gradient.keys) if key["center_type"] != key["neighbor_type"]
    )
    alone = atoms.copy()
    alone.numbers[:] = int(gradient.keys[index]["center_type"])
    keys = Labels(gradient.keys.names, gradient.keys.values[index : index + 1])
    only = TensorMap(keys, [gradient.block(index).copy()])
    with pytest.raises(ValueError, match="has no atom of neighbor_type"):
        calculator.backward(alone, only)

    with pytest.raises(TypeError, match="TensorMap"):
        calculator.backward(atoms, block)


def open_systems():
    """Three types; an ion pair (Na⁺ Cl⁻, net charges per type); a single atom; a cluster with
    an atom beyond the splines, where the multipole tail is used"""
    return [
        ase.Atoms(
            "HOONaHC",
            positions=[
                [0.1, 0.2, 0.3],
                [1.9, 0.4, 2.2],
                [3.1, 2.9, 0.7],
                [0.8, 3.5, 3.3],
                [2.5, 1.2, 4.1],
                [-1.3, 0.6, -0.9],
            ],
        ),
        ase.Atoms("NaCl", positions=[[0.0, 0.0, 0.0], [1.6, 1.2, -1.1]]),
        ase.Atoms("Na", positions=[[0.3, -0.4, 1.0]]),
        ase.Atoms(
            "OHHO",
            positions=[[0.0, 0.0, 0.0], [0.9, 0.3, -0.2], [-0.4, 0.8, 0.3], [24.0, -16.0, 10.0]],
        ),
    ]


def check_open(calculator, systems, rng, **selection):
    """Backward against the explicit gradients; for open systems the cell gradient is zero
    and the strain derivative Ξ = Rᵀ ∂L/∂R (the virial) checks the positions gradient again"""
    descriptor = calculator.compute(systems, gradients=["positions", "strain"], **selection)
    gradient = random_gradient(descriptor, rng)
    results = calculator.backward(systems, gradient)
    positions, strain = explicit_reference(descriptor, gradient, systems)
    errors = []
    for atoms, (grad_positions, grad_cell, grad_strain), expected, expected_strain in zip(
        systems, results, positions, strain
    ):
        assert grad_positions.shape == (len(atoms), 3)
        if atoms.pbc.any():
            assert relative_error(grad_positions, expected) < TOLERANCE
            expected_cell = reference_cell(atoms, expected_strain, expected)
            assert relative_error(grad_cell, expected_cell) < TOLERANCE
            continue
        np.testing.assert_array_equal(grad_cell, np.zeros((3, 3)))
        if not expected.any():
            np.testing.assert_array_equal(grad_positions, 0.0)
            continue
        errors.append(relative_error(grad_positions, expected))
        virial = atoms.positions.T @ grad_positions
        errors.append(relative_error(virial, expected_strain))
        errors.append(relative_error(grad_strain, expected_strain))
    assert max(errors) < 1e-12


@pytest.mark.parametrize("center_atom_weight", [1.0, 0.5])
@pytest.mark.parametrize("exponent", [0, 1, 6])
def test_open_against_explicit_gradients(exponent, center_atom_weight, rng):
    calculator = farsighted.LodeSphericalExpansion(
        **lode_hypers(exponent=exponent, weight=center_atom_weight, smearing=0.8)
    )
    check_open(calculator, open_systems(), rng)


def test_open_selected_keys_and_samples(rng):
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, weight=0.5))
    keys = Labels(
        ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"],
        np.array([[0, 1, 1, 8], [1, 1, 8, 8], [3, 1, 1, 1], [2, 1, 8, 6]], dtype=np.int32),
    )
    samples = Labels(["system", "atom"], np.array([[0, 0], [0, 2], [0, 4], [3, 1], [3, 3]]))
    check_open(calculator, open_systems(), rng, selected_keys=keys, selected_samples=samples)


def test_open_and_periodic_together(rng):
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1))
    systems = open_systems()
    systems.insert(1, random_triclinic_system(5, seed=8, types=(1, 8, 11)))
    check_open(calculator, systems, rng)


def test_open_positions_finite_differences(rng):
    """∂L/∂positions of an open system against central differences of L = Σ G X"""
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, smearing=0.8))
    atoms = open_systems()[0]
    gradient = random_gradient(calculator.compute(atoms), rng)

    def loss(positions):
        moved = atoms.copy()
        moved.positions = positions
        descriptor = calculator.compute(moved)
        return sum(
            np.sum(block.values * gradient.block(key).values) for key, block in descriptor.items()
        )

    [(grad_positions, grad_cell, _)] = calculator.backward(atoms, gradient)
    delta = 1e-5
    numeric = np.zeros_like(grad_positions)
    for j in range(len(atoms)):
        for alpha in range(3):
            step = np.zeros_like(atoms.positions)
            step[j, alpha] = delta
            plus, minus = loss(atoms.positions + step), loss(atoms.positions - step)
            numeric[j, alpha] = (plus - minus) / (2 * delta)
    assert relative_error(grad_positions, numeric) < 1e-7
    np.testing.assert_array_equal(grad_cell, np.zeros((3, 3)))


def test_bad_open_system(rng):
    """Open systems are checked like in compute: non-finite positions, overlapping atoms"""
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, max_angular=1))
    atoms = open_systems()[1]
    gradient = random_gradient(calculator.compute(atoms), rng)
    moved = atoms.copy()
    moved.positions[1] = [np.nan, 0.0, 0.0]
    with pytest.raises(ValueError, match="position of atom 1 is not finite"):
        calculator.backward(moved, gradient)
    moved.positions[1] = [1e-4, 0.0, 0.0]
    with pytest.raises(ValueError, match="atoms 0 and 1"):
        calculator.backward(moved, gradient)
