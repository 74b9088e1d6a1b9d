"""Assemble :py:class:`metatensor.TensorMap` from the plain arrays the Rust core returns."""

from typing import Dict, List

import numpy as np
from metatensor import Labels, TensorBlock, TensorMap

KEY_NAMES = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]


def _component_labels(name: str, values: np.ndarray) -> Labels:
    return Labels([name], np.asarray(values, dtype=np.int32).reshape(-1, 1))


_XYZ = {name: _component_labels(name, np.arange(3)) for name in ["xyz", "xyz_1", "xyz_2"]}


def blocks_to_tensormap(raw_blocks: List[Dict], n_properties: int) -> TensorMap:
    """Build the TensorMap of a LODE spherical expansion from the core's block dictionaries."""
    properties = Labels(["n"], np.arange(n_properties, dtype=np.int32).reshape(-1, 1))
    keys = np.array([raw["key"] for raw in raw_blocks], dtype=np.int32).reshape(-1, 4)
    blocks = []
    o3_mu_by_lambda = {}
    for raw in raw_blocks:
        o3_lambda = raw["key"][0]
        if o3_lambda not in o3_mu_by_lambda:
            o3_mu_by_lambda[o3_lambda] = _component_labels(
                "o3_mu", np.arange(-o3_lambda, o3_lambda + 1)
            )
        o3_mu = o3_mu_by_lambda[o3_lambda]
        block = TensorBlock(
            values=raw["values"],
            samples=Labels(["system", "atom"], raw["samples"]),
            components=[o3_mu],
            properties=properties,
        )
        for parameter in ["positions", "strain"]:
            if parameter not in raw:
                continue
            gradient = raw[parameter]
            components = [_XYZ[name] for name in gradient["component_names"]] + [o3_mu]
            block.add_gradient(
                parameter,
                TensorBlock(
                    values=gradient["values"],
                    samples=Labels(gradient["sample_names"], gradient["samples"]),
                    components=components,
                    properties=properties,
                ),
            )
        blocks.append(block)
    return TensorMap(Labels(KEY_NAMES, keys), blocks)
