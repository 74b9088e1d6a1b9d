"""Sphinx configuration for the farsighted documentation.

Build with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Prefer the installed package (the usual, editable, install); fall back to the sources so
# that autodoc finds the package when it was built in place but not installed.
try:
    import farsighted
except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import farsighted

# -- Project information -----------------------------------------------------------------------

project = "farsighted"
author = "farsighted developers"
copyright = "farsighted developers"
release = farsighted.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
language = "en"
pygments_style = "sphinx"

# autodoc: document members in the order of the source, keep type hints in the signature
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autoclass_content = "class"

# napoleon: numpy-style docstrings only
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True

# -- HTML output -------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"farsighted {release}"
html_static_path = []
html_theme_options = {
    "description": "Long-range and multi-scale features for atomistic machine learning",
    "fixed_sidebar": True,
}
