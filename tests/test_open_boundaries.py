"""LODE with open boundaries (molecules, clusters: ``pbc`` all False) against independent
references: direct numerical quadrature of the projection integral in 3D, featomic's
SphericalExpansion for the Gaussian density (p = 0), a growing periodic box, and finite
differences for the gradients."""

import ase
import numpy as np
import pytest
from scipy.special import gammainc
from test_reference import gto_basis, real_spherical_harmonics

import farsighted

from helpers import lode_hypers, log_log_slope

SIGMA = 0.8
RADIUS = 3.0
MAX_RADIAL = 3
MAX_ANGULAR = 4


def water():
    return ase.Atoms(
        "OH2",
        positions=[[0.1, -0.2, 0.05], [1.05, -0.1, 0.3], [-0.2, 0.75, -0.5]],
        pbc=False,
    )


def ion_pair():
    return ase.Atoms("NaCl", positions=[[0.0, 0.0, 0.0], [1.6, 1.2, -1.1]], pbc=False)


def single_atom():
    return ase.Atoms("Na", positions=[[0.3, -0.4, 1.0]], pbc=False)


def density(p, sigma, s):
    """g_p(s) = γ(p/2, s²/2σ²) / (Γ(p/2) sᵖ), the normalised Gaussian for p = 0"""
    if p == 0:
        return np.exp(-(s**2) / (2 * sigma**2)) / (np.pi * sigma**2) ** 0.75
    return gammainc(p / 2, s**2 / (2 * sigma**2)) / s**p


def quadrature_lode(atoms, p, weight, sigma=SIGMA):
    """⟨a n l m|Vᵢ⟩ by quadrature of ∫ Rₙ(r) Yₗₘ(r̂) Vᵢᵃ(r) d³r on a spherical product grid
    (composite Gauss–Legendre in r, Gauss–Legendre in cos θ, trapezoid in φ), with
    Vᵢᵃ(r) = Σ_{j∈a} g_p(|r + rᵢ - rⱼ|), the centre's own term weighted by ``weight``"""
    orthonormalization, primitive = gto_basis(MAX_RADIAL, RADIUS)
    widths = RADIUS * np.maximum(np.sqrt(np.arange(MAX_RADIAL + 1)), 1) / (MAX_RADIAL + 1)
    r_max = max(w * (np.sqrt(n + 2) + 9) for n, w in enumerate(widths))
    x, w = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(0, r_max, int(np.ceil(r_max / 0.5)) + 1)
    r = np.concatenate([a + (b - a) * (x + 1) / 2 for a, b in zip(edges[:-1], edges[1:])])
    wr = np.concatenate([(b - a) * w / 2 for a, b in zip(edges[:-1], edges[1:])])
    cos_theta, w_theta = np.polynomial.legendre.leggauss(48)
    n_phi = 96
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
    harmonics = [
        (real_spherical_harmonics(l, theta_grid, phi_grid).reshape(2 * l + 1, -1) * w_angles)
        for l in range(MAX_ANGULAR + 1)
    ]
    radial = orthonormalization @ np.array([primitive(n, r) for n in range(MAX_RADIAL + 1)])
    radial = radial * wr * r**2  # (n, r)

    result = {}
    for i in range(len(atoms)):
        for a in np.unique(atoms.numbers):
            # potential on the grid: (r, angles)
            potential = np.zeros((len(r), len(directions)))
            for j in np.nonzero(atoms.numbers == a)[0]:
                factor = weight if j == i else 1.0
                d = atoms.positions[j] - atoms.positions[i]
                # |r u - d|² = r² + d² - 2 r u·d
                s2 = r[:, None] ** 2 + d @ d - 2 * r[:, None] * (directions @ d)[None, :]
                potential += factor * density(p, sigma, np.sqrt(np.maximum(s2, 0.0)))
            for l in range(MAX_ANGULAR + 1):
                # (m, n)
                result[(l, atoms.numbers[i], a, i)] = harmonics[l] @ potential.T @ radial.T
    return result


def calculator(p, weight=1.0, spline=None, sigma=SIGMA):
    return farsighted.LodeSphericalExpansion(
        **lode_hypers(
            exponent=p,
            smearing=sigma,
            max_angular=MAX_ANGULAR,
            max_radial=MAX_RADIAL,
            radius=RADIUS,
            weight=weight,
            spline=spline,
        )
    )


def relative_error(descriptor, reference):
    worst = 0.0
    scale = max(np.abs(v).max() for v in reference.values())
    for (l, center, neighbor, i), expected in reference.items():
        block = descriptor.block(o3_lambda=l, center_type=center, neighbor_type=neighbor)
        sample = block.samples.position((0, i))
        actual = block.values[sample]
        worst = max(worst, np.abs(actual - expected).max() / scale)
    return worst


@pytest.mark.parametrize(
    "system, p, weight",
    [
        (water, 1, 1.0),
        pytest.param(water, 6, 0.0, marks=pytest.mark.slow),
        pytest.param(water, 0, 0.5, marks=pytest.mark.slow),
        (ion_pair, 1, 0.3),
        pytest.param(ion_pair, 6, 1.0, marks=pytest.mark.slow),
        (single_atom, 1, 1.0),
    ],
)
def test_against_quadrature(system, p, weight):
    atoms = system()
    reference = quadrature_lode(atoms, p, weight)
    exact = calculator(p, weight).compute(atoms)
    error = relative_error(exact, reference)
    print(f"{system.__name__} p={p}: exact radial functions {error:.2e}")
    assert error < 1e-8
    splined = calculator(p, weight, spline=1e-8).compute(atoms)
    error = relative_error(splined, reference)
    print(f"{system.__name__} p={p}: splined radial functions {error:.2e}")
    assert error < 1e-7


def moments(power, radius=RADIUS, max_radial=MAX_RADIAL):
    """∫ r^{2+power} Rₙ(r) dr for every n, by scipy quadrature"""
    from scipy.integrate import quad

    orthonormalization, primitive = gto_basis(max_radial, radius)
    raw = [
        quad(lambda r, n=n: r ** (2 + power) * primitive(n, r), 0, np.inf, epsabs=1e-14)[0]
        for n in range(max_radial + 1)
    ]
    return orthonormalization @ np.array(raw)


WIGNER_SIMPLE_CUBIC = -2.837297479480620


@pytest.mark.slow
def test_growing_box_converges_to_open():
    """p = 1 in a cubic box of side L (the k = 0 term dropped: a neutralising background for each
    type) minus the open result. For the N_a atoms of type a at rᵢⱼ from the centre, the box adds
    to the potential the Wigner constant ξ N_a / L and the background's
    (2π/3L³) [Σⱼ |r - rᵢⱼ|² + 3σ² N_a] (plus O(L⁻⁵)), so that the l = 0 features differ by
    √(4π) [(ξ N_a / L + (2π/3L³)(Σⱼ rᵢⱼ² + 3σ² N_a)) M₀ + (2π/3L³) N_a M₂] and the l = 1 ones by
    -(4π/3L³) √(4π/3) M₁ (D_y, D_z, D_x), D = Σⱼ rᵢⱼ, with Mₖ = ∫ r^{2+k} Rₙ dr. Checked on
    these coefficients and on the log-log slopes of the differences (-1 and -3) and of what
    remains after them (-5)."""
    hypers = dict(exponent=1, smearing=SIGMA, max_angular=1, max_radial=MAX_RADIAL)
    hypers.update(radius=RADIUS, spline=1e-10)
    molecule = water()
    open_result = farsighted.LodeSphericalExpansion(**lode_hypers(**hypers)).compute(molecule)
    lengths = np.array([16.0, 22.0, 30.0, 42.0])
    m0, m1, m2 = moments(0), moments(1), moments(2)
    differences = {0: [], 1: []}
    remainders = {0: [], 1: []}
    for length in lengths:
        box = molecule.copy()
        box.cell = length * np.eye(3)
        box.pbc = True
        box.center()
        calculator = farsighted.LodeSphericalExpansion(**lode_hypers(**hypers, k_cutoff=20.0))
        periodic = calculator.compute(box)
        worst_difference = {0: 0.0, 1: 0.0}
        worst_remainder = {0: 0.0, 1: 0.0}
        for key, block in open_result.items():
            l, neighbor = key["o3_lambda"], key["neighbor_type"]
            difference = periodic.block(key).values - block.values
            same_type = molecule.numbers == neighbor
            count = np.sum(same_type)
            for sample, (_, i) in enumerate(block.samples):
                r_ij = molecule.positions[same_type] - molecule.positions[i]
                if l == 0:
                    background = 2 * np.pi / (3 * length**3)
                    constant = WIGNER_SIMPLE_CUBIC * count / length + background * (
                        np.sum(r_ij**2) + 3 * SIGMA**2 * count
                    )
                    predicted = np.sqrt(4 * np.pi) * (constant * m0 + background * count * m2)
                else:
                    dipole = r_ij.sum(axis=0)[[1, 2, 0]] * np.sqrt(4 * np.pi / 3)
                    predicted = -4 * np.pi / (3 * length**3) * np.outer(dipole, m1)
                worst_difference[l] = max(worst_difference[l], np.abs(difference[sample]).max())
                remainder = np.abs(difference[sample] - predicted).max()
                worst_remainder[l] = max(worst_remainder[l], remainder)
        for l in (0, 1):
            differences[l].append(worst_difference[l])
            remainders[l].append(worst_remainder[l])
            print(
                f"L={length}, l={l}: periodic - open {worst_difference[l]:.3e}, "
                f"minus the prediction {worst_remainder[l]:.3e}"
            )
    slopes = {
        l: (
            log_log_slope(lengths, differences[l]),
            log_log_slope(lengths, remainders[l]),
        )
        for l in (0, 1)
    }
    print(f"log-log slopes (difference, remainder): {slopes}")
    assert abs(slopes[0][0] + 1) < 0.1
    assert abs(slopes[1][0] + 3) < 0.1
    assert abs(slopes[0][1] + 5) < 0.3
    assert abs(slopes[1][1] + 5) < 0.3
    # the predicted terms are exact: what remains is a small O(L⁻⁵)
    for l in (0, 1):
        assert remainders[l][-1] < 0.01 * differences[l][-1]


def cluster():
    """A small charged cluster with one atom beyond the splined range (multipole tail)"""
    return ase.Atoms(
        "OH2NaCl",
        positions=[
            [0.1, -0.2, 0.05],
            [1.05, -0.1, 0.3],
            [-0.2, 0.75, -0.5],
            [2.3, 1.9, -1.2],
            [24.0, -13.0, 9.0],
        ],
        pbc=False,
    )


@pytest.mark.parametrize("p", [0, 1, 6])
def test_gradients_by_finite_differences(p):
    """positions gradients, and strain gradients under r' = r (1 + ε) of the positions"""
    atoms = cluster()
    calc = calculator(p, weight=0.7, spline=1e-10)
    descriptor = calc.compute(atoms, gradients=["positions", "strain"])
    delta = 1e-5
    worst_positions = worst_strain = 0.0
    for atom in range(len(atoms)):
        for alpha in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, alpha] += delta
            minus.positions[atom, alpha] -= delta
            values_plus, values_minus = calc.compute(plus), calc.compute(minus)
            for key, block in descriptor.items():
                fd = (values_plus.block(key).values - values_minus.block(key).values) / (2 * delta)
                gradient = block.gradient("positions")
                analytic = np.zeros_like(fd)
                for row, (sample, _, j) in enumerate(gradient.samples):
                    if j == atom:
                        analytic[sample] = gradient.values[row, alpha]
                scale = max(np.abs(block.values).max(), 1e-3)
                worst_positions = max(worst_positions, np.abs(fd - analytic).max() / scale)
    for alpha in range(3):
        for beta in range(3):
            strain = np.eye(3)
            strain[alpha, beta] += delta
            plus = ase.Atoms(atoms.numbers, positions=atoms.positions @ strain, pbc=False)
            strain[alpha, beta] -= 2 * delta
            minus = ase.Atoms(atoms.numbers, positions=atoms.positions @ strain, pbc=False)
            values_plus, values_minus = calc.compute(plus), calc.compute(minus)
            for key, block in descriptor.items():
                fd = (values_plus.block(key).values - values_minus.block(key).values) / (2 * delta)
                analytic = block.gradient("strain").values[:, alpha, beta]
                scale = max(np.abs(block.values).max(), 1e-3)
                worst_strain = max(worst_strain, np.abs(fd - analytic).max() / scale)
    print(f"p={p}: positions {worst_positions:.1e}, strain {worst_strain:.1e}")
    assert worst_positions < 1e-7
    assert worst_strain < 1e-7


@pytest.mark.parametrize("sigma", [0.5, 0.8])
def test_gaussian_density_against_featomic(sigma):
    """p = 0 is SOAP's density: featomic's SphericalExpansion with a Gaussian of the same width,
    and a GTO radius equal to a cutoff radius too large for the cutoff function to matter"""
    featomic = pytest.importorskip("featomic")
    radius = 12.0
    basis = {
        "type": "TensorProduct",
        "max_angular": 3,
        "radial": {"type": "Gto", "max_radial": 3, "radius": radius},
    }
    reference = featomic.SphericalExpansion(
        cutoff={"radius": radius, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        density={"type": "Gaussian", "width": sigma},
        basis=dict(basis, spline_accuracy=None),
    )
    ours = farsighted.LodeSphericalExpansion(
        density={"type": "SmearedPowerLaw", "smearing": sigma, "exponent": 0},
        basis=dict(basis, spline_accuracy=None),
    )
    atoms = cluster()[:4]
    expected = reference.compute(atoms, gradients=["positions"])
    actual = ours.compute(atoms, gradients=["positions"])
    # both densities are the Gaussian exp(-r²/2σ²) / (πσ²)^{3/4}, and both GTO bases have
    # widths radius·max(√n, 1)/(max_radial + 1): the numbers are the same
    scale = max(np.abs(block.values).max() for block in expected.blocks())
    worst_values = worst_gradients = 0.0
    for key, block in expected.items():
        other = actual.block(key)
        assert other.samples == block.samples
        worst_values = max(worst_values, np.abs(other.values - block.values).max() / scale)
        gradient, other_gradient = block.gradient("positions"), other.gradient("positions")
        assert other_gradient.samples == gradient.samples
        difference = np.abs(other_gradient.values - gradient.values).max()
        worst_gradients = max(worst_gradients, difference / scale)
    print(f"sigma={sigma}: values {worst_values:.1e}, gradients {worst_gradients:.1e}")
    assert worst_values < 1e-9
    assert worst_gradients < 1e-9


def test_open_and_periodic_systems_together():
    """one call with open and periodic systems gives the numbers of separate calls"""
    periodic = water()
    periodic.cell = 6.0 * np.eye(3)
    periodic.pbc = True
    systems = [cluster(), periodic, ion_pair()]
    calc = calculator(1, spline=1e-8)
    together = calc.compute(systems, gradients=["positions"])
    for index, system in enumerate(systems):
        alone = calc.compute(system, gradients=["positions"])
        for key, block in alone.items():
            other = together.block(key)
            rows = [other.samples.position((index, atom)) for (_, atom) in block.samples]
            np.testing.assert_allclose(other.values[rows], block.values, rtol=0, atol=1e-13)
            gradient = block.gradient("positions")
            other_gradient = other.gradient("positions")
            for row, (sample, _, atom) in enumerate(gradient.samples):
                match = other_gradient.samples.position((rows[sample], index, atom))
                np.testing.assert_allclose(
                    other_gradient.values[match], gradient.values[row], rtol=0, atol=1e-13
                )
