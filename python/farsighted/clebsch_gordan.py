"""Clebsch–Gordan coefficients in the real spherical-harmonics basis of farsighted (and
featomic): couple two real spherical tensors of orders l₁ and l₂ into one of order λ.

For l₁ + l₂ + λ even the result is a proper tensor (``o3_sigma`` is the product of the inputs');
for l₁ + l₂ + λ odd it is a pseudo-tensor (``o3_sigma`` flips sign).
"""

import functools

import numpy as np
import wigners


@functools.lru_cache(maxsize=None)
def complex_to_real(l: int) -> np.ndarray:
    """Unitary U with Y_real = U @ Y_complex for order ``l``.

    Y_complex are the complex spherical harmonics with the Condon–Shortley phase, Y_real the
    real ones without it (Y₁₋₁ ∝ y, Y₁₀ ∝ z, Y₁₁ ∝ x); rows and columns run over m = -l..l.
    """
    size = 2 * l + 1
    matrix = np.zeros((size, size), dtype=np.complex128)
    matrix[l, l] = 1.0
    for m in range(1, l + 1):
        sign = (-1) ** m
        # Y_real(m) = ((-1)^m Y^m + Y^-m) / √2,  Y_real(-m) = ((-1)^m Y^m - Y^-m) / (i√2)
        matrix[l + m, l + m] = sign / np.sqrt(2)
        matrix[l + m, l - m] = 1 / np.sqrt(2)
        matrix[l - m, l + m] = sign / (1j * np.sqrt(2))
        matrix[l - m, l - m] = -1 / (1j * np.sqrt(2))
    return matrix


@functools.lru_cache(maxsize=None)
def real_clebsch_gordan(l1: int, l2: int, o3_lambda: int) -> np.ndarray:
    """Array C of shape (2l₁+1, 2l₂+1, 2λ+1) such that (A ⊗ B)_μ = Σ C[m₁, m₂, μ] A_m₁ B_m₂
    is a real spherical tensor of order λ when A and B are real spherical tensors of orders
    l₁ and l₂. Zero unless |l₁ - l₂| ≤ λ ≤ l₁ + l₂."""
    if not abs(l1 - l2) <= o3_lambda <= l1 + l2:
        return np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * o3_lambda + 1))
    complex_cg = wigners.clebsch_gordan_array(l1, l2, o3_lambda)
    u1, u2, u = complex_to_real(l1), complex_to_real(l2), complex_to_real(o3_lambda)
    # A_complex = U₁† A_real, T_real = U T_complex
    coefficients = np.einsum("am,bn,mnk,ck->abc", u1.conj(), u2.conj(), complex_cg, u)
    if (l1 + l2 + o3_lambda) % 2 == 0:
        result = coefficients.real
        assert np.abs(coefficients.imag).max() < 1e-12
    else:
        # the coupling of two proper tensors into an odd-parity one is purely imaginary
        result = coefficients.imag
        assert np.abs(coefficients.real).max() < 1e-12
    return np.ascontiguousarray(result)
