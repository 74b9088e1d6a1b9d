"""What the commands of the ``farsighted`` command line share: the error they report, reading
structure and configuration files, messages and progress bars on stderr, and the rewording of
errors that name a system of a batch ("system 2") as the structure of the file it is."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class CliError(Exception):
    """An error in the user's input, reported as one line and exit status 2."""


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------


def read_structures(path: str, index: str = ":", format: str | None = None) -> list[Any]:
    """Read the structures selected by ``index`` from ``path`` with ``ase.io.read``, and check
    that each has atoms and finite positions. Geometries (periodic, slab, open) are checked by
    the calculators that use them."""
    import ase.io

    if not os.path.isfile(path):
        raise CliError(f"structure file '{path}' does not exist")
    if os.path.getsize(path) == 0:
        raise CliError(f"structure file '{path}' is empty: it holds no structure")
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
        raise CliError(f"no structures in '{path}' (index '{index}')")

    for i, atoms in enumerate(frames):
        if len(atoms) == 0:
            raise CliError(f"structure {i} of '{path}' has no atoms")
        finite = np.isfinite(atoms.positions).all(axis=1)
        if not finite.all():
            atom = int(np.flatnonzero(~finite)[0])
            raise CliError(
                f"structure {i} of '{path}': the position of atom {atom} is not finite "
                f"({atoms.positions[atom].tolist()})"
            )
    return frames


def read_config_file(path: str, what: str) -> Any:
    """The content of the JSON file at ``path`` (or YAML for ``.yaml``/``.yml`` files when
    pyyaml is installed); ``what`` names the file in error messages."""
    if not os.path.isfile(path):
        raise CliError(f"{what} file '{path}' does not exist")
    is_yaml = path.lower().endswith((".yaml", ".yml"))
    try:
        with open(path, encoding="utf8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"could not read {what} file '{path}': {error}") from None

    if not is_yaml:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CliError(f"{what} file '{path}' is not valid JSON: {error}") from None
    try:
        import yaml
    except ImportError:
        raise CliError(
            f"reading the YAML file '{path}' needs pyyaml (pip install pyyaml); or write it as JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CliError(f"{what} file '{path}' is not valid YAML: {error}") from None


def check_directory_of(path: str) -> None:
    """Raise if the directory that would hold ``path`` does not exist."""
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise CliError(f"output directory '{parent}' does not exist")


def check_keys(given: Any, accepted: Sequence[str], where: str) -> None:
    """Raise if ``given`` is not a dictionary whose keys are all in ``accepted``."""
    if not isinstance(given, dict):
        raise CliError(
            f"{where} must be an object with keys among: {', '.join(accepted)}; "
            f"got {type(given).__name__}"
        )
    for key in given:
        if key not in accepted:
            raise CliError(f"unknown key '{key}' in {where} (accepted: {', '.join(accepted)})")


# ---------------------------------------------------------------------------------------------
# errors of the calculators and models
# ---------------------------------------------------------------------------------------------

_SYSTEM = re.compile(r"\bsystem (\d+)\b")


def error_message(error: BaseException) -> str:
    """The message of ``error``; for errors raised inside TorchScript, the last line (the
    Python exception TorchScript re-raises) without the interpreter's traceback."""
    message = str(error).strip()
    if "TorchScript" in message or "Traceback" in message:
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        message = lines[-1] if lines else message
        message = re.sub(r"^(builtins\.)?\w*(Error|Exception):\s*", "", message)
    return message or type(error).__name__


def locate(message: str, indices: Sequence[int], path: str) -> str:
    """Reword ``message`` about a batch of the structures at ``indices`` of the file ``path``
    so that "system k" reads "structure indices[k] of 'path'"."""

    def structure(match: re.Match) -> str:
        k = int(match.group(1))
        return f"structure {indices[k]} of '{path}'" if k < len(indices) else match.group(0)

    return re.sub(r"^invalid system:\s*", "", _SYSTEM.sub(structure, message))


# ---------------------------------------------------------------------------------------------
# messages and progress
# ---------------------------------------------------------------------------------------------


class Messages:
    """Progress messages and bars on stderr, silenced by ``--quiet``."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def say(self, message: str) -> None:
        """Print ``message`` on stderr."""
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Announce a long step, and say how long it took when it ends."""
        start = time.perf_counter()
        self.say(f"{message} ...")
        yield
        self.say(f"    done in {time.perf_counter() - start:.1f} s")

    def bar(self, total: int, unit: str, description: str) -> Any:
        """A tqdm progress bar on stderr (disabled by ``--quiet``)."""
        from tqdm import tqdm

        return tqdm(
            total=total,
            unit=unit,
            desc=description,
            file=sys.stderr,
            disable=not self.enabled,
            dynamic_ncols=True,
        )


@contextlib.contextmanager
def quiet_torch_warnings() -> Iterator[None]:
    """Hide the deprecation warnings of ``torch.jit.script/save/load`` (metatomic models are
    TorchScript modules: these calls are how they are made) while a command runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning
        )
        yield
