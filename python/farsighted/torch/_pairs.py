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

from typing import Any, Dict, List, Optional, Tuple

import torch

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._radial import hermite_spline


class PairSum(torch.nn.Module):
    """Pair projections from the spline table ``tables`` (``step``, ``values``,
    ``derivatives`` on [0, d_max]; ``tail`` and ``exponent`` for the multipole tail, or a
    table ``far`` of the same keys and ``start`` = d_max beyond it), or nothing (``tables``
    None: a placeholder that is never evaluated); ``max_chunk``: the pairs are summed in
    chunks whose terms hold at most about this many numbers, and of at most
    ``max_chunk_pairs`` pairs"""

    def __init__(
        self,
        tables: Optional[Dict[str, Any]],
        max_angular: int,
        n_radial: int,
        far: Optional[Dict[str, Any]] = None,
        max_chunk: int = 1 << 24,
        max_chunk_pairs: int = 1 << 17,
    ):
        super().__init__()
        self.max_angular = max_angular
        self.max_chunk = int(max_chunk)
        self.max_chunk_pairs = int(max_chunk_pairs)
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

    def _factors(self, vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Yₗₘ(d̂) (n, (max_angular + 1)²) and Fₗₙ(|d|) (n, max_angular + 1, n_radial) of the
        pairs ``vectors`` (n, 3)"""
        distances = torch.linalg.norm(vectors, dim=1)
        harmonics = spherical_harmonics(
            vectors / distances.unsqueeze(1),
            self.max_angular,
            self.harmonics_normalization.to(vectors.dtype),
        )
        return harmonics, self.radial(distances)

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
        device = vectors.device
        n_rows = n_atoms * n_types
        # per l, the sums seen from the first atom of each pair and from the second; the
        # second's take (-1)ˡ once, at the end, rather than once per pair
        first_sums: List[torch.Tensor] = []
        second_sums: List[torch.Tensor] = []
        for l in range(self.max_angular + 1):
            shape = (n_rows, 2 * l + 1, self.n_radial)
            first_sums.append(torch.zeros(shape, dtype=dtype, device=device))
            second_sums.append(torch.zeros(shape, dtype=dtype, device=device))
        # in chunks of pairs: the terms of millions of pairs would not fit in memory at once;
        # and not too many pairs even where the terms are few (l = 0): each temporary of a
        # chunk is allocated anew, and on the CPU those above 32 MB (glibc's largest reused
        # size) come fresh from the kernel, paying a page fault per 4 kB (l = 0 at 12 000
        # atoms: values + autograd 4.0 s with chunks of 2.8 million pairs, 2.0 s with 2¹⁷)
        chunk = max(1, min(self.max_chunk // (self.n_lm * self.n_radial), self.max_chunk_pairs))
        # split, not sliced: the backward of each slice would fill a gradient of all the pairs
        # (and of all l), that of a split concatenates the pieces once
        sizes = [2 * l + 1 for l in range(self.max_angular + 1)]
        for index, pieces in enumerate(torch.split(vectors, chunk)):
            start = index * chunk
            stop = start + pieces.shape[0]
            i = first[start:stop]
            j = second[start:stop]
            harmonics, radial = self._factors(pieces)
            harmonics_l = torch.split(harmonics, sizes, dim=1)
            radial_l = torch.unbind(radial, dim=1)
            # index_put_ in place: index_add would keep its source for autograd, and a copy
            # of the sums per chunk would cost more than the chunk
            first_rows: List[Optional[torch.Tensor]] = [i * n_types + atom_types[j]]
            second_rows: List[Optional[torch.Tensor]] = [j * n_types + atom_types[i]]
            for l in range(self.max_angular + 1):
                # one product per l: autograd keeps Y and F (n × (25 + 30) numbers at l ≤ 4,
                # 6 radial functions), not their expansion over m (n × 150)
                terms = harmonics_l[l].unsqueeze(2) * radial_l[l].unsqueeze(1)
                first_sums[l].index_put_(first_rows, terms, accumulate=True)
                second_sums[l].index_put_(second_rows, terms, accumulate=True)
        blocks: List[torch.Tensor] = []
        for l in range(self.max_angular + 1):
            if l % 2 == 0:
                blocks.append(first_sums[l] + second_sums[l])
            else:
                blocks.append(first_sums[l] - second_sums[l])
        return torch.cat(blocks, dim=1).reshape(n_atoms, n_types, self.n_lm, self.n_radial)
