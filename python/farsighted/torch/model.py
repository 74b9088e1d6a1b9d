"""A linear energy model on atom-centred features, with metatomic's model interface.

Each feature calculator (LODE from :py:mod:`farsighted.torch`, SOAP from featomic-torch, …)
returns a TensorMap whose blocks have samples ``system, atom``; the blocks are laid side by
side in one feature row xᵢ per atom (zeros for the blocks of other centre types), so that one
weight vector w holds per-centre-type weights, and

    Eᵢ = xᵢ · w + e_{tᵢ},     E = Σᵢ Eᵢ + c

with per-type composition energies e_t and a structure constant c (the offset of a ridge fit
on centred features; it is spread evenly over the atoms of the per-atom energies). Forces
and stress come from autograd through the calculators.
"""

from typing import Dict, List, Optional

import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import ModelOutput, System

from ._samples import atom_samples


class LinearEnergyModel(torch.nn.Module):
    """E = Σᵢ (xᵢ · w + e_{tᵢ}) + c, with metatomic's ``forward(systems, outputs,
    selected_atoms)``.

    Parameters
    ----------
    calculators
        name → TorchScript-compatible module taking ``List[System]`` and returning a TensorMap
        with samples ``system, atom``
    feature_keys
        name → the keys (as an int tensor, one row per block) of that calculator's blocks
        that the weights use, in the order of their columns
    block_widths
        name → the number of columns of each of those blocks (the size of one sample)
    atomic_types
        the types the model knows, in the order of ``composition``
    weights
        w, one entry per column (the blocks of all calculators in order)
    composition
        e_t for each of ``atomic_types``
    constant
        c, added once per structure
    """

    def __init__(
        self,
        calculators: Dict[str, torch.nn.Module],
        feature_keys: Dict[str, torch.Tensor],
        block_widths: Dict[str, List[int]],
        atomic_types: List[int],
        weights: torch.Tensor,
        composition: torch.Tensor,
        constant: float,
    ):
        super().__init__()
        self.calculators = torch.nn.ModuleDict(calculators)
        # "name:k1,k2,…" → first column and number of columns of that block
        self.offsets: Dict[str, int] = {}
        self.widths: Dict[str, int] = {}
        column = 0
        for name in calculators:
            keys = feature_keys[name]
            for key, width in zip(keys.tolist(), block_widths[name]):
                label = name + ":" + ",".join([str(int(k)) for k in key])
                self.offsets[label] = column
                self.widths[label] = int(width)
                column += int(width)
        if weights.shape != (column,):
            raise ValueError(f"expected {column} weights, got {tuple(weights.shape)}")
        if composition.shape != (len(atomic_types),):
            raise ValueError(f"expected {len(atomic_types)} composition energies")
        self.n_columns = column
        self.atomic_types = atomic_types
        self.register_buffer("types", torch.tensor(atomic_types, dtype=torch.int32))
        self.register_buffer("weights", weights.to(torch.float64))
        self.register_buffer("composition", composition.to(torch.float64))
        self.constant = float(constant)

    def features(self, systems: List[System]) -> torch.Tensor:
        """The feature rows xᵢ of all atoms of ``systems``, (total atoms, columns)"""
        dtype = systems[0].positions.dtype
        device = systems[0].positions.device
        first_atom: List[int] = [0]
        for system in systems:
            first_atom.append(first_atom[-1] + system.positions.shape[0])
        first = torch.tensor(first_atom[:-1], dtype=torch.long, device=device)
        rows: List[torch.Tensor] = []
        columns: List[torch.Tensor] = []
        values: List[torch.Tensor] = []
        for name, calculator in self.calculators.items():
            tensor = calculator(systems)
            for key, block in tensor.items():
                label = name + ":" + ",".join([str(int(k)) for k in key.values])
                if label not in self.offsets:
                    raise ValueError(
                        f"the features {name} have a block {key.print()} the model was not "
                        "fitted on: a type pair it does not know"
                    )
                samples = block.samples.values.to(torch.long)
                atoms = first[samples[:, 0]] + samples[:, 1]
                width = self.widths[label]
                column = torch.arange(width, device=device) + self.offsets[label]
                rows.append(atoms.repeat_interleave(width))
                columns.append(column.repeat(atoms.shape[0]))
                values.append(block.values.reshape(-1))
        features = torch.zeros((first_atom[-1], self.n_columns), dtype=dtype, device=device)
        return features.index_put((torch.cat(rows), torch.cat(columns)), torch.cat(values))

    def forward(
        self,
        systems: List[System],
        outputs: Dict[str, ModelOutput],
        selected_atoms: Optional[Labels] = None,
    ) -> Dict[str, TensorMap]:
        if "energy" not in outputs:
            return {}
        if len(systems) == 0:
            raise ValueError("no systems given")
        device = systems[0].positions.device
        dtype = systems[0].positions.dtype
        for s, system in enumerate(systems):
            known = (system.types.unsqueeze(1) == self.types.unsqueeze(0)).any(dim=1)
            if not bool(torch.all(known)):
                unknown: List[int] = torch.unique(system.types[~known]).to(torch.long).tolist()
                raise ValueError(
                    f"system {s} has atomic types {unknown} that this model does not know "
                    f"(it knows {self.atomic_types})"
                )
            if not bool(torch.all(torch.isfinite(system.positions))):
                raise ValueError(f"system {s} has non-finite positions")

        features = self.features(systems)
        types = torch.cat([system.types for system in systems])
        type_index = torch.nonzero(types.unsqueeze(1) == self.types.unsqueeze(0))[:, 1]
        system_of_atom, atom_index = atom_samples(systems)
        counts = torch.bincount(system_of_atom.to(torch.long), minlength=len(systems))
        atomic = (
            features @ self.weights.to(dtype)
            + self.composition.to(dtype)[type_index]
            + self.constant / counts[system_of_atom.to(torch.long)].to(dtype)
        )

        samples = torch.stack([system_of_atom, atom_index], dim=1)
        if selected_atoms is not None:
            wanted = selected_atoms.values.to(device)
            keep = (samples.unsqueeze(1) == wanted.unsqueeze(0)).all(dim=2).any(dim=1)
            atomic = atomic[keep]
            samples = samples[keep]
            system_of_atom = system_of_atom[keep]

        properties = Labels(["energy"], torch.tensor([[0]], device=device))
        keys = Labels(["_"], torch.tensor([[0]], device=device))
        if outputs["energy"].sample_kind == "atom":
            block = TensorBlock(
                values=atomic.reshape(-1, 1),
                samples=Labels(["system", "atom"], samples),
                components=[],
                properties=properties,
            )
        else:
            total = torch.zeros(len(systems), dtype=dtype, device=device)
            total = total.index_add(0, system_of_atom.to(torch.long), atomic)
            block = TensorBlock(
                values=total.reshape(-1, 1),
                samples=Labels(
                    ["system"],
                    torch.arange(len(systems), dtype=torch.int32, device=device).reshape(-1, 1),
                ),
                components=[],
                properties=properties,
            )
        return {"energy": TensorMap(keys, [block])}
