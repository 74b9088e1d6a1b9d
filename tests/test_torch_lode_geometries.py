"""farsighted.torch.LodeSphericalExpansion on every geometry of the Rust core, against it:
open systems (all pairs, splined pair radial functions and their multipole tail), the Ewald
split of 3D-periodic cells (k-space wide part, real-space remainder over the neighbour list
the module requests), and slabs (k∥ ≠ 0 part in k-space, planar k∥ = 0 part, with and
without the split). Values within 1e-10 of each block's largest entry, autograd positions
and strain gradients within 1e-9 of the Rust explicit gradients (slab strain: see
SLAB_STRAIN_TOLERANCE), for p = 1, 6 and 2.5 (slow) on random systems of 2-3 types; second
derivatives (models trained on forces) against finite differences of the first."""

import ase
import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
vesin_metatomic = pytest.importorskip("vesin.metatomic")

import farsighted  # noqa: E402
import farsighted.torch  # noqa: E402
from farsighted.systems import slab_thickness  # noqa: E402

from helpers import lode_hypers, random_triclinic_system  # noqa: E402
from torch_helpers import block_of, gradient_errors, largest_block_error, to_torch  # noqa: E402

# the module recomputes the pair vectors from positions, cell and cell shifts: the
# neighbour lists copied to strained or displaced systems need no autograd of their own
pytestmark = pytest.mark.filterwarnings("ignore:.*requires grad, but the neighbors does not")

VALUES_TOLERANCE = 1e-10
GRADIENTS_TOLERANCE = 1e-9
# the module's spline of the remainder beyond its first table against the Rust core's exact
# difference of the parts there (splines of absolute accuracy 1e-8)
SPLINE_TOLERANCE = 1e-7
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


SLAB_HEIGHTS = [0.0, 1.3, 2.1, 3.4, 0.7, 2.8]


def random_slab(seed, types, pbc=(True, True, False), scale=1.0):
    """Atoms at ``scale`` × ``SLAB_HEIGHTS`` above the plane of two oblique periodic vectors
    (the rows of the cell where ``pbc`` is true; the other row is zero)"""
    rng = np.random.default_rng(seed)
    a = np.array([4.8, 0.0, 0.3])
    b = np.array([1.1, 5.1, -0.2])
    normal = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    positions = [rng.uniform() * a + rng.uniform() * b + scale * h * normal for h in SLAB_HEIGHTS]
    numbers = rng.choice(types, len(positions))
    numbers[: len(types)] = types
    cell = [a, b, np.zeros(3)] if pbc == (True, True, False) else [a, np.zeros(3), b]
    return ase.Atoms(numbers, positions=positions, cell=cell, pbc=pbc)


def slabs():
    """A slab of three types periodic along the cell rows 0 and 2 (the Rust core builds its
    planar tables per system, which is slow: one slab)"""
    return [random_slab(22, (1, 6, 8), pbc=(True, False, True))]


def with_neighbors(module, frames):
    """metatomic systems of ``frames`` with the neighbour lists ``module`` requests (vesin)"""
    systems = [to_torch(atoms) for atoms in frames]
    for calculator in vesin_metatomic.neighbor_lists_for_model(
        "angstrom", module, model_length_unit="angstrom", skin=0.0
    ):
        calculator.add_neighbor_list(systems)
    return systems


@pytest.fixture(scope="module", params=[1, 6, pytest.param(2.5, marks=pytest.mark.slow)])
def calculators(request):
    """(p, Rust calculator, torch module sharing its tables, the scripted module); the
    module splits (σw = σ 2^{3/4}) and handles slabs"""
    hypers = lode_hypers(exponent=request.param, smearing=SMEARING, weight=0.5, spline=1e-8)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=ACCURACY)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=periodic_frames()[0], max_slab_thickness=slab_thickness(slabs())
    )
    assert module.ewald_grid > 0 and module.remainder_cutoff > 0.0
    return request.param, rust, module, torch.jit.script(module)


@pytest.fixture(scope="module")
def unsplit(calculators):
    """(p, Rust calculator, module, scripted module) with the same Rust calculator, whose
    cost model does not split the representative system: the pure k-space sum"""
    p, rust, _, _ = calculators
    rust._calculator.force_ewald_grid(None)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=periodic_frames()[1], max_slab_thickness=slab_thickness(slabs())
    )
    assert module.ewald_grid == 0 and module.requested_neighbor_lists() == []
    return p, rust, module, torch.jit.script(module)


def reference(rust, module, frames):
    """The Rust core's values, positions and strain gradients with the module's σw"""
    rust._calculator.force_ewald_grid(module.ewald_grid)
    return rust.compute(frames, gradients=["positions", "strain"])


def errors_against_rust(rust, module, scripted, frames):
    """Largest errors of the values, positions and strain gradients against the Rust core"""
    expected = reference(rust, module, frames)
    systems = with_neighbors(module, frames)
    actual = scripted(systems)
    np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
    for key, block in expected.items():
        other = block_of(actual, key)
        np.testing.assert_array_equal(other.samples.values.numpy(), block.samples.values)
    values = largest_block_error(actual, expected)
    return (values,) + gradient_errors(scripted, systems, expected)


def test_open_equals_rust(calculators):
    p, rust, module, scripted = calculators
    values, positions, strain = errors_against_rust(rust, module, scripted, molecules())
    print(f"open p={p}: values {values:.1e}, positions {positions:.1e}, strain {strain:.1e}")
    assert values < VALUES_TOLERANCE
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def test_split_equals_rust(calculators):
    p, rust, module, scripted = calculators
    values, positions, strain = errors_against_rust(rust, module, scripted, periodic_frames())
    print(
        f"split p={p} (σw = {module.wide_smearing:.3f} Å, d_c = {module.remainder_cutoff:.2f} Å):"
        f" values {values:.1e}, positions {positions:.1e}, strain {strain:.1e}"
    )
    assert values < VALUES_TOLERANCE
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def test_split_with_a_wide_remainder_equals_rust():
    """σw = 8σ: the remainder's cutoff d_c lies beyond the reach of its first table (basis
    support + 10σ), where the Rust core evaluates the difference of the parts and the module
    its second table (``remainder_far``), splined to the same accuracy"""
    hypers = lode_hypers(exponent=1, smearing=SMEARING, weight=0.5, spline=1e-8)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=ACCURACY)
    rust._calculator.force_ewald_grid(12)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=periodic_frames()[0]
    )
    assert module.remainder.has_far and module.remainder_cutoff > module.remainder.d_max + 2.0
    scripted = torch.jit.script(module)
    values, positions, strain = errors_against_rust(rust, module, scripted, periodic_frames())
    print(
        f"σw = {module.wide_smearing} Å, d_c = {module.remainder_cutoff:.1f} Å, first table to "
        f"{module.remainder.d_max:.1f} Å: values {values:.1e}, positions {positions:.1e}, "
        f"strain {strain:.1e}"
    )
    # without the second table the values were wrong by their own size
    assert values < SPLINE_TOLERANCE
    assert positions < SPLINE_TOLERANCE
    assert strain < SPLINE_TOLERANCE


# The Rust core sums the k∥ ≠ 0 part of slabs on an internal cell (a, b, L n̂) and strains
# its third vector with the cell; the module, which sees only a and b, keeps it L n̂. With the
# sums along the normal converged (lode/slab/mod.rs) the values do not depend on L, up to the
# radial splines sampled at other |k|: measured 7e-12 to 9.6e-10 (p = 6 without the split)
SLAB_STRAIN_TOLERANCE = GRADIENTS_TOLERANCE


@pytest.mark.parametrize("split", [True, False])
def test_slab_equals_rust(calculators, unsplit, split):
    p, rust, module, scripted = calculators if split else unsplit
    values, positions, strain = errors_against_rust(rust, module, scripted, slabs())
    print(
        f"slab p={p} split={split}: values {values:.1e}, positions {positions:.1e}, "
        f"strain {strain:.1e}"
    )
    assert values < VALUES_TOLERANCE
    assert positions < GRADIENTS_TOLERANCE
    assert strain < SLAB_STRAIN_TOLERANCE


def test_slab_strain_equals_rust_when_converged():
    """With a k-space sum converged far beyond the slab's internal cell (k_cutoff σ = 8),
    autograd strain gradients equal the Rust core's explicit ones to 1e-9"""
    frames = slabs()
    hypers = lode_hypers(exponent=1, weight=0.5, spline=1e-8, k_cutoff=8.0)
    rust = farsighted.LodeSphericalExpansion(**hypers)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, max_slab_thickness=slab_thickness(frames)
    )
    values, positions, strain = errors_against_rust(rust, module, module, frames)
    print(f"slab converged: values {values:.1e}, positions {positions:.1e}, strain {strain:.1e}")
    assert values < VALUES_TOLERANCE
    assert positions < GRADIENTS_TOLERANCE
    assert strain < GRADIENTS_TOLERANCE


def float32_and_device_errors(calculators, dtype, device):
    """The largest error of each geometry in ``dtype`` on ``device`` against the Rust core
    (relative to each block's largest entry, or to 1e-3 of the whole map's largest entry for
    blocks vanishing by symmetry)"""
    _, rust, module, scripted = calculators
    scripted = scripted.to(device)
    rust._calculator.force_ewald_grid(module.ewald_grid)
    errors = {}
    geometries = {"open": molecules(), "split": periodic_frames(), "slab": slabs()}
    for geometry, frames in geometries.items():
        expected = rust.compute(frames)
        systems = [to_torch(atoms, dtype=dtype) for atoms in frames]
        for calculator in vesin_metatomic.neighbor_lists_for_model(
            "angstrom", module, model_length_unit="angstrom", skin=0.0
        ):
            calculator.add_neighbor_list(systems)
        actual = scripted([system.to(device=device) for system in systems])
        assert actual.block(0).values.dtype == dtype
        assert actual.block(0).values.device.type == device
        overall = max(np.abs(block.values).max() for block in expected.blocks())
        worst = 0.0
        for key, block in expected.items():
            other = block_of(actual, key).values.detach().cpu().to(torch.float64).numpy()
            scale = max(np.abs(block.values).max(), 1e-3 * overall)
            worst = max(worst, np.abs(other - block.values).max() / scale)
        errors[geometry] = worst
    return errors


def test_float32(calculators):
    """float32 works on every geometry (measured: 2e-6 relative, docs/torch.rst)"""
    if calculators[0] != 1:
        pytest.skip("one exponent is enough")
    errors = float32_and_device_errors(calculators, torch.float32, "cpu")
    print(f"float32: {errors}")
    assert max(errors.values()) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_rust(calculators):
    errors = float32_and_device_errors(calculators, torch.float64, "cuda")
    print(f"cuda: {errors}")
    assert max(errors.values()) < VALUES_TOLERANCE


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


@pytest.mark.parametrize("geometry", ["open", "split", "slab"])
def test_second_derivatives_equal_finite_differences(calculators, geometry):
    """What training on forces differentiates: ∂(F · v)/∂r by autograd (create_graph),
    along a random direction u, against central differences of F · v along u, to 1e-6"""
    p, _, module, scripted = calculators
    if p != 1:
        pytest.skip("one exponent is enough for the graph of the gradients")
    # a slab thinner than the module's tables, which the displacements keep it
    slab = random_slab(21, (1, 6, 8), scale=0.9)
    frame = {"open": molecules()[0], "split": periodic_frames()[1], "slab": slab}[geometry]
    (system,) = with_neighbors(module, [frame])
    rng = np.random.default_rng(7)
    features = scripted([system])
    weights = [torch.tensor(rng.normal(size=b.values.shape)) for b in features.blocks()]
    v = torch.tensor(rng.normal(size=(len(frame), 3)))

    system.positions.requires_grad_(True)
    _, forces = energy_and_forces(scripted, system, weights)
    (hessian_v,) = torch.autograd.grad((forces * v).sum(), system.positions)
    assert torch.all(torch.isfinite(hessian_v))

    h = 1e-5
    base = system.positions.detach().clone()
    for _ in range(1):
        u = torch.tensor(rng.normal(size=(len(frame), 3)))
        values = []
        for sign in (1.0, -1.0):
            moved = metatomic_torch.System(
                types=system.types,
                positions=(base + sign * h * u).requires_grad_(True),
                cell=system.cell,
                pbc=system.pbc,
            )
            for options in system.known_neighbor_lists():
                moved.add_neighbor_list(options, system.get_neighbor_list(options))
            _, f = energy_and_forces(scripted, moved, weights)
            values.append((f.detach() * v).sum())
        numeric = (values[0] - values[1]) / (2 * h)
        analytic = (hessian_v * u).sum()
        error = float(abs(analytic - numeric) / abs(numeric))
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
    with pytest.raises(Exception, match="max_slab_thickness"):
        module([to_torch(slabs()[0])])
    atoms = slabs()[0]
    atoms.pbc = [True, False, False]
    with pytest.raises(Exception, match="wires"):
        module([to_torch(atoms)])


def test_slabs_thicker_than_the_tables(calculators):
    _, _, module, scripted = calculators
    atoms = slabs()[0]
    a, b = atoms.cell[atoms.pbc]
    atoms.positions[0] -= 0.5 * np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    with pytest.raises(Exception, match="larger max_slab_thickness"):
        scripted(with_neighbors(module, [atoms]))
