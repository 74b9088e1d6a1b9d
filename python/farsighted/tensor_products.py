"""Clebsch–Gordan products of spherical-tensor TensorMaps, with their gradients.

The product of two equivariant features A (order l₁) and B (order l₂) of the same centre,

    (A ⊗ B; λ)_μ = (−1)^{l₁ + l₂ + λ} Σ_{m₁ m₂} C^{λμ}_{l₁m₁ l₂m₂} A_{m₁} B_{m₂},

is an equivariant of order λ (|l₁ − l₂| ≤ λ ≤ l₁ + l₂) and parity
``o3_sigma = σ₁ σ₂ (−1)^{l₁ + l₂ + λ}``. Every pair of properties of A and B gives one property
of the product. The phase (−1)^{l₁ + l₂ + λ} (which only changes the sign of pseudo-tensors) is
featomic's convention, so that the numbers are those of featomic's ``EquivariantPowerSpectrum``.
Products of a local density ρ (SOAP) with the LODE potential V give the
multi-scale features; iterating (ρ ⊗ ρ) ⊗ V, ρ ⊗ V ⊗ V raises the body order as in the
atom-centred density correlation (ACDC) construction.

Gradients (``positions``, ``strain``, any gradient present in both inputs) follow from the
product rule: d(A ⊗ B) = dA ⊗ B + A ⊗ dB, with the gradient samples of the result the union of
those of A and B. The arrays may be numpy arrays or torch tensors; with torch, autograd flows
through the products as well.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from metatensor import Labels, TensorBlock, TensorMap

from . import _dispatch
from .clebsch_gordan import real_clebsch_gordan

_SPHERICAL_KEYS = ("o3_lambda", "o3_sigma")

__all__ = ["clebsch_gordan_product", "density_correlations", "prepare_density"]


def prepare_density(
    density: TensorMap, index: int, neighbor_types: Optional[Sequence[int]] = None
) -> TensorMap:
    """Make a density expansion ready for products: move ``neighbor_type`` from the keys to the
    properties, and name its properties after its position ``index`` in the product.

    Parameters
    ----------
    density
        a spherical expansion with keys ``o3_lambda, o3_sigma, center_type, neighbor_type`` and
        properties ``n`` (from :py:class:`farsighted.LodeSphericalExpansion` or featomic's
        ``SphericalExpansion``)
    index
        the properties become ``neighbor_{index}_type, n_{index}``
    neighbor_types
        the neighbour types to give properties to (blocks of absent types are zeros); default:
        the types present in ``density``. Pass the same list for every data set that must
        share a feature space.
    """
    import metatensor

    if "neighbor_type" not in density.keys.names:
        raise ValueError("the density has no 'neighbor_type' key dimension to move")
    if neighbor_types is None:
        neighbor_types = np.unique(density.keys.column("neighbor_type"))
    types = Labels(
        ["neighbor_type"], np.asarray(sorted(neighbor_types), dtype=np.int32).reshape(-1, 1)
    )
    density = density.keys_to_properties(types)
    density = metatensor.rename_dimension(
        density, "properties", "neighbor_type", f"neighbor_{index}_type"
    )
    return metatensor.rename_dimension(density, "properties", "n", f"n_{index}")


def clebsch_gordan_product(
    tensor_1: TensorMap,
    tensor_2: TensorMap,
    max_angular: int,
    *,
    lambda_names: Tuple[str, str] = ("l_1", "l_2"),
    selected_keys: Optional[Labels] = None,
) -> TensorMap:
    """Clebsch–Gordan product of two spherical-tensor TensorMaps, centre by centre.

    Parameters
    ----------
    tensor_1, tensor_2
        keys ``o3_lambda, o3_sigma`` and the same other key dimensions (for example
        ``center_type``; use :py:func:`prepare_density` to move ``neighbor_type`` out of the
        keys), one component ``o3_mu``, and property names that differ between the two. Blocks
        with equal other keys are combined; they must have the same samples. Gradients present in
        both inputs are propagated; a gradient present in only one of them is an error.
    max_angular
        largest λ of the output
    lambda_names
        names of the properties recording the orders l₁ and l₂ of the combined blocks
    selected_keys
        keep only the output blocks matching one of these entries (any subset of the output key
        names, for example ``o3_lambda`` and ``o3_sigma``)

    Returns
    -------
    metatensor.TensorMap
        keys ``o3_lambda, o3_sigma`` and the other key dimensions of the inputs; the samples of
        the inputs; component ``o3_mu``; properties ``lambda_names`` followed by the property
        names of ``tensor_1`` then of ``tensor_2``.
    """
    if max_angular < 0:
        raise ValueError(f"max_angular must be non-negative, got {max_angular}")
    other_names = _check_inputs(tensor_1, tensor_2, lambda_names)
    property_names = list(lambda_names) + tensor_1.property_names + tensor_2.property_names
    parameters = _common_gradients(tensor_1, tensor_2)
    selection = _KeySelection(selected_keys, list(_SPHERICAL_KEYS) + other_names)

    groups_2: Dict[Tuple[int, ...], List[Tuple[int, int, TensorBlock]]] = {}
    for key, block in _spherical_blocks(tensor_2, other_names):
        groups_2.setdefault(key[2:], []).append((key[0], key[1], block))

    pieces: Dict[Tuple[int, ...], List[_Piece]] = {}
    for key, block_1 in _spherical_blocks(tensor_1, other_names):
        l1, sigma_1, other = key[0], key[1], key[2:]
        for l2, sigma_2, block_2 in groups_2.get(other, []):
            _check_same_samples(block_1, block_2, key)
            for o3_lambda in range(abs(l1 - l2), min(l1 + l2, max_angular) + 1):
                sigma = sigma_1 * sigma_2 * (-1) ** (l1 + l2 + o3_lambda)
                output_key = (o3_lambda, sigma) + other
                if not selection.keeps(output_key):
                    continue
                piece = _block_product(block_1, block_2, l1, l2, o3_lambda, parameters)
                pieces.setdefault(output_key, []).append(piece)

    if not pieces:
        raise ValueError(
            "the product has no blocks: no pair of blocks with matching keys couples to the "
            "requested orders and selected keys"
        )
    keys = sorted(pieces, key=lambda k: (k[2:], k[1] != 1, k[0]))
    blocks = [
        _assemble_block(
            pieces[key], key[0], property_names, parameters, _reference_block(tensor_1, key)
        )
        for key in keys
    ]
    key_names = list(_SPHERICAL_KEYS) + other_names
    return TensorMap(
        Labels(key_names, np.array(keys, dtype=np.int32).reshape(-1, len(key_names))), blocks
    )


def density_correlations(
    densities: Sequence[TensorMap],
    max_angular: int,
    *,
    selected_keys: Optional[Labels] = None,
) -> TensorMap:
    """Iterated products ((d₁ ⊗ d₂) ⊗ d₃) ⊗ …, the ACDC construction of higher body orders.

    Parameters
    ----------
    densities
        two or more tensors prepared by :py:func:`prepare_density` with indices 1, 2, 3, …
        (for example ρ, ρ, V for (ρ ⊗ ρ) ⊗ V, or ρ, V, V for ρ ⊗ V ⊗ V)
    max_angular
        largest λ of the final product; the intermediate products keep every order that can
        still couple to it, so nothing is truncated
    selected_keys
        output blocks to keep, as in :py:func:`clebsch_gordan_product`

    Returns
    -------
    metatensor.TensorMap
        properties ``l_1, l_2, k_2, l_3, k_3, l_4, …`` (k_ν: the order of the intermediate
        product of the first ν densities) and the properties of every density.
    """
    if len(densities) < 2:
        raise ValueError("density_correlations needs at least two densities")
    max_orders = [int(np.max(d.keys.column("o3_lambda"))) for d in densities]
    result = densities[0]
    for position in range(1, len(densities)):
        remaining = sum(max_orders[position + 1 :])
        last = position == len(densities) - 1
        if position == 1:
            names = ("l_1", "l_2")
        else:
            names = (f"k_{position}", f"l_{position + 1}")
        result = clebsch_gordan_product(
            result,
            densities[position],
            max_angular if last else max_angular + remaining,
            lambda_names=names,
            selected_keys=selected_keys if last else None,
        )
    return result


class _Piece:
    """The product of one pair of blocks at one λ: values, property rows, gradients"""

    def __init__(self, values, properties: np.ndarray, gradients: Dict[str, Tuple]):
        self.values = values
        self.properties = properties
        # parameter -> (gradient samples rows, values (n, *xyz, 2λ+1, properties))
        self.gradients = gradients


def _block_product(
    block_1: TensorBlock,
    block_2: TensorBlock,
    l1: int,
    l2: int,
    o3_lambda: int,
    parameters: List[str],
) -> _Piece:
    a, b = block_1.values, block_2.values
    # featomic's coupling convention: pseudo-tensors (l₁ + l₂ + λ odd) take the opposite sign
    phase = (-1) ** (l1 + l2 + o3_lambda)
    cg = _dispatch.like(phase * real_clebsch_gordan(l1, l2, o3_lambda), a)
    n_samples, n_1, n_2 = a.shape[0], a.shape[2], b.shape[2]
    values = _dispatch.einsum("sap,abm,sbq->smpq", a, cg, b)
    values = _dispatch.reshape(values, (n_samples, 2 * o3_lambda + 1, n_1 * n_2))

    properties_1 = block_1.properties.values
    properties_2 = block_2.properties.values
    properties = np.concatenate(
        [
            np.broadcast_to([l1, l2], (n_1 * n_2, 2)),
            np.repeat(properties_1, n_2, axis=0),
            np.tile(properties_2, (n_1, 1)),
        ],
        axis=1,
    )

    gradients = {}
    for parameter in parameters:
        gradient_1 = block_1.gradient(parameter)
        gradient_2 = block_2.gradient(parameter)
        rows_1 = gradient_1.samples.values
        rows_2 = gradient_2.samples.values
        union, inverse = np.unique(np.concatenate([rows_1, rows_2]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        shape = gradient_1.values.shape
        xyz = shape[1:-2]
        n_xyz = int(np.prod(xyz))
        da = _dispatch.reshape(gradient_1.values, (len(rows_1), n_xyz, 2 * l1 + 1, n_1))
        db = _dispatch.reshape(gradient_2.values, (len(rows_2), n_xyz, 2 * l2 + 1, n_2))
        b_rows = _dispatch.take_rows(b, rows_1[:, 0])
        a_rows = _dispatch.take_rows(a, rows_2[:, 0])
        first = _dispatch.einsum("gxap,abm,gbq->gxmpq", da, cg, b_rows)
        second = _dispatch.einsum("gap,abm,gxbq->gxmpq", a_rows, cg, db)
        size = (n_xyz, 2 * o3_lambda + 1, n_1 * n_2)
        result = _dispatch.zeros((len(union),) + size, a)
        result = _dispatch.add_rows(
            result, inverse[: len(rows_1)], _dispatch.reshape(first, (len(rows_1),) + size)
        )
        result = _dispatch.add_rows(
            result, inverse[len(rows_1) :], _dispatch.reshape(second, (len(rows_2),) + size)
        )
        result = _dispatch.reshape(result, (len(union),) + tuple(xyz) + size[1:])
        gradients[parameter] = (union, result)
    return _Piece(values, properties, gradients)


def concatenate_pieces(pieces: List[_Piece], parameters: List[str]) -> _Piece:
    """Join pieces along the properties; gradient samples become the union of the pieces'"""
    if len(pieces) == 1:
        return pieces[0]
    values = _dispatch.concatenate([p.values for p in pieces], axis=-1)
    properties = np.concatenate([p.properties for p in pieces], axis=0)
    gradients = {}
    for parameter in parameters:
        all_rows = [p.gradients[parameter][0] for p in pieces]
        union, inverse = np.unique(np.concatenate(all_rows), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        parts = []
        start = 0
        for piece, rows in zip(pieces, all_rows):
            parts.append((inverse[start : start + len(rows)], piece.gradients[parameter][1]))
            start += len(rows)
        joined = _dispatch.scatter_columns(len(union), parts, values)
        gradients[parameter] = (union, joined)
    return _Piece(values, properties, gradients)


def _assemble_block(
    pieces: List[_Piece],
    o3_lambda: int,
    property_names: List[str],
    parameters: List[str],
    reference: TensorBlock,
) -> TensorBlock:
    o3_mu = Labels(["o3_mu"], np.arange(-o3_lambda, o3_lambda + 1, dtype=np.int32).reshape(-1, 1))
    piece = concatenate_pieces(pieces, parameters)
    return piece_to_block(piece, reference, o3_mu, property_names, parameters)


def piece_to_block(
    piece: _Piece,
    reference: TensorBlock,
    o3_mu: Labels,
    property_names: List[str],
    parameters: List[str],
) -> TensorBlock:
    """The TensorBlock of ``piece``, with the samples and gradient metadata of ``reference``"""
    properties = Labels(property_names, np.ascontiguousarray(piece.properties, dtype=np.int32))
    block = TensorBlock(
        values=piece.values, samples=reference.samples, components=[o3_mu], properties=properties
    )
    for parameter in parameters:
        reference_gradient = reference.gradient(parameter)
        rows, values = piece.gradients[parameter]
        block.add_gradient(
            parameter,
            TensorBlock(
                values=values,
                samples=Labels(
                    reference_gradient.samples.names, np.ascontiguousarray(rows, dtype=np.int32)
                ),
                components=list(reference_gradient.components[:-1]) + [o3_mu],
                properties=properties,
            ),
        )
    return block


def _spherical_blocks(tensor: TensorMap, other_names: List[str]):
    """(o3_lambda, o3_sigma, *other keys) and block, for every block"""
    names = tensor.keys.names
    columns = [names.index(n) for n in list(_SPHERICAL_KEYS) + other_names]
    for entry, block in zip(tensor.keys.values, tensor.blocks()):
        yield tuple(int(entry[c]) for c in columns), block


def _reference_block(tensor_1: TensorMap, key: Tuple[int, ...]) -> TensorBlock:
    """A block of ``tensor_1`` with the same other keys as ``key``: samples and gradient
    metadata of the output are the inputs' ones"""
    names = tensor_1.keys.names
    other_names = [n for n in names if n not in _SPHERICAL_KEYS]
    columns = [names.index(n) for n in other_names]
    values = tensor_1.keys.values
    for entry, block in zip(values, tensor_1.blocks()):
        if tuple(int(entry[c]) for c in columns) == key[2:]:
            return block
    raise AssertionError("unreachable: output keys come from tensor_1")


def _check_inputs(tensor_1: TensorMap, tensor_2: TensorMap, lambda_names) -> List[str]:
    for index, tensor in enumerate([tensor_1, tensor_2], start=1):
        if not isinstance(tensor, TensorMap):
            raise TypeError(f"tensor_{index} must be a metatensor.TensorMap, got {type(tensor)}")
        for name in _SPHERICAL_KEYS:
            if name not in tensor.keys.names:
                raise ValueError(f"tensor_{index} has no '{name}' key dimension")
        if len(tensor.keys) == 0:
            raise ValueError(f"tensor_{index} has no blocks")
        for entry, block in zip(tensor.keys.values, tensor.blocks()):
            o3_lambda = int(entry[tensor.keys.names.index("o3_lambda")])
            if len(block.components) != 1 or block.components[0].names != ["o3_mu"]:
                raise ValueError(f"tensor_{index}: blocks must have a single 'o3_mu' component")
            if len(block.components[0]) != 2 * o3_lambda + 1:
                raise ValueError(
                    f"tensor_{index}: block with o3_lambda={o3_lambda} has "
                    f"{len(block.components[0])} o3_mu components"
                )
    other_1 = [n for n in tensor_1.keys.names if n not in _SPHERICAL_KEYS]
    other_2 = [n for n in tensor_2.keys.names if n not in _SPHERICAL_KEYS]
    if other_1 != other_2:
        raise ValueError(
            f"the keys of the two tensors differ besides o3_lambda and o3_sigma ({other_1} and "
            f"{other_2}); move the extra dimensions to the properties first (prepare_density)"
        )
    names = list(lambda_names) + tensor_1.property_names + tensor_2.property_names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"property names {repeated} appear twice among lambda_names and the properties of "
            "the two tensors: rename them first (metatensor.rename_dimension or prepare_density)"
        )
    return other_1


def _common_gradients(tensor_1: TensorMap, tensor_2: TensorMap) -> List[str]:
    parameters_1 = set(tensor_1.block(0).gradients_list())
    parameters_2 = set(tensor_2.block(0).gradients_list())
    if parameters_1 != parameters_2:
        raise ValueError(
            f"the two tensors have different gradients ({sorted(parameters_1)} and "
            f"{sorted(parameters_2)}): the product's gradient needs both factors' gradients"
        )
    return sorted(parameters_1)


def _check_same_samples(block_1: TensorBlock, block_2: TensorBlock, key):
    if block_1.samples.names != block_2.samples.names or not np.array_equal(
        block_1.samples.values, block_2.samples.values
    ):
        raise ValueError(
            f"blocks with other keys {key[2:]} have different samples in the two tensors: "
            "compute both on the same systems and centres"
        )


class _KeySelection:
    def __init__(self, selected_keys: Optional[Labels], names: List[str]):
        self.columns = None
        if selected_keys is None:
            return
        if not isinstance(selected_keys, Labels):
            raise TypeError(f"selected_keys must be metatensor.Labels, got {type(selected_keys)}")
        for name in selected_keys.names:
            if name not in names:
                raise ValueError(f"selected_keys has an unknown dimension '{name}' (keys: {names})")
        self.columns = [names.index(n) for n in selected_keys.names]
        self.entries = {tuple(int(v) for v in row) for row in selected_keys.values}

    def keeps(self, key: Tuple[int, ...]) -> bool:
        if self.columns is None:
            return True
        return tuple(key[c] for c in self.columns) in self.entries
