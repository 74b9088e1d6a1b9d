"""farsighted.torch.LodeSphericalExpansion on every geometry of the Rust core, against it:
open systems (all pairs, splined pair radial functions and their multipole tail) and the
Ewald split of 3D-periodic cells (k-space wide part, real-space remainder over the neighbour
list the module requests). Values within 1e-10 of each block's largest entry, autograd
positions and strain gradients within 1e-9 of the Rust explicit gradients, for p = 1, 6 and
2.5 on random systems of 2-3 types; second derivatives (models trained on forces) against
finite differences of the first."""

import ase
import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
vesin_metatomic = pytest.importorskip("vesin.metatomic")

import farsighted  # noqa: E402
import farsighted.torch  # noqa: E402

from helpers import lode_hypers, random_triclinic_system  # noqa: E402
from torch_helpers import gradient_errors, largest_block_error, to_torch  # noqa: E402

# the module recomputes the pair vectors from positions, cell and cell shifts: the
# neighbour lists copied to strained or displaced systems need no autograd of their own
pytestmark = pytest.mark.filterwarnings("ignore:.*requires grad, but the neighbors does not")

VALUES_TOLERANCE = 1e-10
GRADIENTS_TOLERANCE = 1e-9
# σ and ε such that the cost model splits the periodic frames (σw = σ 2^{3/4})
SMEARING = 0.5
ACCURACY = 1e-4


def random_cluster(n_atoms, seed, types, center=(0.0, 0.0, 0.0), size=3.0, min_distance=0.8):
    rng = np.random.default_rng(seed)
    positions = []
    while len(positions) < n_atoms:
        candidate = rng.uniform(-0.5 * size, 0.5 * size, 3)
        if all(np.linalg.norm(candidate - p) > min_distance for p in positions):
            positions.append(candidate)
    numbers = rng.choice(types, n_atoms)
    numbers[: len(types)] = types
    return ase.Atoms(numbers, positions=np.array(positions) + center)


def molecules():
    """A cluster of three types, and two clusters 26 Å apart: pairs on both sides of the
    pair functions' spline range d_max = basis support + 10σ ≈ 22 Å (the multipole tail)"""
    far = random_cluster(3, seed=12, types=(1, 8)) + random_cluster(
        3, seed=13, types=(1, 8), center=(26.0, 1.0, -2.0)
    )
    return [random_cluster(6, seed=11, types=(1, 6, 8)), far]


def periodic_frames():
    return [random_triclinic_system(8, seed=1), random_triclinic_system(5, seed=2, types=(1, 8))]


def with_neighbors(module, frames):
    """metatomic systems of ``frames`` with the neighbour lists ``module`` requests (vesin)"""
    systems = [to_torch(atoms) for atoms in frames]
    for calculator in vesin_metatomic.neighbor_lists_for_model(
        "angstrom", module, model_length_unit="angstrom", skin=0.0
    ):
        calculator.add_neighbor_list(systems)
    return systems


@pytest.fixture(scope="module", params=[1, 6, 2.5])
def calculators(request):
    """(p, Rust calculator, torch module sharing its tables, the scripted module); the Rust
    calculator uses the module's σw on every system"""
    hypers = lode_hypers(exponent=request.param, smearing=SMEARING, weight=0.5, spline=1e-8)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=ACCURACY)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=periodic_frames()[0]
    )
    assert module.ewald_grid > 0 and module.remainder_cutoff > 0.0
    rust._calculator.force_ewald_grid(module.ewald_grid)
    return request.param, rust, module, torch.jit.script(module)


def test_open_values_equal_rust(calculators):
    p, rust, _, scripted = calculators
    frames = molecules()
    expected = rust.compute(frames)
    actual = scripted([to_torch(atoms) for atoms in frames])
    np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
    error = largest_block_error(actual, expected)
    print(f"open p={p}: values {error:.1e}")
    assert error < VALUES_TOLERANCE


def test_open_gradients_equal_rust(calculators):
    p, rust, _, scripted = calculators
    frames = molecules()
    expected = rust.compute(frames, gradients=["positions", "strain"])
    positions, strain = gradient_errors(scripted, [to_torch(atoms) for atoms in frames], expected)
    print(f"open p={p}: positions {positions:.1e}, strain {strain:.1e}")
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def test_split_values_equal_rust(calculators):
    p, rust, module, scripted = calculators
    frames = periodic_frames()
    expected = rust.compute(frames)
    actual = scripted(with_neighbors(module, frames))
    np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
    error = largest_block_error(actual, expected)
    print(f"split p={p} (σw={module.wide_smearing:.3f}): values {error:.1e}")
    assert error < VALUES_TOLERANCE


def test_split_gradients_equal_rust(calculators):
    p, rust, module, scripted = calculators
    frames = periodic_frames()
    expected = rust.compute(frames, gradients=["positions", "strain"])
    positions, strain = gradient_errors(scripted, with_neighbors(module, frames), expected)
    print(f"split p={p}: positions {positions:.1e}, strain {strain:.1e}")
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def test_requested_neighbor_lists(calculators):
    _, _, module, scripted = calculators
    for m in [module, scripted]:
        (options,) = m.requested_neighbor_lists()
        assert options.cutoff == module.remainder_cutoff
        assert not options.full_list


def energy_and_forces(scripted, system, weights):
    """E = Σ w · features and F = -∂E/∂r, with the graph of F kept (create_graph)"""
    features = scripted([system])
    energy = sum((block.values * weights[i]).sum() for i, block in enumerate(features.blocks()))
    (gradient,) = torch.autograd.grad(energy, system.positions, create_graph=True)
    return energy, -gradient


@pytest.mark.parametrize("geometry", ["open", "split"])
def test_second_derivatives_equal_finite_differences(calculators, geometry):
    """What training on forces differentiates: ∂(F · v)/∂r by autograd (create_graph)
    against central differences of F (autograd), to 1e-6"""
    p, _, module, scripted = calculators
    if p != 1:
        pytest.skip("one exponent is enough for the graph of the gradients")
    frame = molecules()[0] if geometry == "open" else periodic_frames()[1]
    (system,) = [to_torch(frame)] if geometry == "open" else with_neighbors(module, [frame])
    rng = np.random.default_rng(7)
    features = scripted([system])
    weights = [torch.tensor(rng.normal(size=b.values.shape)) for b in features.blocks()]
    direction = torch.tensor(rng.normal(size=(len(frame), 3)))

    system.positions.requires_grad_(True)
    _, forces = energy_and_forces(scripted, system, weights)
    (hessian_v,) = torch.autograd.grad((forces * direction).sum(), system.positions)
    assert torch.all(torch.isfinite(hessian_v))

    # ∂(F · v)/∂r_a by central differences of F · v
    h = 1e-5
    numeric = torch.zeros_like(hessian_v)
    base = system.positions.detach().clone()
    for atom in range(len(frame)):
        for alpha in range(3):
            values = []
            for sign in (1.0, -1.0):
                displaced = base.clone()
                displaced[atom, alpha] += sign * h
                moved = metatomic_torch.System(
                    types=system.types,
                    positions=displaced.requires_grad_(True),
                    cell=system.cell,
                    pbc=system.pbc,
                )
                for options in system.known_neighbor_lists():
                    moved.add_neighbor_list(options, system.get_neighbor_list(options))
                _, f = energy_and_forces(scripted, moved, weights)
                values.append((f.detach() * direction).sum())
            numeric[atom, alpha] = (values[0] - values[1]) / (2 * h)
    error = (hessian_v - numeric).abs().max() / numeric.abs().max()
    print(f"{geometry}: second derivatives against finite differences {error:.1e}")
    assert error < 1e-6


def test_training_on_forces(calculators):
    """A linear model on the features fitted on forces by gradient descent through the
    module: the loss goes down and its gradient is finite"""
    p, _, module, scripted = calculators
    if p != 1:
        pytest.skip("one exponent is enough for a smoke test")
    systems = [to_torch(molecules()[0])] + with_neighbors(module, periodic_frames()[1:])
    for system in systems:
        system.positions.requires_grad_(True)
    rng = np.random.default_rng(8)
    targets = [torch.tensor(rng.normal(size=tuple(s.positions.shape))) for s in systems]
    features = scripted(systems)
    weights = [
        torch.zeros(b.values.shape[1:], dtype=torch.float64, requires_grad=True)
        for b in features.blocks()
    ]
    optimizer = torch.optim.Adam(weights, lr=0.05)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        features = scripted(systems)
        energy = sum((b.values * w).sum() for b, w in zip(features.blocks(), weights))
        forces = torch.autograd.grad(energy, [s.positions for s in systems], create_graph=True)
        loss = sum(((-f - t) ** 2).sum() for f, t in zip(forces, targets))
        loss.backward()
        assert all(torch.all(torch.isfinite(w.grad)) for w in weights)
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_clear_errors():
    hypers = lode_hypers(exponent=1, spline=1e-8)
    with pytest.raises(ValueError, match="representative_system"):
        farsighted.torch.LodeSphericalExpansion(**hypers, accuracy=1e-4)
    with pytest.raises(ValueError, match="only used with accuracy"):
        farsighted.torch.LodeSphericalExpansion(
            **hypers, representative_system=periodic_frames()[0]
        )
    module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**hypers))
    assert module.requested_neighbor_lists() == []
    atoms = molecules()[0]
    atoms.positions[1] = atoms.positions[0] + 1e-4
    with pytest.raises(Exception, match="atoms 0 and 1 are closer"):
        module([to_torch(atoms)])
    atoms = random_triclinic_system(4, seed=8)
    atoms.pbc = [True, False, False]
    with pytest.raises(Exception, match="pbc"):
        module([to_torch(atoms)])
