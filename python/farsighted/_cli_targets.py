"""Reference energies, forces and stress of the structures given to ``farsighted fit`` and
``farsighted eval``, found under the names the user gives.

ase's extended XYZ reader keeps the standard names (``energy``, ``forces``, ``stress``, ...)
in the results of a single-point calculator attached to the structure, and other names in
``atoms.info`` (per structure) and ``atoms.arrays`` (per atom); all three are searched.
Energies are in eV, forces in eV/Å and stress in eV/Å³ (ase's sign: the derivative of the
energy with respect to strain, divided by the volume), stored as 3×3, 9 or 6 (Voigt) numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ._cli_common import CliError

TARGETS = ("energy", "forces", "stress")
"""The quantities that can be compared with a model's predictions."""

DEFAULT_NAMES: dict[str, Optional[str]] = {"energy": "energy", "forces": "forces", "stress": None}
"""The names a fit looks up when the configuration does not name the targets."""

EVAL_NAMES: dict[str, Optional[str]] = {"energy": "energy", "forces": "forces", "stress": "stress"}
"""The names ``farsighted eval`` looks up, where present, without ``--targets``."""


@dataclass
class References:
    """Reference values of some structures; ``None`` where a quantity is not compared."""

    energies: Optional[np.ndarray] = None
    """(n_structures,) in eV"""
    forces: Optional[list[np.ndarray]] = None
    """one (n_atoms, 3) array per structure, in eV/Å"""
    stress: Optional[list[Optional[np.ndarray]]] = None
    """one 3×3 array per 3D-periodic structure (None for the others), in eV/Å³"""

    def select(self, indices: Sequence[int]) -> References:
        """The references of the structures at ``indices``."""

        def pick(values):
            return None if values is None else [values[i] for i in indices]

        energies = None if self.energies is None else self.energies[list(indices)]
        return References(energies, pick(self.forces), pick(self.stress))


def parse_target_names(text: str) -> dict[str, Optional[str]]:
    """Parse ``--targets energy=NAME,forces=NAME,stress=NAME`` (``none`` to skip one)."""
    names: dict[str, Optional[str]] = {target: None for target in TARGETS}
    for item in text.split(","):
        target, separator, name = item.strip().partition("=")
        if not separator or target.strip() not in TARGETS or not name.strip():
            raise CliError(
                f"invalid --targets entry '{item.strip()}': expected TARGET=NAME with TARGET "
                f"among {', '.join(TARGETS)}, e.g. --targets energy=energy_dft,forces=forces_dft"
            )
        name = name.strip()
        names[target.strip()] = None if name.lower() in ("none", "null") else name
    return names


def lookup(atoms: Any, name: str) -> Any:
    """The value stored under ``name`` in ``atoms.info``, ``atoms.arrays`` or the results of
    ``atoms.calc``; None if there is none."""
    if name in atoms.info:
        return atoms.info[name]
    if name in atoms.arrays:
        return atoms.arrays[name]
    results = getattr(atoms.calc, "results", None) or {}
    return results.get(name)


def _available(atoms: Any) -> str:
    results = getattr(atoms.calc, "results", None) or {}
    names = list(atoms.info) + [n for n in atoms.arrays if n not in ("numbers", "positions")]
    names += list(results)
    return ", ".join(sorted(set(names))) or "nothing"


def _as_energy(value: Any) -> float:
    array = np.asarray(value, dtype=float)
    if array.size != 1 or not np.isfinite(array).all():
        raise ValueError(f"expected one finite number, got {np.asarray(value).tolist()}")
    return float(array.reshape(()))


def _as_forces(value: Any, n_atoms: int) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != (n_atoms, 3):
        raise ValueError(f"expected shape ({n_atoms}, 3), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("some values are not finite")
    return array


def _as_stress(value: Any) -> np.ndarray:
    from ase.stress import voigt_6_to_full_3x3_stress

    array = np.asarray(value, dtype=float)
    if array.shape == (6,):
        array = voigt_6_to_full_3x3_stress(array)
    elif array.shape == (9,):
        array = array.reshape(3, 3)
    if array.shape != (3, 3):
        raise ValueError(f"expected 3×3, 9 or 6 (Voigt) numbers, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("some values are not finite")
    return array


def _values(frames: Sequence[Any], target: str, name: str, path: str, required: bool, hint: str):
    """The values of ``target`` stored under ``name`` in each of ``frames``, or None if no
    structure has any and ``required`` is false."""
    applies = [target != "stress" or bool(np.all(atoms.pbc)) for atoms in frames]
    found = [lookup(atoms, name) if use else None for atoms, use in zip(frames, applies)]
    if not required and all(value is None for value in found):
        return None
    values = []
    for i, (atoms, value, use) in enumerate(zip(frames, found, applies)):
        if not use:
            values.append(None)
            continue
        if value is None:
            raise CliError(
                f"structure {i} of '{path}' has no {target} '{name}' (it has: "
                f"{_available(atoms)}); {hint}"
            )
        try:
            if target == "energy":
                values.append(_as_energy(value))
            elif target == "forces":
                values.append(_as_forces(value, len(atoms)))
            else:
                values.append(_as_stress(value))
        except ValueError as error:
            raise CliError(
                f"invalid {target} '{name}' in structure {i} of '{path}': {error}"
            ) from None
    return values


def read_references(
    frames: Sequence[Any],
    names: dict[str, Optional[str]],
    path: str,
    required: bool,
    hint: str = "name the right keys of the targets",
) -> References:
    """Reference values of ``frames`` (read from ``path``) under ``names`` (target → key,
    None to skip it). With ``required``, every structure must have every named target (stress:
    every 3D-periodic structure); otherwise a target no structure has is skipped. ``hint``
    ends the message of a missing value: how to name the keys."""
    references = References()
    for target in TARGETS:
        name = names.get(target)
        if name is None:
            continue
        values = _values(frames, target, name, path, required, hint)
        if values is None:
            continue
        if target == "energy":
            references.energies = np.array(values, dtype=float)
        elif target == "forces":
            references.forces = values
        elif any(value is not None for value in values):
            references.stress = values
    return references
