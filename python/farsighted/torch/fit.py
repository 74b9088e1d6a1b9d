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
from ..systems import slab_thickness, with_vacuum_for_slabs
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
    geometry: Optional[Dict[str, Any]] = None,
) -> Dict[str, torch.nn.Module]:
    """The TorchScript modules of the feature sets; ``geometry``: the build-time choices of
    the LODE modules (:py:func:`model_geometry`)"""
    geometry = geometry or {}
    calculators: Dict[str, torch.nn.Module] = {}
    if soap is not None:
        import featomic.torch

        calculators["soap"] = featomic.torch.SoapPowerSpectrum(**soap)
    for i, hypers in enumerate(lode):
        calculators[f"lode_{i}"] = TorchLodeSphericalExpansion(
            **invariant_lode_hypers(hypers), **lode_options(hypers, geometry)
        )
    if multiscale is not None:
        calculators["multiscale"] = TorchMultiScalePowerSpectrum(
            multiscale["density"],
            multiscale["lode"],
            atomic_types,
            bool(multiscale.get("potential_potential", False)),
            **lode_options(multiscale["lode"], geometry),
        )
    return calculators


def model_geometry(
    frames: Sequence[Any],
    representative_system: Optional[Any] = None,
    max_slab_thickness: Optional[float] = None,
) -> Dict[str, Any]:
    """The build-time choices of a model's LODE modules for training ``frames``: the
    structure the Ewald split is chosen on (default: the first 3D-periodic frame) and the
    thickest slab the model will evaluate (default: twice the thickest slab among
    ``frames``, None without slabs)"""
    if representative_system is None:
        periodic = [frame for frame in frames if all(frame.pbc)]
        representative_system = periodic[0] if periodic else None
    thickest = slab_thickness(frames)
    if max_slab_thickness is None and thickest > 0.0:
        max_slab_thickness = 2.0 * thickest
    return {
        "representative_system": representative_system,
        "max_slab_thickness": max_slab_thickness,
    }


def lode_options(hypers: Dict[str, Any], geometry: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword arguments of :py:class:`farsighted.torch.LodeSphericalExpansion` with
    ``hypers`` from a :py:func:`model_geometry` (only the split takes a representative
    system)"""
    options = {"max_slab_thickness": geometry.get("max_slab_thickness")}
    if hypers.get("accuracy") is not None:
        options["representative_system"] = geometry.get("representative_system")
    return options


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
    representative_system: Optional[Any] = None,
    max_slab_thickness: Optional[float] = None,
    progress: bool = False,
) -> Tuple[LinearEnergyModel, RidgeModel]:
    """Fit E = Σᵢ (xᵢ · w + e_{tᵢ}) on the energies (and forces) of ``frames``: a sum of
    atomic terms, without a per-structure constant, so that the model is extensive.

    Parameters
    ----------
    frames
        ``ase.Atoms``: 3D-periodic, slabs or open systems
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
    representative_system
        for LODE with ``accuracy`` (the Ewald split, fixed when the model is built): a
        structure like those the model will see; default: the first 3D-periodic frame
    max_slab_thickness
        the thickest slab (Å along its normal) the model will evaluate; default: twice the
        thickest slab among ``frames``, and no slabs if there is none. Thicker slabs are
        refused by the saved model with a clear error.
    progress
        show a progress bar (stderr) over the feature sets and the regression

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
    from tqdm import tqdm

    calculators = _numpy_calculators(soap, lode, multiscale, atomic_types)
    bar = tqdm(total=len(calculators) + 1, unit="step", desc="fit", disable=not progress)
    for name, calculator in calculators.items():
        bar.set_postfix_str(f"features: {name}")
        if name == "soap":
            # featomic refuses slabs: local features are those of a copy with vacuum
            local = with_vacuum_for_slabs(frames, float(soap["cutoff"]["radius"]))
            tensor = calculator.compute(local, gradients=gradients)
        else:
            tensor = calculator.compute(frames, gradients=gradients)
        feature_keys[name] = torch.tensor(np.asarray(tensor.keys.values), dtype=torch.int32)
        block_widths[name] = [int(np.prod(block.values.shape[1:])) for block in tensor.blocks()]
        columns.append(structure_features(tensor, len(frames)))
        if forces is not None:
            column_gradients.append(structure_feature_gradients(tensor, n_atoms))
        bar.update()
    bar.set_postfix_str("ridge regression")
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

    geometry = model_geometry(frames, representative_system, max_slab_thickness)

    bar.update()
    bar.close()

    # prediction = (x - mean) / scale · w + offset = x · (w / scale) + c, with c = 0 (no
    # intercept: mean and offset are zero)
    weights = ridge.weights_ / ridge.scale_
    constant = float(ridge.offset_ - ridge.mean_ @ weights)
    n_types = len(atomic_types)
    model = LinearEnergyModel(
        calculators=_torch_calculators(soap, lode, multiscale, atomic_types, geometry),
        feature_keys=feature_keys,
        block_widths=block_widths,
        atomic_types=atomic_types,
        weights=torch.tensor(weights[:-n_types]),
        composition=torch.tensor(weights[-n_types:]),
        constant=constant,
    )
    return model, ridge
