"""Shared helpers of the tests of farsighted.torch: metatomic systems, strain, and the
comparison of autograd gradients with the Rust core's explicit gradients."""

import numpy as np
import torch
from metatomic.torch import System, systems_to_torch


def to_torch(atoms, dtype=torch.float64, device="cpu"):
    return systems_to_torch(atoms, dtype=dtype, device=device)


def block_of(tensor, key):
    """The block of a metatensor-torch TensorMap with the key of a metatensor (numpy) block"""
    return tensor.block(dict(zip(key.names, [int(v) for v in key.values])))


def strained(system, strain):
    """The system under r' = r (1 + ε), h' = h (1 + ε), as metatomic engines apply strain;
    its neighbour lists are carried over (the module recomputes the pair vectors from the
    positions, the cell and the cell shifts)"""
    transform = torch.eye(3, dtype=strain.dtype, device=strain.device) + strain
    result = System(
        types=system.types,
        positions=system.positions @ transform,
        cell=system.cell @ transform,
        pbc=system.pbc,
    )
    for options in system.known_neighbor_lists():
        result.add_neighbor_list(options, system.get_neighbor_list(options))
    return result


def largest_block_error(actual, expected):
    """max over blocks of max |actual - expected| / max |expected|; blocks that vanish by
    symmetry (largest entry below 1e-12 of the whole map's: rounding noise) must be below
    1e-12 of the whole map's largest entry instead"""
    overall = max(np.abs(block.values).max() for block in expected.blocks())
    worst = 0.0
    for key, block in expected.items():
        other = block_of(actual, key).values.detach().cpu().to(torch.float64).numpy()
        assert other.shape == block.values.shape
        scale = np.abs(block.values).max()
        if scale < 1e-12 * overall:
            assert np.abs(other).max() < 1e-12 * overall, key
            continue
        worst = max(worst, np.abs(other - block.values).max() / scale)
    return worst


def gradient_errors(module, systems, expected, seed=5):
    """Autograd ∂L/∂rⱼ and ∂L/∂ε of L = Σ w · features (random w), through ``module`` on
    the metatomic ``systems``, against the same contraction of the explicit gradients in
    ``expected`` (a Rust TensorMap with positions and strain gradients): the largest error
    of each, relative to the largest |∂L/∂x| of its system (at least 1)"""
    leaves = [system.positions.requires_grad_(True) for system in systems]
    strains = [torch.zeros((3, 3), dtype=torch.float64, requires_grad=True) for _ in systems]
    actual = module([strained(system, strain) for system, strain in zip(systems, strains)])

    rng = np.random.default_rng(seed)
    loss = torch.zeros((), dtype=torch.float64)
    expected_positions = [np.zeros((system.positions.shape[0], 3)) for system in systems]
    expected_strain = [np.zeros((3, 3)) for _ in systems]
    for key, block in expected.items():
        weights = rng.normal(size=block.values.shape)
        loss = loss + (block_of(actual, key).values * torch.tensor(weights)).sum()
        gradient = block.gradient("positions")
        for (sample, system, atom), values in zip(gradient.samples.values, gradient.values):
            expected_positions[system][atom] += np.einsum("xmn,mn->x", values, weights[sample])
        gradient = block.gradient("strain")
        samples = block.samples.values
        for (sample,), values in zip(gradient.samples.values, gradient.values):
            expected_strain[samples[sample, 0]] += np.einsum("abmn,mn->ab", values, weights[sample])

    derivatives = torch.autograd.grad(loss, leaves + strains)
    positions_error, strain_error = 0.0, 0.0
    for s in range(len(systems)):
        error = np.abs(derivatives[s].numpy() - expected_positions[s]).max()
        positions_error = max(
            positions_error, error / max(1.0, np.abs(expected_positions[s]).max())
        )
        error = np.abs(derivatives[len(systems) + s].numpy() - expected_strain[s]).max()
        strain_error = max(strain_error, error / max(1.0, np.abs(expected_strain[s]).max()))
    for leaf in leaves:
        leaf.requires_grad_(False)
    return positions_error, strain_error
