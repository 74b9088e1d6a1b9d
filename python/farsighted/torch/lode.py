"""The LODE spherical expansion as a TorchScript module over metatomic systems.

The structure-independent tables (the splined radial integrals Iₗₙ(k), the k = 0 and centre
terms) come from the Rust core when the module is built and are kept as buffers; the module
only contracts them per structure, with the same formula as ``lode/periodic.rs``:

    ⟨a n l m|Vᵢ⟩ = Σ_k Wₙₗₘ(k) {Re Sᵢₐ(k) for even l, Im Sᵢₐ(k) for odd l}
    Wₙₗₘ(k) = 2 (4π/V) ĝ(k) (-1)^{⌊(l+1)/2⌋} Iₗₙ(k) Yₗₘ(k̂),   Sᵢₐ(k) = Σ_{j∈a} e^{ik·(rᵢ-rⱼ)}

over one k of each ±k pair with 0 < |k| < k_cutoff. Everything is differentiable by autograd
with respect to positions and cell, so that forces and stress of models built on it follow.
A saved module needs torch, metatensor-torch and metatomic-torch only.
"""

import math
from typing import Any, Dict, List, Optional

import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import System

from ._harmonics import harmonics_normalization, spherical_harmonics
from ._radial import DensityFourier, hermite_spline


class LodeSphericalExpansion(torch.nn.Module):
    """LODE spherical expansion in TorchScript, with the hyper-parameters and the metadata of
    :py:class:`farsighted.LodeSphericalExpansion`.

    Systems are 3D-periodic (``pbc`` all true). ``forward`` returns a
    :py:class:`metatensor.torch.TensorMap` with keys ``o3_lambda, o3_sigma, center_type,
    neighbor_type``, samples ``system, atom``, component ``o3_mu`` and properties ``n``;
    gradients come from autograd (``system.positions`` and ``system.cell`` may require grad).

    Parameters
    ----------
    density
        as for :py:class:`farsighted.LodeSphericalExpansion`
    basis
        as for :py:class:`farsighted.LodeSphericalExpansion`; the radial integrals must be
        splined (``basis.spline_accuracy`` a number, the default)
    k_cutoff
        as for :py:class:`farsighted.LodeSphericalExpansion`
    accuracy
        the Ewald split is not available in TorchScript yet: giving it raises.

    Examples
    --------
    >>> import ase.build
    >>> import torch
    >>> from metatomic.torch import systems_to_torch
    >>> import farsighted.torch
    >>> calculator = farsighted.torch.LodeSphericalExpansion(
    ...     density={"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
    ...     basis={
    ...         "type": "TensorProduct",
    ...         "max_angular": 2,
    ...         "radial": {"type": "Gto", "max_radial": 3, "radius": 4.0},
    ...     },
    ... )
    >>> system = systems_to_torch(ase.build.bulk("NaCl", "rocksalt", a=5.64), dtype=torch.float64)
    >>> descriptor = torch.jit.script(calculator)([system])
    >>> len(descriptor)
    12
    """

    def __init__(
        self,
        density: Dict[str, Any],
        basis: Dict[str, Any],
        k_cutoff: Optional[float] = None,
        accuracy: Optional[float] = None,
    ):
        super().__init__()
        # the Rust core validates the hyper-parameters and computes the tables
        from ..calculator import LodeSphericalExpansion as RustCalculator

        if accuracy is not None:
            raise NotImplementedError(
                "the Ewald split (accuracy) is not available in farsighted.torch yet; "
                "use k_cutoff (or the default)"
            )
        core = RustCalculator(density=density, basis=basis, k_cutoff=k_cutoff)
        tables = core._calculator.kspace_tables()
        self.max_angular = int(basis["max_angular"])
        self.n_radial = int(basis["radial"]["max_radial"]) + 1
        self.k_cutoff = float(tables["k_cutoff"])
        self.step = float(tables["step"])
        self.center_atom_weight = float(density.get("center_atom_weight", 1.0))
        self.has_k0_term = tables["fourier_at_zero"] is not None
        self.fourier_at_zero = float(tables["fourier_at_zero"] or 0.0)
        self.fourier = DensityFourier(float(density["smearing"]), float(density["exponent"]))

        f64 = torch.float64
        self.register_buffer("radial_values", torch.tensor(tables["values"], dtype=f64))
        self.register_buffer("radial_derivatives", torch.tensor(tables["derivatives"], dtype=f64))
        self.register_buffer("radial_at_zero", torch.tensor(tables["radial_at_zero"], dtype=f64))
        self.register_buffer(
            "center_contribution", torch.tensor(tables["center_contribution"], dtype=f64)
        )
        self.register_buffer(
            "harmonics_normalization",
            torch.tensor(harmonics_normalization(self.max_angular), dtype=f64),
        )

        # per (l, m): l, and the sign (-1)^{⌊(l+1)/2⌋} of W
        l_of_lm = [l for l in range(self.max_angular + 1) for _ in range(2 * l + 1)]
        self.register_buffer("l_of_lm", torch.tensor(l_of_lm, dtype=torch.long))
        sign = [1.0 if ((l + 1) // 2) % 2 == 0 else -1.0 for l in l_of_lm]
        self.register_buffer("sign_of_lm", torch.tensor(sign, dtype=f64))
        # features (l, m, n) of each parity of l, in (l, m, n) order
        n_features = len(l_of_lm) * self.n_radial
        parity = torch.tensor(l_of_lm).repeat_interleave(self.n_radial) % 2
        self.register_buffer("even_features", torch.nonzero(parity == 0)[:, 0])
        self.register_buffer("odd_features", torch.nonzero(parity == 1)[:, 0])
        self.n_features = n_features

    def forward(self, systems: List[System]) -> TensorMap:
        """The LODE spherical expansion of ``systems``"""
        device = systems[0].positions.device if len(systems) > 0 else torch.device("cpu")
        per_system: List[torch.Tensor] = []
        system_types: List[torch.Tensor] = []
        for index, system in enumerate(systems):
            types = torch.unique(system.types)
            system_types.append(types)
            per_system.append(self._system_values(index, system, types))
        keys = self._keys(system_types, device)

        blocks: List[TensorBlock] = []
        properties = Labels(
            ["n"], torch.arange(self.n_radial, dtype=torch.int32, device=device).reshape(-1, 1)
        )
        for key in keys.values:
            l = int(key[0])
            center_type = int(key[2])
            neighbor_type = int(key[3])
            values: List[torch.Tensor] = []
            samples: List[torch.Tensor] = []
            for s, system in enumerate(systems):
                match = torch.nonzero(system_types[s] == neighbor_type)
                if match.shape[0] == 0:
                    continue
                atoms = torch.nonzero(system.types == center_type)[:, 0]
                t = int(match[0, 0])
                values.append(per_system[s][atoms, t, l * l : (l + 1) * (l + 1), :])
                samples.append(
                    torch.stack([torch.full_like(atoms, s), atoms], dim=1).to(torch.int32)
                )
            o3_mu = Labels(
                ["o3_mu"],
                torch.arange(-l, l + 1, dtype=torch.int32, device=device).reshape(-1, 1),
            )
            blocks.append(
                TensorBlock(
                    values=torch.cat(values, dim=0),
                    samples=Labels(["system", "atom"], torch.cat(samples, dim=0)),
                    components=[o3_mu],
                    properties=properties,
                )
            )
        return TensorMap(keys, blocks)

    def _keys(self, system_types: List[torch.Tensor], device: torch.device) -> Labels:
        """(λ, 1, a, b) for every pair of types found together in a system, ordered by
        (a, b, λ) as the Rust core orders them"""
        pairs: List[torch.Tensor] = []
        for types in system_types:
            pairs.append(torch.cartesian_prod(types, types).reshape(-1, 2))
        unique = torch.unique(torch.cat(pairs, dim=0), dim=0)
        n_l = self.max_angular + 1
        lambdas = torch.arange(n_l, dtype=unique.dtype, device=device)
        values = torch.stack(
            [
                lambdas.repeat(unique.shape[0]),
                torch.ones(unique.shape[0] * n_l, dtype=unique.dtype, device=device),
                unique[:, 0].repeat_interleave(n_l),
                unique[:, 1].repeat_interleave(n_l),
            ],
            dim=1,
        )
        return Labels(["o3_lambda", "o3_sigma", "center_type", "neighbor_type"], values)

    def _system_values(self, index: int, system: System, types: torch.Tensor) -> torch.Tensor:
        """(n_atoms, n_types, (max_angular + 1)², n_radial) for the sorted ``types``"""
        if not bool(torch.all(system.pbc)):
            raise ValueError(
                f"system {index}: farsighted.torch handles 3D-periodic systems only for now "
                "(pbc must be all true)"
            )
        positions = system.positions
        cell = system.cell
        dtype = positions.dtype
        if not bool(torch.all(torch.isfinite(positions))) or not bool(
            torch.all(torch.isfinite(cell))
        ):
            raise ValueError(f"system {index}: positions and cell must be finite")
        volume = torch.abs(torch.linalg.det(cell))
        if float(volume.detach()) <= 0.0:
            raise ValueError(f"system {index}: the cell is singular")

        k_vectors = self._k_vectors(cell)
        if k_vectors.shape[0] == 0:
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
        ).reshape(k_vectors.shape[0], -1)

        # cos and sin of k·rⱼ, summed per type: Re Sᵢₐ = cᵢ Cₐ + sᵢ Sₐ, Im Sᵢₐ = sᵢ Cₐ - cᵢ Sₐ
        phases = positions @ k_vectors.T
        cos = torch.cos(phases)
        sin = torch.sin(phases)
        type_masks = (system.types.unsqueeze(0) == types.unsqueeze(1)).to(dtype)
        cos_sums = type_masks @ cos
        sin_sums = type_masks @ sin
        n_atoms = positions.shape[0]
        n_types = types.shape[0]
        both = torch.cat([cos, sin], dim=1)

        even = weights[:, self.even_features]
        odd = weights[:, self.odd_features]
        # (2 n_k, types × features): [Cₐ W; Sₐ W] for even l, [-Sₐ W; Cₐ W] for odd l
        even_table = torch.cat(
            [
                cos_sums.T.unsqueeze(2) * even.unsqueeze(1),
                sin_sums.T.unsqueeze(2) * even.unsqueeze(1),
            ]
        ).reshape(2 * k_vectors.shape[0], -1)
        odd_table = torch.cat(
            [
                -sin_sums.T.unsqueeze(2) * odd.unsqueeze(1),
                cos_sums.T.unsqueeze(2) * odd.unsqueeze(1),
            ]
        ).reshape(2 * k_vectors.shape[0], -1)
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

        # the constant terms on (l, m) = (0, 0)
        constant = torch.zeros(
            (n_atoms, n_types, self.n_radial), dtype=dtype, device=positions.device
        )
        if self.has_k0_term:
            counts = type_masks.sum(dim=1)
            k0 = self.fourier_at_zero * math.sqrt(4.0 * math.pi) / volume
            constant = constant + (k0 * counts).reshape(1, -1, 1) * self.radial_at_zero.to(dtype)
        weight = 1.0 - self.center_atom_weight
        if weight != 0.0:
            own_type = type_masks.T.unsqueeze(2)
            constant = constant - weight * own_type * self.center_contribution.to(dtype)
        if self.has_k0_term or weight != 0.0:
            values = torch.cat(
                [values[:, :, :1, :] + constant.unsqueeze(2), values[:, :, 1:, :]], dim=2
            )
        return values

    def _k_vectors(self, cell: torch.Tensor) -> torch.Tensor:
        """One k of each ±k pair with 0 < |k| < k_cutoff (the set the Rust core sums),
        differentiable with respect to the cell"""
        reciprocal = 2.0 * math.pi * torch.linalg.inv(cell).T
        lengths = torch.linalg.norm(cell.detach(), dim=1)
        max_index = torch.floor(self.k_cutoff * lengths / (2.0 * math.pi)).to(torch.long)
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
        indices = indices[half_space].to(cell.dtype)
        with torch.no_grad():
            inside = (indices @ reciprocal.detach()).pow(2).sum(dim=1) < self.k_cutoff**2
        return indices[inside] @ reciprocal
