"""The k∥ = 0 part of slab sums in TorchScript, with the tables of the Rust core.

The same terms as ``lode/slab/mod.rs``: the planar average of the potential of every atom j
(itself included), projected on the basis of centre i,

    (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂),   zᵢⱼ = n̂·(rᵢ - rⱼ),   Pₗₙ(-z) = (-1)ˡ Pₗₙ(z),

with n̂ the unit normal of the two periodic cell vectors, A the area of their cell, and Pₗₙ
the Rust core's Hermite spline on [0, z_max] (``lode/slab/planar.rs``).
"""

from typing import Any, Dict, Optional

import torch

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._radial import hermite_spline


class PlanarSum(torch.nn.Module):
    """Σⱼ (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂) per neighbour type, from the tables
    ``LodeCalculator.planar_tables(z_max)`` (None: a placeholder that is never evaluated)"""

    def __init__(self, tables: Optional[Dict[str, Any]], max_angular: int, n_radial: int):
        super().__init__()
        self.max_angular = max_angular
        self.n_radial = n_radial
        f64 = torch.float64
        if tables is None:
            zeros = torch.zeros((2, (max_angular + 1) * n_radial), dtype=f64)
            tables = {"step": 1.0, "values": zeros, "derivatives": zeros}
        self.step = float(tables["step"])
        self.z_max = self.step * (int(tables["values"].shape[0]) - 1)
        self.register_buffer("spline_values", torch.as_tensor(tables["values"], dtype=f64))
        self.register_buffer(
            "spline_derivatives", torch.as_tensor(tables["derivatives"], dtype=f64)
        )
        self.register_buffer(
            "harmonics_normalization",
            torch.tensor(harmonics_normalization(max_angular), dtype=f64),
        )
        l_of_lm = [l for l in range(max_angular + 1) for _ in range(2 * l + 1)]
        self.register_buffer("l_of_lm", torch.tensor(l_of_lm, dtype=torch.long))
        self.register_buffer(
            "odd_l", torch.tensor([l % 2 == 1 for l in range(max_angular + 1)], dtype=torch.bool)
        )

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
        n_atoms = heights.shape[0]
        z = heights.unsqueeze(1) - heights.unsqueeze(0)
        extent = float((heights.detach().max() - heights.detach().min()))
        # beyond the table by rounding only: its last cubic continues it as accurately
        slack = 1e-9 if dtype == torch.float64 else 1e-5
        if extent > self.z_max * (1.0 + slack):
            raise ValueError(
                f"system {index}: this slab spans {extent} Å along its normal, more than the "
                f"{self.z_max} Å the module was built for; build it with a larger "
                "max_slab_thickness"
            )
        projections = hermite_spline(
            torch.abs(z).reshape(-1),
            self.step,
            self.spline_values.to(dtype),
            self.spline_derivatives.to(dtype),
        ).reshape(n_atoms, n_atoms, self.max_angular + 1, self.n_radial)
        # P(-z) = (-1)ˡ P(z)
        flip = (z < 0.0).unsqueeze(2) & self.odd_l.reshape(1, 1, -1)
        projections = torch.where(flip.unsqueeze(3), -projections, projections)
        per_type = torch.einsum("ijln,tj->itln", projections, type_masks)
        harmonics = spherical_harmonics(
            normal.reshape(1, 3), self.max_angular, self.harmonics_normalization.to(dtype)
        ).reshape(-1)
        return per_type[:, :, self.l_of_lm, :] * (harmonics / area).reshape(1, 1, -1, 1)
