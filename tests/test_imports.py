"""The library stays apart from the demonstrations: importing it, in a fresh interpreter, imports
neither ``farsighted.demo`` nor the heavy dependencies of the ``demo`` extra (matplotlib,
pymatgen)."""

import importlib.util
import json
import subprocess
import sys
import textwrap

LIBRARY = ["farsighted", "farsighted.regression", "farsighted.data", "farsighted.cli"]
if importlib.util.find_spec("torch") is not None:
    LIBRARY.append("farsighted.torch")

DEMONSTRATION_ONLY = ["farsighted.demo", "matplotlib", "pymatgen"]


def test_library_does_not_import_the_demonstrations():
    script = textwrap.dedent(
        f"""
        import importlib, json, sys
        for name in {LIBRARY!r}:
            importlib.import_module(name)
        print(json.dumps([name for name in {DEMONSTRATION_ONLY!r} if name in sys.modules]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
