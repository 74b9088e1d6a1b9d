"""The point-charge demonstration: what local features cannot learn and LODE can.

Random Na⁺/Cl⁻ boxes (shipped with farsighted, see :py:mod:`farsighted.data`) with reference
energies from independent codes: Coulomb (p = 1, pymatgen's Ewald summation) and dispersion
(p = 6, a converged lattice sum). Ridge regressions on summed atom-centred features compare

- the SOAP power spectrum (featomic) at cutoffs 3 and 6 Å,
- LODE ν = 1 alone (the l = 0 coefficients of the potential),
- the multi-scale features ρ ⊗ ρ ⊕ ρ ⊗ V (SOAP cutoff 3 Å),

with learning curves of the test RMSE in % of the test set's standard deviation.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np

from .calculator import LodeSphericalExpansion
from .multiscale import MultiScalePowerSpectrum
from .regression import learning_curve, plot_learning_curves, structure_features

#: the targets of the data set, with the LODE exponent that matches their physics
TARGETS = {"coulomb": 1, "dispersion": 6}
TYPES = [11, 17]


def soap_hypers(cutoff: float) -> dict:
    return {
        "cutoff": {"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.5},
        "basis": {
            "type": "TensorProduct",
            "max_angular": 4,
            "radial": {"type": "Gto", "max_radial": 5},
        },
    }


def lode_hypers(exponent: int, max_angular: int) -> dict:
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": exponent},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": 5, "radius": 3.0},
        },
    }


def compute_features(frames, exponent: int, progress: bool = True) -> Dict[str, np.ndarray]:
    """Structure features (sums over atoms) of every model of the demonstration"""
    import featomic
    from tqdm import tqdm

    features = {}
    steps = [
        ("SOAP 3 Å", lambda: featomic.SoapPowerSpectrum(**soap_hypers(3.0)).compute(frames)),
        ("SOAP 6 Å", lambda: featomic.SoapPowerSpectrum(**soap_hypers(6.0)).compute(frames)),
        (
            "LODE ν=1",
            lambda: LodeSphericalExpansion(**lode_hypers(exponent, 0)).compute(frames),
        ),
        (
            "multi-scale ρ⊗ρ ⊕ ρ⊗V",
            lambda: MultiScalePowerSpectrum(
                soap_hypers(3.0), lode_hypers(exponent, 4), neighbor_types=TYPES
            ).compute(frames),
        ),
    ]
    for name, compute in tqdm(steps, desc=f"features (p = {exponent})", disable=not progress):
        tensor = compute()
        for moved in ("neighbor_type", "neighbor_1_type", "neighbor_2_type"):
            if moved in tensor.keys.names:
                tensor = tensor.keys_to_properties(moved)
        tensor = tensor.keys_to_properties(_center_types(tensor))
        features[name] = structure_features(tensor, len(frames))
    return features


def _center_types(tensor):
    from metatensor import Labels

    return Labels(["center_type"], np.array(TYPES, dtype=np.int32).reshape(-1, 1))


def run(
    targets: Sequence[str] = tuple(TARGETS),
    train_sizes: Sequence[int] = (20, 40, 80, 160, 320),
    n_test: int = 80,
    max_structures: Optional[int] = None,
    plot: Optional[str] = "point-charge-learning-curves.png",
    progress: bool = True,
) -> Dict[str, Dict[str, np.ndarray]]:
    """Run the demonstration: print the learning-curve table of each target, write the plot,
    and return ``{target: {model: errors (%)}}``."""
    from .data import load_point_charges

    frames = load_point_charges()
    if max_structures is not None:
        frames = frames[:max_structures]
    results = {}
    for target in targets:
        if target not in TARGETS:
            raise ValueError(f"unknown target '{target}', expected one of {list(TARGETS)}")
        energies = np.array([frame.info[f"energy_{target}"] for frame in frames])
        features = compute_features(frames, TARGETS[target], progress=progress)
        curves = learning_curve(features, energies, train_sizes, n_test)
        results[target] = curves
        print(format_table(target, TARGETS[target], curves, train_sizes, energies))
    if plot is not None:
        titles = {f"{t} (p = {TARGETS[t]})": curves for t, curves in results.items()}
        plot_learning_curves(titles, train_sizes, plot)
        print(f"learning curves written to {plot}")
    return results


def format_table(target, exponent, curves, train_sizes: List[int], energies) -> str:
    header = f"{'model':<26}" + "".join(f"{n:>10}" for n in train_sizes)
    lines = [
        f"\n{target} energy (p = {exponent}), {len(energies)} structures: test RMSE in % of "
        "the test standard deviation, by number of training structures",
        header,
        "-" * len(header),
    ]
    for name, errors in curves.items():
        lines.append(f"{name:<26}" + "".join(f"{e:>10.3f}" for e in errors))
    return "\n".join(lines)
