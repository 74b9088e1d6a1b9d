"""Fit a :py:class:`LinearEnergyModel` by ridge regression on energies and forces, from the
features and positions gradients of the Rust core (LODE), featomic (SOAP) and their products
(:py:class:`farsighted.MultiScalePowerSpectrum`): the fast path, without
autograd. The fitted weights go into the TorchScript model, which gives the same predictions
(tests hold the two to 1e-8)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..calculator import LodeSphericalExpansion
from ..multiscale import MultiScalePowerSpectrum
from ..regression import (
    EnergyForceRidgeModel,
    RidgeModel,
    structure_feature_gradients,
    structure_features,
)
from .lode import LodeSphericalExpansion as TorchLodeSphericalExpansion
from .model import LinearEnergyModel
from .multiscale import MultiScalePowerSpectrum as TorchMultiScalePowerSpectrum


def invariant_lode_hypers(hypers: Dict[str, Any]) -> Dict[str, Any]:
    """The same LODE hyper-parameters with max_angular = 0: a linear energy model uses the
    rotation-invariant λ = 0 channels only"""
    basis = dict(hypers["basis"], max_angular=0)
    return dict(hypers, basis=basis)


def _numpy_calculators(
    soap: Optional[Dict],
    lode: Sequence[Dict],
    multiscale: Optional[Dict] = None,
    atomic_types: Sequence[int] = (),
) -> Dict[str, Any]:
    calculators: Dict[str, Any] = {}
    if soap is not None:
        import featomic

        calculators["soap"] = featomic.SoapPowerSpectrum(**soap)
    for i, hypers in enumerate(lode):
        calculators[f"lode_{i}"] = LodeSphericalExpansion(**invariant_lode_hypers(hypers))
    if multiscale is not None:
        calculators["multiscale"] = MultiScalePowerSpectrum(
            **multiscale, neighbor_types=atomic_types
        )
    return calculators


def _torch_calculators(
    soap: Optional[Dict],
    lode: Sequence[Dict],
    multiscale: Optional[Dict] = None,
    atomic_types: Sequence[int] = (),
) -> Dict[str, torch.nn.Module]:
    calculators: Dict[str, torch.nn.Module] = {}
    if soap is not None:
        import featomic.torch

        calculators["soap"] = featomic.torch.SoapPowerSpectrum(**soap)
    for i, hypers in enumerate(lode):
        calculators[f"lode_{i}"] = TorchLodeSphericalExpansion(**invariant_lode_hypers(hypers))
    if multiscale is not None:
        calculators["multiscale"] = TorchMultiScalePowerSpectrum(
            multiscale["density"],
            multiscale["lode"],
            atomic_types,
            bool(multiscale.get("potential_potential", False)),
        )
    return calculators


def _composition(frames, atomic_types: List[int]) -> np.ndarray:
    return np.array([[np.sum(f.numbers == t) for t in atomic_types] for f in frames], dtype=float)


def fit_energy_model(
    frames: Sequence[Any],
    energies: np.ndarray,
    forces: Optional[Sequence[np.ndarray]] = None,
    *,
    soap: Optional[Dict[str, Any]] = None,
    lode: Sequence[Dict[str, Any]] = (),
    multiscale: Optional[Dict[str, Any]] = None,
    alphas: Optional[Sequence[float]] = None,
    force_weight: float = 1.0,
) -> Tuple[LinearEnergyModel, RidgeModel]:
    """Fit E = Σᵢ (xᵢ · w + e_{tᵢ}) on the energies (and forces) of ``frames``: a sum of
    atomic terms, without a per-structure constant, so that the model is extensive.

    Parameters
    ----------
    frames
        ``ase.Atoms`` (3D-periodic)
    energies
        reference energies (eV), one per frame
    forces
        reference forces (eV/Å), one (n_atoms, 3) array per frame, or None to fit energies only
    soap
        featomic ``SoapPowerSpectrum`` hyper-parameters of the local features, or None
    lode
        LODE hyper-parameters of each long-range feature set (their λ = 0 channels are used)
    multiscale
        the invariant multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V: a dictionary with ``density``
        (featomic ``SphericalExpansion`` hyper-parameters), ``lode`` (LODE hyper-parameters,
        every λ ≤ the density's enters the products) and optionally ``potential_potential``
        (add V ⊗ V), as for :py:class:`farsighted.MultiScalePowerSpectrum`
    alphas, force_weight
        as for :py:class:`farsighted.regression.EnergyForceRidgeModel`

    Returns
    -------
    (LinearEnergyModel, RidgeModel)
        the TorchScript-ready model and the fitted ridge model (its ``predict`` on the
        structure features gives the same energies)
    """
    if soap is None and len(lode) == 0 and multiscale is None:
        raise ValueError("give at least one feature set: soap, lode and/or multiscale")
    if multiscale is not None:
        unknown = set(multiscale) - {"density", "lode", "potential_potential"}
        missing = {"density", "lode"} - set(multiscale)
        if unknown or missing:
            raise ValueError(
                "multiscale takes 'density', 'lode' and optionally 'potential_potential'"
                + (f"; unknown: {sorted(unknown)}" if unknown else "")
                + (f"; missing: {sorted(missing)}" if missing else "")
            )
    frames = list(frames)
    energies = np.asarray(energies, dtype=float)
    if energies.shape != (len(frames),):
        raise ValueError(f"expected {len(frames)} energies, got shape {energies.shape}")
    atomic_types = sorted({int(t) for frame in frames for t in frame.numbers})
    gradients = ["positions"] if forces is not None else []

    columns, column_gradients = [], []
    feature_keys: Dict[str, torch.Tensor] = {}
    block_widths: Dict[str, List[int]] = {}
    n_atoms = [len(frame) for frame in frames]
    for name, calculator in _numpy_calculators(soap, lode, multiscale, atomic_types).items():
        tensor = calculator.compute(frames, gradients=gradients)
        feature_keys[name] = torch.tensor(np.asarray(tensor.keys.values), dtype=torch.int32)
        block_widths[name] = [int(np.prod(block.values.shape[1:])) for block in tensor.blocks()]
        columns.append(structure_features(tensor, len(frames)))
        if forces is not None:
            column_gradients.append(structure_feature_gradients(tensor, n_atoms))
    composition = _composition(frames, atomic_types)
    x = np.concatenate(columns + [composition], axis=1)

    if forces is None:
        ridge = RidgeModel(alphas, fit_intercept=False).fit(x, energies)
    else:
        zero = [np.zeros((n, 3, len(atomic_types))) for n in n_atoms]
        dx = [
            np.concatenate([g[s] for g in column_gradients] + [zero[s]], axis=2)
            for s in range(len(frames))
        ]
        ridge = EnergyForceRidgeModel(alphas, force_weight=force_weight, fit_intercept=False).fit(
            x, energies, dx, [np.asarray(f, dtype=float) for f in forces]
        )

    # prediction = (x - mean) / scale · w + offset = x · (w / scale) + c, with c = 0 (no
    # intercept: mean and offset are zero)
    weights = ridge.weights_ / ridge.scale_
    constant = float(ridge.offset_ - ridge.mean_ @ weights)
    n_types = len(atomic_types)
    model = LinearEnergyModel(
        calculators=_torch_calculators(soap, lode, multiscale, atomic_types),
        feature_keys=feature_keys,
        block_widths=block_widths,
        atomic_types=atomic_types,
        weights=torch.tensor(weights[:-n_types]),
        composition=torch.tensor(weights[-n_types:]),
        constant=constant,
    )
    return model, ridge
