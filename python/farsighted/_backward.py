"""Conversion of ∂L/∂features, given as a :py:class:`metatensor.TensorMap`, to the blocks the
Rust backward product reads."""

from typing import List, Tuple

import numpy as np
from metatensor import TensorMap

from ._tensormap import KEY_NAMES

GradientBlock = Tuple[np.ndarray, np.ndarray, np.ndarray]


def gradient_blocks(gradient: TensorMap, n_properties: int) -> List[GradientBlock]:
    """(key, samples, values) of each block of ``gradient``, with the properties scattered
    into all ``n_properties`` radial channels (missing ones get zero).

    Raises
    ------
    ValueError
        if the metadata of ``gradient`` is not that of a LODE spherical expansion
    """
    if not isinstance(gradient, TensorMap):
        raise TypeError(
            f"the gradient must be a metatensor.TensorMap, got {type(gradient).__name__}"
        )
    names = list(gradient.keys.names)
    if sorted(names) != sorted(KEY_NAMES):
        raise ValueError(f"the gradient's keys must be named {KEY_NAMES}, got {names}")
    key_order = [names.index(name) for name in KEY_NAMES]
    blocks = []
    for key, block in zip(np.asarray(gradient.keys.values), gradient.blocks()):
        key = np.ascontiguousarray(key[key_order], dtype=np.int32)
        description = ", ".join(f"{n}={int(v)}" for n, v in zip(KEY_NAMES, key))

        sample_names = list(block.samples.names)
        if sorted(sample_names) != ["atom", "system"]:
            raise ValueError(
                f"gradient block ({description}): samples must be named ['system', 'atom'], "
                f"got {sample_names}"
            )
        samples = np.asarray(block.samples.values)[
            :, [sample_names.index("system"), sample_names.index("atom")]
        ]

        o3_lambda = int(key[0])
        expected_mu = np.arange(-o3_lambda, o3_lambda + 1)
        components = block.components
        if (
            len(components) != 1
            or components[0].names != ["o3_mu"]
            or not np.array_equal(np.asarray(components[0].values).reshape(-1), expected_mu)
        ):
            raise ValueError(
                f"gradient block ({description}): expected one component o3_mu = "
                f"{expected_mu.tolist()}"
            )

        if block.properties.names != ["n"]:
            raise ValueError(
                f"gradient block ({description}): properties must be named ['n'], "
                f"got {block.properties.names}"
            )
        radial = np.asarray(block.properties.values).reshape(-1)
        if np.any(radial < 0) or np.any(radial >= n_properties):
            raise ValueError(
                f"gradient block ({description}): property n must be between 0 and "
                f"{n_properties - 1}, got {radial.tolist()}"
            )

        values = np.asarray(block.values, dtype=np.float64)
        if np.array_equal(radial, np.arange(n_properties)):
            # every radial channel in order: the block's own array, not a copy (G is 2.4 GB
            # at 10⁶ atoms)
            full = values
        else:
            full = np.zeros((values.shape[0], values.shape[1], n_properties))
            full[..., radial] = values
        blocks.append(
            (key, np.ascontiguousarray(samples, dtype=np.int32), np.ascontiguousarray(full))
        )
    return blocks
