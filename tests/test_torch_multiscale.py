"""farsighted.torch.MultiScalePowerSpectrum against farsighted.multiscale (featomic's density
and the Rust core's LODE, products in numpy): the same metadata, values within 1e-10 of each
block's largest entry, autograd positions and strain gradients within 1e-9 of the explicit
gradients, on 3D-periodic cells and a slab (whose local density featomic computes on a copy
with vacuum, featomic-torch on the slab itself); and a linear model on these features
fitted by ridge gives the ridge predictions."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
pytest.importorskip("featomic.torch")

import ase.io  # noqa: E402

import farsighted.torch  # noqa: E402
from farsighted.data import dataset_path  # noqa: E402
from farsighted.multiscale import MultiScalePowerSpectrum  # noqa: E402
from farsighted.regression import structure_features  # noqa: E402
from farsighted.systems import slab_thickness  # noqa: E402
from farsighted.torch.fit import _composition  # noqa: E402

from helpers import (  # noqa: E402
    attach_neighbor_lists,
    contracted_gradients,
    lode_hypers,
    random_triclinic_system,
)

TYPES = [1, 8, 11]


def density_hypers(max_angular=2, max_radial=3):
    return {
        "cutoff": {"radius": 3.5, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.4},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial},
        },
    }


def with_slab(frames, seed):
    """``frames`` and a slab: a random cell periodic along its first two vectors"""
    slab = random_triclinic_system(6, seed=seed)
    slab.pbc = [True, True, False]
    return frames + [slab]


def systems_for(module, frames, requires_grad=False):
    systems = [metatomic_torch.systems_to_torch(f, dtype=torch.float64) for f in frames]
    strains = []
    if requires_grad:
        # r' = r (1 + ε), h' = h (1 + ε): derivatives with respect to ε are the strain gradients
        strained = []
        for system in systems:
            system.positions.requires_grad_(True)
            strain = torch.zeros((3, 3), dtype=torch.float64, requires_grad=True)
            transform = torch.eye(3, dtype=torch.float64) + strain
            strained.append(
                metatomic_torch.System(
                    types=system.types,
                    positions=system.positions @ transform,
                    cell=system.cell @ transform,
                    pbc=system.pbc,
                )
            )
            strains.append(strain)
        leaves = [system.positions for system in systems]
        systems = strained
    attach_neighbor_lists(systems, module)
    if requires_grad:
        return systems, leaves, strains
    return systems


@pytest.mark.parametrize("potential_potential", [False, True])
def test_metadata_and_values_equal_numpy_products(potential_potential):
    frames = with_slab(
        [random_triclinic_system(7, seed=11), random_triclinic_system(5, seed=12)], 16
    )
    density, lode = density_hypers(), lode_hypers(exponent=1, max_angular=2, spline=1e-8)
    expected = MultiScalePowerSpectrum(
        density, lode, potential_potential=potential_potential, neighbor_types=TYPES
    ).compute(frames)
    module = farsighted.torch.MultiScalePowerSpectrum(
        density, lode, TYPES, potential_potential, max_slab_thickness=slab_thickness(frames)
    )
    # the neighbour lists featomic requests, found on the module before scripting
    actual = torch.jit.script(module)(systems_for(module, frames))

    assert actual.keys.names == expected.keys.names
    np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
    for other, block in zip(actual.blocks(), expected.blocks()):
        assert other.properties.names == block.properties.names
        np.testing.assert_array_equal(other.samples.values.numpy(), block.samples.values)
        np.testing.assert_array_equal(
            other.components[0].values.numpy(), block.components[0].values
        )
        np.testing.assert_array_equal(other.properties.values.numpy(), block.properties.values)
        error = np.abs(other.values.numpy() - block.values).max() / np.abs(block.values).max()
        assert error < 1e-10


def test_autograd_gradients_equal_explicit_gradients():
    frames = with_slab(
        [random_triclinic_system(6, seed=13), random_triclinic_system(4, seed=14)], 17
    )
    density, lode = density_hypers(1, 2), lode_hypers(exponent=1, max_angular=1, spline=1e-8)
    expected = MultiScalePowerSpectrum(density, lode, neighbor_types=TYPES).compute(
        frames, gradients=["positions", "strain"]
    )
    module = farsighted.torch.MultiScalePowerSpectrum(
        density, lode, TYPES, max_slab_thickness=slab_thickness(frames)
    )
    systems, leaves, strains = systems_for(module, frames, requires_grad=True)
    actual = module(systems)

    rng = np.random.default_rng(15)
    weights = [rng.normal(size=block.values.shape) for block in expected.blocks()]
    loss = sum((block.values * torch.tensor(w)).sum() for block, w in zip(actual.blocks(), weights))
    gradients = torch.autograd.grad(loss, leaves + strains)
    positions, strain = contracted_gradients(expected, weights, [len(f) for f in frames])
    for s in range(len(frames)):
        for actual_gradient, explicit in [
            (gradients[s], positions[s]),
            (gradients[len(frames) + s], strain[s]),
        ]:
            error = np.abs(actual_gradient.numpy() - explicit).max()
            assert error < 1e-9 * max(1.0, np.abs(explicit).max())


def test_unknown_neighbor_types_are_refused():
    density, lode = density_hypers(1, 1), lode_hypers(exponent=1, max_angular=1, spline=1e-8)
    module = farsighted.torch.MultiScalePowerSpectrum(density, lode, [1, 8])
    frames = [random_triclinic_system(4, seed=16)]  # holds type 11
    with pytest.raises(ValueError, match="not among the neighbor types"):
        module(systems_for(module, frames))
    with pytest.raises(ValueError, match="TensorProduct"):
        farsighted.torch.MultiScalePowerSpectrum(
            dict(density, basis={"type": "Explicit"}), lode, [1, 8]
        )


def test_fitted_multiscale_model_gives_the_ridge_predictions():
    frames = ase.io.read(dataset_path("point_charges.xyz"), ":30")
    energies = np.array([frame.info["energy_coulomb"] for frame in frames])
    forces = [frame.arrays["forces_coulomb"] for frame in frames]
    multiscale = {
        "density": density_hypers(2, 3),
        "lode": lode_hypers(exponent=1, max_angular=2, spline=1e-8),
    }
    model, ridge = farsighted.torch.fit_energy_model(
        frames[:24], energies[:24], forces[:24], multiscale=multiscale
    )
    test = frames[24:]
    numpy_features = MultiScalePowerSpectrum(**multiscale, neighbor_types=model.atomic_types)
    x = np.concatenate(
        [
            structure_features(numpy_features.compute(test), len(test)),
            _composition(test, model.atomic_types),
        ],
        axis=1,
    )
    scripted = torch.jit.script(model)
    systems = systems_for(scripted, test)
    outputs = {"energy": metatomic_torch.ModelOutput(sample_kind="system")}
    actual = scripted(systems, outputs, None)["energy"].block().values[:, 0].detach().numpy()
    assert np.abs(actual - ridge.predict(x)).max() < 1e-8
