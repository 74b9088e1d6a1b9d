"""Shared helpers for the tests: random periodic systems, hyper-parameters, strain finite
differences, convergence rates and the budget of the property tests."""

import itertools
import os

import ase
import numpy as np
from hypothesis import settings
from scipy.special import sph_harm_y

from farsighted.clebsch_gordan import complex_to_real


def random_triclinic_system(n_atoms, seed, types=(1, 8, 11), min_distance=0.7):
    """Random atoms in a random triclinic cell, no two atoms closer than ``min_distance``"""
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(4.5, 6.5, 3)) + rng.uniform(-1.2, 1.2, (3, 3))
    positions = []
    while len(positions) < n_atoms:
        candidate = rng.uniform(0, 1, 3) @ cell
        atoms = ase.Atoms(
            "H" * (len(positions) + 1), positions=positions + [candidate], cell=cell, pbc=True
        )
        if (
            len(positions) == 0
            or atoms.get_distances(len(positions), range(len(positions)), mic=True).min()
            > min_distance
        ):
            positions.append(candidate)
    numbers = rng.choice(types, n_atoms)
    numbers[: len(types)] = types  # every type present
    return ase.Atoms(numbers, positions=positions, cell=cell, pbc=True)


def lode_hypers(
    exponent=1,
    smearing=1.0,
    max_angular=3,
    max_radial=3,
    radius=3.5,
    weight=1.0,
    spline=None,
    k_cutoff=None,
):
    hypers = {
        "density": {
            "type": "SmearedPowerLaw",
            "smearing": smearing,
            "exponent": exponent,
            "center_atom_weight": weight,
        },
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial, "radius": radius},
            "spline_accuracy": spline,
        },
    }
    if k_cutoff is not None:
        hypers["k_cutoff"] = k_cutoff
    return hypers


def max_relative_difference(actual, expected, parameter=None):
    """max over blocks of max|actual - expected| / max|expected| (values or a gradient)"""
    assert actual.keys == expected.keys
    worst = 0.0
    for key, block in expected.items():
        other = actual.block(key)
        assert other.samples == block.samples
        assert other.properties == block.properties
        assert other.components == block.components
        if parameter is not None:
            block = block.gradient(parameter)
            other = other.gradient(parameter)
            assert other.samples == block.samples
        assert other.values.shape == block.values.shape
        if block.values.size == 0:
            continue
        scale = np.abs(block.values).max()
        if scale == 0.0:
            assert np.abs(other.values).max() < 1e-14
            continue
        worst = max(worst, np.abs(other.values - block.values).max() / scale)
    return worst


def real_spherical_harmonics(l, points):
    """Real Yₗₘ(r̂) for m = -l..l, from scipy's complex ones and `complex_to_real`"""
    theta = np.arccos(points[:, 2] / np.linalg.norm(points, axis=1))
    phi = np.arctan2(points[:, 1], points[:, 0])
    complex_y = np.array([sph_harm_y(l, m, theta, phi) for m in range(-l, l + 1)])
    return (complex_to_real(l) @ complex_y).real


def real_wigner_d(l, rotation):
    """D with Y(R⁻¹ r) = D Y(r): how real spherical tensors transform, fitted on points"""
    points = np.random.default_rng(l).normal(size=(4 * l + 8, 3))
    before = real_spherical_harmonics(l, points)
    after = real_spherical_harmonics(l, rotation.inv().apply(points))
    return np.linalg.lstsq(before.T, after.T, rcond=None)[0].T


def values_by_key(tensor):
    """{key values: block values} of a TensorMap"""
    return {tuple(key.values.tolist()): block.values.copy() for key, block in tensor.items()}


def deformed(atoms, strain):
    """``atoms`` under r' = r (1 + ε), h' = h (1 + ε) (row vectors), same pbc"""
    transform = np.eye(3) + strain
    return ase.Atoms(
        atoms.numbers,
        positions=atoms.positions @ transform,
        cell=atoms.cell.array @ transform,
        pbc=atoms.pbc,
    )


def strain_by_finite_differences(calculator, atoms, displacement):
    """{key: (n_samples, 3, 3, ...)} central finite differences of the values with respect to
    all nine components ε_αβ"""
    numeric = {}
    for alpha, beta in itertools.product(range(3), range(3)):
        strain = np.zeros((3, 3))
        strain[alpha, beta] = displacement
        plus = values_by_key(calculator.compute(deformed(atoms, strain)))
        minus = values_by_key(calculator.compute(deformed(atoms, -strain)))
        for key in plus:
            derivative = (plus[key] - minus[key]) / (2 * displacement)
            numeric.setdefault(key, np.zeros((derivative.shape[0], 3, 3) + derivative.shape[1:]))
            numeric[key][:, alpha, beta] = derivative
    return numeric


def log_log_slope(x, y):
    """The slope of log y against log x (least squares): the rate at which y falls with x"""
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def contracted_gradients(tensor, weights, n_atoms):
    """Σ_features w · ∂features/∂rⱼ and Σ_features w · ∂features/∂ε of each system, from the
    explicit ``positions`` and ``strain`` gradients of a (numpy) TensorMap; ``weights`` holds
    one array of the shape of each block's values, in the order of the blocks"""
    positions = [np.zeros((n, 3)) for n in n_atoms]
    strain = [np.zeros((3, 3)) for _ in n_atoms]
    for block, w in zip(tensor.blocks(), weights):
        gradient = block.gradient("positions")
        values = np.asarray(gradient.values).reshape(len(gradient.samples), 3, -1)
        flat = w.reshape(len(w), -1)
        for (sample, system, atom), row in zip(gradient.samples.values, values):
            positions[system][atom] += row @ flat[sample]
        gradient = block.gradient("strain")
        values = np.asarray(gradient.values).reshape(len(gradient.samples), 3, 3, -1)
        systems = block.samples.column("system")
        for (sample,), row in zip(gradient.samples.values, values):
            strain[systems[sample]] += row @ flat[sample]
    return positions, strain


def attach_neighbor_lists(systems, module):
    """Compute the neighbour lists that ``module`` (a model or calculator in Å) requests and
    store them in ``systems``, as engines do before calling a model"""
    from vesin.metatomic import neighbor_lists_for_model

    for calculator in neighbor_lists_for_model("angstrom", module, model_length_unit="angstrom"):
        calculator.add_neighbor_list(systems)
    return systems


def examples(n: int) -> settings:
    """Settings of a property test that runs ``n`` examples in CI (the profile of conftest.py),
    times FARSIGHTED_PROPERTY_SCALE (default 1) for longer fuzzing sessions"""
    return settings(max_examples=n * int(os.environ.get("FARSIGHTED_PROPERTY_SCALE", "1")))
