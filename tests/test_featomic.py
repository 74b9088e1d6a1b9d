"""farsighted against featomic's LodeSphericalExpansion: same hyper-parameters, same numbers.

featomic evaluates the exponents p = 2, 4, 6 (and 8) through closed forms based on its own
``erfc``, whose relative accuracy is a few 1e-10 (test_reference.py shows that farsighted
agrees with an independent scipy implementation to 1e-13 there); for those exponents the
comparison uses 5e-10 instead of 1e-10.
"""

import featomic
import numpy as np
import pytest
from metatensor import Labels

import farsighted

from helpers import lode_hypers, max_relative_difference, random_triclinic_system


def tolerance(exponent):
    return 5e-10 if exponent in (2, 4, 6, 8) else 1e-10


SYSTEMS = [random_triclinic_system(9, seed=1), random_triclinic_system(7, seed=2)]

CASES = [
    # exponent, smearing, max_angular, max_radial, radius, center_atom_weight
    (0, 1.0, 3, 3, 3.5, 1.0),
    (1, 1.0, 4, 5, 4.0, 1.0),
    (1, 0.8, 2, 2, 3.0, 0.0),
    (2, 1.2, 3, 4, 4.5, 1.0),
    (3, 1.0, 5, 2, 3.0, 0.5),
    (4, 1.5, 2, 6, 5.0, 1.0),
    (6, 1.0, 3, 3, 3.5, 0.3),
    (5, 1.3, 1, 1, 2.5, 1.0),
    (9, 1.0, 0, 0, 2.0, 1.0),
]


@pytest.mark.parametrize("exponent, smearing, max_angular, max_radial, radius, weight", CASES)
def test_values_and_positions_gradients(
    exponent, smearing, max_angular, max_radial, radius, weight
):
    hypers = lode_hypers(exponent, smearing, max_angular, max_radial, radius, weight)
    reference = featomic.LodeSphericalExpansion(**hypers).compute(SYSTEMS, gradients=["positions"])
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(SYSTEMS, gradients=["positions"])
    assert max_relative_difference(ours, reference) < tolerance(exponent)
    assert max_relative_difference(ours, reference, "positions") < tolerance(exponent)


def test_explicit_k_cutoff():
    hypers = lode_hypers(1, 1.0, 3, 3, k_cutoff=2.2)
    reference = featomic.LodeSphericalExpansion(**hypers).compute(SYSTEMS, gradients=["positions"])
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(SYSTEMS, gradients=["positions"])
    assert max_relative_difference(ours, reference) < 1e-10
    assert max_relative_difference(ours, reference, "positions") < 1e-10


def test_default_splines():
    # both codes spline their radial integrals to an absolute accuracy of 1e-8
    hypers = lode_hypers(1, 1.0, 4, 5, 4.0)
    del hypers["basis"]["spline_accuracy"]
    reference = featomic.LodeSphericalExpansion(**hypers).compute(SYSTEMS)
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(SYSTEMS)
    assert max_relative_difference(ours, reference) < 1e-7


def test_selected_keys_and_samples():
    hypers = lode_hypers(1, 1.0, 3, 2)
    selections = [
        {"selected_keys": Labels(["o3_lambda"], np.array([[0], [2]]))},
        {"selected_keys": Labels(["center_type", "neighbor_type"], np.array([[8, 1]]))},
        # a key that is not part of the defaults
        {
            "selected_keys": Labels(
                ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"],
                np.array([[1, 1, 6, 8], [1, 1, 8, 11]]),
            )
        },
        {"selected_samples": Labels(["atom"], np.array([[0], [3], [5]]))},
        {"selected_samples": Labels(["system", "atom"], np.array([[0, 1], [0, 4], [1, 2]]))},
        {"selected_samples": Labels(["system"], np.array([[1]]))},
        {"selected_properties": Labels(["n"], np.array([[2], [0]]))},
    ]
    for selection in selections:
        reference = featomic.LodeSphericalExpansion(**hypers).compute(
            SYSTEMS, gradients=["positions"], **selection
        )
        ours = farsighted.LodeSphericalExpansion(**hypers).compute(
            SYSTEMS, gradients=["positions"], **selection
        )
        assert max_relative_difference(ours, reference) < 1e-10, selection
        assert max_relative_difference(ours, reference, "positions") < 1e-10, selection


def test_many_systems_and_species():
    systems = [
        random_triclinic_system(5 + i % 4, seed=10 + i, types=(1, 6, 7, 8)[: 2 + i % 3])
        for i in range(9)
    ]
    hypers = lode_hypers(1, 1.0, 2, 2)
    reference = featomic.LodeSphericalExpansion(**hypers).compute(systems, gradients=["positions"])
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(systems, gradients=["positions"])
    assert max_relative_difference(ours, reference) < 1e-10
    assert max_relative_difference(ours, reference, "positions") < 1e-10
