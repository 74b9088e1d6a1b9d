"""The ``farsighted`` command line.

``farsighted featurize STRUCTURES --hypers HYPERS.json --output OUT.mts``
    computes the LODE spherical expansion of every structure of a file that ``ase.io.read``
    reads, and saves it as one :py:class:`metatensor.TensorMap` (``.mts`` file);
``farsighted demo``
    the point-charge demonstration on the data set shipped with farsighted: learning curves of
    SOAP, LODE and multi-scale ridge models of Coulomb and dispersion energies, fitted on
    energies and on energies and forces (a table on stdout and a plot);
``farsighted --version``
    prints the version.

:py:func:`main` returns the exit status instead of exiting, so that it can be called from
Python: ``0`` on success, ``2`` on bad input (missing files, invalid JSON or hyper-parameters,
non-periodic structures), with a one-line message on stderr and no traceback. Errors in the
command line itself are reported by :py:mod:`argparse`, which raises ``SystemExit(2)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import farsighted

_HYPER_KEYS = ("density", "basis", "k_cutoff")
_REQUIRED_HYPER_KEYS = ("density", "basis")
_GRADIENT_CHOICES = ("positions", "strain")

DEMO_PLOT = "point-charge-learning-curves.png"


class CliError(Exception):
    """An error in the user's input, reported as one line and exit status 2."""


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def read_hypers(path: str) -> dict[str, Any]:
    """Read featomic-style LODE hyper-parameters (``density``, ``basis``, ``k_cutoff``) from
    the JSON file at ``path``."""
    if not os.path.isfile(path):
        raise CliError(f"hyper-parameters file '{path}' does not exist")
    try:
        with open(path, encoding="utf8") as file:
            hypers = json.load(file)
    except json.JSONDecodeError as error:
        raise CliError(f"hyper-parameters file '{path}' is not valid JSON: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"could not read hyper-parameters file '{path}': {error}") from None

    if not isinstance(hypers, dict):
        raise CliError(
            f"hyper-parameters file '{path}' must contain a JSON object with keys "
            f"{', '.join(_HYPER_KEYS)}, got {type(hypers).__name__}"
        )
    for key in hypers:
        if key not in _HYPER_KEYS:
            raise CliError(
                f"invalid hyper-parameters in '{path}': unknown hyper-parameter '{key}' "
                f"(expected one of: {', '.join(_HYPER_KEYS)})"
            )
    for key in _REQUIRED_HYPER_KEYS:
        if key not in hypers:
            raise CliError(f"invalid hyper-parameters in '{path}': missing hyper-parameter '{key}'")
    return hypers


def make_calculator(hypers: dict[str, Any], source: str) -> farsighted.LodeSphericalExpansion:
    """Build the calculator, turning the library's errors into :py:class:`CliError`."""
    try:
        return farsighted.LodeSphericalExpansion(**hypers)
    except (ValueError, TypeError, KeyError) as error:
        message = str(error)
        if isinstance(error, KeyError):
            message = f"missing hyper-parameter {message}"
        raise CliError(f"invalid hyper-parameters in '{source}': {message}") from None


def read_structures(path: str, index: str = ":", format: str | None = None) -> list[Any]:
    """Read the structures selected by ``index`` from ``path`` with ``ase.io.read``, and check
    that they are periodic in three directions."""
    import ase.io

    if not os.path.isfile(path):
        raise CliError(f"structure file '{path}' does not exist")
    try:
        frames = ase.io.read(path, index=index, format=format)
    except Exception as error:  # noqa: BLE001 (ase's readers raise many exception types)
        if isinstance(error, (StopIteration, IndexError)):
            message = f"index '{index}' is out of range"
        else:
            message = str(error) or f"{type(error).__name__} (is --format right?)"
        raise CliError(f"could not read structures from '{path}': {message}") from None
    if not isinstance(frames, list):
        frames = [frames]
    if len(frames) == 0:
        raise CliError(f"no structures selected in '{path}' (index '{index}')")

    for i, atoms in enumerate(frames):
        if len(atoms) == 0:
            raise CliError(f"structure {i} of '{path}' has no atoms")
        if not all(atoms.pbc):
            pbc = "".join("T" if p else "F" for p in atoms.pbc)
            raise CliError(
                f"structure {i} of '{path}' is not periodic in all three directions "
                f"(pbc={pbc}); farsighted needs 3D periodic cells for now"
            )
        if abs(atoms.cell.volume) < 1e-6:
            raise CliError(f"structure {i} of '{path}' has a zero-volume cell")
    return frames


def _output_path(output: str) -> Path:
    """``output``, with the ``.mts`` extension that ``metatensor.save`` would add anyway."""
    path = Path(output)
    if path.suffix != ".mts":
        path = path.with_name(path.name + ".mts")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"output directory '{parent}' does not exist")
    return path


# ---------------------------------------------------------------------------------------------
# featurization
# ---------------------------------------------------------------------------------------------


def _shifted(values: np.ndarray, names: Sequence[str], shifts: dict[str, int]) -> np.ndarray:
    values = np.array(values, dtype=np.int32, copy=True)
    for name, shift in shifts.items():
        if shift != 0 and name in names:
            values[:, list(names).index(name)] += shift
    return values


def join_batches(batches: Sequence[Any], n_systems: Sequence[int]) -> Any:
    """Join the TensorMaps computed on consecutive batches of systems into the TensorMap that
    one computation on all the systems gives.

    ``n_systems[b]`` is the number of systems in batch ``b``. In every block, the ``system``
    sample of batch ``b`` is shifted by the number of systems of the earlier batches; in the
    gradient blocks the ``sample`` column (the row of the values it belongs to) is shifted by
    the number of samples of the same block in earlier batches, and the ``system`` column as
    above. A key missing from a batch (no system of the batch has both its centre and its
    neighbour type) contributes no samples. Keys keep the calculator's order when all batches
    have the same keys; otherwise they are sorted by (center_type, neighbor_type, o3_lambda,
    o3_sigma).
    """
    from metatensor import Labels, TensorBlock, TensorMap

    if len(batches) == 0:
        raise ValueError("no batches to join")
    if len(batches) != len(n_systems):
        raise ValueError("need one number of systems per batch")
    if len(batches) == 1:
        return batches[0]

    key_names = list(batches[0].keys.names)
    first_keys = batches[0].keys.values
    if all(
        t.keys.values.shape == first_keys.shape and np.array_equal(t.keys.values, first_keys)
        for t in batches
    ):
        keys = np.asarray(first_keys, dtype=np.int32)
    else:
        unique = {tuple(int(v) for v in key) for t in batches for key in t.keys.values}
        priority = [
            key_names.index(name)
            for name in ["center_type", "neighbor_type", "o3_lambda", "o3_sigma"]
            if name in key_names
        ]
        priority += [i for i in range(len(key_names)) if i not in priority]
        keys = np.array(
            sorted(unique, key=lambda key: tuple(key[i] for i in priority)), dtype=np.int32
        ).reshape(-1, len(key_names))

    offsets = np.concatenate([[0], np.cumsum(n_systems)[:-1]]).astype(int)
    blocks = []
    for key in keys:
        selection = Labels(key_names, key.reshape(1, -1))
        parts = []
        for batch, offset in zip(batches, offsets):
            position = batch.keys.position(selection.entry(0))
            if position is not None:
                parts.append((batch.block(position), int(offset)))
        reference = parts[0][0]

        sample_names = reference.samples.names
        block = TensorBlock(
            values=np.concatenate([part.values for part, _ in parts], axis=0),
            samples=Labels(
                sample_names,
                np.concatenate(
                    [
                        _shifted(part.samples.values, sample_names, {"system": offset})
                        for part, offset in parts
                    ],
                    axis=0,
                ),
            ),
            components=reference.components,
            properties=reference.properties,
        )

        for parameter in reference.gradients_list():
            gradient_parts = []
            n_samples_before = 0
            for part, offset in parts:
                gradient = part.gradient(parameter)
                gradient_parts.append((gradient, {"sample": n_samples_before, "system": offset}))
                n_samples_before += part.values.shape[0]
            names = gradient_parts[0][0].samples.names
            block.add_gradient(
                parameter,
                TensorBlock(
                    values=np.concatenate([g.values for g, _ in gradient_parts], axis=0),
                    samples=Labels(
                        names,
                        np.concatenate(
                            [_shifted(g.samples.values, names, s) for g, s in gradient_parts],
                            axis=0,
                        ).reshape(-1, len(names)),
                    ),
                    components=gradient_parts[0][0].components,
                    properties=gradient_parts[0][0].properties,
                ),
            )
        blocks.append(block)

    return TensorMap(Labels(key_names, keys), blocks)


def featurize(
    calculator: farsighted.LodeSphericalExpansion,
    frames: Sequence[Any],
    gradients: Sequence[str] = (),
    batch_size: int = 16,
    progress: bool = True,
) -> Any:
    """Compute the LODE spherical expansion of ``frames`` in batches of ``batch_size``
    structures (with a progress bar on stderr), and join the batches in one TensorMap."""
    from tqdm import tqdm

    if batch_size < 1:
        raise CliError(f"batch size must be at least 1, got {batch_size}")
    gradients = list(gradients)
    batches = []
    n_systems = []
    with tqdm(
        total=sum(len(atoms) for atoms in frames),
        unit="atom",
        desc="featurizing",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        for start in range(0, len(frames), batch_size):
            batch = list(frames[start : start + batch_size])
            try:
                batches.append(calculator.compute(batch, gradients=gradients))
            except ValueError as error:
                raise CliError(
                    f"could not featurize structures {start} to {start + len(batch) - 1}: {error}"
                ) from None
            n_systems.append(len(batch))
            bar.update(sum(len(atoms) for atoms in batch))
    return join_batches(batches, n_systems)


def _format_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ["B", "kB", "MB", "GB"]:
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def summary(
    frames: Sequence[Any],
    descriptor: Any,
    output: Path,
    compute_time: float,
    total_time: float,
) -> str:
    """The summary printed after a featurization."""
    from ase.data import chemical_symbols

    n_atoms = sum(len(atoms) for atoms in frames)
    species = sorted({int(z) for atoms in frames for z in atoms.numbers})
    species_text = ", ".join(f"{chemical_symbols[z]} ({z})" for z in species)
    n_values = sum(block.values.size for block in descriptor)
    gradient_counts: dict[str, int] = {}
    for block in descriptor:
        for parameter, gradient in block.gradients():
            gradient_counts[parameter] = gradient_counts.get(parameter, 0) + gradient.values.size
    lambdas = sorted({int(v) for v in descriptor.keys.column("o3_lambda")})

    rows = [
        ("structures", f"{len(frames)}"),
        ("atoms", f"{n_atoms}"),
        ("species", f"{len(species)}: {species_text}"),
        ("keys/blocks", f"{len(descriptor.keys)} (o3_lambda {lambdas[0]}..{lambdas[-1]})"),
        ("feature values", f"{n_values:,}"),
    ]
    for parameter, count in gradient_counts.items():
        rows.append((f"{parameter} gradients", f"{count:,} values"))
    throughput = n_atoms / compute_time if compute_time > 0 else float("inf")
    rows += [
        ("output", f"{output} ({_format_size(output.stat().st_size)})"),
        ("elapsed", f"{total_time:.2f} s (featurization {compute_time:.2f} s)"),
        ("throughput", f"{throughput:,.0f} atoms/s"),
    ]
    lines = [f"{name:<20}{value}" for name, value in rows]
    return "\n".join(lines)


def run_featurize(
    structures: str,
    hypers_path: str,
    output: str,
    gradients: Sequence[str] = (),
    index: str = ":",
    batch_size: int = 16,
    format: str | None = None,
    max_structures: int | None = None,
    progress: bool = True,
) -> int:
    """Read, featurize, save, and print the summary. Raises :py:class:`CliError` on bad input."""
    import metatensor

    start = time.perf_counter()
    hypers = read_hypers(hypers_path)
    calculator = make_calculator(hypers, hypers_path)
    output_path = _output_path(output)
    frames = read_structures(structures, index=index, format=format)
    if max_structures is not None:
        if max_structures < 1:
            raise CliError(f"--max-structures must be at least 1, got {max_structures}")
        frames = frames[:max_structures]

    compute_start = time.perf_counter()
    descriptor = featurize(calculator, frames, gradients, batch_size, progress)
    compute_time = time.perf_counter() - compute_start

    try:
        metatensor.save(str(output_path), descriptor)
    except (OSError, metatensor.MetatensorError) as error:
        raise CliError(f"could not save features to '{output_path}': {error}") from None
    total_time = time.perf_counter() - start

    print(summary(frames, descriptor, output_path, compute_time, total_time))
    return 0


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_common_options(parser: argparse.ArgumentParser, default_output: str | None):
    parser.add_argument(
        "--output",
        "-o",
        required=default_output is None,
        default=default_output,
        help="where to save the features, as a metatensor .mts file"
        + (f" (default: {default_output})" if default_output else ""),
    )
    parser.add_argument(
        "--gradients",
        nargs="*",
        choices=_GRADIENT_CHOICES,
        default=[],
        metavar="{positions,strain}",
        help="gradients to compute as well (any of: positions strain)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=16,
        help="number of structures computed together (default: 16)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="do not show the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``farsighted`` command."""
    parser = argparse.ArgumentParser(
        prog="farsighted",
        description="Long-range (LODE) features for atomistic machine learning.",
    )
    parser.add_argument(
        "--version", action="version", version=f"farsighted {farsighted.__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    featurize_parser = subparsers.add_parser(
        "featurize",
        help="compute the LODE spherical expansion of a structure file",
        description="Compute the LODE spherical expansion of the structures of a file that "
        "ase.io.read reads, and save it as one metatensor TensorMap (.mts).",
    )
    featurize_parser.add_argument("structures", metavar="STRUCTURES", help="structure file")
    featurize_parser.add_argument(
        "--hypers",
        required=True,
        metavar="HYPERS.json",
        help='featomic-style hyper-parameters: {"density": ..., "basis": ..., "k_cutoff": ...}',
    )
    featurize_parser.add_argument(
        "--index",
        default=":",
        help="which structures to read, in ase.io.read syntax (default: ':', all of them)",
    )
    featurize_parser.add_argument(
        "--format", default=None, help="file format for ase.io.read (default: guessed)"
    )
    _add_common_options(featurize_parser, default_output=None)

    demo_parser = subparsers.add_parser(
        "demo",
        help="learning curves of SOAP, LODE and multi-scale models on shipped point charges",
        description="Fit ridge models of the Coulomb and dispersion energies of the shipped "
        "random Na+/Cl- boxes on SOAP, LODE and multi-scale features; print the learning "
        "curves and plot them.",
    )
    demo_parser.add_argument(
        "--targets",
        nargs="+",
        choices=["coulomb", "dispersion"],
        default=["coulomb", "dispersion"],
        help="energies to learn (default: both)",
    )
    demo_parser.add_argument(
        "--train-sizes",
        nargs="+",
        type=_positive_int,
        default=[20, 40, 80, 160, 320],
        help="numbers of training structures (default: 20 40 80 160 320)",
    )
    demo_parser.add_argument(
        "--n-test", type=_positive_int, default=80, help="test structures (default: 80)"
    )
    demo_parser.add_argument(
        "--max-structures",
        type=_positive_int,
        default=None,
        help="use only the first N structures of the data set",
    )
    demo_parser.add_argument(
        "--plot", default=DEMO_PLOT, help=f"where to write the plot (default: {DEMO_PLOT})"
    )
    demo_parser.add_argument(
        "--no-forces-fit",
        action="store_true",
        help="fit the models on energies only (faster: the feature gradients of the test "
        "structures only)",
    )
    demo_parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``farsighted`` command with the arguments ``argv`` (default: ``sys.argv[1:]``),
    and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "featurize":
            return run_featurize(
                args.structures,
                args.hypers,
                args.output,
                gradients=args.gradients,
                index=args.index,
                batch_size=args.batch_size,
                format=args.format,
                progress=not args.quiet,
            )
        elif args.command == "demo":
            from .point_charge_demo import run as run_demo

            try:
                run_demo(
                    targets=args.targets,
                    train_sizes=args.train_sizes,
                    n_test=args.n_test,
                    max_structures=args.max_structures,
                    plot=args.plot,
                    progress=not args.quiet,
                    forces_fit=not args.no_forces_fit,
                )
            except ValueError as error:
                raise CliError(str(error)) from None
        else:  # pragma: no cover (argparse rejects unknown commands)
            parser.error(f"unknown command '{args.command}'")
    except CliError as error:
        print(f"farsighted: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("farsighted: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (``farsighted ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0
