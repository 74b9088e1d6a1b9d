"""The LODE spherical expansion as a TorchScript module over metatomic systems.

The structure-independent tables (splined radial integrals and pair radial functions, the
multipole tail, the centre's own density) come from the Rust core when the module is built
and are kept as buffers; the module only contracts them per structure, with the
formulas of the Rust core, one per geometry:

- 3D-periodic (``pbc`` all true), pure k-space sum (``lode/periodic.rs``, in ``_kspace.py``)
  minus (1 - w) × the centre's own density, w = ``center_atom_weight``;
- open (``pbc`` all false: molecules, clusters; the cell is ignored), all pairs
  (``lode/open.rs``): Σ_{j≠i} Fₗₙ(rᵢⱼ) Yₗₘ(r̂ᵢⱼ), Fₗₙ splined up to d_max and its multipole
  tail beyond, plus w × the centre's own density.

Everything is differentiable by autograd with respect to positions and cell (to any order),
so that forces and stress of models built on it follow. A saved module needs torch,
metatensor-torch and metatomic-torch only.
"""

import json
from typing import Any, Dict, List, Optional

import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import System

from ._kspace import KSpaceSum
from ._pairs import PairSum


class LodeSphericalExpansion(torch.nn.Module):
    """LODE spherical expansion in TorchScript, with the hyper-parameters and the metadata of
    :py:class:`farsighted.LodeSphericalExpansion`.

    Systems are 3D-periodic (``pbc`` all true) or open (``pbc`` all false: the cell is
    ignored and may be zero). ``forward`` returns a :py:class:`metatensor.torch.TensorMap`
    with keys ``o3_lambda, o3_sigma, center_type, neighbor_type``, samples ``system, atom``,
    component ``o3_mu`` and properties ``n``; gradients come from autograd
    (``system.positions`` and ``system.cell`` may require grad, second derivatives work).

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
    >>> water = systems_to_torch(ase.build.molecule("H2O"), dtype=torch.float64)
    >>> len(torch.jit.script(calculator)([water]))
    12
    """

    def __init__(
        self,
        density: Dict[str, Any],
        basis: Dict[str, Any],
        k_cutoff: Optional[float] = None,
        accuracy: Optional[float] = None,
        _core: Optional[Any] = None,
    ):
        super().__init__()
        # the Rust core validates the hyper-parameters and computes the tables
        from ..calculator import LodeSphericalExpansion as RustCalculator

        if accuracy is not None:
            raise NotImplementedError(
                "the Ewald split (accuracy) is not available in farsighted.torch yet; "
                "use k_cutoff (or the default)"
            )
        if _core is None:
            _core = RustCalculator(
                density=density, basis=basis, k_cutoff=k_cutoff, accuracy=accuracy
            )
        calculator = _core._calculator
        self.max_angular = int(basis["max_angular"])
        self.n_radial = int(basis["radial"]["max_radial"]) + 1
        self.center_atom_weight = float(density.get("center_atom_weight", 1.0))
        smearing = float(density["smearing"])
        exponent = float(density["exponent"])
        f64 = torch.float64

        # open systems
        pairs = calculator.pair_tables()
        self.open_pairs = PairSum(pairs, self.max_angular, self.n_radial)
        self.register_buffer(
            "center_contribution", torch.tensor(pairs["center_contribution"], dtype=f64)
        )

        # periodic systems: the k-space sum
        tables = calculator.kspace_tables()
        self.kspace = KSpaceSum(tables, smearing, exponent, self.max_angular, self.n_radial)

    @classmethod
    def from_calculator(cls, calculator: Any) -> "LodeSphericalExpansion":
        """The module of the same hyper-parameters as ``calculator``, a
        :py:class:`farsighted.LodeSphericalExpansion`, reusing the tables it has built (the
        pair radial functions)"""
        hypers = json.loads(calculator.parameters)
        return cls(**hypers, _core=calculator)

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
        positions = system.positions
        if not bool(torch.all(torch.isfinite(positions))):
            raise ValueError(f"system {index}: positions must be finite")
        n_periodic = int(system.pbc.sum())
        type_masks = (system.types.unsqueeze(0) == types.unsqueeze(1)).to(positions.dtype)
        if n_periodic == 0:
            values = self._open_values(index, system, types)
            weight = self.center_atom_weight
        elif n_periodic == 3:
            if not bool(torch.all(torch.isfinite(system.cell))):
                raise ValueError(f"system {index}: the cell must be finite")
            volume = torch.abs(torch.linalg.det(system.cell))
            if float(volume.detach()) <= 0.0:
                raise ValueError(f"system {index}: the cell is singular")
            values = self._periodic_values(index, system, types, type_masks, volume)
            weight = self.center_atom_weight - 1.0
        else:
            raise ValueError(
                f"system {index}: farsighted.torch handles 3D-periodic systems (pbc all true) "
                f"and open ones (pbc all false), not pbc={system.pbc}"
            )
        if weight != 0.0:
            # ± the centre's own density on (l, m) = (0, 0)
            own = type_masks.T.unsqueeze(2) * self.center_contribution.to(positions.dtype)
            values = _add_to_l0(values, weight * own)
        return values

    def _open_values(self, index: int, system: System, types: torch.Tensor) -> torch.Tensor:
        """Σ_{j≠i} Fₗₙ(rᵢⱼ) Yₗₘ(r̂ᵢⱼ), each pair computed once"""
        positions = system.positions
        n_atoms = positions.shape[0]
        pairs = torch.triu_indices(n_atoms, n_atoms, 1, device=positions.device)
        first = pairs[0]
        second = pairs[1]
        vectors = positions[second] - positions[first]
        if vectors.shape[0] > 0:
            closest = torch.argmin(torch.linalg.norm(vectors.detach(), dim=1))
            # OVERLAP_DISTANCE of system.rs
            if float(torch.linalg.norm(vectors[closest].detach())) < 1e-3:
                raise ValueError(
                    f"system {index}: atoms {int(first[closest])} and {int(second[closest])} "
                    "are closer than 0.001 Å; is an atom duplicated?"
                )
        atom_types = torch.searchsorted(types, system.types)
        return self.open_pairs(vectors, first, second, atom_types, n_atoms, types.shape[0])

    def _periodic_values(
        self,
        index: int,
        system: System,
        types: torch.Tensor,
        type_masks: torch.Tensor,
        volume: torch.Tensor,
    ) -> torch.Tensor:
        """The k-space sum, without the centre's own density"""
        return self.kspace(system.positions, system.cell, type_masks, False, index)


def _add_to_l0(values: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """``values`` (atoms, types, lm, n) with ``constant`` (atoms, types, n) added to lm = 0,
    without in-place operations"""
    return torch.cat([values[:, :, :1, :] + constant.unsqueeze(2), values[:, :, 1:, :]], dim=2)
