"""``farsighted featurize``: the LODE spherical expansion of every structure of a file, saved
as one :py:class:`metatensor.TensorMap`.

Structures are computed in batches and the batches joined into the TensorMap that one call of
:py:meth:`farsighted.LodeSphericalExpansion.compute` on all of them gives. Every geometry the
calculator handles is accepted (3D-periodic cells, slabs, open systems); the calculator checks
them, and its errors are reported with the index of the structure in the file.
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import farsighted

from ._cli_common import (
    CliError,
    Messages,
    check_keys,
    error_message,
    locate,
    read_config_file,
    read_structures,
)

_GRADIENT_CHOICES = ("positions", "strain")


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def hyper_parameter_names() -> tuple[list[str], list[str]]:
    """The (accepted, required) hyper-parameters of :py:class:`farsighted.LodeSphericalExpansion`,
    from its signature."""
    parameters = list(inspect.signature(farsighted.LodeSphericalExpansion).parameters.values())
    accepted = [p.name for p in parameters]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    return accepted, required


def read_hypers(path: str) -> dict[str, Any]:
    """Read the hyper-parameters of :py:class:`farsighted.LodeSphericalExpansion` (``density``,
    ``basis``, and optionally ``k_cutoff`` or ``accuracy``) from the JSON file at ``path``."""
    hypers = read_config_file(path, "hyper-parameters")
    accepted, required = hyper_parameter_names()
    check_keys(hypers, accepted, f"the hyper-parameters of '{path}'")
    for key in required:
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
    source: str = "the input",
) -> Any:
    """Compute the LODE spherical expansion of ``frames`` (read from ``source``) in batches of
    ``batch_size`` structures, with a progress bar on stderr, and join the batches in one
    TensorMap."""
    if batch_size < 1:
        raise CliError(f"batch size must be at least 1, got {batch_size}")
    gradients = list(gradients)
    batches = []
    n_systems = []
    with Messages(progress).bar(sum(len(a) for a in frames), "atom", "featurizing") as bar:
        for start in range(0, len(frames), batch_size):
            batch = list(frames[start : start + batch_size])
            indices = list(range(start, start + len(batch)))
            try:
                batches.append(calculator.compute(batch, gradients=gradients))
            except (ValueError, TypeError) as error:
                raise CliError(
                    "could not featurize " + locate(error_message(error), indices, source)
                ) from None
            n_systems.append(len(batch))
            bar.update(sum(len(atoms) for atoms in batch))
    return join_batches(batches, n_systems)


def _geometries(frames: Sequence[Any]) -> str:
    """How many structures are 3D-periodic, slabs and open, e.g. "3 periodic, 1 open"."""
    names = {3: "periodic", 2: "slab", 1: "wire", 0: "open"}
    counts: dict[str, int] = {}
    for atoms in frames:
        name = names[int(np.sum(atoms.pbc))]
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{count} {name}" for name, count in counts.items())


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
        ("structures", f"{len(frames)} ({_geometries(frames)})"),
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
    progress: bool = True,
) -> int:
    """Read, featurize, save, and print the summary. Raises :py:class:`CliError` on bad input."""
    import metatensor

    start = time.perf_counter()
    hypers = read_hypers(hypers_path)
    calculator = make_calculator(hypers, hypers_path)
    output_path = _output_path(output)
    frames = read_structures(structures, index=index, format=format)

    compute_start = time.perf_counter()
    descriptor = featurize(calculator, frames, gradients, batch_size, progress, structures)
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


def add_parser(subparsers: Any, positive_int: Any) -> None:
    """Add the ``featurize`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "featurize",
        help="compute the LODE spherical expansion of a structure file",
        description="Compute the LODE spherical expansion of the structures of a file that "
        "ase.io.read reads (3D-periodic cells, slabs and open systems), and save it as one "
        "metatensor TensorMap (.mts).",
    )
    parser.add_argument("structures", metavar="STRUCTURES", help="structure file")
    parser.add_argument(
        "--hypers",
        required=True,
        metavar="HYPERS.json",
        help='hyper-parameters of farsighted.LodeSphericalExpansion: {"density": ..., '
        '"basis": ..., "k_cutoff" or "accuracy": ...}',
    )
    parser.add_argument(
        "--index",
        default=":",
        help="which structures to read, in ase.io.read syntax (default: ':', all of them)",
    )
    parser.add_argument(
        "--format", default=None, help="file format for ase.io.read (default: guessed)"
    )
    parser.add_argument(
        "--output", "-o", required=True, help="where to save the features, as a .mts file"
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
        type=positive_int,
        default=16,
        help="number of structures computed together (default: 16)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="do not show the progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``farsighted featurize`` with the parsed arguments."""
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
