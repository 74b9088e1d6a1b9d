"""The LODE spherical expansion as a TorchScript module over metatomic systems.

The structure-independent tables (splined radial integrals and pair radial functions, the
multipole tail, the constants of the Ewald split) come from the Rust core when the module is
built and are kept as buffers; the module only contracts them per structure, with the
formulas of the Rust core, one per geometry:

- 3D-periodic (``pbc`` all true), pure k-space sum (``lode/kspace/mod.rs``, in ``_kspace.py``)
  minus (1 - w) × the centre's own density, w = ``center_atom_weight``;
- 3D-periodic with ``accuracy``, Ewald split (``lode/ewald/mod.rs``): the k-space sum of the
  wide density g_σw (over k-vectors, or by smooth PME on a mesh, ``lode/mesh/``, in
  ``_mesh.py``), plus the real-space remainder Σ F^rem_ln(d) Y_lm(d̂) over the images
  closer than d_c from the neighbour list the module requests (``_pairs.py``), plus the
  centre's own remainder F^rem_0n(0) Y₀₀, minus the constant the split adds to l = 0
  (0 < p ≤ 3: N_a √(4π) (f(σ) - f(σw)) Iₙ₀(0) / V), minus (1 - w) × the centre's density;
- open (``pbc`` all false: molecules, clusters; the cell is ignored), all pairs
  (``lode/pairs/open.rs``): Σ_{j≠i} Fₗₙ(rᵢⱼ) Yₗₘ(r̂ᵢⱼ), Fₗₙ splined up to d_max and its multipole
  tail beyond, plus w × the centre's own density; with ``accuracy`` and a representative
  system that the Rust core sums on the mesh (large clusters, ``lode/mesh/open.rs``), the
  split in free space: the wide part by smooth PME on a periodic box about twice the
  cluster, whose kernel is the transform of the windowed potential (``_free_space.py``),
  plus the remainder and the centre's own remainder, minus (1 - w) × the centre's density;
- slabs (``pbc`` true along two cell vectors a, b; the third row is ignored),
  ``lode/slab/mod.rs``: the k-space sum on the internal cell (a, b, L n̂) over 0 < |k∥| < k_cutoff
  with the sums along the normal converged, plus the planar part Σⱼ Pₗₙ(n̂·(rᵢ - rⱼ)) Yₗₘ(n̂) / A
  (``_planar.py``), minus (1 - w) × the centre's density; with ``accuracy`` the same for the
  wide part (on the mesh of the internal cell, and the planar part on a grid of heights,
  ``_planar_grid.py``, for large slabs), plus the remainder over the in-plane images and the
  centre's own remainder, minus the planar constant the split adds (0 < p ≤ 2:
  N_a √(4π) K Iₙ₀(0) / A).

Everything is differentiable by autograd with respect to positions and cell (to any order),
so that forces and stress of models built on it follow. A saved module needs torch,
metatensor-torch and metatomic-torch only.
"""

import json
import math
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import NeighborListOptions, System

from ._free_space import FreeSpaceSum
from ._kspace import KSpaceSum
from ._mesh import MeshSum
from ._pairs import PairSum
from ._planar import PlanarSum
from ._planar_grid import PlanarGridSum


class LodeSphericalExpansion(torch.nn.Module):
    """LODE spherical expansion in TorchScript, with the hyper-parameters and the metadata of
    :py:class:`farsighted.LodeSphericalExpansion`.

    Systems are 3D-periodic (``pbc`` all true), open (``pbc`` all false: the cell is ignored
    and may be zero) or slabs (``pbc`` true for two cell vectors, the third one ignored, with
    ``max_slab_thickness``). ``forward`` returns a :py:class:`metatensor.torch.TensorMap`
    with keys ``o3_lambda, o3_sigma, center_type, neighbor_type``, samples ``system, atom``,
    component ``o3_mu`` and properties ``n``; gradients come from autograd
    (``system.positions`` and ``system.cell`` may require grad, second derivatives work).

    The Ewald split and its structure. The Rust core chooses the wide smearing σw = σ 2^{j/4}
    of the split per structure, from a cost model (number of atoms, volume, shortest
    reciprocal vector). A TorchScript module can not: the real-space cutoff d_c that follows
    from σw is the cutoff of the neighbour list it requests from the engine, and engines ask
    for it once, before they see any structure. So σw is fixed when the module is built, by
    the cost model on ``representative_system``. The k-space cutoff k_c = √(2 ln(100/ε)) / σw
    depends on ε, σ, σw and the basis only; d_c also on the margin of the remainder, tight or
    wide (the representative at least 2 d_c wide along every direction, see the Rust core's
    lode/ewald/margins.rs). The structures get the split's accuracy ε where the margin is the
    tight one, or where they are as wide as the representative; give a representative as
    narrow as the narrowest structures to keep the contract on them. Otherwise only the speed
    depends on how close a structure is to the representative one (a cell with no k-vector
    shorter than k_c gets the k = 0 term of the wide part only, the other terms being below ε
    by construction).

    The wide part of 3D-periodic systems and slabs is summed over k-vectors (O(N²) at fixed
    density) or by smooth particle-mesh Ewald (O(N log N)), as the Rust core chooses for
    ``representative_system`` (``reciprocal="auto"``) or as ``reciprocal`` forces. On the
    mesh, the B-spline order and the largest mesh frequencies at the cutoff, max(abs(m)) / K,
    are fixed when the module is built; each structure gets the mesh of its cell (of the
    internal cell of slabs) that the Rust core would give it with that order (its number of
    points along a cell vector grows with the vector's length), hence the accuracy ε. Slabs
    on the mesh take their planar part on a grid of heights (``lode/slab/planar_grid.rs``)
    where it has at most N/2 points, as the Rust core does; its step is the one the Rust
    core chooses for a slab of ``max_slab_thickness``, so that a thinner slab agrees with
    the Rust core within ε (to rounding where both choose the same step).

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
        as for :py:class:`farsighted.LodeSphericalExpansion`: the Ewald split of periodic
        systems, with the relative accuracy ε (not with ``k_cutoff``)
    representative_system
        with ``accuracy``: a structure like those the module will see (``ase.Atoms``,
        :py:class:`metatomic.torch.System`, or what :py:class:`farsighted.LodeSphericalExpansion`
        accepts), from which the Rust core's cost model chooses σw, and whether 3D-periodic
        systems sum the wide part over k-vectors or on a mesh
    reciprocal
        with ``accuracy``, as for :py:class:`farsighted.LodeSphericalExpansion`: ``"auto"``
        (default: the cost model's choice for ``representative_system``), ``"kspace"`` (the
        sum over k-vectors) or ``"mesh"`` (smooth particle-mesh Ewald) for the wide part of
        3D-periodic systems
    max_slab_thickness
        to compute slabs: the largest extent (Å) along their normal of the slabs the module
        will see. The planar functions Pₗₙ(z) are splined on [0, max(thickness, σ)] to
        ``basis.spline_accuracy`` (the Rust core splines them per slab on its own extent:
        the two agree to the spline's accuracy); thicker slabs raise. Without it, slabs
        raise.

    Notes
    -----
    Slabs: the internal cell's length L along n̂ follows the atoms' extent as in the Rust
    core, and is held fixed by autograd. Under strain the Rust core moves the internal third
    vector with the cell, the module (which sees a and b only) keeps it L n̂; the sums along
    the normal are converged, so the values do not depend on it beyond the radial splines,
    and the strain gradients of slabs agree with the Rust core's to 1e-9 relative.

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
        representative_system: Optional[Any] = None,
        max_slab_thickness: Optional[float] = None,
        reciprocal: Optional[str] = None,
        _core: Optional[Any] = None,
    ):
        super().__init__()
        # the Rust core validates the hyper-parameters and computes the tables
        from ..calculator import LodeSphericalExpansion as RustCalculator

        if accuracy is None and representative_system is not None:
            raise ValueError("representative_system is only used with accuracy")
        if accuracy is not None and representative_system is None:
            raise ValueError(
                "the Ewald split (accuracy) of a TorchScript module needs "
                "representative_system: a structure like those the module will see, from "
                "which the Rust core's cost model chooses the split once (see the docstring)"
            )
        if _core is None:
            _core = RustCalculator(
                density=density,
                basis=basis,
                k_cutoff=k_cutoff,
                accuracy=accuracy,
                reciprocal=reciprocal,
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

        # periodic systems: the k-space sum, or the Ewald split, its wide part over k-vectors
        # or on a mesh (B-splines of `mesh_order`, max |m_d|/K_d = `mesh_fractions` at the cutoff)
        mesh_order = 4
        mesh_fractions = [0.5, 0.5, 0.5]
        self.use_mesh = False
        # the box of open systems on the mesh, where the representative system is one
        open_layout: Optional[Dict[str, Any]] = None
        if accuracy is None:
            tables = calculator.kspace_tables()
            self.kspace = KSpaceSum(tables, smearing, exponent, self.max_angular, self.n_radial)
            split: Dict[str, Any] = {
                "grid": -1,
                "wide_smearing": smearing,
                "kspace": tables,
                "remainder": None,
                "cutoff": 0.0,
                "self_term": np.zeros(0),
                "removed_constant": None,
                "radial_at_zero": tables["radial_at_zero"],
            }
        else:
            arrays = _system_arrays(representative_system)
            # σw and the margins of the remainder (tight, or wide in large systems)
            grid, wide = calculator.ewald_split(arrays)
            split = calculator.split_tables(grid, wide)
            mesh = calculator.mesh_choice(arrays)
            if mesh is not None:
                self.use_mesh = True
                mesh_order = int(mesh[1])
                mesh_fractions = list(calculator.mesh_fractions(grid, mesh_order))
                if not any(arrays[3]):
                    open_layout = calculator.free_space_layout(grid, mesh_order, wide)
            self.kspace = KSpaceSum(
                split["kspace"],
                float(split["wide_smearing"]),
                exponent,
                self.max_angular,
                self.n_radial,
                allow_no_k_vectors=True,
            )
        # sharing the tables of the k-space sum (placeholders without the mesh)
        self.mesh = MeshSum(self.kspace, mesh_fractions, mesh_order)
        self.open_on_mesh = open_layout is not None
        self.free_space = FreeSpaceSum(
            MeshSum(self.kspace, [0.5, 0.5, 0.5], mesh_order, k_set="open"),
            open_layout,
            float(split["wide_smearing"]),
            exponent,
        )
        # the grid index j of σw = σ 2^{j/4} (-1: no split), σw, the real-space cutoff d_c
        self.ewald_grid = int(split["grid"])
        self.wide_smearing = float(split["wide_smearing"])
        self.has_remainder = split["remainder"] is not None
        self.remainder_cutoff = float(split["cutoff"])
        self.remainder = PairSum(
            split["remainder"], self.max_angular, self.n_radial, split.get("remainder_far")
        )
        self.has_self_term = len(split["self_term"]) > 0
        self_term = split["self_term"] if self.has_self_term else np.zeros(self.n_radial)
        self.register_buffer("self_term", torch.tensor(self_term, dtype=f64))
        self.has_removed_constant = split["removed_constant"] is not None
        self.removed_constant = float(split["removed_constant"] or 0.0)
        self.has_removed_planar_constant = split.get("removed_planar_constant") is not None
        self.removed_planar_constant = float(split.get("removed_planar_constant") or 0.0)
        self.register_buffer("radial_at_zero", torch.tensor(split["radial_at_zero"], dtype=f64))

        # slabs: the planar tables (of the wide part with the split) up to the thickness given
        self.has_planar = max_slab_thickness is not None
        planar: Optional[Dict[str, Any]] = None
        self.basis_support = 0.0
        if max_slab_thickness is not None:
            grid = self.ewald_grid if self.ewald_grid >= 0 else None
            planar = calculator.planar_tables(float(max_slab_thickness), grid)
            self.basis_support = float(planar["support"])
        self.planar = PlanarSum(planar, self.max_angular, self.n_radial)
        # the k∥ ≠ 0 part of slabs: the radial integrals reach the bound of the k_z sums
        # (without slabs, a placeholder that is never evaluated: two rows of the 3D tables,
        # so that a saved model does not carry them twice)
        if planar is not None:
            slab_tables = planar["kspace"]
        else:
            slab_tables = dict(split["kspace"])
            for name in ("values", "derivatives"):
                slab_tables[name] = slab_tables[name][:2]
        self.slab_kspace = KSpaceSum(
            slab_tables,
            self.wide_smearing,
            exponent,
            self.max_angular,
            self.n_radial,
            allow_no_k_vectors=True,
        )
        # large slabs with the mesh: the k∥ ≠ 0 part on the mesh of the internal cell, the
        # planar part on a grid of heights (placeholders that are never evaluated otherwise)
        self.slab_on_mesh = self.use_mesh and planar is not None
        slab_fractions = [0.5, 0.5, 0.5]
        if self.slab_on_mesh:
            slab_fractions = list(calculator.mesh_fractions(self.ewald_grid, mesh_order, slab=True))
        self.slab_mesh = MeshSum(self.slab_kspace, slab_fractions, mesh_order, k_set="slab")
        grid_table = planar["grid"] if self.slab_on_mesh and planar is not None else None
        self.planar_grid = PlanarGridSum(grid_table, self.max_angular, self.n_radial)

    @classmethod
    def from_calculator(
        cls,
        calculator: Any,
        representative_system: Optional[Any] = None,
        max_slab_thickness: Optional[float] = None,
    ) -> "LodeSphericalExpansion":
        """The module of the same hyper-parameters as ``calculator``, a
        :py:class:`farsighted.LodeSphericalExpansion`, reusing the tables it has built (the
        pair radial functions, the Ewald split of each σw)"""
        hypers = json.loads(calculator.parameters)
        return cls(
            **hypers,
            representative_system=representative_system,
            max_slab_thickness=max_slab_thickness,
            _core=calculator,
        )

    @torch.jit.export
    def requested_neighbor_lists(self) -> List[NeighborListOptions]:
        """The half neighbour list within d_c of the Ewald split's real-space remainder (none
        without the split)"""
        if self.has_remainder:
            return [self._neighbor_options()]
        return []

    def _neighbor_options(self) -> NeighborListOptions:
        return NeighborListOptions(
            cutoff=self.remainder_cutoff,
            full_list=False,
            strict=True,
            requestor="farsighted.torch.LodeSphericalExpansion",
        )

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
        if n_periodic == 0 and self.open_on_mesh:
            # the split: the wide part in free space on the mesh of a box, and the remainder,
            # first: it refuses duplicated atoms before the mesh is paid for
            remainder = self._remainder_values(system, types, type_masks, index)
            values = self.free_space(positions, type_masks) + remainder
            weight = self.center_atom_weight - 1.0
        elif n_periodic == 0:
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
        elif n_periodic == 2:
            values = self._slab_values(index, system, types, type_masks)
            weight = self.center_atom_weight - 1.0
        else:
            raise ValueError(
                f"system {index}: systems periodic in one direction only (wires) are not "
                "implemented; use two periodic directions (slabs), three, or none"
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
        _check_overlaps(index, vectors, first, second)
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
        """The k-space sum, or the Ewald split, without the centre's own density"""
        positions = system.positions
        cell = system.cell
        if self.use_mesh:
            values = self.mesh(positions, cell, type_masks)
        else:
            values = self.kspace(positions, cell, type_masks, False, index)
        if not self.has_remainder:
            return values
        values = values + self._remainder_values(system, types, type_masks)
        if self.has_removed_constant:
            # the constant the split adds to l = 0 in 3D: N_a √(4π) (f(σ) - f(σw)) Iₙ₀(0) / V
            counts = type_masks.sum(dim=1).reshape(1, -1, 1) / volume
            removed = self.removed_constant * self.radial_at_zero.to(positions.dtype)
            values = _add_to_l0(values, -counts * removed)
        return values

    def _slab_values(
        self, index: int, system: System, types: torch.Tensor, type_masks: torch.Tensor
    ) -> torch.Tensor:
        """The k∥ ≠ 0 part by the k-space sum on the internal cell (a, b, L n̂), the planar
        k∥ = 0 part, and with the Ewald split its remainder (lode/slab/mod.rs, lode/ewald/mod.rs),
        without the centre's own density"""
        if not self.has_planar:
            raise ValueError(
                f"system {index} is a slab: build the module with max_slab_thickness (the "
                "largest extent of the slabs along their normal) to compute slabs"
            )
        positions = system.positions
        cell = system.cell
        rows = torch.nonzero(system.pbc)[:, 0]
        a = cell[rows[0]]
        b = cell[rows[1]]
        if not bool(torch.all(torch.isfinite(a))) or not bool(torch.all(torch.isfinite(b))):
            raise ValueError(
                f"system {index}: the periodic cell vectors of this slab must be finite"
            )
        normal = torch.linalg.cross(a, b)
        area = torch.linalg.norm(normal)
        lengths = float(torch.linalg.norm(a.detach()) * torch.linalg.norm(b.detach()))
        if not (lengths > 0.0 and float(area.detach()) > 1e-8 * lengths):
            raise ValueError(
                f"system {index}: the two periodic cell vectors of this slab are zero or parallel"
            )
        normal = normal / area
        heights = positions @ normal
        # L as lode/slab/mod.rs chooses it: the images along n̂ are e^{-37} away
        detached = heights.detach()
        extent = float(detached.max() - detached.min())
        longest = max(float(torch.linalg.norm(a.detach())), float(torch.linalg.norm(b.detach())))
        length = extent + self.basis_support + 37.0 * longest / (2.0 * math.pi) + 1.0
        internal = torch.stack([a, b, length * normal])
        if self.slab_on_mesh:
            values = self.slab_mesh(positions, internal, type_masks)
        else:
            values = self.slab_kspace(positions, internal, type_masks, True, index)
        values = values + self._planar_values(heights, type_masks, normal, area, index)
        if not self.has_remainder:
            return values
        values = values + self._remainder_values(system, types, type_masks)
        if self.has_removed_planar_constant:
            # the planar average of the remainder at its own sheet, N_a √(4π) K Iₙ₀(0) / A
            counts = type_masks.sum(dim=1).reshape(1, -1, 1) / area
            removed = self.removed_planar_constant * self.radial_at_zero.to(positions.dtype)
            values = _add_to_l0(values, -counts * removed)
        return values

    def _planar_values(
        self,
        heights: torch.Tensor,
        type_masks: torch.Tensor,
        normal: torch.Tensor,
        area: torch.Tensor,
        index: int,
    ) -> torch.Tensor:
        """The planar part of a slab: on the grid of heights where the k∥ ≠ 0 part is on the
        mesh and the grid has at most N/2 points (the Rust core's rule, lode/slab/planar_grid.rs),
        over all pairs otherwise"""
        if self.slab_on_mesh and self.planar_grid.available:
            _, points = self.planar_grid.origin_and_points(heights)
            if points <= heights.shape[0] // 2:
                return self.planar_grid(heights, type_masks, normal, area, index)
        return self.planar(heights, type_masks, normal, area, index)

    def _remainder_values(
        self, system: System, types: torch.Tensor, type_masks: torch.Tensor, open_index: int = -1
    ) -> torch.Tensor:
        """The real-space remainder of the Ewald split over the requested neighbour list, and
        the centre's own remainder (T = 0); ``open_index`` ≥ 0: the index of an open system,
        whose pairs are checked for duplicated atoms as the Rust core does"""
        positions = system.positions
        cell = system.cell
        neighbors = system.get_neighbor_list(self._neighbor_options())
        samples = neighbors.samples.values
        first = samples[:, 0].to(torch.long)
        second = samples[:, 1].to(torch.long)
        # the pair vectors from positions and cell: differentiable whatever the engine did
        shifts = samples[:, 2:5].to(positions.dtype)
        vectors = positions[second] - positions[first] + shifts @ cell
        if open_index >= 0:
            _check_overlaps(open_index, vectors, first, second)
        atom_types = torch.searchsorted(types, system.types)
        n_atoms = positions.shape[0]
        values = self.remainder(vectors, first, second, atom_types, n_atoms, types.shape[0])
        own = type_masks.T.unsqueeze(2) * self.self_term.to(positions.dtype)
        return _add_to_l0(values, own)


def _check_overlaps(
    index: int, vectors: torch.Tensor, first: torch.Tensor, second: torch.Tensor
) -> None:
    """Refuse pairs closer than 0.001 Å (``OVERLAP_DISTANCE`` of system.rs): an atom given
    twice"""
    if vectors.shape[0] > 0:
        closest = torch.argmin(torch.linalg.norm(vectors.detach(), dim=1))
        if float(torch.linalg.norm(vectors[closest].detach())) < 1e-3:
            raise ValueError(
                f"system {index}: atoms {int(first[closest])} and {int(second[closest])} "
                "are closer than 0.001 Å; is an atom duplicated?"
            )


def _add_to_l0(values: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """``values`` (atoms, types, lm, n) with ``constant`` (atoms, types, n) added to lm = 0,
    without in-place operations"""
    return torch.cat([values[:, :, :1, :] + constant.unsqueeze(2), values[:, :, 1:, :]], dim=2)


def _system_arrays(system: Any):
    """The arrays the Rust core reads, from a metatomic System or what
    :py:func:`farsighted.systems.to_system_arrays` accepts"""
    from ..systems import to_system_arrays

    if isinstance(getattr(system, "positions", None), torch.Tensor):
        return (
            system.types.detach().cpu().numpy().astype(np.int32),
            system.positions.detach().cpu().to(torch.float64).numpy(),
            system.cell.detach().cpu().to(torch.float64).numpy(),
            [bool(p) for p in system.pbc.tolist()],
        )
    return to_system_arrays(system)
