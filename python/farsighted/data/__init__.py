"""Small data sets shipped with farsighted, used by the demo, the examples and the tests.

- ``nacl_boxes.xyz``: 20 random, neutral Na/Cl periodic boxes of 8 to 64 atoms (extended XYZ),
  made by ``generate_nacl_boxes.py`` in this folder;
- ``lode_hypers.json``: LODE hyper-parameters (featomic format) for the demo.
"""

from __future__ import annotations

from pathlib import Path

_DATA_DIR = Path(__file__).resolve().parent


def available_datasets() -> list[str]:
    """Names of the files shipped in this folder (Python sources excluded)."""
    return sorted(
        path.name
        for path in _DATA_DIR.iterdir()
        if path.is_file() and path.suffix not in (".py", ".pyc")
    )


def dataset_path(name: str) -> Path:
    """Path to the shipped data file ``name`` (for example ``"nacl_boxes.xyz"``).

    Raises
    ------
    FileNotFoundError
        if no such file is shipped
    """
    path = _DATA_DIR / name
    if not path.is_file() or path.suffix in (".py", ".pyc"):
        raise FileNotFoundError(
            f"no shipped data file named '{name}', available: {available_datasets()}"
        )
    return path
