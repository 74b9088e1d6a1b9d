"""The multi-scale calculator: its ρ ⊗ ρ part against featomic's SoapPowerSpectrum, its ρ ⊗ V
part against featomic's EquivariantPowerSpectrum of SphericalExpansion and
LodeSphericalExpansion, and its gradients against finite differences."""

import featomic
import featomic.clebsch_gordan
import numpy as np
import pytest

import farsighted
from farsighted.multiscale import PRODUCTS, MultiScalePowerSpectrum

from test_strain import random_system
from test_tensor_products import LODE_HYPERS, SOAP_HYPERS, TYPES, dense_positions_gradient


@pytest.fixture(scope="module")
def system():
    k_cutoff = farsighted.LodeSphericalExpansion(**LODE_HYPERS).k_cutoff
    return random_system(5, 7, TYPES, k_cutoff=k_cutoff)


def columns(block, product, reference_properties, names):
    """Column of ``block`` for each property row of a featomic reference with ``names``"""
    ours = block.properties
    position = {tuple(int(v) for v in row): i for i, row in enumerate(ours.values.tolist())}
    index = []
    for row in reference_properties.values.tolist():
        entry = dict(zip(names, row))
        entry["product"] = product
        index.append(position[tuple(entry[n] for n in ours.names)])
    return np.array(index)


def test_density_density_is_featomic_soap_power_spectrum(system):
    features = MultiScalePowerSpectrum(SOAP_HYPERS, LODE_HYPERS).compute(
        system, gradients=["positions"]
    )
    reference = featomic.SoapPowerSpectrum(**SOAP_HYPERS).compute(system, gradients=["positions"])
    reference = reference.keys_to_properties(["neighbor_1_type", "neighbor_2_type"])
    for center_type in TYPES:
        block = features.block(o3_lambda=0, o3_sigma=1, center_type=center_type)
        expected = reference.block(center_type=center_type)
        properties = expected.properties
        # featomic stores each pair of different neighbour types once, multiplied by √2
        rows = [
            {"l_1": l, "l_2": l, "neighbor_1_type": a, "n_1": n1, "neighbor_2_type": b, "n_2": n2}
            for a, b, l, n1, n2 in properties.values.tolist()
        ]
        factor = np.array(
            [np.sqrt(2) if r["neighbor_1_type"] != r["neighbor_2_type"] else 1.0 for r in rows]
        )
        position = {tuple(r): i for i, r in enumerate(block.properties.values.tolist())}
        index = [
            position[
                (PRODUCTS["density-density"],) + tuple(r[n] for n in block.properties.names[1:])
            ]
            for r in rows
        ]
        scale = np.abs(expected.values).max()
        np.testing.assert_allclose(
            block.values[:, 0, index] * factor, expected.values, atol=1e-12 * scale
        )
        ours = dense_positions_gradient(block, len(block.samples), len(system))
        theirs = dense_positions_gradient(expected, len(block.samples), len(system))
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours[..., 0, index] * factor, theirs, atol=1e-12 * scale)


def test_density_potential_is_featomic_equivariant_power_spectrum(system):
    features = MultiScalePowerSpectrum(SOAP_HYPERS, LODE_HYPERS, max_angular=2).compute(system)
    reference = featomic.clebsch_gordan.EquivariantPowerSpectrum(
        featomic.SphericalExpansion(**SOAP_HYPERS),
        featomic.LodeSphericalExpansion(**LODE_HYPERS),
        neighbor_types=TYPES,
    ).compute(system, neighbors_to_properties=True)
    compared = 0
    for key, expected in reference.items():
        if key["o3_lambda"] > 2:
            continue
        block = features.block(key)
        index = columns(
            block, PRODUCTS["density-potential"], expected.properties, expected.properties.names
        )
        scale = np.abs(expected.values).max()
        np.testing.assert_allclose(block.values[..., index], expected.values, atol=1e-9 * scale)
        compared += 1
    assert compared >= 10


@pytest.mark.slow
def test_gradients_finite_differences(system):
    calculator = MultiScalePowerSpectrum(
        SOAP_HYPERS, LODE_HYPERS, potential_potential=True, neighbor_types=TYPES
    )
    features = calculator.compute(system, gradients=["positions"])
    h = 1e-5
    for atom in [0, 3]:
        for xyz in range(3):
            plus, minus = system.copy(), system.copy()
            plus.positions[atom, xyz] += h
            minus.positions[atom, xyz] -= h
            plus, minus = calculator.compute(plus), calculator.compute(minus)
            for key, block in features.items():
                analytic = dense_positions_gradient(block, len(block.samples), len(system))
                numeric = (plus.block(key).values - minus.block(key).values) / (2 * h)
                scale = np.abs(analytic).max()
                np.testing.assert_allclose(analytic[:, atom, xyz], numeric, atol=2e-6 * scale)
                assert set(np.unique(block.properties.column("product"))) == {0, 1, 2}
