"""``farsighted fit``: fit a linear energy model (:py:func:`farsighted.torch.fit_energy_model`)
on the energies and forces of a structure file, save it as a metatomic model, and report the
errors of the saved file on the training and validation structures.

The configuration (JSON, or YAML when pyyaml is installed) has five sections, all optional
but ``features``::

    {
        "features": {"soap": {...}, "lode": [{...}, ...], "multiscale": {...}},
        "fit": {"alphas": [1e-8, 1e-6], "force_weight": 1.0},
        "validation": {"fraction": 0.1, "seed": 0},
        "targets": {"energy": "energy", "forces": "forces", "stress": null},
        "metadata": {"name": "...", "description": "..."}
    }

``features`` holds the keyword arguments of ``fit_energy_model`` that choose the features
(read from its signature, so that new feature sets need no change here), ``fit`` those of the
ridge regression.
"""

from __future__ import annotations

import argparse
import inspect
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ._cli_common import (
    CliError,
    Messages,
    check_directory_of,
    check_keys,
    error_message,
    locate,
    read_config_file,
    read_structures,
)
from ._cli_evaluate import error_table, errors, evaluate, load_model
from ._cli_targets import DEFAULT_NAMES, TARGETS, References, read_references

SECTIONS = ("features", "fit", "validation", "targets", "metadata")
FIT_SETTINGS = ("alphas", "force_weight")
"""The keyword arguments of ``fit_energy_model`` that go in the ``fit`` section."""
NOT_CONFIGURED = ("representative_system", "max_slab_thickness", "progress")
"""The keyword arguments of ``fit_energy_model`` that the command sets itself: the split's
representative system is the first 3D-periodic training structure, the thickest slab twice
the thickest training slab (the defaults of ``model_geometry``), progress follows
``--quiet``."""
METADATA = ("name", "description")
VALIDATION = ("fraction", "seed")


@dataclass
class FitConfig:
    """The content of a ``farsighted fit`` configuration file."""

    features: dict[str, Any]
    fit: dict[str, Any] = field(default_factory=dict)
    fraction: float = 0.1
    seed: int = 0
    targets: dict[str, Optional[str]] = field(default_factory=lambda: dict(DEFAULT_NAMES))
    metadata: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------


def fit_keywords() -> tuple[list[str], list[str]]:
    """The (feature, fit) keyword arguments of :py:func:`farsighted.torch.fit_energy_model`,
    from its signature."""
    from farsighted.torch import fit_energy_model

    parameters = inspect.signature(fit_energy_model).parameters.values()
    keywords = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in NOT_CONFIGURED
    ]
    features = [name for name in keywords if name not in FIT_SETTINGS]
    return features, [name for name in keywords if name in FIT_SETTINGS]


def _validation(section: Any, path: str) -> tuple[float, int]:
    check_keys(section, VALIDATION, f"the 'validation' section of '{path}'")
    fraction = section.get("fraction", 0.1)
    seed = section.get("seed", 0)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise CliError(f"validation.fraction in '{path}' must be a number, got {fraction!r}")
    if not 0 <= fraction < 1:
        raise CliError(f"validation.fraction in '{path}' must be in [0, 1), got {fraction}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CliError(f"validation.seed in '{path}' must be a non-negative integer, got {seed!r}")
    return float(fraction), seed


def _targets(section: Any, path: str) -> dict[str, Optional[str]]:
    check_keys(section, TARGETS, f"the 'targets' section of '{path}'")
    targets = dict(DEFAULT_NAMES, **section)
    for target, name in targets.items():
        if name is not None and not isinstance(name, str):
            raise CliError(f"targets.{target} in '{path}' must be a key name or null, got {name!r}")
    if targets["energy"] is None:
        raise CliError(f"targets.energy in '{path}' can not be null: models are fitted on energies")
    return targets


def _metadata(section: Any, path: str) -> dict[str, str]:
    check_keys(section, METADATA, f"the 'metadata' section of '{path}'")
    for key, value in section.items():
        if not isinstance(value, str):
            raise CliError(f"metadata.{key} in '{path}' must be a string, got {value!r}")
    return dict(section)


def read_fit_config(path: str) -> FitConfig:
    """Read and check the configuration file at ``path``."""
    config = read_config_file(path, "configuration")
    check_keys(config, SECTIONS, f"the configuration '{path}'")
    feature_names, fit_names = fit_keywords()
    if "features" not in config:
        raise CliError(
            f"the configuration '{path}' has no 'features' section; give at least one of: "
            f"{', '.join(feature_names)}"
        )
    features = config["features"]
    check_keys(features, feature_names, f"the 'features' section of '{path}'")
    fit = config.get("fit", {})
    check_keys(fit, fit_names, f"the 'fit' section of '{path}'")
    fraction, seed = _validation(config.get("validation", {}), path)
    return FitConfig(
        features=dict(features),
        fit=dict(fit),
        fraction=fraction,
        seed=seed,
        targets=_targets(config.get("targets", {}), path),
        metadata=_metadata(config.get("metadata", {}), path),
    )


# ---------------------------------------------------------------------------------------------
# early checks of the feature hyper-parameters
# ---------------------------------------------------------------------------------------------


@dataclass
class _Probes:
    """What the checks of the feature sets need: the atomic types of the data, the
    build-time choices of the LODE modules (``farsighted.torch.fit.model_geometry``), and one
    structure (index in the file, metatomic system) of each geometry other than 3D-periodic,
    on which the TorchScript calculators run once, so that a geometry the saved model could
    not evaluate is reported before the fit."""

    types: list[int]
    path: str
    systems: list[tuple[int, Any]]
    geometry: dict[str, Any]

    @classmethod
    def of(cls, frames: Sequence[Any], path: str) -> _Probes:
        import torch
        from metatomic.torch import systems_to_torch

        from farsighted.torch.fit import model_geometry

        types = sorted({int(t) for atoms in frames for t in atoms.numbers})
        systems, seen = [], {(True, True, True)}
        for i, atoms in enumerate(frames):
            pbc = tuple(bool(p) for p in atoms.pbc)
            if pbc not in seen:
                seen.add(pbc)
                with warnings.catch_warnings():
                    # the cell vectors of non-periodic directions become zero, as in engines
                    warnings.filterwarnings("ignore", message="A conversion to `System`")
                    systems.append((i, systems_to_torch(atoms, dtype=torch.float64)))
        return cls(types, path, systems, model_geometry(frames))

    def lode(self, hypers: dict) -> Any:
        """The TorchScript LODE module of ``hypers`` as the fit builds it"""
        import farsighted.torch
        from farsighted.torch.fit import lode_options

        options = lode_options(hypers, self.geometry)
        return farsighted.torch.LodeSphericalExpansion(**hypers, **options)

    def run(self, module: Any) -> None:
        """Run the TorchScript-ready ``module`` on the probes, with the neighbour lists it
        requests, as an engine would."""
        from vesin.metatomic import neighbor_lists_for_model

        for i, system in self.systems:
            try:
                for calculator in neighbor_lists_for_model(
                    "angstrom", module, model_length_unit="angstrom"
                ):
                    calculator.add_neighbor_list([system])
                module([system])
            except Exception as error:  # noqa: BLE001 (the modules raise many types)
                raise ValueError(locate(error_message(error), [i], self.path)) from None


def _soap(hypers: dict, probes: _Probes) -> None:
    import featomic
    import featomic.torch

    featomic.SoapPowerSpectrum(**hypers)
    featomic.torch.SoapPowerSpectrum(**hypers)


def _lode(hypers: dict, probes: _Probes) -> None:
    import farsighted

    farsighted.LodeSphericalExpansion(**hypers)
    probes.run(probes.lode(hypers))


def _multiscale(hypers: dict, probes: _Probes) -> None:
    import farsighted.torch
    from farsighted.multiscale import MultiScalePowerSpectrum
    from farsighted.torch.fit import lode_options

    MultiScalePowerSpectrum(**hypers, neighbor_types=probes.types)
    options = {k: v for k, v in hypers.items() if k == "potential_potential"}
    density, lode = hypers["density"], hypers["lode"]
    options.update(lode_options(lode, probes.geometry))
    probes.run(farsighted.torch.MultiScalePowerSpectrum(density, lode, probes.types, **options))


_CHECKS: dict[str, tuple[Callable[[dict, _Probes], None], bool]] = {
    "soap": (_soap, False),
    "lode": (_lode, True),
    "multiscale": (_multiscale, False),
}
"""feature set → (a function that builds its calculators as the fit and the saved model will,
and whether the entry is a list of hyper-parameters). Feature sets without a check are
checked by the fit itself."""


def _entries(name: str, value: Any, is_list: bool) -> list[tuple[str, Any]]:
    if not is_list or isinstance(value, dict):
        return [(f"features.{name}", value)]
    if not isinstance(value, list):
        raise CliError(f"features.{name} must be a list of hyper-parameter objects")
    return [(f"features.{name}[{i}]", item) for i, item in enumerate(value)]


def _check_entry(check: Callable, entry: str, hypers: Any, probes: _Probes, path: str) -> None:
    if not isinstance(hypers, dict):
        raise CliError(f"{entry} in '{path}' must be an object of hyper-parameters")
    try:
        check(hypers, probes)
    except KeyError as error:
        raise CliError(f"{entry} in '{path}': missing hyper-parameter {error}") from None
    except Exception as error:  # noqa: BLE001 (featomic raises its own FeatomicError)
        raise CliError(f"{entry} in '{path}': {error_message(error)}") from None


def check_features(
    features: dict[str, Any], frames: Sequence[Any], structures: str, path: str
) -> dict[str, Any]:
    """Build the calculators of every feature set before the (long) fit, so that invalid
    hyper-parameters, and geometries of ``frames`` (read from ``structures``) that the saved
    model could not evaluate, are reported with the entry of the configuration ``path`` they
    come from. Returns the keyword arguments of ``fit_energy_model`` (a single LODE object
    becomes a list)."""
    probes = _Probes.of(frames, structures)
    kwargs = {}
    for name, value in features.items():
        if value is None or name not in _CHECKS:
            kwargs[name] = value
            continue
        check, is_list = _CHECKS[name]
        entries = _entries(name, value, is_list)
        for entry, hypers in entries:
            _check_entry(check, entry, hypers, probes, path)
        kwargs[name] = [hypers for _, hypers in entries] if is_list else value
    if all(value is None or value == [] for value in kwargs.values()):
        raise CliError(f"the 'features' section of '{path}' enables no feature set")
    return kwargs


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------


def split(n_structures: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Random (training, validation) indices, sorted: ``round(fraction * n)`` structures (at
    least one when ``fraction > 0``) for validation."""
    n_validation = 0 if fraction == 0 else max(1, int(round(fraction * n_structures)))
    if n_structures - n_validation < 1:
        raise CliError(
            f"validation.fraction {fraction} leaves no training structure out of {n_structures}"
        )
    permutation = np.random.default_rng(seed).permutation(n_structures)
    validation = sorted(int(i) for i in permutation[:n_validation])
    training = sorted(int(i) for i in permutation[n_validation:])
    return training, validation


def _fit(frames, references, kwargs: dict[str, Any], messages: Messages):
    from farsighted.torch import fit_energy_model

    n_atoms = sum(len(atoms) for atoms in frames)
    fitted_on = "energies and forces" if references.forces is not None else "energies"
    with messages.step(
        f"fitting on the {fitted_on} of {len(frames)} structures ({n_atoms} atoms): features"
        + (" and their gradients" if references.forces is not None else "")
        + ", ridge regression"
    ):
        try:
            return fit_energy_model(
                frames,
                references.energies,
                references.forces,
                progress=messages.enabled,
                **kwargs,
            )
        except KeyError as error:
            raise CliError(f"could not fit: missing hyper-parameter {error}") from None
        except (ValueError, TypeError, NotImplementedError) as error:
            raise CliError(f"could not fit: {error_message(error)}") from None


def _save(model, output: str, extensions: Optional[str], metadata: dict[str, str]) -> str:
    from farsighted.torch import save_model

    try:
        return save_model(model, output, extensions=extensions, **metadata)
    except Exception as error:  # noqa: BLE001 (torch.jit raises many exception types)
        raise CliError(f"could not save the model to '{output}': {error_message(error)}") from None


def _ranges(indices: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1-3, 7"``."""
    parts: list[str] = []
    start = previous = None
    for i in list(indices) + [None]:
        if previous is not None and i == previous + 1:
            previous = i
            continue
        if start is not None:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        start = previous = i
    return ", ".join(parts)


def how_to_load(output: str, extensions: str) -> str:
    """Instructions to load the model file ``output``."""
    arguments = f'"{output}", extensions_directory="{extensions}"'
    return "\n".join(
        [
            f"saved the model to {output} (compiled extensions in {extensions})",
            "use it in Python:",
            "    from metatomic.torch import load_atomistic_model",
            f"    model = load_atomistic_model({arguments})",
            "or in ASE:",
            "    from metatomic_ase import MetatomicCalculator",
            f"    atoms.calc = MetatomicCalculator({arguments})",
            "or evaluate it on other structures:",
            f"    farsighted eval {output} STRUCTURES.xyz --extensions {extensions}",
        ]
    )


def _errors_of_saved_model(
    output: str,
    extensions: str,
    frames: Sequence[Any],
    references: References,
    sets: dict[str, list[int]],
    structures: str,
    batch_size: int,
    messages: Messages,
) -> list[tuple[str, int, dict[str, tuple[float, float]]]]:
    """Load the model file ``output`` and compute its errors on each non-empty set of
    structures: the columns of :py:func:`error_table`."""
    saved = load_model(output, extensions)
    columns = []
    for title, indices in sets.items():
        if not indices:
            continue
        subset = [frames[i] for i in indices]
        predictions = evaluate(
            saved, subset, structures, indices, batch_size, messages, f"evaluating ({title})"
        )
        n_atoms = [len(atoms) for atoms in subset]
        columns.append(
            (title, len(indices), errors(predictions, references.select(indices), n_atoms))
        )
    return columns


def run_fit(
    structures: str,
    config_path: str,
    output: str,
    extensions: Optional[str] = None,
    index: str = ":",
    format: Optional[str] = None,
    batch_size: int = 8,
    progress: bool = True,
) -> int:
    """Read, fit, save, evaluate the saved model and print its errors. Raises
    :py:class:`CliError` on bad input."""
    messages = Messages(progress)
    config = read_fit_config(config_path)
    check_directory_of(output)
    frames = read_structures(structures, index=index, format=format)
    hint = f"name the keys in the \"targets\" section of '{config_path}' (null to skip one)"
    references = read_references(frames, config.targets, structures, True, hint)
    kwargs = check_features(config.features, frames, structures, config_path)
    training, validation = split(len(frames), config.fraction, config.seed)

    train_frames = [frames[i] for i in training]
    model, ridge = _fit(
        train_frames, references.select(training), {**kwargs, **config.fit}, messages
    )
    with messages.step(f"saving the model to {output}"):
        extensions = _save(model, output, extensions, config.metadata)

    sets = {"train": training, "validation": validation}
    columns = _errors_of_saved_model(
        output, extensions, frames, references, sets, structures, batch_size, messages
    )
    alpha = getattr(ridge, "alpha_", None)
    print(
        f"fitted on {len(training)} structures of '{structures}'"
        + (f", ridge regularisation {alpha:.3g} (chosen by cross-validation)" if alpha else "")
    )
    if validation:
        where = "in the file" if index == ":" else f"among those of --index {index}"
        print(f"validation structures (indices {where}): {_ranges(validation)}")
    print("errors of the saved model:")
    print(error_table(columns))
    print(how_to_load(output, extensions if os.path.isabs(output) else os.path.relpath(extensions)))
    return 0


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def add_parser(subparsers: Any, positive_int: Any) -> None:
    """Add the ``fit`` command to ``subparsers``."""
    parser = subparsers.add_parser(
        "fit",
        help="fit a linear SOAP/LODE/multi-scale energy model and save it as a metatomic model",
        description="Fit a linear energy model on the energies (and forces) of a structure "
        "file, with the features of a configuration file; save it as a metatomic model, and "
        "print the errors of the saved model on the training and validation structures.",
    )
    parser.add_argument("structures", metavar="TRAIN.xyz", help="training structures")
    parser.add_argument(
        "--config", "-c", required=True, metavar="CONFIG.json", help="features and fit settings"
    )
    parser.add_argument(
        "--output", "-o", required=True, metavar="MODEL.pt", help="where to save the model"
    )
    parser.add_argument(
        "--extensions",
        default=None,
        metavar="DIR",
        help="where to copy the compiled extensions the model needs (default: extensions/ "
        "next to the model)",
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
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``farsighted fit`` with the parsed arguments."""
    return run_fit(
        args.structures,
        args.config,
        args.output,
        extensions=args.extensions,
        index=args.index,
        format=args.format,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
