"""Wrap an energy model as a metatomic ``AtomisticModel`` and save it."""

import os
from typing import List, Optional

from metatomic.torch import AtomisticModel, ModelCapabilities, ModelMetadata, ModelOutput

from .model import LinearEnergyModel


def atomistic_model(
    model: LinearEnergyModel,
    name: str = "farsighted multi-scale model",
    description: str = "",
    long_range: bool = True,
) -> AtomisticModel:
    """The metatomic ``AtomisticModel`` of ``model``: energies in eV, lengths in Å, float64,
    on CPU and CUDA. Models with LODE features declare an infinite interaction range (engines
    then run them on one domain)."""
    supported_devices: List[str] = ["cpu", "cuda"]
    capabilities = ModelCapabilities(
        outputs={"energy": ModelOutput(quantity="energy", unit="eV", sample_kind="system")},
        atomic_types=list(model.atomic_types),
        interaction_range=float("inf") if long_range else _local_range(model),
        length_unit="angstrom",
        supported_devices=supported_devices,
        dtype="float64",
    )
    metadata = ModelMetadata(
        name=name,
        description=description
        or "a linear model on SOAP and LODE (long-range) features, made with farsighted",
        authors=["farsighted"],
    )
    return AtomisticModel(model.eval(), metadata, capabilities)


def _local_range(model: LinearEnergyModel) -> float:
    for calculator in model.calculators.values():
        options = getattr(calculator, "requested_neighbor_lists", None)
        if options is not None:
            return max(option.cutoff for option in options())
    return 0.0


def save_model(model: LinearEnergyModel, path: str, extensions: Optional[str] = None, **kwargs):
    """Save ``model`` as a metatomic model file at ``path``. Compiled extensions it uses
    (featomic-torch for SOAP) are copied to ``extensions`` (default: ``extensions/`` next to
    ``path``); load the file with ``metatomic.torch.load_atomistic_model(path,
    extensions_directory=...)``."""
    if extensions is None:
        extensions = os.path.join(os.path.dirname(os.path.abspath(path)), "extensions")
    atomistic_model(model, **kwargs).save(path, collect_extensions=extensions)
    return extensions
