"""Multi-scale features: local densities (SOAP) combined with the long-range LODE potential.

Grisafi, Nigam & Ceriotti, Chem. Sci. 12, 2078 (2021): the invariants ⟨ρ ⊗ ρ; λ=0⟩ (the SOAP power
spectrum, short-range) and ⟨ρ ⊗ V; λ=0⟩ (the local density correlated with the potential of all
atoms, long-range), optionally ⟨V ⊗ V; λ=0⟩, computed per centre, with gradients.
"""

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from metatensor import Labels, TensorMap

from .calculator import LodeSphericalExpansion
from .systems import with_vacuum_for_slabs
from .tensor_products import (
    _Piece,
    clebsch_gordan_product,
    concatenate_pieces,
    piece_to_block,
    prepare_density,
)

#: the value of the ``product`` property for each kind of correlation
PRODUCTS = {"density-density": 0, "density-potential": 1, "potential-potential": 2}


class MultiScalePowerSpectrum:
    """Invariant multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V (⊕ V ⊗ V) of every centre, in one call.

    The output has keys ``o3_lambda, o3_sigma, center_type``, samples ``system, atom``, and
    properties ``product, l_1, l_2, neighbor_1_type, n_1, neighbor_2_type, n_2`` where
    ``product`` is 0 for ρ ⊗ ρ, 1 for ρ ⊗ V and 2 for V ⊗ V (``PRODUCTS``).

    Parameters
    ----------
    density
        hyper-parameters of featomic's ``SphericalExpansion`` for the local density ρ
        (``cutoff``, ``density``, ``basis``)
    lode
        hyper-parameters of :py:class:`farsighted.LodeSphericalExpansion` for the potential V
        (``density``, ``basis``, optionally ``k_cutoff``)
    potential_potential
        also compute V ⊗ V
    max_angular
        largest λ of the output (0: invariants only; 1, 2, …: equivariant multi-scale features
        for vectors and tensors, with both parities)
    neighbor_types
        atomic types given properties; default: the types present in the systems of each
        call. Fix it when features of several calls must share a feature space.
    """

    def __init__(
        self,
        density: Dict[str, Any],
        lode: Dict[str, Any],
        *,
        potential_potential: bool = False,
        max_angular: int = 0,
        neighbor_types: Optional[Sequence[int]] = None,
    ):
        import featomic

        self.density_calculator = featomic.SphericalExpansion(**density)
        self.density_cutoff = float(density["cutoff"]["radius"])
        self.lode_calculator = LodeSphericalExpansion(**lode)
        self.potential_potential = potential_potential
        if max_angular < 0:
            raise ValueError(f"max_angular must be non-negative, got {max_angular}")
        self.max_angular = max_angular
        self.neighbor_types = None if neighbor_types is None else sorted(neighbor_types)

    def compute(
        self, systems: Union[Any, Sequence[Any]], *, gradients: Optional[List[str]] = None
    ) -> TensorMap:
        """Compute the multi-scale features of ``systems`` (``ase.Atoms`` or a list of them),
        with ``gradients`` among ``"positions"`` and ``"strain"``."""
        gradients = list(gradients or [])
        if not isinstance(systems, (list, tuple)):
            systems = [systems]
        types = self.neighbor_types
        if types is None:
            types = sorted({int(t) for system in systems for t in system.numbers})

        local = with_vacuum_for_slabs(systems, self.density_cutoff)
        rho = self.density_calculator.compute(local, gradients=gradients)
        potential = self.lode_calculator.compute(systems, gradients=gradients)
        rho_1, rho_2 = prepare_density(rho, 1, types), prepare_density(rho, 2, types)
        potential_2 = prepare_density(potential, 2, types)

        products = [(PRODUCTS["density-density"], rho_1, rho_2)]
        products.append((PRODUCTS["density-potential"], rho_1, potential_2))
        if self.potential_potential:
            products.append(
                (PRODUCTS["potential-potential"], prepare_density(potential, 1, types), potential_2)
            )
        results = [
            (label, clebsch_gordan_product(a, b, self.max_angular)) for label, a, b in products
        ]
        return _join_products(results, gradients)


def _join_products(results, parameters: List[str]) -> TensorMap:
    """Concatenate the products along the properties, labelling each with its ``product``"""
    keys = sorted({tuple(int(v) for v in key.values) for _, t in results for key in t.keys})
    key_names = results[0][1].keys.names
    blocks = []
    for key in keys:
        pieces = []
        reference = None
        for label, tensor in results:
            position = tensor.keys.position(Labels(key_names, np.array([key], dtype=np.int32))[0])
            if position is None:
                continue
            block = tensor.block(position)
            reference = block
            properties = np.concatenate(
                [np.full((len(block.properties), 1), label), block.properties.values], axis=1
            )
            gradients = {
                p: (block.gradient(p).samples.values, block.gradient(p).values) for p in parameters
            }
            pieces.append(_Piece(block.values, properties, gradients))
        joined = concatenate_pieces(pieces, parameters)
        names = ["product"] + reference.properties.names
        blocks.append(piece_to_block(joined, reference, reference.components[0], names, parameters))
    return TensorMap(Labels(key_names, np.array(keys, dtype=np.int32)), blocks)
