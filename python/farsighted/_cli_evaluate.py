"""Evaluation of a saved metatomic model on structures, and its errors against references:
shared by ``farsighted fit`` (the errors of the file it wrote, on the training and validation
sets) and ``farsighted eval``.

The model is loaded with :py:func:`metatomic.torch.load_atomistic_model` and run through
:py:class:`metatomic_ase.MetatomicCalculator`, as ASE would run it: forces are minus the
gradient of the energy, and the stress of 3D-periodic structures its derivative with respect
to strain over the volume. Errors:

- energy: RMSE and MAE of Eᵖʳᵉᵈ - Eʳᵉᶠ over structures (eV), and of (Eᵖʳᵉᵈ - Eʳᵉᶠ)/N over
  structures (meV/atom);
- forces: over all Cartesian components of all atoms (eV/Å);
- stress: over the nine components of the stress of the 3D-periodic structures (eV/Å³).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ._cli_common import CliError, Messages, error_message, locate
from ._cli_targets import References


@dataclass
class Predictions:
    """What a model predicts for some structures."""

    energies: np.ndarray
    """(n_structures,) in eV"""
    forces: list[np.ndarray]
    """one (n_atoms, 3) array per structure, in eV/Å"""
    stress: list[Optional[np.ndarray]]
    """one 3×3 array per 3D-periodic structure (None for the others), in eV/Å³"""


def default_extensions(model_path: str) -> Optional[str]:
    """The ``extensions/`` folder next to the model file (where
    :py:func:`farsighted.torch.save_model` puts it), if there is one."""
    folder = os.path.join(os.path.dirname(os.path.abspath(model_path)), "extensions")
    return folder if os.path.isdir(folder) else None


def load_model(path: str, extensions: Optional[str]) -> Any:
    """Load the metatomic model at ``path`` with the compiled extensions of ``extensions``."""
    from metatomic.torch import load_atomistic_model

    if not os.path.isfile(path):
        raise CliError(f"model file '{path}' does not exist")
    if extensions is not None and not os.path.isdir(extensions):
        raise CliError(f"extensions directory '{extensions}' does not exist")
    try:
        model = load_atomistic_model(path, extensions_directory=extensions)
    except Exception as error:  # noqa: BLE001 (torch raises many exception types here)
        raise CliError(
            f"could not load the model '{path}': {error_message(error)} (is it a metatomic "
            "model file? does it need --extensions DIR?)"
        ) from None
    if "energy" not in model.capabilities().outputs:
        raise CliError(f"the model '{path}' has no 'energy' output")
    return model


def check_atomic_types(model: Any, frames: Sequence[Any], path: str) -> None:
    """Raise if a structure has atomic types that ``model`` does not know."""
    from ase.data import chemical_symbols

    def names(types):
        return ", ".join(f"{chemical_symbols[t]} ({t})" for t in sorted(types))

    known = {int(t) for t in model.capabilities().atomic_types}
    for i, atoms in enumerate(frames):
        unknown = {int(t) for t in atoms.numbers} - known
        if unknown:
            raise CliError(
                f"structure {i} of '{path}' has atoms of types {names(unknown)} that the model "
                f"does not know; it knows {names(known)}"
            )


def _batches(frames: Sequence[Any], batch_size: int) -> list[list[int]]:
    """Consecutive structures in groups of at most ``batch_size``, 3D-periodic ones apart from
    the others (metatomic-ase computes the stress of a batch only if all are periodic)."""
    batches: list[list[int]] = []
    for i, atoms in enumerate(frames):
        periodic = bool(np.all(atoms.pbc))
        if (
            batches
            and len(batches[-1]) < batch_size
            and bool(np.all(frames[batches[-1][0]].pbc)) == periodic
        ):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def evaluate(
    model: Any,
    frames: Sequence[Any],
    path: str,
    indices: Optional[Sequence[int]] = None,
    batch_size: int = 8,
    messages: Optional[Messages] = None,
    description: str = "evaluating",
) -> Predictions:
    """Energies, forces and (for 3D-periodic structures) stress that ``model`` predicts for
    ``frames``; ``indices`` are their positions in the file ``path``, for error messages."""
    from metatomic_ase import MetatomicCalculator

    messages = messages or Messages(False)
    indices = list(range(len(frames))) if indices is None else list(indices)
    calculator = MetatomicCalculator(model)
    energies = np.zeros(len(frames))
    forces: list[Any] = [None] * len(frames)
    stress: list[Optional[np.ndarray]] = [None] * len(frames)
    with messages.bar(len(frames), "structure", description) as bar:
        for batch in _batches(frames, batch_size):
            atoms = [frames[i] for i in batch]
            try:
                result = calculator.compute_energy(atoms, compute_forces_and_stresses=True)
            except Exception as error:  # noqa: BLE001 (TorchScript raises its own errors)
                located = locate(error_message(error), [indices[i] for i in batch], path)
                raise CliError(f"could not evaluate the model: {located}") from None
            for position, i in enumerate(batch):
                energies[i] = float(result["energy"][position])
                forces[i] = np.asarray(result["forces"][position], dtype=float)
                if "stress" in result:
                    stress[i] = np.asarray(result["stress"][position], dtype=float)
            bar.update(len(batch))
    return Predictions(energies, forces, stress)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def _rmse_mae(differences: np.ndarray) -> tuple[float, float]:
    return float(np.sqrt(np.mean(differences**2))), float(np.mean(np.abs(differences)))


def errors(
    predictions: Predictions, references: References, n_atoms: Sequence[int]
) -> dict[str, tuple[float, float]]:
    """(RMSE, MAE) of each quantity that has references: ``energy`` (eV), ``energy per atom``
    (meV/atom), ``forces`` (eV/Å) and ``stress`` (eV/Å³)."""
    result: dict[str, tuple[float, float]] = {}
    if references.energies is not None:
        difference = predictions.energies - references.energies
        result["energy"] = _rmse_mae(difference)
        result["energy per atom"] = _rmse_mae(1000 * difference / np.asarray(n_atoms))
    if references.forces is not None:
        difference = np.concatenate(
            [p - r for p, r in zip(predictions.forces, references.forces)], axis=0
        )
        result["forces"] = _rmse_mae(difference)
    if references.stress is not None:
        pairs = [(p, r) for p, r in zip(predictions.stress, references.stress) if r is not None]
        if pairs:
            result["stress"] = _rmse_mae(np.stack([p - r for p, r in pairs]))
    return result


_ROWS = [
    ("energy", "energy", "eV"),
    ("energy per atom", "energy", "meV/atom"),
    ("forces", "forces", "eV/Å"),
    ("stress", "stress", "eV/Å³"),
]


def error_table(columns: Sequence[tuple[str, int, dict[str, tuple[float, float]]]]) -> str:
    """The errors as a table: one column per (title, number of structures, errors), one row
    per quantity and statistic; numbers with 6 significant digits."""
    width = max(14, *(len(title) + 2 for title, _, _ in columns))
    lines = ["".ljust(24) + "".join(title.rjust(width) for title, _, _ in columns)]
    lines.append("structures".ljust(24) + "".join(f"{n}".rjust(width) for _, n, _ in columns))
    for key, quantity, unit in _ROWS:
        for statistic, position in (("RMSE", 0), ("MAE", 1)):
            if not any(key in values for _, _, values in columns):
                continue
            cells = [
                f"{values[key][position]:.6g}" if key in values else "-" for _, _, values in columns
            ]
            label = f"{quantity} {statistic} [{unit}]"
            lines.append(label.ljust(24) + "".join(cell.rjust(width) for cell in cells))
    return "\n".join(lines)
