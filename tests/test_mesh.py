"""The particle mesh (smooth PME) of the Ewald split's wide part, against the converged pure
k-space sum (itself held to featomic by test_featomic.py) under the split's accuracy contract."""

import ase
import ase.build
import numpy as np
import pytest

import farsighted

from helpers import lode_hypers, max_relative_difference, random_triclinic_system


def mesh_and_converged(system, accuracy, **kwargs):
    hypers = lode_hypers(weight=0.3, spline=1e-12, **kwargs)
    mesh = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy, reciprocal="mesh")
    converged = farsighted.LodeSphericalExpansion(**hypers, k_cutoff=9.0 / kwargs["smearing"])
    return mesh, mesh.compute(system), converged.compute(system)


@pytest.mark.parametrize(
    "exponent, smearing, accuracy",
    [
        (1, 1.0, 1e-4),
        pytest.param(1, 0.5, 1e-6, marks=pytest.mark.slow),
        (6, 1.0, 1e-5),
        (0, 0.7, 1e-5),
        (1, 1.0, 1e-8),
    ],
)
def test_mesh_meets_the_accuracy_on_random_cells(exponent, smearing, accuracy):
    for seed in range(2):
        system = random_triclinic_system(12, seed)
        calculator, mesh, converged = mesh_and_converged(
            system, accuracy, exponent=exponent, smearing=smearing
        )
        from farsighted.systems import to_system_arrays

        assert calculator._calculator.mesh_choice(to_system_arrays(system)) is not None
        error = max_relative_difference(mesh, converged)
        assert error <= accuracy, f"seed {seed}: {error:.2e}"


def test_cost_model_takes_the_mesh_for_large_boxes_only():
    rng = np.random.default_rng(3)
    hypers = lode_hypers(smearing=1.0, max_angular=4, max_radial=5, radius=4.0)
    calculator = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5)
    from farsighted.systems import to_system_arrays

    def box(n):
        length = (n / 0.04) ** (1 / 3)
        atoms = ase.Atoms(
            numbers=rng.choice([11, 17], n),
            positions=rng.uniform(0, length, (n, 3)),
            cell=np.eye(3) * length,
            pbc=True,
        )
        return to_system_arrays(atoms)

    assert calculator._calculator.mesh_choice(box(64)) is None
    dims, order = calculator._calculator.mesh_choice(box(20000))
    assert order in (4, 6, 8) and min(dims) >= 2 * 20


def nacl_box(n, seed):
    """Random Na/Cl box at 0.04 atoms/Å³, the density of the benchmarks"""
    rng = np.random.default_rng(seed)
    length = (n / 0.04) ** (1 / 3)
    return ase.Atoms(
        numbers=rng.choice([11, 17], n),
        positions=rng.uniform(0, length, (n, 3)),
        cell=np.eye(3) * length,
        pbc=True,
    )


def rattled_rock_salt(repeat, seed):
    """A rock-salt crystal (a = 5.64 Å, 8 atoms per cubic cell) with its atoms moved by
    0.05 Å: nearly symmetric, its blocks are 9 to 60 times smaller than a random box's, the
    hardest case for an error relative to each block's largest entry"""
    atoms = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=seed)
    return atoms


@pytest.mark.slow
@pytest.mark.parametrize(
    "system, exponent, accuracies",
    [
        ("random", 1, [1e-3, 1e-6]),
        ("random", 6, [1e-3, 1e-6]),
        ("crystal", 1, [1e-3, 1e-4]),
        ("crystal slab", 1, [1e-3, 1e-4]),
    ],
)
def test_wide_margins_of_large_cells_meet_the_accuracy(system, exponent, accuracies):
    """Cells (and slabs, in their plane) at least twice as wide as the remainder's cutoff get
    the wide margins (lode/ewald/margins.rs): values, forces and cell gradient within ε of the
    converged sum, by the mesh and by the k-space sum of the wide part, for a random box and a
    rattled crystal (with margins measured on random boxes alone, this crystal reached 3 ε),
    and a slab of the crystal, 28 Å wide in its plane and 11 Å thick"""
    from farsighted.systems import to_system_arrays

    if system == "random":
        atoms = nacl_box(1000, exponent)
    elif system == "crystal":
        atoms = rattled_rock_salt(5, 1)
    else:
        atoms = rattled_rock_salt((5, 5, 2), 1)
        atoms.pbc = [True, True, False]
    # the slab's planar tables can not be splined to 1e-12 in double precision
    spline = 1e-12 if atoms.pbc[2] else 1e-10
    hypers = lode_hypers(
        exponent=exponent, smearing=1.0, max_angular=4, max_radial=5, radius=4.0, spline=spline
    )
    converged = farsighted.LodeSphericalExpansion(**hypers, k_cutoff=9.0)
    expected = converged.compute(atoms)
    [(forces, cell, _)] = converged.backward(atoms, expected)
    for accuracy in accuracies:
        for reciprocal in ["mesh", "kspace"]:
            calculator = farsighted.LodeSphericalExpansion(
                **hypers, accuracy=accuracy, reciprocal=reciprocal
            )
            # σw = 2^{3/4} Å: d_c < 14 Å, half the box (the cost model may take a wider σw)
            calculator._calculator.force_ewald_grid(3)
            _, wide = calculator._calculator.ewald_split(to_system_arrays(atoms))
            assert wide
            error = max_relative_difference(calculator.compute(atoms), expected)
            [(forces_split, cell_split, _)] = calculator.backward(atoms, expected)
            force_error = np.abs(forces_split - forces).max() / np.abs(forces).max()
            cell_error = np.abs(cell_split - cell).max() / np.abs(cell).max()
            print(f"{reciprocal} ε={accuracy:.0e}: {error / accuracy:.3f} ε values, ", end="")
            print(f"{force_error / accuracy:.3f} ε forces, {cell_error / accuracy:.3f} ε cell")
            assert max(error, force_error, cell_error) <= accuracy


def test_mesh_refuses_what_it_does_not_compute():
    hypers = lode_hypers()
    system = random_triclinic_system(4, 0)
    mesh = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5, reciprocal="mesh")
    with pytest.raises(ValueError, match="backward product for forces"):
        mesh.compute(system, gradients=["positions"])
    with pytest.raises(ValueError, match="backward product for forces"):
        mesh.compute(random_slab(4, 0), gradients=["strain"])
    with pytest.raises(ValueError, match="needs `accuracy`"):
        farsighted.LodeSphericalExpansion(**hypers, reciprocal="mesh")
    with pytest.raises(ValueError, match="'auto', 'kspace' or 'mesh'"):
        farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5, reciprocal="pme")


def backward_against_explicit(atoms, exponent, rng):
    """The mesh's backward product (σ = 0.5 Å, ε = 1e-7) against the explicit gradients of the
    k-space split contracted with random ∂L/∂features: the relative errors of ∂L/∂positions,
    Ξ, and ∂L/∂cell through Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R (for slabs the non-periodic row of ∂L/∂h
    is zero), of the values it differentiates, and ∂L/∂positions, ∂L/∂cell"""
    from test_backward import explicit_reference, random_gradient, relative_error

    hypers = lode_hypers(exponent=exponent, smearing=0.5, max_angular=2, max_radial=2, weight=0.5)
    explicit = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-7)
    descriptor = explicit.compute(atoms, gradients=["positions", "strain"])
    gradient = random_gradient(descriptor, rng)
    mesh = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-7, reciprocal="mesh")
    [(grad_positions, grad_cell, grad_strain)] = mesh.backward(atoms, gradient)
    [positions], [strain] = explicit_reference(descriptor, gradient, [atoms])
    errors = {
        "positions": relative_error(grad_positions, positions),
        "strain": relative_error(grad_strain, strain),
        "cell": relative_error(
            atoms.cell.array.T @ grad_cell + atoms.positions.T @ grad_positions, strain
        ),
        "values": max_relative_difference(mesh.compute(atoms), descriptor),
    }
    print(errors)
    return errors, grad_positions, grad_cell


@pytest.mark.parametrize("exponent", [1, pytest.param(0, marks=pytest.mark.slow), 6])
def test_mesh_backward_against_explicit_gradients(exponent, rng):
    atoms = random_triclinic_system(6, seed=7, types=(8, 11)).repeat((2, 2, 2))
    atoms.rattle(0.2, seed=3)
    errors, grad_positions, _ = backward_against_explicit(atoms, exponent, rng)
    assert max(errors.values()) < 1e-6, errors
    # translation invariance, within the interpolation error (smooth PME breaks it slightly)
    assert np.abs(grad_positions.sum(axis=0)).max() < 1e-7 * np.abs(grad_positions).max()


def random_slab(n_atoms, seed):
    """A random triclinic cell made a slab: periodic along its first two vectors, whose plane
    is tilted with respect to the axes, the atoms spread over the height of the cell"""
    atoms = random_triclinic_system(n_atoms, seed)
    atoms.pbc = [True, True, False]
    return atoms


@pytest.mark.parametrize(
    "exponent, accuracy",
    # each exponent once, each accuracy at least once (every pair cost 6 minutes of CI)
    [(1, 1e-7), (6, 1e-4), (0, 1e-7)],
)
def test_slab_mesh_meets_the_accuracy(exponent, accuracy):
    """The slab's k∥ ≠ 0 part on the mesh of its internal cell: against the split's sum over
    the same k-vectors (the mesh's error alone) and the converged pure slab sum"""
    from farsighted.systems import to_system_arrays

    smearing = 0.8
    hypers = lode_hypers(exponent=exponent, smearing=smearing, weight=0.3, spline=1e-10)
    converged = farsighted.LodeSphericalExpansion(**hypers, k_cutoff=12.0 / smearing)
    mesh = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy, reciprocal="mesh")
    kspace = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy, reciprocal="kspace")
    system = random_slab(8, 5)
    arrays = to_system_arrays(system)
    # the same σw for both (left to itself, the forced mesh takes a large σw for 8 atoms, whose
    # real-space tables are slow to build)
    mesh._calculator.force_ewald_grid(kspace._calculator.ewald_grid(arrays))
    assert mesh._calculator.mesh_choice(arrays) is not None
    assert kspace._calculator.mesh_choice(arrays) is None
    expected = converged.compute(system)
    on_mesh = mesh.compute(system)
    same_k = max_relative_difference(on_mesh, kspace.compute(system))
    error = max_relative_difference(on_mesh, expected)
    print(f"p={exponent} ε={accuracy:.0e}: mesh vs k-sum {same_k:.2e}, vs converged {error:.2e}")
    assert same_k <= accuracy
    assert error <= accuracy


@pytest.mark.parametrize(
    "exponent, repeat",
    # 48 atoms: the planar part on a grid of heights (13 points, at most N/2)
    [(1, (2, 2, 1)), (6, (2, 2, 1)), pytest.param(1, (2, 4, 1), marks=pytest.mark.slow)],
)
def test_slab_mesh_backward_against_explicit_gradients(exponent, repeat, rng):
    atoms = random_slab(6, 7).repeat(repeat)
    atoms.rattle(0.2, seed=3)
    errors, _, grad_cell = backward_against_explicit(atoms, exponent, rng)
    assert np.all(grad_cell[~atoms.pbc] == 0.0)
    assert max(errors.values()) < 1e-6, errors


def test_cost_model_takes_the_mesh_for_large_slabs():
    """reciprocal="auto": the k-space sum for a small slab, the mesh of the internal cell
    (long along the normal) for a large one"""
    from farsighted.systems import to_system_arrays

    rng = np.random.default_rng(4)
    hypers = lode_hypers(smearing=1.0, max_angular=4, max_radial=5, radius=4.0)
    calculator = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5)

    def slab(n, thickness=20.0):
        side = (n / 0.04 / thickness) ** 0.5
        cell = np.array([[side, 0.0, 0.0], [0.3 * side, 0.95 * side, 0.0], [0.0, 0.0, 0.0]])
        fractions = rng.uniform(0, 1, (n, 2))
        heights = rng.uniform(0, thickness, n)
        atoms = ase.Atoms(
            numbers=rng.choice([11, 17], n),
            positions=fractions @ cell[:2] + np.outer(heights, [0.0, 0.0, 1.0]),
            cell=cell,
            pbc=[True, True, False],
        )
        return to_system_arrays(atoms)

    assert calculator._calculator.mesh_choice(slab(64)) is None
    dims, order = calculator._calculator.mesh_choice(slab(20000))
    # the third direction is the internal cell's normal, L ≈ 37 × side / 2π + thickness
    assert order in (4, 6, 8) and dims[2] > 4 * max(dims[:2])


@pytest.mark.parametrize("exponent", [1, pytest.param(6, marks=pytest.mark.slow)])
def test_open_mesh_backward_against_explicit_gradients(exponent, rng):
    """A cluster (pbc all False): the wide part in free space on the mesh of a box against
    the pair sums over all pairs, which give the explicit gradients; the strain is the
    virial of the positions gradient, the cell gradient zero"""
    atoms = random_triclinic_system(6, seed=7, types=(8, 11)).repeat((2, 2, 2))
    atoms.rattle(0.2, seed=3)
    atoms.pbc = False
    errors, grad_positions, grad_cell = backward_against_explicit(atoms, exponent, rng)
    assert np.all(grad_cell == 0.0)
    assert max(errors.values()) < 1e-6, errors
    assert np.abs(grad_positions.sum(axis=0)).max() < 1e-7 * np.abs(grad_positions).max()


def test_cost_model_takes_the_mesh_for_large_clusters_only():
    """reciprocal="auto": pair sums over all pairs for a small cluster, the split with the
    wide part on the mesh of a box about twice the cluster for a large one"""
    from farsighted.systems import to_system_arrays

    rng = np.random.default_rng(5)
    hypers = lode_hypers(smearing=1.0, max_angular=4, max_radial=5, radius=4.0)
    calculator = farsighted.LodeSphericalExpansion(**hypers, accuracy=1e-5)

    def cluster(n):
        length = (n / 0.04) ** (1 / 3)
        atoms = ase.Atoms(numbers=rng.choice([11, 17], n), positions=rng.uniform(0, length, (n, 3)))
        return to_system_arrays(atoms), length

    assert calculator._calculator.mesh_choice(cluster(300)[0]) is None
    system, length = cluster(50000)
    dims, order = calculator._calculator.mesh_choice(system)
    # a box about twice the cluster along each direction, at a spacing near σw / 2
    assert order in (4, 6, 8) and min(dims) > length
