"""Clebsch–Gordan products of LODE and local densities: values against featomic's
EquivariantPowerSpectrum, gradients against finite differences, equivariance under rotations
and inversion, torch arrays against numpy arrays."""

import ase
import featomic
import featomic.clebsch_gordan
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import farsighted
from farsighted.tensor_products import (
    clebsch_gordan_product,
    density_correlations,
    prepare_density,
)

from helpers import deformed, lode_hypers, real_wigner_d
from test_strain import random_system

TYPES = [1, 8]

SOAP_HYPERS = {
    "cutoff": {"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.5},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 2},
    },
}
LODE_HYPERS = lode_hypers(exponent=1, smearing=0.8, max_angular=2, max_radial=2, radius=3.0)


def densities(atoms, gradients=()):
    """ρ (featomic) and V (farsighted), ready for products"""
    rho = featomic.SphericalExpansion(**SOAP_HYPERS).compute(atoms, gradients=list(gradients))
    lode = farsighted.LodeSphericalExpansion(**LODE_HYPERS)
    potential = lode.compute(atoms, gradients=list(gradients))
    return rho, potential


def products(atoms, gradients=(), max_angular=3):
    """ρ ⊗ V, (ρ ⊗ ρ) ⊗ V and ρ ⊗ V ⊗ V for ``atoms``"""
    rho, potential = densities(atoms, gradients)
    rho_1, rho_2 = prepare_density(rho, 1, TYPES), prepare_density(rho, 2, TYPES)
    v_2, v_3 = prepare_density(potential, 2, TYPES), prepare_density(potential, 3, TYPES)
    return {
        "rho x V": clebsch_gordan_product(rho_1, v_2, max_angular),
        "(rho x rho) x V": density_correlations(
            [rho_1, rho_2, v_3], max_angular, selected_keys=None
        ),
        "rho x V x V": density_correlations([rho_1, v_2, v_3], max_angular),
    }


@pytest.fixture(scope="module")
def system():
    return random_system(
        3, 6, TYPES, k_cutoff=farsighted.LodeSphericalExpansion(**LODE_HYPERS).k_cutoff
    )


def test_against_featomic_equivariant_power_spectrum(system):
    """ρ ⊗ V with featomic's densities and farsighted's LODE against featomic's own product of
    its SphericalExpansion and LodeSphericalExpansion (the LODE values agree to 1e-10)"""
    reference_calculator = featomic.clebsch_gordan.EquivariantPowerSpectrum(
        featomic.SphericalExpansion(**SOAP_HYPERS),
        featomic.LodeSphericalExpansion(**LODE_HYPERS),
        neighbor_types=TYPES,
    )
    reference = reference_calculator.compute(system, neighbors_to_properties=True)
    rho, potential = densities(system)
    ours = clebsch_gordan_product(
        prepare_density(rho, 1, TYPES), prepare_density(potential, 2, TYPES), max_angular=4
    )
    compared = 0
    for key, expected in reference.items():
        block = ours.block(key)
        assert block.samples == expected.samples
        assert block.properties.names == expected.properties.names
        # featomic drops some redundant (l₁, l₂) combinations: compare the properties it has
        position = {tuple(p): i for i, p in enumerate(block.properties.values.tolist())}
        index = [position[tuple(p)] for p in expected.properties.values.tolist()]
        scale = np.abs(expected.values).max()
        np.testing.assert_allclose(block.values[..., index], expected.values, atol=1e-9 * scale)
        compared += expected.values.size
    assert compared > 1000


def dense_positions_gradient(block, n_samples, n_atoms):
    gradient = block.gradient("positions")
    dense = np.zeros((n_samples, n_atoms) + gradient.values.shape[1:])
    for row, (sample, _, atom) in enumerate(gradient.samples.values):
        dense[sample, atom] += gradient.values[row]
    return dense


@pytest.mark.slow
def test_positions_gradients_finite_differences(system):
    tensors = products(system, gradients=["positions"])
    h = 1e-5
    displaced = {}
    for atom in range(len(system)):
        for xyz in range(3):
            for sign in (1, -1):
                moved = system.copy()
                moved.positions[atom, xyz] += sign * h
                displaced[atom, xyz, sign] = products(moved)
    for name, tensor in tensors.items():
        for key, block in tensor.items():
            n_samples = len(block.samples)
            analytic = dense_positions_gradient(block, n_samples, len(system))
            numeric = np.zeros_like(analytic)
            for (atom, xyz, sign), tensors_moved in displaced.items():
                numeric[:, atom, xyz] += sign * tensors_moved[name].block(key).values / (2 * h)
            scale = np.abs(analytic).max()
            np.testing.assert_allclose(analytic, numeric, atol=2e-6 * scale, err_msg=name)


@pytest.mark.slow
def test_strain_gradients_finite_differences(system):
    tensors = products(system, gradients=["strain"])
    h = 1e-5
    for alpha in range(3):
        for beta in range(3):
            strain = np.zeros((3, 3))
            strain[alpha, beta] = h
            plus, minus = products(deformed(system, strain)), products(deformed(system, -strain))
            for name, tensor in tensors.items():
                for key, block in tensor.items():
                    numeric = (plus[name].block(key).values - minus[name].block(key).values) / (
                        2 * h
                    )
                    analytic = block.gradient("strain").values[:, alpha, beta]
                    scale = np.abs(block.gradient("strain").values).max()
                    np.testing.assert_allclose(analytic, numeric, atol=2e-6 * scale, err_msg=name)


def transformed(atoms, matrix):
    return ase.Atoms(
        numbers=atoms.numbers,
        positions=atoms.positions @ matrix.T,
        cell=atoms.cell.array @ matrix.T,
        pbc=True,
    )


def test_equivariance_under_rotations_and_inversion(system):
    rotation = Rotation.random(random_state=11)
    reference = products(system)
    rotated = products(transformed(system, rotation.as_matrix()))
    inverted = products(transformed(system, -np.eye(3)))
    checked = set()
    for name, tensor in reference.items():
        for key, block in tensor.items():
            o3_lambda, o3_sigma = int(key["o3_lambda"]), int(key["o3_sigma"])
            scale = np.abs(block.values).max()
            # X(R structure) = D(R⁻¹)-fitted matrix: Y(R r) = D Y(r)
            wigner = real_wigner_d(o3_lambda, rotation.inv())
            expected = np.einsum("mn,snp->smp", wigner, block.values)
            np.testing.assert_allclose(
                rotated[name].block(key).values, expected, atol=1e-8 * scale, err_msg=name
            )
            parity = o3_sigma * (-1) ** o3_lambda
            np.testing.assert_allclose(
                inverted[name].block(key).values, parity * block.values, atol=1e-8 * scale
            )
            checked.add((o3_lambda, o3_sigma))
    # invariants, vectors, pseudo-vectors and higher orders were all exercised
    assert {(0, 1), (1, 1), (1, -1), (2, 1), (3, -1)} <= checked


def test_torch_arrays_give_the_numpy_numbers(system):
    torch = pytest.importorskip("torch")
    rho, potential = densities(system, gradients=["positions"])
    rho_1, v_2 = prepare_density(rho, 1, TYPES), prepare_density(potential, 2, TYPES)
    expected = clebsch_gordan_product(rho_1, v_2, 2)
    rho_torch = rho_1.to(arrays="torch")
    v_torch = v_2.to(arrays="torch")
    result = clebsch_gordan_product(rho_torch, v_torch, 2)
    for key, block in expected.items():
        other = result.block(key)
        assert isinstance(other.values, torch.Tensor)
        np.testing.assert_allclose(other.values.numpy(), block.values, rtol=0, atol=1e-14)
        np.testing.assert_allclose(
            other.gradient("positions").values.numpy(),
            block.gradient("positions").values,
            rtol=0,
            atol=1e-14,
        )


def test_bad_inputs(system):
    rho, potential = densities(system)
    with pytest.raises(ValueError, match="move the extra dimensions"):
        clebsch_gordan_product(rho, prepare_density(potential, 2), 2)
    with pytest.raises(ValueError, match="appear twice"):
        clebsch_gordan_product(prepare_density(rho, 1), prepare_density(potential, 1), 2)
    rho_gradients, _ = densities(system, gradients=["positions"])
    with pytest.raises(ValueError, match="different gradients"):
        clebsch_gordan_product(prepare_density(rho_gradients, 1), prepare_density(potential, 2), 2)
    with pytest.raises(ValueError, match="at least two"):
        density_correlations([prepare_density(rho, 1)], 2)


def test_torch_autograd_through_the_product(system):
    """autograd of a loss on ρ ⊗ V with respect to V's values, against finite differences"""
    torch = pytest.importorskip("torch")
    rho, potential = densities(system)
    rho_1 = prepare_density(rho, 1, TYPES).to(arrays="torch")
    v_2 = prepare_density(potential, 2, TYPES).to(arrays="torch")
    for block in v_2.blocks():
        block.values.requires_grad_(True)

    def loss(tensor):
        return sum((block.values**2).sum() for block in tensor.blocks())

    loss(clebsch_gordan_product(rho_1, v_2, 2)).backward()
    block = v_2.block(o3_lambda=1, center_type=8)
    h = 1e-6
    with torch.no_grad():
        for index in [(0, 0, 0), (1, 2, 5)]:
            original = block.values[index].item()
            block.values[index] = original + h
            plus = loss(clebsch_gordan_product(rho_1, v_2, 2)).item()
            block.values[index] = original - h
            minus = loss(clebsch_gordan_product(rho_1, v_2, 2)).item()
            block.values[index] = original
            numeric = (plus - minus) / (2 * h)
            assert abs(block.values.grad[index].item() - numeric) < 1e-6 * max(1.0, abs(numeric))
