"""The reciprocal-space sum of LODE in TorchScript, with the tables of the Rust core.

The same formula as ``lode/kspace/mod.rs``:

    ⟨a n l m|Vᵢ⟩ = Σ_k Wₙₗₘ(k) {Re Sᵢₐ(k) for even l, Im Sᵢₐ(k) for odd l} + k = 0 term
    Wₙₗₘ(k) = 2 (4π/V) ĝ(k) (-1)^{⌊(l+1)/2⌋} Iₗₙ(k) Yₗₘ(k̂),   Sᵢₐ(k) = Σ_{j∈a} e^{ik·(rᵢ-rⱼ)}

over one k of each ±k pair with 0 < |k| < k_cutoff; the k = 0 term (1/V) ĝ(0) √(4π) Iₙ₀(0)
per atom of type a exists where ĝ(0) is finite (p = 0 and p > 3). The centre's own density
(``center_atom_weight``) is left to the caller. Used for the pure k-space sum of 3D cells, the
wide part of the Ewald split (its own smearing σw and cutoff), and the k∥ ≠ 0 part of slabs
on their internal cell (a, b, L n̂), where the k-vectors are those of ``lode/slab/mod.rs``:
0 < |k∥| < k_cutoff, and the sums along the normal converged, |k| < ``slab_k_bound``.
"""

import math
from typing import Any, Dict

import torch

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._radial import DensityFourier, hermite_spline


class KSpaceSum(torch.nn.Module):
    """Σ_k over the k-vectors of a cell, from the tables ``LodeCalculator.kspace_tables()``
    (or the ``kspace`` entry of ``LodeCalculator.split_tables()``) of a density of width
    ``smearing`` and exponent ``exponent``"""

    def __init__(
        self,
        tables: Dict[str, Any],
        smearing: float,
        exponent: float,
        max_angular: int,
        n_radial: int,
        allow_no_k_vectors: bool = False,
    ):
        super().__init__()
        self.allow_no_k_vectors = allow_no_k_vectors
        self.max_angular = max_angular
        self.n_radial = n_radial
        self.k_cutoff = float(tables["k_cutoff"])
        self.slab_k_bound = float(tables["slab_k_bound"])
        self.step = float(tables["step"])
        self.has_k0_term = tables["fourier_at_zero"] is not None
        self.fourier_at_zero = float(tables["fourier_at_zero"] or 0.0)
        self.fourier = DensityFourier(smearing, exponent)

        f64 = torch.float64
        self.register_buffer("radial_values", torch.tensor(tables["values"], dtype=f64))
        self.register_buffer("radial_derivatives", torch.tensor(tables["derivatives"], dtype=f64))
        self.register_buffer("radial_at_zero", torch.tensor(tables["radial_at_zero"], dtype=f64))
        self.register_buffer(
            "harmonics_normalization",
            torch.tensor(harmonics_normalization(max_angular), dtype=f64),
        )
        # per (l, m): l, and the sign (-1)^{⌊(l+1)/2⌋} of W
        l_of_lm = [l for l in range(max_angular + 1) for _ in range(2 * l + 1)]
        self.register_buffer("l_of_lm", torch.tensor(l_of_lm, dtype=torch.long))
        sign = [1.0 if ((l + 1) // 2) % 2 == 0 else -1.0 for l in l_of_lm]
        self.register_buffer("sign_of_lm", torch.tensor(sign, dtype=f64))
        # features (l, m, n) of each parity of l, in (l, m, n) order
        self.n_features = len(l_of_lm) * n_radial
        parity = torch.tensor(l_of_lm).repeat_interleave(n_radial) % 2
        self.register_buffer("even_features", torch.nonzero(parity == 0)[:, 0])
        self.register_buffer("odd_features", torch.nonzero(parity == 1)[:, 0])

    def forward(
        self,
        positions: torch.Tensor,
        cell: torch.Tensor,
        type_masks: torch.Tensor,
        in_plane: bool,
        index: int,
    ) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial) for the atoms at ``positions``
        in ``cell`` (rows; non-singular), with ``type_masks`` (n_types, n_atoms) the atoms of
        each neighbour type; ``in_plane``: only the k-vectors with a non-zero component along
        the first two reciprocal vectors, and no k = 0 term (slabs). No k-vector shorter than
        the cutoff is an error naming system ``index``, or with ``allow_no_k_vectors`` (the
        wide part of the Ewald split, whose terms beyond its cutoff are negligible) the k = 0
        term only."""
        dtype = positions.dtype
        volume = torch.abs(torch.linalg.det(cell))
        k_vectors = self.k_vectors(cell, in_plane)
        n_k = k_vectors.shape[0]
        if n_k == 0 and not self.allow_no_k_vectors and not in_plane:
            raise ValueError(
                f"system {index}: no k-vector is shorter than k_cutoff={self.k_cutoff}; "
                "increase k_cutoff or the cell size"
            )
        norms = torch.linalg.norm(k_vectors, dim=1)
        harmonics = spherical_harmonics(
            k_vectors / norms.unsqueeze(1),
            self.max_angular,
            self.harmonics_normalization.to(dtype),
        )
        radial = hermite_spline(
            norms, self.step, self.radial_values.to(dtype), self.radial_derivatives.to(dtype)
        ).reshape(-1, self.max_angular + 1, self.n_radial)
        factor = (2.0 * 4.0 * math.pi / volume) * self.fourier(norms)
        # W (n_k, (l, m, n))
        weights = (
            (factor.unsqueeze(1) * self.sign_of_lm.to(dtype) * harmonics).unsqueeze(2)
            * radial[:, self.l_of_lm, :]
        ).reshape(n_k, -1)

        # cos and sin of k·rⱼ, summed per type: Re Sᵢₐ = cᵢ Cₐ + sᵢ Sₐ, Im Sᵢₐ = sᵢ Cₐ - cᵢ Sₐ
        phases = positions @ k_vectors.T
        cos = torch.cos(phases)
        sin = torch.sin(phases)
        cos_sums = type_masks @ cos
        sin_sums = type_masks @ sin
        n_atoms = positions.shape[0]
        n_types = type_masks.shape[0]
        both = torch.cat([cos, sin], dim=1)

        even = weights[:, self.even_features]
        odd = weights[:, self.odd_features]
        # (2 n_k, types × features): [Cₐ W; Sₐ W] for even l, [-Sₐ W; Cₐ W] for odd l
        even_table = torch.cat(
            [
                cos_sums.T.unsqueeze(2) * even.unsqueeze(1),
                sin_sums.T.unsqueeze(2) * even.unsqueeze(1),
            ]
        ).reshape(2 * n_k, -1)
        odd_table = torch.cat(
            [
                -sin_sums.T.unsqueeze(2) * odd.unsqueeze(1),
                cos_sums.T.unsqueeze(2) * odd.unsqueeze(1),
            ]
        ).reshape(2 * n_k, -1)
        values = torch.zeros(
            (n_atoms, n_types, self.n_features), dtype=dtype, device=positions.device
        )
        values = values.index_copy(
            2, self.even_features, (both @ even_table).reshape(n_atoms, n_types, -1)
        )
        values = values.index_copy(
            2, self.odd_features, (both @ odd_table).reshape(n_atoms, n_types, -1)
        )
        values = values.reshape(n_atoms, n_types, -1, self.n_radial)

        if in_plane:
            return values
        return self.add_zero_term(values, type_masks, volume)

    def add_zero_term(
        self, values: torch.Tensor, type_masks: torch.Tensor, volume: torch.Tensor
    ) -> torch.Tensor:
        """``values`` (n_atoms, n_types, (max_angular + 1)², n_radial) of a 3D cell of volume
        ``volume`` with the k = 0 term where it exists: (1/V) ĝ(0) √(4π) Iₙ₀(0) per atom of
        the neighbour type, on (l, m) = (0, 0)"""
        if not self.has_k0_term:
            return values
        counts = type_masks.sum(dim=1)
        k0 = self.fourier_at_zero * math.sqrt(4.0 * math.pi) / volume
        constant = (k0 * counts).reshape(1, -1, 1) * self.radial_at_zero.to(values.dtype)
        return torch.cat([values[:, :, :1, :] + constant.unsqueeze(2), values[:, :, 1:, :]], dim=2)

    def k_vectors(self, cell: torch.Tensor, in_plane: bool) -> torch.Tensor:
        """One k of each ±k pair with 0 < |k| < k_cutoff (the set the Rust core sums),
        differentiable with respect to the cell; ``in_plane`` (slabs, ``cell`` the internal
        cell whose third vector is along the normal): those with 0 < |k∥| < k_cutoff and
        |k| < slab_k_bound"""
        reciprocal = 2.0 * math.pi * torch.linalg.inv(cell).T
        lengths = torch.linalg.norm(cell.detach(), dim=1)
        bounds = torch.full((3,), self.k_cutoff, dtype=cell.dtype, device=cell.device)
        if in_plane:
            bounds[2] = self.slab_k_bound
        max_index = torch.floor(bounds * lengths / (2.0 * math.pi)).to(torch.long)
        m1 = int(max_index[0])
        m2 = int(max_index[1])
        m3 = int(max_index[2])
        device = cell.device
        n1 = torch.arange(0, m1 + 1, device=device)
        n2 = torch.arange(-m2, m2 + 1, device=device)
        n3 = torch.arange(-m3, m3 + 1, device=device)
        indices = torch.cartesian_prod(n1, n2, n3).reshape(-1, 3)
        half_space = (indices[:, 0] > 0) | (
            (indices[:, 0] == 0)
            & ((indices[:, 1] > 0) | ((indices[:, 1] == 0) & (indices[:, 2] > 0)))
        )
        if in_plane:
            half_space = half_space & ((indices[:, 0] != 0) | (indices[:, 1] != 0))
        indices = indices[half_space].to(cell.dtype)
        with torch.no_grad():
            k = indices @ reciprocal.detach()
            if in_plane:
                parallel = indices[:, :2] @ reciprocal.detach()[:2]
                inside = (parallel.pow(2).sum(dim=1) < self.k_cutoff**2) & (
                    k.pow(2).sum(dim=1) < self.slab_k_bound**2
                )
            else:
                inside = k.pow(2).sum(dim=1) < self.k_cutoff**2
        return indices[inside] @ reciprocal
