"""Radial functions of the LODE sums in TorchScript: the Hermite splines that the Rust core
tabulates, and the Fourier transform ĝ(k) of the smeared power-law density.

The spline is evaluated with the same formula as ``math/spline.rs``, so that for the same table
both paths give the same numbers; it is differentiable by autograd (the derivative of the
cubic, not of the function splined: the gradients are those of the numbers returned).
"""

import math

import torch


def hermite_spline(
    x: torch.Tensor, step: float, values: torch.Tensor, derivatives: torch.Tensor
) -> torch.Tensor:
    """Cubic Hermite interpolation of the functions tabulated at ``i * step`` with ``values``
    and ``derivatives`` (n_points, n_functions), at points ``x`` (n,) in [0, x_max]:
    (n, n_functions).

    Where ``x`` requires grad, the cubic and its first and second derivatives F, F', F'' are
    computed detached and the derivatives restored by δ = x - detach(x), zero of derivative
    one: F + δ F' + ½ δ² F'' has the value, first and second derivatives of the cubic, and
    autograd keeps F' and F'' (2 numbers per function) instead of the four tabulated rows
    and the basis polynomials it would read back (millions of pairs, each with 30
    functions)."""
    position = x.detach() / step
    n_points = values.shape[0]
    index = torch.clamp(position.floor().to(torch.long), 0, n_points - 2)
    t = (position - index.to(x.dtype)).unsqueeze(1)
    t2 = t * t
    t3 = t2 * t
    low = values[index]
    high = values[index + 1]
    start = step * derivatives[index]
    end = step * derivatives[index + 1]
    value = (2.0 * t3 - 3.0 * t2 + 1.0) * low + (t3 - 2.0 * t2 + t) * start
    value = value + (-2.0 * t3 + 3.0 * t2) * high + (t3 - t2) * end
    if not x.requires_grad:
        return value
    difference = low - high
    first = ((6.0 * t2 - 6.0 * t) * difference + (3.0 * t2 - 4.0 * t + 1.0) * start) / step
    first = first + (3.0 * t2 - 2.0 * t) * end / step
    second = ((12.0 * t - 6.0) * difference + (6.0 * t - 4.0) * start) / (step * step)
    second = second + (6.0 * t - 2.0) * end / (step * step)
    delta = (x - x.detach()).unsqueeze(1)
    return value + delta * first + 0.5 * delta * delta * second


class DensityFourier(torch.nn.Module):
    """ĝ(k) of the density γ(p/2, r²/2σ²) / (Γ(p/2) rᵖ):

    - p = 0: (4πσ²)^{3/4} e^{-x}, with x = k²σ²/2;
    - p > 0: π^{3/2} 2^{3-p} / Γ(p/2) · k^{p-3} Γ((3-p)/2, x), with the upper incomplete
      Γ(s, x) = Γ(s) Q(s, x) for s > 0 and Γ(s, x) = (Γ(s+1, x) - xˢ e^{-x}) / s below.

    s = 0, -1, -2, … (p = 3, 5, 7, 9) would need the exponential integral, which torch lacks.
    """

    def __init__(self, smearing: float, exponent: float):
        super().__init__()
        s = 0.5 * (3.0 - exponent)
        if exponent != 0.0 and s <= 0.0 and s == math.floor(s):
            raise ValueError(
                f"the torch LODE modules do not support the odd integer exponent p={exponent} "
                "> 1 (its Fourier transform needs the exponential integral); use p = 1, an "
                "even p, or a non-integer p"
            )
        self.smearing = smearing
        self.exponent = exponent
        self.s = s
        # s + m > 0: the start of the downward recurrence
        self.n_recurrence = 0 if s > 0 else int(math.ceil(-s + 1e-12))
        self.gamma_top = math.gamma(s + self.n_recurrence)
        if exponent == 0.0:
            self.prefactor = (4.0 * math.pi * smearing**2) ** 0.75
        else:
            self.prefactor = math.pi**1.5 * 2.0 ** (3.0 - exponent) / math.gamma(0.5 * exponent)

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        x = 0.5 * (k * self.smearing) ** 2
        if self.exponent == 0.0:
            return self.prefactor * torch.exp(-x)
        if self.exponent == 1.0:
            # Γ(1, x) = e^{-x}: the Coulomb case, exactly
            return self.prefactor * torch.exp(-x) / (k * k)
        top = self.s + self.n_recurrence
        upper = self.gamma_top * torch.special.gammaincc(torch.full_like(x, top), x)
        for step in range(self.n_recurrence):
            a = top - 1 - step
            upper = (upper - torch.pow(x, a) * torch.exp(-x)) / a
        return self.prefactor * torch.pow(k, self.exponent - 3.0) * upper


class DensityRealSpace(torch.nn.Module):
    """g(r) = γ(p/2, r²/2σ²) / (Γ(p/2) rᵖ) (p > 0), or the normalised Gaussian
    e^{-r²/2σ²} / (πσ²)^{3/4} (p = 0), as ``SmearedPowerLaw::real_space``"""

    def __init__(self, smearing: float, exponent: float):
        super().__init__()
        self.exponent = exponent
        self.half_inverse_variance = 0.5 / smearing**2
        if exponent == 0.0:
            self.origin = (math.pi * smearing**2) ** -0.75
        else:
            a = 0.5 * exponent
            # g(0) = (2σ²)^{-p/2} / (p/2 Γ(p/2)), and γ(a, x) ≈ xᵃ/a (1 - a x/(a + 1))
            self.origin = (2.0 * smearing**2) ** -a / (a * math.gamma(a))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = self.half_inverse_variance * r * r
        if self.exponent == 0.0:
            return self.origin * torch.exp(-x)
        a = 0.5 * self.exponent
        near = self.origin * (1.0 - a * x / (a + 1.0))
        safe = torch.where(x < 1e-8, torch.ones_like(r), r)
        far = torch.special.gammainc(torch.full_like(x, a), x) / torch.pow(safe, self.exponent)
        return torch.where(x < 1e-8, near, far)
