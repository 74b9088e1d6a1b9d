"""The invariant multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V (⊕ V ⊗ V) as a TorchScript module.

The local density ρ comes from featomic-torch's ``SphericalExpansion`` (its compiled extension
travels with a saved model through metatomic's ``collect_extensions``), the potential V from
:py:class:`farsighted.torch.LodeSphericalExpansion`. The λ = 0 product of two spherical
tensors of the same order l is

    (A ⊗ B; 0) = Σ_m C^{00}_{lm,lm} A_m B_m,

with the real Clebsch–Gordan coefficients of :py:mod:`farsighted.clebsch_gordan` (diagonal
for λ = 0), taken when the module is built: the numbers, metadata and property order are those
of :py:class:`farsighted.MultiScalePowerSpectrum`. Gradients come from autograd.
"""

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import System

from ..clebsch_gordan import real_clebsch_gordan
from ..multiscale import PRODUCTS
from ._samples import atom_samples
from .lode import LodeSphericalExpansion


class MultiScalePowerSpectrum(torch.nn.Module):
    """Invariant multi-scale features of every centre, with the keys (``o3_lambda, o3_sigma,
    center_type``), samples (``system, atom``) and properties (``product, l_1, l_2,
    neighbor_1_type, n_1, neighbor_2_type, n_2``) of
    :py:class:`farsighted.MultiScalePowerSpectrum` at ``max_angular = 0``
    (component ``o3_mu = 0``).

    Parameters
    ----------
    density
        hyper-parameters of featomic's ``SphericalExpansion`` (``cutoff``, ``density``,
        ``basis`` with ``type: TensorProduct``)
    lode
        hyper-parameters of :py:class:`farsighted.torch.LodeSphericalExpansion`
    neighbor_types
        the atomic types given properties: the feature space is fixed when the module is
        built, as a saved model needs
    potential_potential
        also compute V ⊗ V
    representative_system, max_slab_thickness
        passed to :py:class:`farsighted.torch.LodeSphericalExpansion`: a structure like those
        the module will see (needed with ``accuracy``), and the thickest slab it will see
        (needed for slabs)
    """

    neighbor_types: List[int]
    # (product, first factor, second factor) with factors 0 = ρ, 1 = V
    products: List[List[int]]

    def __init__(
        self,
        density: Dict[str, Any],
        lode: Dict[str, Any],
        neighbor_types: Sequence[int],
        potential_potential: bool = False,
        representative_system: Optional[Any] = None,
        max_slab_thickness: Optional[float] = None,
    ):
        super().__init__()
        import featomic.torch

        for name, hypers in (("density", density), ("lode", lode)):
            if hypers.get("basis", {}).get("type") != "TensorProduct":
                raise ValueError(f"the {name} basis must be of type 'TensorProduct'")
        if len(neighbor_types) == 0:
            raise ValueError("neighbor_types must hold at least one atomic type")
        self.density = featomic.torch.SphericalExpansion(**density)
        self.potential = LodeSphericalExpansion(
            **lode,
            representative_system=representative_system,
            max_slab_thickness=max_slab_thickness,
        )
        self.neighbor_types = sorted(int(t) for t in neighbor_types)
        self.density_shape = _expansion_shape(density["basis"])
        self.potential_shape = _expansion_shape(lode["basis"])

        self.products = [[PRODUCTS["density-density"], 0, 0]]
        self.products.append([PRODUCTS["density-potential"], 0, 1])
        if potential_potential:
            self.products.append([PRODUCTS["potential-potential"], 1, 1])
        max_angular = max(self.density_shape[0], self.potential_shape[0])
        self.register_buffer("coupling", torch.tensor(_invariant_coupling(max_angular)))
        properties = [self._product_properties(*entry) for entry in self.products]
        self.register_buffer("property_values", torch.cat(properties, dim=0))

    def _shape(self, factor: int) -> List[int]:
        return self.density_shape if factor == 0 else self.potential_shape

    def _product_properties(self, product: int, first: int, second: int) -> torch.Tensor:
        """(product, l, l, t₁, n₁, t₂, n₂) in the order of farsighted.multiscale: l, then the
        first factor's (type, n), then the second's"""
        rows = []
        max_l = min(self._shape(first)[0], self._shape(second)[0])
        for l in range(max_l + 1):
            for t1 in self.neighbor_types:
                for n1 in range(self._shape(first)[1]):
                    for t2 in self.neighbor_types:
                        for n2 in range(self._shape(second)[1]):
                            rows.append([product, l, l, t1, n1, t2, n2])
        return torch.tensor(rows, dtype=torch.int32)

    def forward(self, systems: List[System]) -> TensorMap:
        """The invariant multi-scale features of ``systems``"""
        if len(systems) == 0:
            raise ValueError("no systems given")
        device = systems[0].positions.device
        first_atom: List[int] = [0]
        for system in systems:
            first_atom.append(first_atom[-1] + system.positions.shape[0])
        dense = [
            self._dense(self.density(systems), first_atom, self.density_shape),
            self._dense(self.potential(systems), first_atom, self.potential_shape),
        ]

        types = torch.cat([system.types for system in systems])
        system_of_atom, atom_index = atom_samples(systems)
        center_types = torch.unique(types)
        blocks: List[TensorBlock] = []
        properties = Labels(
            ["product", "l_1", "l_2", "neighbor_1_type", "n_1", "neighbor_2_type", "n_2"],
            self.property_values,
        )
        o3_mu = Labels(["o3_mu"], torch.zeros((1, 1), dtype=torch.int32, device=device))
        for center_type in center_types:
            atoms = torch.nonzero(types == center_type)[:, 0]
            values: List[torch.Tensor] = []
            for entry in self.products:
                first = dense[entry[1]][atoms]
                second = dense[entry[2]][atoms]
                max_l = min(self._shape(entry[1])[0], self._shape(entry[2])[0])
                for l in range(max_l + 1):
                    start, stop = l * l, (l + 1) * (l + 1)
                    product = torch.einsum(
                        "smp,m,smq->spq",
                        first[:, start:stop],
                        self.coupling[start:stop].to(first.dtype),
                        second[:, start:stop],
                    )
                    values.append(product.reshape(atoms.shape[0], -1))
            samples = torch.stack([system_of_atom[atoms], atom_index[atoms]], dim=1)
            blocks.append(
                TensorBlock(
                    values=torch.cat(values, dim=1).unsqueeze(1),
                    samples=Labels(["system", "atom"], samples),
                    components=[o3_mu],
                    properties=properties,
                )
            )
        keys = Labels(
            ["o3_lambda", "o3_sigma", "center_type"],
            torch.stack(
                [
                    torch.zeros_like(center_types),
                    torch.ones_like(center_types),
                    center_types,
                ],
                dim=1,
            ).to(torch.int32),
        )
        return TensorMap(keys, blocks)

    def _dense(self, tensor: TensorMap, first_atom: List[int], shape: List[int]) -> torch.Tensor:
        """(atoms of all systems, (l, m), (neighbor type, n)) from the blocks of a spherical
        expansion; zeros for the neighbour types absent from a system"""
        max_l, n_radial = shape[0], shape[1]
        n_types = len(self.neighbor_types)
        reference = tensor.block(0).values
        dense = torch.zeros(
            (first_atom[-1], (max_l + 1) * (max_l + 1), n_types, n_radial),
            dtype=reference.dtype,
            device=reference.device,
        )
        first = torch.tensor(first_atom[:-1], dtype=torch.long, device=reference.device)
        names = tensor.keys.names
        l_column = names.index("o3_lambda")
        type_column = names.index("neighbor_type")
        for key, block in tensor.items():
            l = int(key.values[l_column])
            neighbor_type = int(key.values[type_column])
            if neighbor_type not in self.neighbor_types:
                raise ValueError(
                    f"the systems hold atomic type {neighbor_type}, which is not among the "
                    f"neighbor types {self.neighbor_types} of these features"
                )
            t = self.neighbor_types.index(neighbor_type)
            samples = block.samples.values.to(torch.long)
            atoms = first[samples[:, 0]] + samples[:, 1]
            dense[atoms, l * l : (l + 1) * (l + 1), t, :] = block.values
        return dense.reshape(first_atom[-1], (max_l + 1) * (max_l + 1), n_types * n_radial)


def _expansion_shape(basis: Dict[str, Any]) -> List[int]:
    """[max_angular, number of radial functions] of a TensorProduct basis"""
    return [int(basis["max_angular"]), int(basis["radial"]["max_radial"]) + 1]


def _invariant_coupling(max_angular: int) -> np.ndarray:
    """C^{00}_{lm,lm} for every (l, m) up to ``max_angular``: the coefficients of the λ = 0
    product (diagonal in m)"""
    coupling = []
    for l in range(max_angular + 1):
        matrix = real_clebsch_gordan(l, l, 0)[:, :, 0]
        diagonal = np.diag(matrix)
        assert np.abs(matrix - np.diag(diagonal)).max() < 1e-14
        coupling.append(diagonal)
    return np.concatenate(coupling)
