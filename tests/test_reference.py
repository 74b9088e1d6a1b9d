"""farsighted against an independent numpy/scipy implementation of the definition:

    ⟨a n l m|Vᵢ⟩ = (1/V) Σ_{0<|k|<k_c} ĝ(k) 4π iˡ Yₗₘ(k̂) Iₙₗ(k) Σ_{j∈a} e^{ik·(rᵢ-rⱼ)}

(plus the k = 0 term)

with the full k-sphere (no ±k pairing), scipy's complex spherical harmonics, adaptive
quadrature for the radial integrals, and the GTO basis orthonormalised with scipy's sqrtm.
It covers exponents where featomic is less accurate than 1e-10, and (in test_real_exponents.py)
real exponents.
"""

import mpmath
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.linalg import sqrtm
from scipy.special import gamma, gammaincc, sph_harm_y, spherical_jn

import farsighted

from helpers import lode_hypers, random_triclinic_system


def real_spherical_harmonics(l, theta, phi):
    """Real Yₗₘ for m = -l..l (no Condon-Shortley phase), from scipy's complex ones"""
    result = []
    for m in range(-l, l + 1):
        y = sph_harm_y(l, abs(m), theta, phi)  # includes (-1)^m
        if m == 0:
            result.append(y.real)
        elif m > 0:
            result.append(np.sqrt(2) * (-1) ** m * y.real)
        else:
            result.append(np.sqrt(2) * (-1) ** m * y.imag)
    return np.array(result)


def gto_basis(max_radial, radius):
    size = max_radial + 1
    widths = np.array([radius * max(np.sqrt(n), 1) / size for n in range(size)])
    norms = np.sqrt(2 / (widths ** (2 * np.arange(size) + 3) * gamma(np.arange(size) + 1.5)))

    def primitive(n, r):
        return norms[n] * r**n * np.exp(-(r**2) / (2 * widths[n] ** 2))

    overlap = np.array(
        [
            [
                quad(
                    lambda r, a=a, b=b: r**2 * primitive(a, r) * primitive(b, r),
                    0,
                    np.inf,
                    epsabs=1e-15,
                )[0]
                for b in range(size)
            ]
            for a in range(size)
        ]
    )
    return np.real(np.linalg.inv(sqrtm(overlap))), primitive


def upper_gamma(s, x):
    """Γ(s, x) for real s: scipy for s > 0, mpmath's continuation for s ≤ 0"""
    if s > 0:
        return gammaincc(s, x) * gamma(s)
    return float(mpmath.gammainc(s, a=x))


def density_fourier(p, sigma, k):
    if p == 0:
        return (4 * np.pi * sigma**2) ** 0.75 * np.exp(-0.5 * k**2 * sigma**2)
    s = (3 - p) / 2
    x = 0.5 * k**2 * sigma**2
    return (
        np.pi**1.5
        * 2 ** (3 - p)
        * k ** (p - 3)
        * np.array([upper_gamma(s, xi) for xi in x])
        / gamma(p / 2)
    )


def reference_lode(system, p, sigma, max_angular, max_radial, radius):
    orthonormalization, primitive = gto_basis(max_radial, radius)
    cell = system.cell.array
    volume = abs(np.linalg.det(cell))
    k_cutoff = 1.2 * np.pi / sigma
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    n_max = [int(k_cutoff * np.linalg.norm(a) / (2 * np.pi)) + 1 for a in cell]
    grid = (
        np.array(np.meshgrid(*[np.arange(-n, n + 1) for n in n_max], indexing="ij"))
        .reshape(3, -1)
        .T
    )
    k_vectors = grid @ reciprocal
    norms = np.linalg.norm(k_vectors, axis=1)
    keep = (norms > 0) & (norms < k_cutoff)
    k_vectors, norms = k_vectors[keep], norms[keep]
    theta = np.arccos(np.clip(k_vectors[:, 2] / norms, -1, 1))
    phi = np.arctan2(k_vectors[:, 1], k_vectors[:, 0])
    g = density_fourier(p, sigma, norms)

    def radial_integral(l, k):
        raw = [
            quad(
                lambda r, n=n: r**2 * primitive(n, r) * spherical_jn(l, k * r),
                0,
                40 * radius,
                limit=400,
                epsabs=1e-15,
            )[0]
            for n in range(max_radial + 1)
        ]
        return orthonormalization @ np.array(raw)

    result = {}
    positions, numbers = system.positions, system.numbers
    for l in range(max_angular + 1):
        integrals = np.array([radial_integral(l, k) for k in norms])  # (k, n)
        harmonics = real_spherical_harmonics(l, theta, phi).T  # (k, m)
        for a in np.unique(numbers):
            for i in range(len(system)):
                structure = np.exp(1j * (positions[i] - positions[numbers == a]) @ k_vectors.T).sum(
                    axis=0
                )
                weights = g * 4 * np.pi * (1j**l) * structure / volume
                value = np.einsum("k,km,kn->mn", weights, harmonics, integrals).real
                if l == 0 and (p == 0 or p > 3):
                    if p == 0:
                        g0 = (4 * np.pi * sigma**2) ** 0.75
                    else:
                        g0 = (
                            np.pi**1.5
                            * 2 ** (3 - p)
                            / gamma(p / 2)
                            * (0.5 * sigma**2) ** ((3 - p) / 2)
                            / ((p - 3) / 2)
                        )
                    i0 = radial_integral(0, 0.0)
                    value[0] += (numbers == a).sum() * g0 * np.sqrt(4 * np.pi) * i0 / volume
                result[(l, numbers[i], a, i)] = value
    return result


@pytest.mark.parametrize("exponent", [1, 2, 4, 6])
def test_against_independent_implementation(exponent):
    system = random_triclinic_system(4, seed=5, types=(1, 8))
    system.set_cell(system.cell.array * 0.8, scale_atoms=True)
    sigma, max_angular, max_radial, radius = 1.0, 2, 2, 3.0
    reference = reference_lode(system, exponent, sigma, max_angular, max_radial, radius)
    hypers = lode_hypers(exponent, sigma, max_angular, max_radial, radius)
    ours = farsighted.LodeSphericalExpansion(**hypers).compute(system)
    scale = max(np.abs(v).max() for v in reference.values())
    for key, block in ours.items():
        l, center, neighbor = (
            int(key["o3_lambda"]),
            int(key["center_type"]),
            int(key["neighbor_type"]),
        )
        for sample, (_, atom) in enumerate(block.samples.values):
            expected = reference[(l, center, neighbor, atom)]
            np.testing.assert_allclose(block.values[sample], expected, rtol=0, atol=1e-12 * scale)
