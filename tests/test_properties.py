"""Properties of the LODE features that hold for every system and every valid choice of
hyper-parameters, checked with hypothesis over random systems of the three geometries (3D
periodic, slabs with pbc = (T, T, F), open) and random small bases, exponents, smearings and
methods (k-space sum at the default or a converged cutoff, Ewald split with ``accuracy``):

- rotations (of cell and positions together): values transform with real Wigner matrices,
  built here from scipy's spherical harmonics (not from the code under test), positions
  gradients with the rotation and the Wigner matrix, strain gradients with the rotation on
  both Cartesian indices; inversion multiplies by the parity (-1)ˡ (o3_sigma = 1 everywhere);
- permutations of the atoms permute samples and gradient rows; translations (of all atoms,
  and of single atoms by lattice vectors) change nothing;
- a supercell gives the features of the cell it replicates, and so do other lattice vectors
  of the same lattice (a unimodular integer transform of the cell);
- Σⱼ ∂Xᵢ/∂rⱼ = 0, positions and strain gradients against central finite differences, and the
  backward product against the explicit gradients.

Tolerances are relative to the largest value of each block (blocks that vanish by symmetry
are compared to 1e-8 of the largest value of the calculation).

The budget is fixed (hypothesis profile ``ci`` of conftest.py: derandomized, a bounded number
of examples per test); FARSIGHTED_PROPERTY_SCALE=n runs n times more.
"""

import functools

import ase
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from metatensor import TensorBlock, TensorMap
from scipy.spatial.transform import Rotation
from scipy.special import sph_harm_y

import farsighted

from helpers import deformed, examples

GEOMETRIES = ("bulk", "slab", "open")
EXPONENTS = (0.0, 1.0, 2.5, 6.0)
# converged k-space sums and the symmetry-preserving operations agree to rounding; measured
# worst over the examples: 2e-12 (values), 5e-12 (gradients)
TIGHT = 1e-10
# Slabs sum 0 < |k∥| < k_cutoff with the sums along the normal converged (lode/slab/mod.rs), a
# rule on the physical slab alone; but their internal cell's height depends on the atoms'
# extent and the longest in-plane vector, and the k-space radial integrals are splined to
# 1e-8 (absolute, the default spline_accuracy): slabs with other internal cells sample them
# at other |k|, and the strain gradients use the spline's derivative. Measured at
# k_cutoff = 10/σ on a one-atom slab and an equivalent cell with a twice longer vector: values
# 9e-12, strain gradients 2.4e-8 (p = 0), 5e-9 (p = 1), 1.5e-8 (p = 6).
SLAB_SPLINE = 1e-7


# ---------------------------------------------------------------------------------------------
# systems and hyper-parameters
# ---------------------------------------------------------------------------------------------


def min_distance(positions, cell, pbc):
    """Smallest distance between two atoms, periodic images included"""
    shifts = [np.zeros(3)]
    periodic = [d for d in range(3) if pbc[d]]
    for n in np.ndindex(*(3,) * len(periodic)):
        shift = sum((k - 1) * cell[d] for k, d in zip(n, periodic))
        if np.any(np.asarray(n) != 1):
            shifts.append(shift)
    best = np.inf
    for i in range(len(positions)):
        for j in range(len(positions)):
            for shift in shifts:
                if i == j and not shift.any():
                    continue
                best = min(best, np.linalg.norm(positions[j] + shift - positions[i]))
    return best


def make_system(geometry, numbers, seed):
    """A random system of the given geometry with these atomic numbers: triclinic cells of
    4.5-6.5 Å, slabs with atoms within ±1.5 Å of their plane, clusters in a 4 Å box; no two
    atoms (or images) closer than 0.9 Å"""
    rng = np.random.default_rng(seed)
    n_atoms = len(numbers)
    while True:
        if geometry == "bulk":
            cell = np.diag(rng.uniform(4.5, 6.5, 3)) + rng.uniform(-1.0, 1.0, (3, 3))
            positions = rng.uniform(0, 1, (n_atoms, 3)) @ cell
            pbc = [True] * 3
        elif geometry == "slab":
            a = [rng.uniform(4.5, 6.0), 0.0, 0.0]
            b = [rng.uniform(-1.5, 1.5), rng.uniform(4.5, 6.0), 0.0]
            cell = np.array([a, b, [0.0, 0.0, 0.0]])
            positions = rng.uniform(0, 1, (n_atoms, 2)) @ cell[:2]
            positions[:, 2] = rng.uniform(-1.5, 1.5, n_atoms)
            pbc = [True, True, False]
        else:
            cell = np.zeros((3, 3))
            positions = rng.uniform(0, 4.0, (n_atoms, 3))
            pbc = [False] * 3
        if n_atoms == 1 or min_distance(positions, cell, pbc) > 0.9:
            return ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)


@st.composite
def systems(draw, geometries=GEOMETRIES, max_atoms=4):
    geometry = draw(st.sampled_from(geometries))
    numbers = draw(st.lists(st.sampled_from([1, 8]), min_size=1, max_size=max_atoms))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_system(geometry, numbers, seed)


def make_hypers(smearing, exponent, weight, max_angular, max_radial, radius, method):
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
        },
    }
    if method == "converged":
        hypers["k_cutoff"] = 10.0 / smearing
    elif method != "default":
        hypers["accuracy"] = method
    return hypers


# (σ, p, center_atom_weight, max_angular, max_radial, radius, method): every exponent with
# every method (default k_cutoff 1.2π/σ, converged k_cutoff 10/σ, Ewald split with accuracy)
# and a spread of bases. The examples draw from this pool, so that the tables of each
# calculator are built once for all tests; random_hypers draws any valid small set (slow tests).
POOL = [
    (1.0, 1.0, 1.0, 3, 2, 3.5, "default"),
    (0.8, 0.0, 0.5, 2, 3, 2.5, "converged"),
    (1.4, 2.5, 0.0, 3, 1, 3.5, "default"),
    (1.0, 6.0, 1.0, 1, 3, 3.5, "converged"),
    (1.2, 1.0, 0.5, 2, 2, 3.0, 1e-5),
    (1.4, 6.0, 1.0, 3, 2, 3.5, 1e-8),
    (1.0, 0.0, 1.0, 0, 0, 2.5, 1e-5),
    (1.4, 2.5, 0.5, 2, 1, 3.0, 1e-8),
    (0.8, 1.0, 0.0, 3, 3, 3.5, "converged"),
    (1.2, 6.0, 0.5, 2, 0, 2.5, "default"),
]


def hypers():
    return st.sampled_from(POOL).map(lambda entry: make_hypers(*entry))


@st.composite
def random_hypers(draw):
    """Any valid small set: σ in [0.8, 1.4] Å, p in {0, 1, 2.5, 6}, max_angular and
    max_radial up to 3, and a method"""
    return make_hypers(
        smearing=draw(st.floats(0.8, 1.4)),
        exponent=draw(st.sampled_from(EXPONENTS)),
        weight=draw(st.floats(0.0, 1.0)),
        max_angular=draw(st.integers(0, 3)),
        max_radial=draw(st.integers(0, 3)),
        radius=draw(st.floats(2.5, 4.0)),
        method=draw(st.sampled_from(["default", "converged", 1e-5, 1e-8])),
    )


@functools.lru_cache(maxsize=64)
def cached_calculator(hypers_json):
    import json

    return farsighted.LodeSphericalExpansion(**json.loads(hypers_json))


def calculator(hypers):
    """Calculators are cached: their tables are built once for all the examples"""
    import json

    return cached_calculator(json.dumps(hypers, sort_keys=True))


def tolerance(hypers, atoms, consistency=False):
    """The agreement expected between two calculations that should give the same numbers.
    ``consistency``: the two systems differ in a way the method may see (a supercell,
    other lattice vectors), not only in a symmetry"""
    if "accuracy" in hypers:
        # the split is chosen per system by a cost model: a supercell may use another one,
        # each within ε of the converged sum
        return 2.5 * hypers["accuracy"] if consistency else TIGHT
    if consistency and atoms.pbc.tolist() == [True, True, False]:
        return SLAB_SPLINE
    return TIGHT


# ---------------------------------------------------------------------------------------------
# dense features and comparisons
# ---------------------------------------------------------------------------------------------


def dense(tensor: TensorMap, n_atoms: int):
    """{key: {"values": (N, m, n), "positions": (N, N, 3, m, n), "strain": (N, 3, 3, m, n)}} for
    a single system, with zeros for the atoms that are not centres (or neighbours)"""
    result = {}
    for key, block in tensor.items():
        shape = block.values.shape[1:]
        atoms = block.samples.column("atom")
        entry = {"values": np.zeros((n_atoms,) + shape)}
        entry["values"][atoms] = block.values
        if "positions" in block.gradients_list():
            gradient = block.gradient("positions")
            sample, atom = gradient.samples.column("sample"), gradient.samples.column("atom")
            entry["positions"] = np.zeros((n_atoms, n_atoms, 3) + shape)
            entry["positions"][atoms[sample], atom] = gradient.values
        if "strain" in block.gradients_list():
            gradient = block.gradient("strain")
            entry["strain"] = np.zeros((n_atoms, 3, 3) + shape)
            entry["strain"][atoms[gradient.samples.column("sample")]] = gradient.values
        result[tuple(int(v) for v in key.values)] = entry
    return result


def assert_close(actual, expected, tolerance, what="", floor=0.0):
    """Every array of ``actual`` equals ``expected`` within ``tolerance`` of its block's
    largest value, or of 1e-3 of the largest value of that kind for smaller blocks (those
    that vanish by symmetry are rounding: 1e-13 of the largest value for TIGHT), plus an
    absolute ``floor``"""
    assert actual.keys() == expected.keys(), (sorted(actual), sorted(expected))
    worst = {}
    for kind in next(iter(expected.values())):
        overall = max(np.abs(entry[kind]).max() for entry in expected.values())
        for key, entry in expected.items():
            scale = max(np.abs(entry[kind]).max(), 1e-3 * overall, 1e-300)
            difference = np.abs(actual[key][kind] - entry[kind]).max()
            error = max(difference - floor, 0.0) / scale
            worst[kind] = max(worst.get(kind, 0.0), error)
            assert error <= tolerance, f"{what} {kind} of block {key}: {error:.3e} > {tolerance}"
    note(f"{what}: worst relative differences {worst}")
    return worst


def compute_dense(hypers, atoms, gradients=("positions", "strain")):
    return dense(calculator(hypers).compute(atoms, gradients=list(gradients)), len(atoms))


# ---------------------------------------------------------------------------------------------
# Wigner matrices from scipy's spherical harmonics
# ---------------------------------------------------------------------------------------------


def real_harmonics(l, points):
    """Real Yₗₘ(r̂), m = -l..l, in the convention of featomic (no Condon-Shortley phase:
    Y₁₋₁ ∝ y, Y₁₀ ∝ z, Y₁₁ ∝ x), from scipy's complex harmonics"""
    r = np.linalg.norm(points, axis=1)
    theta, phi = np.arccos(points[:, 2] / r), np.arctan2(points[:, 1], points[:, 0])
    rows = []
    for m in range(-l, l + 1):
        y = sph_harm_y(l, abs(m), theta, phi)  # includes (-1)^m
        if m == 0:
            rows.append(y.real)
        elif m > 0:
            rows.append(np.sqrt(2) * (-1) ** m * y.real)
        else:
            rows.append(np.sqrt(2) * (-1) ** m * y.imag)
    return np.array(rows)


def wigner(l, rotation):
    """D with Yₗ(R r) = D Yₗ(r) for all r, by least squares on random points; then the
    features of the rotated system are X' = D X"""
    points = np.random.default_rng(l).normal(size=(6 * l + 10, 3))
    before = real_harmonics(l, points)
    after = real_harmonics(l, points @ rotation.T)
    matrix = np.linalg.lstsq(before.T, after.T, rcond=None)[0].T
    assert np.abs(matrix @ matrix.T - np.eye(2 * l + 1)).max() < 1e-12
    return matrix


def test_harmonics_convention():
    """The harmonics above are those of the features: for an open dimer, X(l = 1) of the
    first atom with the second as neighbour is along (y, z, x) of the bond"""
    hypers = {
        "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
        "basis": {
            "type": "TensorProduct",
            "max_angular": 3,
            "radial": {"type": "Gto", "max_radial": 0, "radius": 3.0},
        },
    }
    bond = np.array([0.3, -0.8, 0.5])
    atoms = ase.Atoms("HO", positions=[[0, 0, 0], bond], pbc=False)
    features = calculator(hypers).compute(atoms)
    for l in range(4):
        x = features.block(o3_lambda=l, center_type=1, neighbor_type=8).values[0, :, 0]
        y = real_harmonics(l, bond[None, :])[:, 0]
        assert np.abs(x / np.linalg.norm(x) - np.sign(x @ y) * y / np.linalg.norm(y)).max() < 1e-10


def transformed(features, rotation):
    """The features of a system after r → R r (R orthogonal, maybe improper), from those of
    the system: X' = D X, ∂X'/∂r' = R ∂X/∂r Dᵀ, ∂X'/∂ε' = R (∂X/∂ε) Rᵀ D (parity (-1)ˡ for
    improper R)"""
    determinant = np.linalg.det(rotation)
    proper = rotation * determinant
    result = {}
    for key, entry in features.items():
        l = key[0]
        d = wigner(l, proper) * determinant**l
        new = {"values": np.einsum("mk,ikn->imn", d, entry["values"])}
        if "positions" in entry:
            new["positions"] = np.einsum("ab,mk,ijbkn->ijamn", rotation, d, entry["positions"])
        if "strain" in entry:
            new["strain"] = np.einsum(
                "ac,bd,mk,icdkn->iabmn", rotation, rotation, d, entry["strain"]
            )
        result[key] = new
    return result


def moved(atoms, positions=None, cell=None):
    result = atoms.copy()
    if cell is not None:
        result.cell = cell
    if positions is not None:
        result.positions = positions
    return result


# ---------------------------------------------------------------------------------------------
# the properties, for one system and one set of hyper-parameters
# ---------------------------------------------------------------------------------------------


def check_rotation(atoms, hypers, rotation, rotate_cell=True):
    """Rotating (R proper or improper) the positions, and the cell with them, transforms the
    features with the Wigner matrices and R"""
    cell = atoms.cell.array @ rotation.T if rotate_cell else None
    rotated = moved(atoms, atoms.positions @ rotation.T, cell)
    expected = transformed(compute_dense(hypers, atoms), rotation)
    assert_close(compute_dense(hypers, rotated), expected, tolerance(hypers, atoms), "rotated")


def check_inversion(atoms, hypers):
    """r → -r: the features get (-1)ˡ (all blocks have o3_sigma = 1), positions gradients
    -(-1)ˡ, strain gradients (-1)ˡ; the lattice is its own inverse, the cell is kept"""
    keys = calculator(hypers).compute(atoms).keys
    assert np.all(keys.column("o3_sigma") == 1)
    check_rotation(atoms, hypers, -np.eye(3), rotate_cell=False)


def check_permutation(atoms, hypers, order):
    """Permuting the atoms permutes the samples and the gradient rows"""
    order = np.asarray(order)
    features = compute_dense(hypers, atoms)
    expected = {
        key: {
            "values": entry["values"][order],
            "positions": entry["positions"][order][:, order],
            "strain": entry["strain"][order],
        }
        for key, entry in features.items()
    }
    actual = compute_dense(hypers, atoms[order])
    assert_close(actual, expected, tolerance(hypers, atoms), "permuted")


def check_translation(atoms, hypers, shift, jumps):
    """A rigid translation, and lattice vectors added to single atoms (``jumps``: integers
    per atom and periodic direction), change nothing"""
    positions = atoms.positions + shift
    for d, jump in zip(np.nonzero(atoms.pbc)[0], jumps):
        positions += np.asarray(jump)[: len(atoms), None] * atoms.cell[d]
    expected = compute_dense(hypers, atoms)
    actual = compute_dense(hypers, moved(atoms, positions))
    assert_close(actual, expected, tolerance(hypers, atoms), "translated")


def check_supercell(atoms, hypers, direction):
    """A 2× supercell along a periodic direction has the features of the cell it replicates:
    values and strain gradients of each copy of an atom, and positions gradients summed over
    the copies of the atom moved"""
    periodic = np.nonzero(atoms.pbc)[0]
    repeat = [1, 1, 1]
    repeat[periodic[direction % len(periodic)]] = 2
    supercell = atoms.repeat(repeat)
    n = len(atoms)
    features = compute_dense(hypers, atoms)
    actual = compute_dense(hypers, supercell)
    folded = {}
    for key, entry in actual.items():
        positions = entry["positions"][:n]
        folded[key] = {
            "values": entry["values"][:n],
            "positions": positions.reshape(n, 2, n, *positions.shape[2:]).sum(axis=1),
            "strain": entry["strain"][:n],
        }
    level = tolerance(hypers, atoms, consistency=True)
    assert_close(folded, features, level, "supercell")
    copies = {key: {"values": entry["values"][n:]} for key, entry in actual.items()}
    only_values = {key: {"values": entry["values"]} for key, entry in features.items()}
    assert_close(copies, only_values, level, "copies")


def unimodular(rng, size):
    """A random integer matrix of determinant ±1 with small entries"""
    matrix = np.eye(size, dtype=int)
    for _ in range(3):
        i, j = rng.choice(size, 2, replace=False)
        elementary = np.eye(size, dtype=int)
        elementary[i, j] = rng.choice([-1, 1])
        matrix = elementary @ matrix
    if rng.uniform() < 0.5:
        matrix[0] *= -1
    return matrix


def check_equivalent_cell(atoms, hypers, seed):
    """Other lattice vectors of the same lattice (a unimodular transform of the periodic cell
    vectors), with the atoms wrapped into the new cell, give the same features"""
    rng = np.random.default_rng(seed)
    periodic = np.nonzero(atoms.pbc)[0]
    cell = atoms.cell.array.copy()
    cell[periodic] = unimodular(rng, len(periodic)) @ cell[periodic]
    other = moved(atoms, cell=cell)
    other.wrap()
    note(f"cell {cell.tolist()}")
    expected = compute_dense(hypers, atoms)
    actual = compute_dense(hypers, other)
    assert_close(actual, expected, tolerance(hypers, atoms, consistency=True), "other cell")


def check_translation_invariance_of_gradients(atoms, hypers):
    """Σⱼ ∂Xᵢ/∂rⱼ = 0: moving all atoms together changes nothing"""
    features = compute_dense(hypers, atoms, gradients=["positions"])
    overall = max(np.abs(entry["positions"]).max() for entry in features.values())
    for key, entry in features.items():
        total = entry["positions"].sum(axis=1)
        assert np.abs(total).max() <= 1e-12 * max(overall, 1e-300), key


def finite_differences(hypers, atoms, displacement):
    """{key: {"positions", "strain"}} central differences of the values"""
    calc = calculator(hypers)
    n = len(atoms)

    def values(system):
        return dense(calc.compute(system), n)

    reference = values(atoms)
    result = {
        key: {
            "positions": np.zeros((n, n, 3) + entry["values"].shape[1:]),
            "strain": np.zeros((n, 3, 3) + entry["values"].shape[1:]),
        }
        for key, entry in reference.items()
    }
    for j in range(n):
        for alpha in range(3):
            step = np.zeros((n, 3))
            step[j, alpha] = displacement
            plus = values(moved(atoms, atoms.positions + step))
            minus = values(moved(atoms, atoms.positions - step))
            for key in result:
                difference = plus[key]["values"] - minus[key]["values"]
                result[key]["positions"][:, j, alpha] = difference / (2 * displacement)
    for alpha in range(3):
        for beta in range(3):
            strain = np.zeros((3, 3))
            strain[alpha, beta] = displacement
            plus = values(deformed(atoms, strain))
            minus = values(deformed(atoms, -strain))
            for key in result:
                difference = plus[key]["values"] - minus[key]["values"]
                result[key]["strain"][:, alpha, beta] = difference / (2 * displacement)
    return result


def check_finite_differences(atoms, hypers):
    """Positions and strain gradients against central differences (h = 1e-5 Å and 1e-5) of
    the values: agreement to 1e-6 of each block (the differences' own error is ~1e-9), and
    to 1e-9 of the largest value where the gradients vanish (the rounding of the values,
    1e-16, divided by h)"""
    features = compute_dense(hypers, atoms)
    numeric = finite_differences(hypers, atoms, 1e-5)
    analytic = {
        key: {"positions": entry["positions"], "strain": entry["strain"]}
        for key, entry in features.items()
    }
    values = max(np.abs(entry["values"]).max() for entry in features.values())
    assert_close(analytic, numeric, 1e-6, "finite differences", floor=1e-9 * values)


def check_backward(atoms, hypers, seed):
    """The backward product of a random ∂L/∂X is the contraction of the explicit positions
    and strain gradients; ∂L/∂cell = h⁻ᵀ (Ξ - Rᵀ ∂L/∂R) on the periodic directions, zero on
    the others"""
    rng = np.random.default_rng(seed)
    calc = calculator(hypers)
    tensor = calc.compute(atoms, gradients=["positions", "strain"])
    gradient = TensorMap(
        tensor.keys,
        [
            TensorBlock(
                values=rng.normal(size=block.values.shape),
                samples=block.samples,
                components=block.components,
                properties=block.properties,
            )
            for block in tensor.blocks()
        ],
    )
    [result] = calc.backward(atoms, gradient)
    features = dense(tensor, len(atoms))
    g = dense(gradient, len(atoms))
    positions, strain, scale = 0.0, 0.0, 0.0
    for key, entry in features.items():
        g_values = g[key]["values"]
        positions = positions + np.einsum("imn,ijamn->ja", g_values, entry["positions"])
        strain = strain + np.einsum("imn,iabmn->ab", g_values, entry["strain"])
        # the size of the terms of the contractions, for their rounding
        scale = max(
            scale,
            np.einsum("imn,ijamn->ja", np.abs(g_values), np.abs(entry["positions"])).max(),
            np.einsum("imn,iabmn->ab", np.abs(g_values), np.abs(entry["strain"])).max(),
        )
    # the split of the backward product is the one the values alone use, the explicit
    # gradients may use another one (the cost model sees the gradients): both within ε of
    # each block, and a contraction of many terms adds up their errors
    level = TIGHT if "accuracy" not in hypers else 100 * hypers["accuracy"]
    positions_scale = max(np.abs(positions).max(), 1e-3 * scale, 1e-300)
    strain_scale = max(np.abs(strain).max(), 1e-3 * scale, 1e-300)
    assert np.abs(result.positions - positions).max() <= level * positions_scale
    assert np.abs(result.strain - strain).max() <= level * strain_scale
    assert np.abs(result.positions.sum(axis=0)).max() <= 1e-12 * positions_scale
    if atoms.pbc.any():
        # Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R; for slabs the strain along the normal is a translation of
        # what the cell does not see, and the splines see other |k| (see SLAB_SPLINE)
        virial = atoms.cell.array.T @ result.cell + atoms.positions.T @ result.positions
        slab = atoms.pbc.tolist() == [True, True, False]
        virial_level = tolerance(hypers, atoms, consistency=True) if slab else 1e-10
        assert np.abs(virial - result.strain).max() <= virial_level * strain_scale
        assert np.all(result.cell[~atoms.pbc] == 0.0)
    else:
        assert np.all(result.cell == 0.0)
        virial = atoms.positions.T @ result.positions
        assert np.abs(virial - result.strain).max() <= 1e-10 * strain_scale


# ---------------------------------------------------------------------------------------------
# the tests: hypothesis draws systems and hyper-parameters
# ---------------------------------------------------------------------------------------------


def rotations(proper_only=False):
    matrices = st.integers(0, 2**32 - 1).map(
        lambda seed: Rotation.random(random_state=seed).as_matrix()
    )
    if proper_only:
        return matrices
    return st.tuples(matrices, st.sampled_from([1.0, -1.0])).map(lambda x: x[0] * x[1])


@examples(8)
@given(atoms=systems(), hypers=hypers(), rotation=rotations())
def test_rotations(atoms, hypers, rotation):
    """Rotations of cell and positions together, proper and improper"""
    check_rotation(atoms, hypers, rotation)


@examples(4)
@given(atoms=systems(geometries=("slab",)), hypers=hypers(), angle=st.floats(0, 2 * np.pi))
def test_slab_rotations_about_the_normal(atoms, hypers, angle):
    """For a slab in the xy plane: the half-turn of the atoms about z is a symmetry of every
    2D lattice (the cell is kept), a rotation about z by any angle is one once the cell turns
    too"""
    check_rotation(atoms, hypers, np.diag([-1.0, -1.0, 1.0]), rotate_cell=False)
    check_rotation(atoms, hypers, Rotation.from_rotvec([0.0, 0.0, angle]).as_matrix())


@examples(6)
@given(atoms=systems(), hypers=hypers())
def test_inversion(atoms, hypers):
    check_inversion(atoms, hypers)


@examples(6)
@given(atoms=systems(), hypers=hypers(), data=st.data())
def test_permutations(atoms, hypers, data):
    check_permutation(atoms, hypers, data.draw(st.permutations(range(len(atoms)))))


def jumps_and_shift(n_atoms):
    integers = st.lists(st.integers(-3, 3), min_size=n_atoms, max_size=n_atoms)
    return st.tuples(st.tuples(*[st.floats(-20, 20)] * 3), st.lists(integers, min_size=3))


@examples(6)
@given(atoms=systems(), hypers=hypers(), data=st.data())
def test_translations(atoms, hypers, data):
    shift, jumps = data.draw(jumps_and_shift(len(atoms)))
    check_translation(atoms, hypers, np.array(shift), jumps)


@examples(6)
@given(
    atoms=systems(geometries=("bulk", "slab"), max_atoms=3),
    hypers=hypers(),
    direction=st.integers(0, 2),
)
def test_supercells(atoms, hypers, direction):
    check_supercell(atoms, hypers, direction)


@examples(6)
@given(atoms=systems(geometries=("bulk", "slab")), hypers=hypers(), seed=st.integers(0, 2**16))
def test_equivalent_cells(atoms, hypers, seed):
    check_equivalent_cell(atoms, hypers, seed)


@examples(6)
@given(atoms=systems(), hypers=hypers())
def test_gradients_are_translation_invariant(atoms, hypers):
    check_translation_invariance_of_gradients(atoms, hypers)


@examples(3)
@given(atoms=systems(max_atoms=2), hypers=hypers())
def test_gradients_by_finite_differences(atoms, hypers):
    check_finite_differences(atoms, hypers)


@examples(6)
@given(atoms=systems(), hypers=hypers(), seed=st.integers(0, 2**32 - 1))
def test_backward_against_explicit_gradients(atoms, hypers, seed):
    check_backward(atoms, hypers, seed)


@pytest.mark.slow
@examples(8)
@given(atoms=systems(max_atoms=3), hypers=random_hypers())
def test_gradients_by_finite_differences_random_hyper_parameters(atoms, hypers):
    check_finite_differences(atoms, hypers)


@pytest.mark.slow
@examples(10)
@given(
    atoms=systems(max_atoms=3),
    hypers=random_hypers(),
    rotation=rotations(),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_all_properties_random_hyper_parameters(atoms, hypers, rotation, data, seed):
    """Every property with any valid small set of hyper-parameters (new tables each time)"""
    check_rotation(atoms, hypers, rotation)
    check_inversion(atoms, hypers)
    check_permutation(atoms, hypers, data.draw(st.permutations(range(len(atoms)))))
    shift, jumps = data.draw(jumps_and_shift(len(atoms)))
    check_translation(atoms, hypers, np.array(shift), jumps)
    check_translation_invariance_of_gradients(atoms, hypers)
    check_backward(atoms, hypers, seed)
    if atoms.pbc.any():
        check_supercell(atoms, hypers, seed % 3)
        check_equivalent_cell(atoms, hypers, seed)
