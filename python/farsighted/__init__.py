"""farsighted: long-range (LODE) and multi-scale features for atomistic machine learning.

The main entry point is :py:class:`LodeSphericalExpansion`, a drop-in replacement for
featomic's calculator of the same name that returns :py:class:`metatensor.TensorMap`.
"""

from ._farsighted import __version__  # noqa: F401
from .calculator import BackwardGradients, LodeSphericalExpansion  # noqa: F401

__all__ = ["BackwardGradients", "LodeSphericalExpansion", "__version__"]
