"""farsighted: long-range (LODE) and multi-scale features for atomistic machine learning.

The public API:

- :py:class:`LodeSphericalExpansion`, a drop-in replacement for featomic's calculator of the
  same name that returns :py:class:`metatensor.TensorMap` (every geometry: 3D-periodic, slabs,
  open systems), with ``positions`` and ``strain`` gradients and backward products;
- :py:class:`MultiScalePowerSpectrum`, the multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V in one call;
- :py:func:`clebsch_gordan_product`, :py:func:`density_correlations` and
  :py:func:`prepare_density`, Clebsch–Gordan products of spherical-expansion TensorMaps;
- :py:mod:`farsighted.torch` (with the ``torch`` extra): TorchScript modules, energy models and
  their metatomic export.

Modules whose names start with an underscore are private.
"""

from ._farsighted import __version__
from .calculator import BackwardGradients, LodeSphericalExpansion
from .multiscale import MultiScalePowerSpectrum
from .tensor_products import clebsch_gordan_product, density_correlations, prepare_density

__all__ = [
    "BackwardGradients",
    "LodeSphericalExpansion",
    "MultiScalePowerSpectrum",
    "__version__",
    "clebsch_gordan_product",
    "density_correlations",
    "prepare_density",
]
