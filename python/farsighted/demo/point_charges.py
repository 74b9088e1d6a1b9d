"""The point-charge demonstration: what local features cannot learn and LODE can.

Random Na⁺/Cl⁻ boxes (shipped with farsighted, see :py:mod:`farsighted.data`) with reference
energies from independent codes: Coulomb (p = 1, pymatgen's Ewald summation) and dispersion
(p = 6, a converged lattice sum). Ridge regressions on summed atom-centred features compare

- the SOAP power spectrum (featomic) at cutoffs 3 and 6 Å,
- LODE ν = 1 alone (the l = 0 coefficients of the potential, smearing 0.5 Å),
- the multi-scale invariants ρ ⊗ ρ ⊕ ρ ⊗ V (SOAP cutoff 3 Å, l = 0 channels),

with learning curves of the test RMSE in % of the test set's standard deviation. The models are
fitted on energies, and on energies and forces; the energies and forces they predict are
compared with the reference ones on the test structures.
"""

import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..calculator import LodeSphericalExpansion
from ..multiscale import MultiScalePowerSpectrum
from ..regression import structure_feature_gradients, structure_features
from .learning_curves import CURVE_KEYS, learning_curve, plot_learning_curves, split_indices

#: the targets of the data set, with the LODE exponent that matches their physics
TARGETS = {"coulomb": 1, "dispersion": 6}
TYPES = [11, 17]


def soap_hypers(cutoff: float, max_angular: int = 4) -> dict:
    """SOAP densities: Gaussians of width 0.5 Å, 6 radial channels"""
    return {
        "cutoff": {"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.5},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": 5},
        },
    }


def lode_hypers(exponent: int, max_angular: int) -> dict:
    """LODE with a smearing of 0.5 Å: the smeared potential of the other atoms differs from the
    point-charge one by erfc(r/√2σ)/r, below 1e-4 of it at the 2 Å closest approach of the data
    (a smearing of 1 Å leaves 5 %, and errors of ~1.5 % instead of ~0.1 %)"""
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": 0.5, "exponent": exponent},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": 5, "radius": 2.0},
        },
    }


def calculators(exponent: int) -> Dict[str, Callable]:
    """For each model: a function (frames, gradients) -> TensorMap of its atom-centred features"""
    import featomic

    soap_3 = featomic.SoapPowerSpectrum(**soap_hypers(3.0))
    soap_6 = featomic.SoapPowerSpectrum(**soap_hypers(6.0))
    lode = LodeSphericalExpansion(**lode_hypers(exponent, 0))
    # l = 0 only: with 320 training structures, the 2880 features of max_angular = 4 fit
    # worse (1.5 % instead of 0.7 % for the Coulomb energy) than these 576
    multiscale = MultiScalePowerSpectrum(
        soap_hypers(3.0, max_angular=0), lode_hypers(exponent, 0), neighbor_types=TYPES
    )
    return {
        "SOAP 3 Å": soap_3.compute,
        "SOAP 6 Å": soap_6.compute,
        "LODE ν=1": lode.compute,
        "multi-scale ρ⊗ρ ⊕ ρ⊗V": multiscale.compute,
    }


def compute_features(
    frames, exponent: int, gradients: bool = False, progress: bool = True
) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, List[np.ndarray]]]]:
    """Structure features (sums over atoms) of every model of the demonstration, and with
    ``gradients`` their positions gradients (one array (n_atoms, 3, features) per structure)"""
    from metatensor import Labels
    from tqdm import tqdm

    center_types = Labels(["center_type"], np.array(TYPES, dtype=np.int32).reshape(-1, 1))
    features, feature_gradients = {}, {}
    description = f"{'gradients' if gradients else 'features'} (p = {exponent})"
    items = list(calculators(exponent).items())
    for name, compute in tqdm(items, desc=description, disable=not progress):
        tensor = compute(frames, gradients=["positions"] if gradients else [])
        for moved in ("neighbor_type", "neighbor_1_type", "neighbor_2_type"):
            if moved in tensor.keys.names:
                tensor = tensor.keys_to_properties(moved)
        tensor = tensor.keys_to_properties(center_types)
        features[name] = structure_features(tensor, len(frames))
        if gradients:
            feature_gradients[name] = structure_feature_gradients(
                tensor, [len(frame) for frame in frames]
            )
    return features, (feature_gradients if gradients else None)


def compute_gradients(
    frames, exponent: int, name: str, indices: Sequence[int], batch_size: int = 20, bar=None
) -> List[Optional[np.ndarray]]:
    """The positions gradients of the structure features of model ``name`` for the structures
    ``indices`` of ``frames`` (arrays (n_atoms, 3, features); ``None`` for the other
    structures), computed in batches of ``batch_size`` structures to bound the memory; ``bar``
    (tqdm) is advanced by the structures done"""
    from metatensor import Labels

    compute = calculators(exponent)[name]
    center_types = Labels(["center_type"], np.array(TYPES, dtype=np.int32).reshape(-1, 1))
    gradients: List[Optional[np.ndarray]] = [None] * len(frames)
    indices = list(indices)
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        tensor = compute([frames[i] for i in batch], gradients=["positions"])
        for moved in ("neighbor_type", "neighbor_1_type", "neighbor_2_type"):
            if moved in tensor.keys.names:
                tensor = tensor.keys_to_properties(moved)
        tensor = tensor.keys_to_properties(center_types)
        computed = structure_feature_gradients(tensor, [len(frames[i]) for i in batch])
        for i, gradient in zip(batch, computed):
            # a copy, not a view that would keep the batch's array alive
            gradients[i] = np.array(gradient)
        if bar is not None:
            bar.update(len(batch))
    return gradients


def run(
    targets: Sequence[str] = tuple(TARGETS),
    train_sizes: Sequence[int] = (20, 40, 80, 160, 320),
    n_test: int = 80,
    max_structures: Optional[int] = None,
    plot: Optional[str] = "point-charge-learning-curves.png",
    progress: bool = True,
    forces_fit: bool = True,
    force_weight: float = 1.0,
) -> Dict[str, Dict[str, Dict[str, np.ndarray]]]:
    """Run the demonstration: print the learning-curve tables of each target, write the plot,
    and return ``{target: {key: {model: errors (%)}}}`` with the keys of
    :py:data:`farsighted.demo.learning_curves.CURVE_KEYS`.

    Every model is fitted on energies and, with ``forces_fit``, on energies and forces as well
    (``force_weight``: see :py:class:`farsighted.regression.EnergyForceRidgeModel`); the forces
    the models predict (minus the gradient of the predicted energy) are compared with the
    reference forces of all the test structures. The features' positions gradients of the
    training and test structures are computed one model at a time."""
    from tqdm import tqdm

    from ..data import load_point_charges

    frames = load_point_charges()
    if max_structures is not None:
        frames = frames[:max_structures]
    test, pool = split_indices(len(frames), n_test)
    if max(train_sizes) > len(pool):
        raise ValueError(
            f"largest training size {max(train_sizes)} exceeds the {len(pool)} structures left "
            f"after the {n_test} test structures"
        )
    # the structures whose gradients are needed: the test set (force errors) and, to fit on
    # forces, the training structures
    needed = np.sort(np.concatenate([test, pool[: max(train_sizes)] if forces_fit else []]))
    needed = needed.astype(int)
    results = {}
    for target in targets:
        if target not in TARGETS:
            raise ValueError(f"unknown target '{target}', expected one of {list(TARGETS)}")
        exponent = TARGETS[target]
        energies = np.array([frame.info[f"energy_{target}"] for frame in frames])
        forces = [frame.arrays[f"forces_{target}"] for frame in frames]
        features, _ = compute_features(frames, exponent, progress=progress)
        curves: Dict[str, Dict[str, np.ndarray]] = {}
        timings = {}
        bar = tqdm(
            total=len(features) * len(needed),
            desc=f"gradients and fits (p = {exponent})",
            unit="structure",
            disable=not progress,
        )
        with bar:
            for name, x in features.items():
                bar.set_postfix_str(name)
                start = time.perf_counter()
                gradients = compute_gradients(frames, exponent, name, needed, bar=bar)
                timings[name] = time.perf_counter() - start
                model_curves = learning_curve(
                    {name: x},
                    energies,
                    train_sizes,
                    n_test,
                    feature_gradients={name: gradients},
                    forces=forces,
                    force_weight=force_weight,
                    fit_forces=forces_fit,
                )
                for key, values in model_curves.items():
                    curves.setdefault(key, {}).update(values)
                del gradients
        results[target] = curves
        print(format_table(target, exponent, curves, train_sizes, len(frames), len(test)))
        print(
            f"gradients of {len(needed)} structures: "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        )
    if plot is not None:
        panels, dashed = {}, {}
        for target, curves in results.items():
            for quantity in ("energy", "forces"):
                title = f"{target} {quantity} (p = {TARGETS[target]})"
                panels[title] = curves[CURVE_KEYS["energies", quantity]]
                dashed[title] = curves.get(CURVE_KEYS["energies and forces", quantity], {})
        plot_learning_curves(
            panels,
            train_sizes,
            plot,
            dashed=dashed,
            labels=("fitted on energies", "fitted on energies and forces"),
        )
        print(f"learning curves written to {plot}")
    return results


def format_table(target, exponent, curves, train_sizes, n_structures, n_test) -> str:
    """The learning curves as a text table: for energies and forces, one row per model and
    fit (E: on energies; E+F: on energies and forces)"""
    header = f"{'model':<26}{'fit':<5}" + "".join(f"{n:>10}" for n in train_sizes)
    lines = [
        f"\n{target} energy (p = {exponent}), {n_structures} structures: test RMSE in % of the "
        "test standard deviation, by number of training structures; models fitted on energies "
        f"(E) or energies and forces (E+F); forces on the {n_test} test structures",
    ]
    for quantity, label in [("energy", "energies"), ("forces", "forces")]:
        lines += [f"{label}:", header, "-" * len(header)]
        for name in curves["energy"]:
            for fit, short in [("energies", "E"), ("energies and forces", "E+F")]:
                errors = curves.get(CURVE_KEYS[fit, quantity], {}).get(name)
                if errors is not None:
                    lines.append(f"{name:<26}{short:<5}" + "".join(f"{e:>10.3f}" for e in errors))
    return "\n".join(lines)
