"""Sums of pair projections Fₗₙ(|d|) Yₗₘ(d̂) in TorchScript, with the tables of the Rust core.

The same terms as ``lode/pairs/mod.rs``, for open systems (all other atoms,
``lode/pairs/open.rs``) and the real-space remainder of the Ewald split (periodic images within
a cutoff, ``lode/ewald/mod.rs``). Fₗₙ is the Rust core's Hermite spline on [0, d_max] and,
beyond, its multipole tail

    Fₗₙ(d) = Σₜ Tₗₜₙ (d_max/d)^{l+2t} d^{-p}

(none for the remainder, which vanishes beyond its cutoff d_c; where its first table ends
before d_c, a second one, ``far``, holds F^rem(start + x) on [0, d_c - start]). Each pair
d = rⱼ + T - rᵢ is listed once: it adds Fₗₙ Yₗₘ(d̂) to the row (i, type of j) and, seen
from j, (-1)ˡ Fₗₙ Yₗₘ(d̂) to the row (j, type of i).
"""

from typing import Any, Dict, List, Optional

import torch

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._radial import hermite_spline


class PairSum(torch.nn.Module):
    """Pair projections from the spline table ``tables`` (``step``, ``values``,
    ``derivatives`` on [0, d_max]; ``tail`` and ``exponent`` for the multipole tail, or a
    table ``far`` of the same keys and ``start`` = d_max beyond it), or nothing (``tables``
    None: a placeholder that is never evaluated); ``max_chunk``: the pairs are summed in
    chunks whose terms hold at most about this many numbers"""

    def __init__(
        self,
        tables: Optional[Dict[str, Any]],
        max_angular: int,
        n_radial: int,
        far: Optional[Dict[str, Any]] = None,
        max_chunk: int = 1 << 24,
    ):
        super().__init__()
        self.max_angular = max_angular
        self.max_chunk = int(max_chunk)
        self.n_radial = n_radial
        self.n_lm = (max_angular + 1) ** 2
        f64 = torch.float64
        n_angular = max_angular + 1
        if tables is None:
            tables = {
                "step": 1.0,
                "values": torch.zeros((2, n_angular * n_radial), dtype=f64),
                "derivatives": torch.zeros((2, n_angular * n_radial), dtype=f64),
            }
        self.step = float(tables["step"])
        n_points = int(tables["values"].shape[0])
        self.d_max = self.step * (n_points - 1)
        tail = tables.get("tail")
        if tail is None:
            tail = torch.zeros((n_angular, 0, n_radial), dtype=f64)
        self.tail_terms = int(tail.shape[1])
        self.exponent = float(tables.get("exponent", 0.0))
        self.register_buffer("spline_values", torch.as_tensor(tables["values"], dtype=f64))
        self.register_buffer(
            "spline_derivatives", torch.as_tensor(tables["derivatives"], dtype=f64)
        )
        self.register_buffer("tail", torch.as_tensor(tail, dtype=f64))
        self.has_far = far is not None
        if far is None:
            far = {"step": 1.0, "values": tables["values"][:2], "derivatives": tables["values"][:2]}
        elif abs(float(far["start"]) - self.d_max) > 1e-9 * self.d_max:
            raise ValueError("the far table of the pair functions must start where the first ends")
        self.far_step = float(far["step"])
        self.far_length = self.far_step * (int(far["values"].shape[0]) - 1)
        self.register_buffer("far_values", torch.as_tensor(far["values"], dtype=f64))
        self.register_buffer("far_derivatives", torch.as_tensor(far["derivatives"], dtype=f64))
        # j = l + 2t of each tail term
        powers = [[float(l + 2 * t) for t in range(self.tail_terms)] for l in range(n_angular)]
        self.register_buffer("tail_powers", torch.tensor(powers, dtype=f64))
        self.register_buffer(
            "harmonics_normalization",
            torch.tensor(harmonics_normalization(max_angular), dtype=f64),
        )
        l_of_lm = [l for l in range(n_angular) for _ in range(2 * l + 1)]
        self.register_buffer("l_of_lm", torch.tensor(l_of_lm, dtype=torch.long))
        self.register_buffer(
            "parity_of_lm", torch.tensor([(-1.0) ** l for l in l_of_lm], dtype=f64)
        )

    def radial(self, distances: torch.Tensor) -> torch.Tensor:
        """Fₗₙ(d) as (n, max_angular + 1, n_radial): the spline up to d_max, the tail, the far
        table or zero beyond, as ``PairRadialIntegral::compute``"""
        dtype = distances.dtype
        inside = hermite_spline(
            torch.clamp(distances, max=self.d_max),
            self.step,
            self.spline_values.to(dtype),
            self.spline_derivatives.to(dtype),
        ).reshape(-1, self.max_angular + 1, self.n_radial)
        beyond = (distances > self.d_max).reshape(-1, 1, 1)
        if self.has_far:
            shifted = torch.clamp(distances - self.d_max, min=0.0, max=self.far_length)
            far = hermite_spline(
                shifted, self.far_step, self.far_values.to(dtype), self.far_derivatives.to(dtype)
            ).reshape(-1, self.max_angular + 1, self.n_radial)
            outside = (distances > self.d_max + self.far_length).reshape(-1, 1, 1)
            far = torch.where(outside, torch.zeros_like(far), far)
            return torch.where(beyond, far, inside)
        if self.tail_terms == 0:
            return torch.where(beyond, torch.zeros_like(inside), inside)
        far = torch.clamp(distances, min=self.d_max)
        ratio = (self.d_max / far).reshape(-1, 1, 1)
        scale = torch.pow(ratio, self.tail_powers.to(dtype)) * torch.pow(
            far, -self.exponent
        ).reshape(-1, 1, 1)
        tail = torch.einsum("plt,ltn->pln", scale, self.tail.to(dtype))
        return torch.where(beyond, tail, inside)

    def _terms(self, vectors: torch.Tensor) -> torch.Tensor:
        """Fₗₙ(|d|) Yₗₘ(d̂) of the pairs ``vectors`` (n, 3): (n, (max_angular + 1)², n_radial),
        one product per l, so that autograd keeps Y and F (n × (25 + 30) numbers at l ≤ 4, 6
        radial functions), not their expansion over m (n × 150)"""
        distances = torch.linalg.norm(vectors, dim=1)
        harmonics = spherical_harmonics(
            vectors / distances.unsqueeze(1),
            self.max_angular,
            self.harmonics_normalization.to(vectors.dtype),
        )
        radial = self.radial(distances)
        blocks: List[torch.Tensor] = []
        for l in range(self.max_angular + 1):
            blocks.append(harmonics[:, l * l : (l + 1) * (l + 1), None] * radial[:, l, None, :])
        return torch.cat(blocks, dim=1)

    def forward(
        self,
        vectors: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        atom_types: torch.Tensor,
        n_atoms: int,
        n_types: int,
    ) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial): the sum over the pairs
        d = ``vectors`` (n_pairs, 3) from ``first`` to ``second`` of their terms for both
        atoms, with ``atom_types`` the index of each atom's type"""
        dtype = vectors.dtype
        n_lm = self.n_lm
        values = torch.zeros(
            (n_atoms * n_types, n_lm, self.n_radial), dtype=dtype, device=vectors.device
        )
        if vectors.shape[0] == 0:
            return values.reshape(n_atoms, n_types, n_lm, self.n_radial)
        parity = self.parity_of_lm.to(dtype).reshape(1, -1, 1)
        # in chunks of pairs: the terms of millions of pairs would not fit in memory at once
        chunk = max(1, self.max_chunk // (n_lm * self.n_radial))
        for start in range(0, vectors.shape[0], chunk):
            stop = min(start + chunk, vectors.shape[0])
            i = first[start:stop]
            j = second[start:stop]
            terms = self._terms(vectors[start:stop])
            # in place (a copy of the sums per chunk would cost more than the chunk), and by
            # index_put_: autograd keeps index_add's source (n_pairs × 150), not index_put's
            rows: List[Optional[torch.Tensor]] = [i * n_types + atom_types[j]]
            values.index_put_(rows, terms, accumulate=True)
            rows = [j * n_types + atom_types[i]]
            values.index_put_(rows, terms * parity, accumulate=True)
        return values.reshape(n_atoms, n_types, n_lm, self.n_radial)
