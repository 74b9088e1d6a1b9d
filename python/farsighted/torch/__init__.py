"""TorchScript modules of farsighted, over :py:class:`metatomic.torch.System`.

Their tables come from the Rust core when they are built; once built (and saved), they need
torch, metatensor-torch and metatomic-torch only (and featomic-torch for SOAP features).

- :py:class:`LodeSphericalExpansion`: LODE features, differentiable by autograd;
- :py:class:`MultiScalePowerSpectrum`: the invariant multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V;
- :py:class:`LinearEnergyModel`: a linear energy model on SOAP, LODE and multi-scale features, with
  metatomic's model interface; :py:func:`fit_energy_model` fits it on energies and forces;
- :py:func:`atomistic_model` and :py:func:`save_model`: metatomic model files for ASE, i-PI,
  LAMMPS and the other engines that load them.
"""

from .export import atomistic_model, save_model
from .fit import fit_energy_model
from .lode import LodeSphericalExpansion
from .model import LinearEnergyModel
from .multiscale import MultiScalePowerSpectrum

__all__ = [
    "LodeSphericalExpansion",
    "LinearEnergyModel",
    "MultiScalePowerSpectrum",
    "atomistic_model",
    "fit_energy_model",
    "save_model",
]
