"""farsighted.torch.LodeSphericalExpansion with the wide part of the Ewald split on a mesh
(smooth PME, farsighted/torch/_mesh.py), against the Rust core's mesh (lode/mesh/): values
within 1e-10 of each block's largest entry, within the accuracy ε of the converged k-space
sum, autograd ∂L/∂positions and ∂L/∂cell within 1e-8 of the Rust backward product, second
derivatives against finite differences, and the mesh of a cell sized as the Rust core sizes
it; slabs: the k∥ ≠ 0 part on the mesh of the internal cell and the planar part on the grid
of heights, against the Rust core's."""

import copy
import io

import ase
import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
vesin_metatomic = pytest.importorskip("vesin.metatomic")

import farsighted  # noqa: E402
import farsighted.torch  # noqa: E402
from farsighted.systems import slab_thickness, to_system_arrays  # noqa: E402
from farsighted.torch._mesh import MeshSum  # noqa: E402

from helpers import lode_hypers, random_triclinic_system  # noqa: E402
from torch_helpers import block_of, largest_block_error, to_torch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*requires grad, but the neighbors does not")

VALUES_TOLERANCE = 1e-10
GRADIENTS_TOLERANCE = 1e-8
SMEARING = 0.5
ACCURACY = 1e-6


def frame():
    return random_triclinic_system(8, seed=3, types=(1, 8))


def with_neighbors(module, frames):
    systems = [to_torch(atoms) for atoms in frames]
    for calculator in vesin_metatomic.neighbor_lists_for_model(
        "angstrom", module, model_length_unit="angstrom", skin=0.0
    ):
        calculator.add_neighbor_list(systems)
    return systems


@pytest.fixture(scope="module", params=[1, 6])
def calculators(request):
    """(p, Rust calculator with reciprocal='mesh' and the module's σw, the module sharing
    its tables, the scripted module)"""
    hypers = lode_hypers(exponent=request.param, smearing=SMEARING, weight=0.5, spline=1e-10)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=ACCURACY, reciprocal="mesh")
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=frame()
    )
    assert module.use_mesh and module.has_remainder
    rust._calculator.force_ewald_grid(module.ewald_grid)
    return request.param, rust, module, torch.jit.script(module)


def test_values_equal_rust(calculators):
    p, rust, module, scripted = calculators
    atoms = frame()
    expected = rust.compute(atoms)
    actual = scripted(with_neighbors(module, [atoms]))
    np.testing.assert_array_equal(actual.keys.values.numpy(), expected.keys.values)
    error = largest_block_error(actual, expected)
    print(f"p={p}: torch mesh against Rust mesh {error:.1e}")
    assert error < VALUES_TOLERANCE

    # a saved module, channels in chunks of one mesh, atoms in blocks of 3, pairs in chunks of 7
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert largest_block_error(loaded(with_neighbors(module, [atoms])), expected) < VALUES_TOLERANCE
    chunked = copy.deepcopy(module)
    chunked.mesh.max_chunk = 3 * module.mesh.order**3
    assert len(atoms) > 3
    chunked.remainder.max_chunk = 7 * module.remainder.n_lm * module.remainder.n_radial
    actual = chunked(with_neighbors(module, [atoms]))
    assert largest_block_error(actual, expected) < VALUES_TOLERANCE


def test_values_meet_the_accuracy(calculators):
    """Within ε of each block's largest entry of the converged k-space sum (k_c σ = 9, exact
    radial integrals)"""
    p, rust, module, scripted = calculators
    atoms = frame()
    hypers = lode_hypers(exponent=p, smearing=SMEARING, weight=0.5, spline=None)
    converged = farsighted.LodeSphericalExpansion(**hypers, k_cutoff=9.0 / SMEARING)
    expected = converged.compute(atoms)
    actual = scripted(with_neighbors(module, [atoms]))
    worst = 0.0
    for key, block in expected.items():
        other = block_of(actual, key).values.detach().numpy()
        worst = max(worst, np.abs(other - block.values).max() / np.abs(block.values).max())
    print(f"p={p}: torch mesh against the converged k-space sum {worst:.1e} (ε = {ACCURACY})")
    assert worst <= ACCURACY


def backward_errors(rust, module, scripted, atoms):
    """The errors of autograd ∂L/∂positions and ∂L/∂cell of L = Σ G · features (G random)
    against the Rust core's backward product, relative to their largest entries, and the
    autograd ∂L/∂cell"""
    from test_backward import random_gradient

    gradient = random_gradient(rust.compute(atoms), np.random.default_rng(11))
    [(positions, cell, _)] = rust.backward(atoms, gradient)

    (system,) = with_neighbors(module, [atoms])
    system.positions.requires_grad_(True)
    system.cell.requires_grad_(True)
    features = scripted([system])
    loss = sum(
        (block_of(features, key).values * torch.tensor(block.values)).sum()
        for key, block in gradient.items()
    )
    actual_positions, actual_cell = torch.autograd.grad(loss, [system.positions, system.cell])
    errors = []
    for actual, expected in [(actual_positions, positions), (actual_cell, cell)]:
        # absolute where the expected gradient vanishes (the cell of open systems)
        scale = max(np.abs(expected).max(), 1.0 if not np.any(expected) else 0.0)
        errors.append(np.abs(actual.numpy() - expected).max() / scale)
    return errors, actual_cell


def test_gradients_equal_rust_backward(calculators):
    """Autograd ∂L/∂positions and ∂L/∂cell (fixed Cartesian positions) of L = Σ G · features,
    G random, against the Rust core's backward product on the same mesh"""
    p, rust, module, scripted = calculators
    errors, _ = backward_errors(rust, module, scripted, frame())
    print(f"p={p}: positions {errors[0]:.1e}, cell {errors[1]:.1e}")
    assert max(errors) < GRADIENTS_TOLERANCE


def test_second_derivatives_equal_finite_differences(calculators):
    """∂(F · v)/∂r along u by autograd (create_graph, what training on forces needs) against
    central differences of F · v"""
    p, _, module, scripted = calculators
    if p != 1:
        pytest.skip("one exponent is enough for the graph of the gradients")
    (system,) = with_neighbors(module, [frame()])
    rng = np.random.default_rng(7)
    weights = [torch.tensor(rng.normal(size=b.values.shape)) for b in scripted([system]).blocks()]
    n_atoms = system.positions.shape[0]
    v = torch.tensor(rng.normal(size=(n_atoms, 3)))
    u = torch.tensor(rng.normal(size=(n_atoms, 3)))

    def forces(positions, create_graph):
        moved = metatomic_torch.System(
            types=system.types, positions=positions, cell=system.cell, pbc=system.pbc
        )
        for options in system.known_neighbor_lists():
            moved.add_neighbor_list(options, system.get_neighbor_list(options))
        energy = sum((b.values * w).sum() for b, w in zip(scripted([moved]).blocks(), weights))
        return -torch.autograd.grad(energy, positions, create_graph=create_graph)[0]

    base = system.positions.detach().clone()
    positions = base.clone().requires_grad_(True)
    (hessian_v,) = torch.autograd.grad((forces(positions, True) * v).sum(), positions)
    h = 1e-5
    values = [
        (forces((base + sign * h * u).requires_grad_(True), False) * v).sum()
        for sign in (1.0, -1.0)
    ]
    numeric = float(values[0] - values[1]) / (2 * h)
    error = abs(float((hessian_v * u).sum()) - numeric) / abs(numeric)
    print(f"second derivatives against finite differences {error:.1e}")
    assert error < 1e-6


def test_mesh_dims_equal_rust(calculators):
    """The mesh the module sizes for a cell is the Rust core's mesh_choice of that cell, for
    the representative cell and a longer one (each with the order the Rust core chose)"""
    _, rust, module, scripted = calculators
    longer = random_triclinic_system(6, seed=4, types=(1, 8)).repeat((2, 1, 1))
    for atoms in [frame(), longer]:
        dims, order = rust._calculator.mesh_choice(to_system_arrays(atoms))
        cell = torch.tensor(atoms.cell.array)
        fractions = rust._calculator.mesh_fractions(module.ewald_grid, order)
        mesh = torch.jit.script(MeshSum(module.kspace, list(fractions), order))
        print(f"{atoms.cell.lengths()}: {dims}, order {order}")
        assert mesh.mesh_dims(cell) == list(dims)
        if order == module.mesh.order:
            assert scripted.mesh.mesh_dims(cell) == list(dims)
    assert rust._calculator.mesh_choice(to_system_arrays(frame()))[1] == module.mesh.order


def test_reciprocal_is_passed_to_the_rust_core():
    hypers = lode_hypers(exponent=1, smearing=SMEARING, spline=1e-8)
    module = farsighted.torch.LodeSphericalExpansion(
        **hypers, accuracy=1e-4, representative_system=frame(), reciprocal="kspace"
    )
    assert not module.use_mesh
    with pytest.raises(ValueError, match="'auto', 'kspace' or 'mesh'"):
        farsighted.torch.LodeSphericalExpansion(
            **hypers, accuracy=1e-4, representative_system=frame(), reciprocal="pme"
        )


def random_slab(repeat):
    """48 atoms of two types in a tilted random cell made a slab (periodic along its first
    two vectors)"""
    atoms = random_triclinic_system(6, seed=7, types=(1, 8)).repeat(repeat)
    atoms.pbc = [True, True, False]
    atoms.rattle(0.2, seed=3)
    return atoms


@pytest.mark.parametrize("exponent", [1, pytest.param(6, marks=pytest.mark.slow)])
def test_slab_equals_rust(exponent):
    """A slab large enough for the grid of heights (at most N/2 points): values within 1e-10
    of the Rust core's mesh and grid, autograd ∂L/∂positions within 1e-8 of its backward
    product, ∂L/∂cell within 1e-7 (the Rust core strains the internal cell's normal vector
    L n̂ too, the module keeps it: the mesh's values depend on L at the level of its error)"""
    atoms = random_slab((2, 4, 1))
    hypers = lode_hypers(exponent=exponent, smearing=SMEARING, weight=0.5, spline=1e-10)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=ACCURACY, reciprocal="mesh")
    # σw = 4σ (the cost model, left to itself with the mesh forced, takes a wider σw for 48
    # atoms, whose tables are slow to build)
    rust._calculator.force_ewald_grid(8)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=atoms, max_slab_thickness=slab_thickness(atoms)
    )
    assert module.slab_on_mesh and module.planar_grid.available
    normal = np.cross(atoms.cell[0], atoms.cell[1])
    heights = torch.tensor(atoms.positions @ normal / np.linalg.norm(normal))
    assert module.planar_grid.origin_and_points(heights)[1] <= len(atoms) // 2
    assert rust._calculator.mesh_choice(to_system_arrays(atoms)) is not None
    scripted = torch.jit.script(module)

    expected = rust.compute(atoms)
    (system,) = with_neighbors(module, [atoms])
    values = largest_block_error(scripted([system]), expected)
    errors, cell_gradient = backward_errors(rust, module, scripted, atoms)
    assert torch.all(cell_gradient[2] == 0.0)
    print(
        f"slab p={exponent}: values {values:.1e}, positions {errors[0]:.1e}, cell {errors[1]:.1e}"
    )
    assert values < VALUES_TOLERANCE
    assert errors[0] < GRADIENTS_TOLERANCE
    assert errors[1] < 1e-7


def test_open_equals_rust():
    """A cluster with the wide part in free space on the mesh of its box (the same box and
    mesh as the Rust core's): values within 1e-10 of the Rust core's, within ε of the sum over
    all pairs, autograd ∂L/∂positions within 1e-8 of its backward product, and no cell
    gradient (the cell of an open system is ignored)"""
    rng = np.random.default_rng(5)
    atoms = ase.Atoms(numbers=rng.choice([1, 8], 24), positions=rng.uniform(0.0, 8.4, (24, 3)))
    hypers = lode_hypers(exponent=1, smearing=1.0, weight=0.5, spline=1e-10)
    accuracy = 1e-4
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy, reciprocal="mesh")
    # σw = 2σ: a box of 98³ points (the cost model takes σw = 4σ for so few atoms)
    rust._calculator.force_ewald_grid(4)
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=atoms
    )
    assert module.open_on_mesh
    dims, _ = rust._calculator.mesh_choice(to_system_arrays(atoms))
    assert module.free_space.box(torch.tensor(atoms.positions))[0] == list(dims)
    scripted = torch.jit.script(module)

    expected = rust.compute(atoms)
    (system,) = with_neighbors(module, [atoms])
    actual = scripted([system])
    values = largest_block_error(actual, expected)
    pairs = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy, reciprocal="kspace")
    exact = largest_block_error(actual, pairs.compute(atoms))
    errors, cell_gradient = backward_errors(rust, module, scripted, atoms)
    print(f"open: values {values:.1e} ({exact:.1e} from all pairs), positions {errors[0]:.1e}")
    assert values < VALUES_TOLERANCE
    assert exact < accuracy
    assert errors[0] < GRADIENTS_TOLERANCE
    assert errors[1] == 0.0 and torch.all(cell_gradient == 0.0)

    duplicated = atoms + atoms[3:4]
    with pytest.raises(ValueError, match="atoms 3 and 24 are closer than 0.001"):
        module(with_neighbors(module, [duplicated]))


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_at_scale_equals_rust():
    """A random Na/Cl box of 10⁴ atoms at 0.04 atoms/Å³ on CUDA: values, and the autograd
    forces of L = Σ features against the Rust core's backward product with G = 1. The same
    comparison on the benchmark's box and basis, run as a script on an NVIDIA H200, gave
    6e-15 and 5e-15 (2e-14 and 7e-15 at 3 × 10⁴ atoms)"""
    import metatensor

    rng = np.random.default_rng(7)
    length = (10000 / 0.04) ** (1 / 3)
    atoms = ase.Atoms(
        numbers=[11, 17] * 5000,
        positions=rng.uniform(0.0, length, (10000, 3)),
        cell=[length] * 3,
        pbc=True,
    )
    hypers = lode_hypers(exponent=1, smearing=1.0, spline=1e-10)
    rust = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5, reciprocal="mesh")
    expected = rust.compute(atoms)
    [(forces, *_)] = rust.backward(atoms, metatensor.ones_like(expected))
    module = farsighted.torch.LodeSphericalExpansion.from_calculator(
        rust, representative_system=atoms
    )
    scripted = torch.jit.script(module).to("cuda")
    (system,) = with_neighbors(module, [atoms])
    system = system.to(device="cuda")
    system.positions.requires_grad_(True)
    features = scripted([system])
    loss = sum(block.values.sum() for block in features.blocks())
    (actual,) = torch.autograd.grad(loss, [system.positions])
    values = largest_block_error(features, expected)
    force_error = np.abs(actual.cpu().numpy() - forces).max() / np.abs(forces).max()
    print(f"cuda, 10⁴ atoms: values {values:.1e}, forces {force_error:.1e}")
    assert values < VALUES_TOLERANCE
    assert force_error < GRADIENTS_TOLERANCE
