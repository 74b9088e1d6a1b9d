"""Real spherical harmonics Yₗₘ(r̂) with featomic's conventions, in TorchScript.

The same recurrences as the Rust core (``math/harmonics.rs``): Yₗₘ = Nₗₘ Qₗ^|m|(z) × {Aₘ(x, y)
for m > 0, 1 for m = 0, B|m|(x, y) for m < 0} on the unit sphere, with Aₘ + i Bₘ = (x + i y)ᵐ
and no Condon–Shortley phase (Y₁₋₁ ∝ y, Y₁₀ ∝ z, Y₁₁ ∝ x). Differentiable by autograd.
"""

import math
from typing import List

import torch


def harmonics_normalization(max_angular: int) -> List[float]:
    """Nₗₘ = √((2l+1)/4π (l-|m|)!/(l+|m|)!), × √2 for m ≠ 0, in (l, m) order"""
    normalization: List[float] = []
    for l in range(max_angular + 1):
        for m in range(-l, l + 1):
            ratio = math.factorial(l - abs(m)) / math.factorial(l + abs(m))
            value = math.sqrt((2 * l + 1) / (4 * math.pi) * ratio)
            normalization.append(value * math.sqrt(2.0) if m != 0 else value)
    return normalization


def spherical_harmonics(
    directions: torch.Tensor, max_angular: int, normalization: torch.Tensor
) -> torch.Tensor:
    """Yₗₘ of unit vectors ``directions`` (n, 3), as (n, (max_angular + 1)²) in (l, m) order"""
    x = directions[:, 0]
    y = directions[:, 1]
    z = directions[:, 2]
    ones = torch.ones_like(z)

    # Qₗᵐ(z) on the unit sphere: Qₘᵐ = (2m-1)!!, Qₘ₊₁ᵐ = (2m+1) z Qₘᵐ,
    # Qₗᵐ = ((2l-1) z Qₗ₋₁ᵐ - (l+m-1) Qₗ₋₂ᵐ) / (l-m)
    q: List[List[torch.Tensor]] = []
    double_factorial = 1.0
    for m in range(max_angular + 1):
        if m > 0:
            double_factorial *= 2 * m - 1
        column: List[torch.Tensor] = [double_factorial * ones]
        if m + 1 <= max_angular:
            column.append((2 * m + 1) * double_factorial * z)
        for l in range(m + 2, max_angular + 1):
            a = (2 * l - 1) / (l - m)
            b = (l + m - 1) / (l - m)
            column.append(a * z * column[l - m - 1] - b * column[l - m - 2])
        q.append(column)

    # Aₘ + i Bₘ = (x + i y)ᵐ
    cos_like: List[torch.Tensor] = [ones]
    sin_like: List[torch.Tensor] = [torch.zeros_like(z)]
    for m in range(1, max_angular + 1):
        a = cos_like[m - 1]
        b = sin_like[m - 1]
        cos_like.append(x * a - y * b)
        sin_like.append(x * b + y * a)

    values: List[torch.Tensor] = []
    for l in range(max_angular + 1):
        for m in range(-l, l + 1):
            if m < 0:
                values.append(q[-m][l + m] * sin_like[-m])
            elif m == 0:
                values.append(q[0][l])
            else:
                values.append(q[m][l - m] * cos_like[m])
    return torch.stack(values, dim=1) * normalization
