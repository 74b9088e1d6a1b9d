"""``farsighted eval``: the energies, forces and stress a saved metatomic model predicts for the
structures of a file, their errors where the file has reference values, and optionally the
predictions written to an extended XYZ file."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any, Optional

from ._cli_common import CliError, Messages, check_directory_of, read_structures
from ._cli_evaluate import (
    Predictions,
    check_atomic_types,
    default_extensions,
    error_table,
    errors,
    evaluate,
    load_model,
)
from ._cli_targets import EVAL_NAMES, parse_target_names, read_references

PREDICTION_KEYS = {
    "energy": "predicted_energy",
    "forces": "predicted_forces",
    "stress": "predicted_stress",
}
"""Where ``--output`` stores the predictions: ``atoms.info`` (energy, eV; 3×3 stress, eV/Å³)
and ``atoms.arrays`` (forces, eV/Å); the reference values stay where they were."""


def write_predictions(frames: Sequence[Any], predictions: Predictions, output: str) -> None:
    """Write ``frames`` with their ``predictions`` to the extended XYZ file ``output``."""
    import ase.io

    for i, atoms in enumerate(frames):
        atoms.info[PREDICTION_KEYS["energy"]] = float(predictions.energies[i])
        atoms.arrays[PREDICTION_KEYS["forces"]] = predictions.forces[i]
        if predictions.stress[i] is not None:
            atoms.info[PREDICTION_KEYS["stress"]] = predictions.stress[i]
    try:
        ase.io.write(output, list(frames), format="extxyz")
    except OSError as error:
        raise CliError(f"could not write the predictions to '{output}': {error}") from None


def run_eval(
    model_path: str,
    structures: str,
    extensions: Optional[str] = None,
    targets: Optional[str] = None,
    output: Optional[str] = None,
    index: str = ":",
    format: Optional[str] = None,
    batch_size: int = 8,
    progress: bool = True,
) -> int:
    """Evaluate, print the errors, write the predictions. Raises :py:class:`CliError` on bad
    input."""
    names = EVAL_NAMES if targets is None else parse_target_names(targets)
    if output is not None:
        check_directory_of(output)
    if extensions is None:
        extensions = default_extensions(model_path)
    model = load_model(model_path, extensions)
    frames = read_structures(structures, index=index, format=format)
    hint = "name the keys with --targets energy=KEY,forces=KEY,stress=KEY ('none' skips one)"
    references = read_references(frames, names, structures, targets is not None, hint)
    check_atomic_types(model, frames, structures)

    predictions = evaluate(model, frames, structures, None, batch_size, Messages(progress))
    n_atoms = [len(atoms) for atoms in frames]
    values = errors(predictions, references, n_atoms)
    name = model.metadata().name
    print(f"model '{name}' ({model_path}) on {len(frames)} structures of '{structures}'")
    if values:
        print(error_table([(os.path.basename(structures), len(frames), values)]))
    else:
        print("no reference values to compare with (name them with --targets)")
    if output is not None:
        write_predictions(frames, predictions, output)
        print(f"predictions written to {output} (keys: {', '.join(PREDICTION_KEYS.values())})")
    return 0


def add_parser(subparsers: Any, positive_int: Any) -> None:
    """Add the ``eval`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a saved model on a structure file, with its errors",
        description="Evaluate a metatomic model (energies, forces, and the stress of 3D-periodic "
        "structures) on the structures of a file; print the errors where the file has reference "
        "values.",
    )
    parser.add_argument("model", metavar="MODEL.pt", help="metatomic model file")
    parser.add_argument("structures", metavar="STRUCTURES", help="structure file")
    parser.add_argument(
        "--extensions",
        default=None,
        metavar="DIR",
        help="compiled extensions of the model (default: extensions/ next to the model)",
    )
    parser.add_argument(
        "--targets",
        default=None,
        metavar="energy=KEY,forces=KEY,stress=KEY",
        help="keys of the reference values (default: energy, forces and stress where present; "
        "'none' skips one)",
    )
    parser.add_argument(
        "--output", "-o", default=None, metavar="OUT.xyz", help="write the predictions there"
    )
    parser.add_argument(
        "--index", default=":", help="which structures to read, in ase.io.read syntax"
    )
    parser.add_argument("--format", default=None, help="file format for ase.io.read")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="structures evaluated together (default: 8)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``farsighted eval`` with the parsed arguments."""
    return run_eval(
        args.model,
        args.structures,
        extensions=args.extensions,
        targets=args.targets,
        output=args.output,
        index=args.index,
        format=args.format,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
