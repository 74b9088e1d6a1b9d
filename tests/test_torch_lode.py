"""farsighted.torch.LodeSphericalExpansion against the Rust core: the same metadata, values
within 1e-10 of each block's largest entry, autograd positions and strain gradients within
1e-9 of the Rust explicit gradients (float64), on random triclinic multi-species cells."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")

import farsighted  # noqa: E402
import farsighted.torch  # noqa: E402

from helpers import lode_hypers, random_triclinic_system  # noqa: E402
from torch_helpers import (  # noqa: E402
    block_of,
    gradient_errors,
    largest_block_error,
    to_torch,
)

VALUES_TOLERANCE = 1e-10
GRADIENTS_TOLERANCE = 1e-9


def test_metadata_and_values_equal_rust():
    frames = [random_triclinic_system(7, seed=1), random_triclinic_system(5, seed=2, types=(1, 8))]
    for exponent, weight in [(1, 1.0), (6, 0.5), (2.5, 0.0), (0, 1.0)]:
        hypers = lode_hypers(exponent=exponent, weight=weight, spline=1e-8)
        expected = farsighted.LodeSphericalExpansion(**hypers).compute(frames)
        module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**hypers))
        actual = module([to_torch(atoms) for atoms in frames])

        assert actual.keys.names == expected.keys.names
        np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
        for key, block in expected.items():
            other = block_of(actual, key)
            assert other.samples.names == block.samples.names
            np.testing.assert_array_equal(other.samples.values.numpy(), block.samples.values)
            np.testing.assert_array_equal(
                other.components[0].values.numpy(), block.components[0].values
            )
            np.testing.assert_array_equal(other.properties.values.numpy(), block.properties.values)
            scale = np.abs(block.values).max()
            error = np.abs(other.values.numpy() - block.values).max() / scale
            assert error < VALUES_TOLERANCE, (exponent, key, error)


@pytest.mark.parametrize("exponent", [1, 6, 2.5])
def test_autograd_gradients_equal_rust_explicit_gradients(exponent):
    """∂L/∂rⱼ and ∂L/∂ε of L = Σ w · features, against the Rust explicit gradients"""
    frames = [random_triclinic_system(6, seed=3), random_triclinic_system(4, seed=4)]
    hypers = lode_hypers(exponent=exponent, weight=0.5, spline=1e-8)
    expected = farsighted.LodeSphericalExpansion(**hypers).compute(
        frames, gradients=["positions", "strain"]
    )
    module = farsighted.torch.LodeSphericalExpansion(**hypers)
    positions, strain = gradient_errors(module, [to_torch(atoms) for atoms in frames], expected)
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def test_float32():
    """float32 works; its error against the float64 core is documented (docs/torch.rst)"""
    frames = [random_triclinic_system(8, seed=6)]
    hypers = lode_hypers(exponent=1, spline=1e-8)
    expected = farsighted.LodeSphericalExpansion(**hypers).compute(frames)
    module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**hypers))
    actual = module([to_torch(atoms, dtype=torch.float32) for atoms in frames])
    assert actual.block(0).values.dtype == torch.float32
    assert largest_block_error(actual, expected) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_rust():
    frames = [random_triclinic_system(8, seed=7)]
    hypers = lode_hypers(exponent=6, weight=0.5, spline=1e-8)
    expected = farsighted.LodeSphericalExpansion(**hypers).compute(frames)
    module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**hypers)).to("cuda")
    actual = module([to_torch(atoms, device="cuda") for atoms in frames])
    assert actual.block(0).values.device.type == "cuda"
    assert largest_block_error(actual, expected) < VALUES_TOLERANCE


def test_clear_errors():
    hypers = lode_hypers(exponent=1, spline=1e-8)
    with pytest.raises(ValueError, match="exponent"):
        farsighted.torch.LodeSphericalExpansion(**lode_hypers(exponent=3, spline=1e-8))
    with pytest.raises(ValueError, match="spline_accuracy"):
        farsighted.torch.LodeSphericalExpansion(**lode_hypers(exponent=1, spline=None))
    module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**hypers))
    atoms = random_triclinic_system(4, seed=8)
    atoms.positions[0, 0] = np.nan
    with pytest.raises(Exception, match="finite"):
        module([to_torch(atoms)])
    atoms = random_triclinic_system(4, seed=8)
    atoms.cell = np.zeros((3, 3))
    with pytest.raises(Exception, match="singular"):
        module([to_torch(atoms)])
