"""The (system, atom) sample of every atom of a list of metatomic systems, in TorchScript."""

from typing import List, Tuple

import torch
from metatomic.torch import System


def atom_samples(systems: List[System]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(system index, atom index) of every atom of ``systems``, in order, as int32 tensors"""
    device = systems[0].positions.device
    system_of_atom = torch.cat(
        [
            torch.full((system.positions.shape[0],), s, dtype=torch.int32, device=device)
            for s, system in enumerate(systems)
        ]
    )
    atom_index = torch.cat(
        [
            torch.arange(system.positions.shape[0], dtype=torch.int32, device=device)
            for system in systems
        ]
    )
    return system_of_atom, atom_index
