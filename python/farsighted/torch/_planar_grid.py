"""The k∥ = 0 part of large slabs on a grid of heights in TorchScript, with the coefficients of
the Rust core (``lode/slab/planar_grid.rs``, whose documentation has the derivation).

The planar functions of height differences are interpolated by tensor products of cardinal
B-splines Mₚ on a grid of step h, whose coefficients c the Rust core computed once for slabs
up to the largest thickness:

    Σ_{j∈a} Pₗₙ(zᵢ - zⱼ) ≈ Σ_g Mₚ(uᵢ - g) U_a[g],   U_a = c ∗ ρ_a,   ρ_a[b] = Σ_{j∈a} Mₚ(uⱼ - b),

u = z/h - o the grid coordinate of height z, o = ⌊min z / h⌋ - p. The grid points sit at
multiples of h and do not move with the atoms, so that autograd through the B-spline weights
gives the derivatives of the values returned. O(N + M²) for M grid points instead of the
O(N²) pairs of :py:class:`PlanarSum`.
"""

import math
from typing import Any, Dict, Optional, Tuple

import torch

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._mesh import bspline_weights


class PlanarGridSum(torch.nn.Module):
    """Σⱼ (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂) per neighbour type on the grid of ``table`` (the ``grid``
    entry of ``LodeCalculator.planar_tables``; None: a placeholder that is never evaluated)"""

    def __init__(self, table: Optional[Dict[str, Any]], max_angular: int, n_radial: int):
        super().__init__()
        self.available = table is not None
        self.max_angular = max_angular
        self.n_radial = n_radial
        f64 = torch.float64
        if table is None:
            table = {"step": 1.0, "order": 2, "n_points": 1, "coefficients": torch.zeros((1, 1))}
        self.step = float(table["step"])
        self.order = int(table["order"])
        self.n_points = int(table["n_points"])
        coefficients = torch.as_tensor(table["coefficients"], dtype=f64)
        # c[d] at row d + n_points - 1, as conv1d filters: (functions, 1, 2 n_points - 1)
        self.register_buffer("filters", coefficients.T.flip(-1).unsqueeze(1).contiguous())
        self.register_buffer(
            "harmonics_normalization",
            torch.tensor(harmonics_normalization(max_angular), dtype=f64),
        )
        l_of_lm = [l for l in range(max_angular + 1) for _ in range(2 * l + 1)]
        self.register_buffer("l_of_lm", torch.tensor(l_of_lm, dtype=torch.long))

    @torch.jit.export
    def origin_and_points(self, heights: torch.Tensor) -> Tuple[float, int]:
        """The height of grid point 0 and the number of points M the slab at ``heights``
        needs (as ``PlanarGrid::new`` places them: one spare point on each side)"""
        detached = heights.detach()
        low = float(detached.min())
        high = float(detached.max())
        origin = (math.floor(low / self.step) - self.order) * self.step
        return origin, int(math.floor((high - origin) / self.step)) + 2

    def forward(
        self,
        heights: torch.Tensor,
        type_masks: torch.Tensor,
        normal: torch.Tensor,
        area: torch.Tensor,
        index: int,
    ) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial) for atoms at ``heights`` n̂·rⱼ,
        with ``type_masks`` (n_types, n_atoms) the atoms of each neighbour type"""
        dtype = heights.dtype
        device = heights.device
        n_atoms = heights.shape[0]
        n_types = type_masks.shape[0]
        p = self.order
        origin, m = self.origin_and_points(heights)
        if m > self.n_points:
            raise ValueError(
                f"system {index}: this slab needs {m} points of the grid of heights, more than "
                f"the {self.n_points} the module was built for; build it with a larger "
                "max_slab_thickness"
            )
        u = (heights - origin) / self.step
        floor = torch.floor(u.detach())
        weights = bspline_weights(u - floor, p)
        # weight q belongs to the point ⌊u⌋ - q
        points = floor.to(torch.long).unsqueeze(1) - torch.arange(p, device=device)

        # ρ_a on the grid, convolved with c: U (types, functions, M)
        source = (type_masks.unsqueeze(2) * weights.unsqueeze(0)).reshape(n_types, -1)
        density = torch.zeros((n_types, m), dtype=dtype, device=device)
        density = density.index_add(1, points.reshape(-1), source)
        start = self.n_points - m
        filters = self.filters[:, :, start : start + 2 * m - 1].to(dtype)
        fields = torch.nn.functional.conv1d(density.unsqueeze(1), filters, padding=m - 1)

        # Σ_g Mₚ(uᵢ - g) U_a[g] at every centre: (atoms, types, functions)
        values = (fields[:, :, points] * weights).sum(dim=3).permute(2, 0, 1)
        values = values.reshape(n_atoms, n_types, self.max_angular + 1, self.n_radial)
        harmonics = spherical_harmonics(
            normal.reshape(1, 3), self.max_angular, self.harmonics_normalization.to(dtype)
        ).reshape(-1)
        return values[:, :, self.l_of_lm, :] * (harmonics / area).reshape(1, 1, -1, 1)
