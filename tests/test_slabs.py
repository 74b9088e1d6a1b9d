"""LODE for slabs (``pbc`` true along two cell vectors) against independent references:
explicit sums over the slab's images with the open-boundary calculator (exact for finite
clusters) extrapolated with the known tail law, 3D cells with growing vacuum, finite
differences of the positions gradients, and invariances."""

import functools

import ase
import metatensor
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from test_reference import gto_basis, real_spherical_harmonics

import farsighted

from helpers import lode_hypers, log_log_slope

SIGMA = 0.8
HYPERS = dict(smearing=SIGMA, max_angular=3, max_radial=3, radius=3.0, k_cutoff=9.5)


def slab(pbc=(True, True, False)):
    """Two types, a triclinic in-plane cell, atoms at different heights"""
    cell = [[4.2, 0.0, 0.0], [1.3, 3.9, 0.0], [0.0, 0.0, 0.0]]
    positions = [[0.2, 0.1, 0.0], [2.3, 1.9, 1.4], [3.1, 0.6, -0.9]]
    return ase.Atoms("NaClNa", positions=positions, cell=cell, pbc=pbc)


def values(tensor):
    """{key: block values} of a TensorMap"""
    return {tuple(key.values.tolist()): block.values for key, block in tensor.items()}


def image_clusters(atoms, radius, rings_per_cluster=40):
    """Open systems made of the atoms of ``atoms`` (types unchanged, first) and of some of
    their in-plane images T within ``radius``: the images of type t on the k-th ring of equal
    |T| have type 1000 t + k, so that weighted sums over the rings can be formed afterwards;
    each cluster holds ``rings_per_cluster`` rings. Returns the clusters and ring radii."""
    a, b = atoms.cell[0], atoms.cell[1]
    n_max = int(radius / min(np.linalg.norm(a), np.linalg.norm(b)) * 2) + 2
    shifts = np.array(
        [
            i * a + j * b
            for i in range(-n_max, n_max + 1)
            for j in range(-n_max, n_max + 1)
            if 0 < np.linalg.norm(i * a + j * b) <= radius
        ]
    )
    rings, ring_of = np.unique(np.round(np.linalg.norm(shifts, axis=1), 9), return_inverse=True)
    clusters = []
    for first in range(0, len(rings), rings_per_cluster):
        chosen = np.nonzero((ring_of >= first) & (ring_of < first + rings_per_cluster))[0]
        positions = [atoms.positions] + [atoms.positions + shifts[s] for s in chosen]
        numbers = [atoms.numbers] + [1000 * atoms.numbers + ring_of[s] - first for s in chosen]
        cluster = ase.Atoms(
            numbers=np.concatenate(numbers), positions=np.concatenate(positions), pbc=False
        )
        clusters.append((first, cluster))
    return clusters, rings


def smooth_window(x):
    """1 for x ≤ 1/2, 0 for x ≥ 1, C∞ in between"""
    t = np.clip(2 * x - 1, 1e-12, 1 - 1e-12)
    rising, falling = np.exp(-1 / t), np.exp(-1 / (1 - t))
    return np.where(x <= 0.5, 1.0, np.where(x >= 1, 0.0, falling / (rising + falling)))


def image_sums(calculator, atoms, radii):
    """{key: values} of the open-boundary calculator on the images T of the slab weighted by
    W(|T|/R) (smooth_window), for each R of ``radii``. Smooth weights make the lattice sum
    converge like its continuum limit, in powers R^{2-p-2m}, with no lattice-point noise."""
    clusters, rings = image_clusters(atoms, max(radii))
    samples = metatensor.Labels(["atom"], np.arange(len(atoms)).reshape(-1, 1))
    types = np.unique(atoms.numbers)
    keys = metatensor.Labels(["center_type"], types.reshape(-1, 1))
    sums = [{} for _ in radii]
    for first, cluster in clusters:
        tensor = calculator.compute(cluster, selected_samples=samples, selected_keys=keys)
        for key, block in tensor.items():
            l, _, center, neighbor = key.values.tolist()
            if neighbor < 1000:
                if first > 0:
                    continue  # the slab's own atoms, counted with the first cluster
                species, weights = neighbor, np.ones(len(radii))
            else:
                species, ring = divmod(neighbor, 1000)
                weights = smooth_window(rings[first + ring] / np.asarray(radii))
            for r, weight in enumerate(weights):
                total = sums[r].get((l, 1, center, species), 0.0)
                sums[r][(l, 1, center, species)] = total + weight * block.values
    return sums


def rotated(atoms, rotation):
    """``atoms`` rotated as a whole (positions and cell)"""
    atoms = atoms.copy()
    atoms.positions = rotation.apply(atoms.positions)
    atoms.cell = rotation.apply(np.asarray(atoms.cell))
    return atoms


@pytest.mark.slow
@pytest.mark.parametrize("exponent", [6.0, 4.3])
@pytest.mark.parametrize("tilted", [False, True])
def test_image_sums(exponent, tilted):
    """The slab against the open-boundary calculator on its images T weighted by W(|T|/R),
    W smooth from 1 (|T| ≤ R/2) to 0 (|T| ≥ R): the error falls like the tail R^{2-p}, and a
    fit of V∞ + Σₘ cₘ R^{2-p-2m} (m < 3) on four radii gives V∞ (agreement: about 4e-10 for
    p = 6 and 3e-9 for p = 4.3, relative to the largest feature)"""
    atoms = slab()
    if tilted:
        atoms = rotated(atoms, Rotation.from_euler("xyz", [0.7, -0.4, 1.1]))
    calculator = farsighted.LodeSphericalExpansion(
        **lode_hypers(exponent=exponent, weight=0.6, **HYPERS)
    )
    expected = values(calculator.compute(atoms))
    radii = np.array([50.0, 65.0, 80.0, 100.0])
    sums = image_sums(calculator, atoms, radii)
    scale = max(np.abs(v).max() for v in expected.values())
    errors = [
        max(np.abs(reference[key] - expected[key]).max() for key in expected) / scale
        for reference in sums
    ]
    slope = log_log_slope(radii, errors)
    assert abs(slope - (2 - exponent)) < 0.3, (errors, slope)
    design = np.stack(
        [np.ones_like(radii)] + [radii ** (2 - exponent - 2 * m) for m in range(3)], 1
    )
    error = 0.0
    for key in expected:
        stacked = np.stack([reference[key].ravel() for reference in sums])
        fitted = np.linalg.lstsq(design, stacked, rcond=None)[0][0]
        error = max(error, np.abs(fitted - expected[key].ravel()).max() / scale)
    print(f"p={exponent} tilted={tilted}: error(R=100)={errors[-1]:.2e}, fitted {error:.2e}")
    assert error < (2e-9 if exponent == 6 else 2e-8), (error, errors)


@functools.lru_cache
def cached_gto_basis(max_radial, radius):
    return gto_basis(max_radial, radius)


def project(function, max_angular=3, max_radial=3, radius=3.0):
    """⟨n l m|f⟩ = ∫ Rₙ(r) Yₗₘ(r̂) f(r) d³r on a spherical product grid, as {l: (m, n) array};
    ``function`` takes (points, 3) Cartesian points"""
    orthonormalization, primitive = cached_gto_basis(max_radial, radius)
    widths = radius * np.maximum(np.sqrt(np.arange(max_radial + 1)), 1) / (max_radial + 1)
    r_max = max(w * (np.sqrt(n + 2) + 9) for n, w in enumerate(widths))
    x, w = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(0, r_max, int(np.ceil(r_max / 0.5)) + 1)
    r = np.concatenate([a + (b - a) * (x + 1) / 2 for a, b in zip(edges[:-1], edges[1:])])
    wr = np.concatenate([(b - a) * w / 2 for a, b in zip(edges[:-1], edges[1:])])
    cos_theta, w_theta = np.polynomial.legendre.leggauss(24)
    n_phi = 48
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    theta_grid, phi_grid = np.meshgrid(np.arccos(cos_theta), phi, indexing="ij")
    directions = np.stack(
        [
            np.sin(theta_grid) * np.cos(phi_grid),
            np.sin(theta_grid) * np.sin(phi_grid),
            np.cos(theta_grid),
        ],
        axis=-1,
    ).reshape(-1, 3)
    w_angles = np.repeat(w_theta, n_phi) * 2 * np.pi / n_phi
    radial = orthonormalization @ np.array([primitive(n, r) for n in range(max_radial + 1)])
    radial = radial * wr * r**2
    points = r[:, None, None] * directions[None, :, :]
    values = function(points.reshape(-1, 3)).reshape(len(r), len(directions))
    return {
        l: (real_spherical_harmonics(l, theta_grid, phi_grid).reshape(2 * l + 1, -1) * w_angles)
        @ values.T
        @ radial.T
        for l in range(max_angular + 1)
    }


def with_vacuum(atoms, length):
    """The slab in a 3D cell with c = L n̂"""
    atoms = atoms.copy()
    a, b = atoms.cell[0], atoms.cell[1]
    normal = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    atoms.cell = [a, b, length * normal]
    atoms.pbc = True
    return atoms


@pytest.mark.slow
def test_point_charges_in_growing_boxes():
    """p = 1: a 3D cell of height L (k = 0 dropped) differs from the slab by the potential of
    the periodic sheets' backgrounds, (2π/A) (u²/L + L/6 + σ²/L) - 2√(2π)σ/A at height u above
    each atom (from (1/L) Σ_{k≠0} e^{iku} 4π e^{-k²σ²/2}/k² by the Bernoulli polynomial B₂ and
    ∫(e^{-k²σ²/2} - 1)/k² dk = -√(2π)σ), up to e^{-|k∥| gap}: once this is removed, the
    difference is at round-off for every L, while the raw difference grows like L"""
    atoms = slab()
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, weight=0.6, **HYPERS))
    expected = values(calculator.compute(atoms))
    scale = max(np.abs(v).max() for v in expected.values())
    area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    heights = atoms.positions[:, 2]
    raw = []
    for length in [50.0, 70.0, 100.0]:
        box = values(calculator.compute(with_vacuum(atoms, length)))
        worst = 0.0
        for (l, _, center, neighbor), block in box.items():
            centers = np.nonzero(atoms.numbers == center)[0]
            for sample, i in enumerate(centers):
                correction = 0.0
                for j in np.nonzero(atoms.numbers == neighbor)[0]:
                    z = heights[i] - heights[j]

                    def sheet(points, z=z, length=length):
                        u = z + points[:, 2]
                        return (
                            2 * np.pi * (u**2 / length + length / 6 + SIGMA**2 / length)
                            - 2 * np.sqrt(2 * np.pi) * SIGMA
                        ) / area

                    correction = correction + project(sheet)[l]
                difference = block[sample] - correction - expected[(l, 1, center, neighbor)][sample]
                worst = max(worst, np.abs(difference).max() / scale)
        raw.append(max(np.abs(box[key] - expected[key]).max() for key in expected) / scale)
        assert worst < 1e-9, (length, worst)
    assert raw[2] > raw[0] * 1.5


@pytest.mark.slow
def test_dispersion_in_growing_boxes():
    """p = 6: a 3D cell of height L (with its k = 0 term) adds the images along n̂, whose
    planar potential falls like L^{2-p}: the difference to the slab falls at that rate"""
    atoms = slab()
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=6, **HYPERS))
    expected = values(calculator.compute(atoms))
    scale = max(np.abs(v).max() for v in expected.values())
    lengths = [40.0, 60.0, 90.0]
    errors = []
    for length in lengths:
        box = values(calculator.compute(with_vacuum(atoms, length)))
        errors.append(max(np.abs(box[key] - expected[key]).max() for key in expected) / scale)
    slope = log_log_slope(lengths, errors)
    assert abs(slope + 4) < 0.2, (errors, slope)


@pytest.mark.slow
@pytest.mark.parametrize("exponent", [1.0, 6.0])
def test_positions_gradients_by_finite_differences(exponent):
    atoms = slab()
    atoms.rotate(25, "x", rotate_cell=True)
    calculator = farsighted.LodeSphericalExpansion(
        **lode_hypers(exponent=exponent, weight=0.6, **HYPERS)
    )
    tensor = calculator.compute(atoms, gradients=["positions"])
    scale = max(np.abs(block.values).max() for block in tensor.blocks())
    h = 1e-5
    worst = 0.0
    for j in range(len(atoms)):
        for alpha in range(3):
            shifted = []
            for sign in [1, -1]:
                moved = atoms.copy()
                moved.positions[j, alpha] += sign * h
                shifted.append(values(calculator.compute(moved)))
            for key, block in tensor.items():
                k = tuple(key.values.tolist())
                fd = (shifted[0][k] - shifted[1][k]) / (2 * h)
                gradient = block.gradient("positions")
                expected = np.zeros_like(fd)
                for row, (sample, _, atom) in enumerate(gradient.samples.values):
                    if atom == j:
                        expected[sample] = gradient.values[row, alpha]
                worst = max(worst, np.abs(fd - expected).max() / scale)
    assert worst < 1e-7, worst


def test_invariances():
    """In-plane lattice translations of atoms, rigid translations and rotations of the slab"""
    atoms = slab()
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, **HYPERS))
    expected = values(calculator.compute(atoms))
    scale = max(np.abs(v).max() for v in expected.values())

    moved = atoms.copy()
    moved.positions[1] += 2 * atoms.cell[0] - atoms.cell[1]
    moved.positions += [0.3, -1.7, 2.2]
    actual = values(calculator.compute(moved))
    assert max(np.abs(actual[k] - expected[k]).max() for k in expected) < 1e-10 * scale

    rotation = Rotation.from_euler("xyz", [0.3, 1.2, -0.8])
    actual = values(calculator.compute(rotated(atoms, rotation)))
    for key in expected:
        norms = np.linalg.norm(actual[key], axis=1)
        expected_norms = np.linalg.norm(expected[key], axis=1)
        assert np.abs(norms - expected_norms).max() < 1e-9 * scale
        if key[0] == 0:
            assert np.abs(actual[key] - expected[key]).max() < 1e-9 * scale

    # the third cell vector is ignored
    other = atoms.copy()
    other.cell[2] = [0.5, 2.0, 7.0]
    actual = values(calculator.compute(other))
    assert max(np.abs(actual[k] - expected[k]).max() for k in expected) < 1e-12 * scale


def slab_calculator(k_cutoff, spline, exponent=1):
    """``spline``: "default" (basis.spline_accuracy not given, 1e-8) or None (exact)"""
    hypers = lode_hypers(exponent=exponent, weight=0.6, **dict(HYPERS, k_cutoff=k_cutoff))
    if spline == "default":
        del hypers["basis"]["spline_accuracy"]
    return farsighted.LodeSphericalExpansion(**hypers)


def largest_block_difference(actual, expected):
    """max over blocks of max|actual - expected| / max|expected| (blocks that vanish by
    symmetry compare to 1e-3 of the largest feature)"""
    overall = max(np.abs(v).max() for v in expected.values())
    return max(
        np.abs(actual[key] - expected[key]).max() / max(np.abs(expected[key]).max(), 1e-3 * overall)
        for key in expected
    )


# measured: 4e-14 with exact radial integrals (rounding), 2e-12 with the default splines
# (their tabulation noise, sampled on the different k_z grids of the two internal cells)
SUPERCELL_TOLERANCE = {None: 1e-13, "default": 1e-11}


@pytest.mark.parametrize("spline", [None, "default"])
@pytest.mark.parametrize("k_cutoff", [None, 3.0])
def test_supercells_give_the_cell_features(k_cutoff, spline):
    """A slab and its 2×1×1 and 1×2×1 supercells: the in-plane truncation |k∥| < k_cutoff adds
    for the supercell only k∥ where its structure factor vanishes, and the k_z sums are
    converged, so that the internal cells' different heights L (which follow the longest
    in-plane vector) do not matter"""
    atoms = slab()
    calculator = slab_calculator(k_cutoff, spline)
    expected = values(calculator.compute(atoms))
    samples = metatensor.Labels(
        ["system", "atom"], np.array([[0, i] for i in range(len(atoms))], dtype=np.int32)
    )
    for repeat in [(2, 1, 1), (1, 2, 1)]:
        supercell = atoms.repeat(repeat)
        actual = values(calculator.compute(supercell, selected_samples=samples))
        error = largest_block_difference(actual, expected)
        print(f"k_cutoff={k_cutoff} spline={spline} {repeat}: {error:.1e}")
        assert error < SUPERCELL_TOLERANCE[spline], (repeat, error)


@pytest.mark.parametrize("spline", [None, "default"])
def test_values_do_not_depend_on_the_internal_height(spline):
    """An atom of another type far above the slab changes the atoms' extent, and so the
    height L of the internal cell, but not the features of the other atoms between
    themselves (measured: 4e-16 with exact radial integrals, 3e-12 with the default splines;
    1e-6 before the k_z sums were converged)"""
    atoms = slab()
    calculator = slab_calculator(None, spline)
    expected = values(calculator.compute(atoms))
    types = np.unique(atoms.numbers)
    keys = metatensor.Labels(
        ["center_type", "neighbor_type"],
        np.array([[a, b] for a in types for b in types], dtype=np.int32),
    )
    samples = metatensor.Labels(
        ["system", "atom"], np.array([[0, i] for i in range(len(atoms))], dtype=np.int32)
    )
    for height in [12.0, 25.0]:
        far = atoms + ase.Atoms("K", positions=[[1.0, 1.0, height]])
        actual = values(calculator.compute(far, selected_keys=keys, selected_samples=samples))
        error = largest_block_difference(actual, expected)
        print(f"spline={spline} height {height}: {error:.1e}")
        assert error < SUPERCELL_TOLERANCE[spline], (height, error)


def test_clear_errors():
    calculator = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=1, **HYPERS))
    with pytest.raises(ValueError, match="wires"):
        calculator.compute(slab(pbc=(False, True, False)))
    parallel = slab()
    parallel.cell[1] = [8.4, 0.0, 0.0]
    with pytest.raises(ValueError, match="zero or parallel"):
        calculator.compute(parallel)
    with pytest.raises(ValueError, match="atoms 0 and 1"):
        overlapping = slab()
        overlapping.positions[1] = overlapping.positions[0] + overlapping.cell[0]
        calculator.compute(overlapping)
    close_to_two = farsighted.LodeSphericalExpansion(**lode_hypers(exponent=2 + 1e-8, **HYPERS))
    with pytest.raises(ValueError, match="too close to 2"):
        close_to_two.compute(slab())


@pytest.mark.slow
@pytest.mark.parametrize("exponent, smearing", [(1, 0.3), (6, 0.3), (0.5, 0.8), (2, 0.8), (1, 0.8)])
def test_ewald_split_of_slabs(exponent, smearing):
    """The 2D Ewald split (wide part by the slab sum, remainder over in-plane images) equals
    the converged pure slab sum within the requested accuracy, values and positions gradients"""
    atoms = slab()
    common = dict(HYPERS, smearing=smearing, exponent=exponent, weight=0.6, spline=1e-10)
    pure = farsighted.LodeSphericalExpansion(**lode_hypers(**dict(common, k_cutoff=12 / smearing)))
    hypers = lode_hypers(**dict(common, k_cutoff=None))
    accuracy = 1e-6
    split = farsighted.LodeSphericalExpansion(**hypers, accuracy=accuracy)
    reference = pure.compute(atoms, gradients=["positions"])
    result = split.compute(atoms, gradients=["positions"])
    for key, block in reference.items():
        other = result.block(key)
        # blocks that vanish by symmetry (a lone atom's own l = 1 lattice) compare absolutely
        scale = max(np.max(np.abs(block.values)), 1e-8)
        assert np.max(np.abs(other.values - block.values)) <= accuracy * scale, key
        gradient, other_gradient = block.gradient("positions"), other.gradient("positions")
        assert gradient.samples == other_gradient.samples
        scale = max(np.max(np.abs(gradient.values)), 1e-8)
        difference = np.max(np.abs(other_gradient.values - gradient.values))
        assert difference <= accuracy * scale, key
