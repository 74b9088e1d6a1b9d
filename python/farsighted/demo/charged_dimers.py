"""Binding curves of rigid dimers (``dimers_hf.xyz``: RHF/6-31G* binding energies, and the
D3(BJ) dispersion energies of the same points), learnt by ridge models on local (SOAP), long-range
(LODE) and multi-scale features.

A model predicts an energy as a sum of atomic terms, so a binding energy is the difference of
structure sums, dimer minus the two monomers (rigid: the same geometry as in the dimer). The
splits:

- extrapolation: every curve's 60 % closest points train, its tail is the test;
- random: 20 % of the points, at random, are the test;
- unseen pairs: every curve of 20 % of the monomer pairs is the test (and, reported apart,
  the tails of those curves).

The regularisation is chosen by cross-validation over whole curves (points of one curve are
near copies of each other). Errors are test RMSEs in % of the test standard deviation.

    python -m farsighted.demo.charged_dimers --plot dimer-learning-curves.png
"""

import argparse
import time
from typing import Dict, Optional, Sequence

import numpy as np

from ..calculator import LodeSphericalExpansion
from ..multiscale import MultiScalePowerSpectrum
from ..regression import RidgeModel, structure_features

#: e²/(4πε₀) in eV Å
COULOMB = 14.399645

#: the fraction of each curve, from contact, that the extrapolation split trains on
TRAINED_FRACTION = 0.6


def soap_hypers(cutoff: float, max_angular: int = 3) -> dict:
    return {
        "cutoff": {"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.3},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": 4},
        },
    }


def lode_hypers(exponent: int, max_angular: int = 0) -> dict:
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": 0.5, "exponent": exponent},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": 4, "radius": 3.0},
        },
    }


def load_dimers(path: Optional[str] = None) -> list:
    """The points of the binding curves (``ase.Atoms``), from ``path`` or the shipped
    ``dimers_hf.xyz`` (see :py:mod:`farsighted.data`)"""
    import ase.io

    from ..data import dataset_path

    return ase.io.read(path or dataset_path("dimers_hf.xyz"), ":")


def monomers_of(dimers: Sequence) -> tuple:
    """The two rigid monomers of every curve (``fragment`` 0 and 1 of its first point), and for
    every point the indices of its two monomers in that list"""
    monomers, first = [], {}
    for atoms in dimers:
        curve = atoms.info["curve"]
        if curve not in first:
            first[curve] = len(monomers)
            mask = atoms.arrays["fragment"] == 0
            monomers += [atoms[mask], atoms[~mask]]
    rows = np.array([first[atoms.info["curve"]] for atoms in dimers])
    return monomers, rows, rows + 1


def binding_features(dimers: Sequence, target: str, progress: bool = True) -> Dict[str, np.ndarray]:
    """model → the features of every binding energy, X(AB) - X(A) - X(B): for ``target``
    "hartree-fock", SOAP at two cutoffs, LODE p = 1, both together, the multi-scale invariants
    of the l = 0 channels and of l ≤ 2, and the point-charge baseline Q_A Q_B / R; for
    "dispersion", SOAP at two cutoffs, LODE p = 6 and both together"""
    import featomic

    monomers, rows_a, rows_b = monomers_of(dimers)
    frames = list(dimers) + monomers
    n = len(dimers)
    types = sorted({int(z) for atoms in frames for z in atoms.numbers})

    def binding(tensor):
        # each product (ρ⊗ρ, ρ⊗V, ...) of a multi-scale set scaled to unit RMS apart: one
        # common scale would let the largest product set the regularisation of the others
        groups = []
        for block in tensor.blocks():
            if "product" in block.properties.names:
                groups.append(np.asarray(block.properties.column("product")))
            else:
                groups.append(np.zeros(len(block.properties), dtype=int))
        group = np.concatenate(groups)
        summed = structure_features(tensor, len(frames))
        difference = summed[:n] - summed[n + rows_a] - summed[n + rows_b]
        return _unit_scale(difference, group)

    exponent = {"hartree-fock": 1, "dispersion": 6}[target]
    calculators = {
        "SOAP 3 Å": featomic.SoapPowerSpectrum(**soap_hypers(3.0)),
        "SOAP 6 Å": featomic.SoapPowerSpectrum(**soap_hypers(6.0)),
        f"LODE p={exponent}": LodeSphericalExpansion(**lode_hypers(exponent)),
    }
    if target == "hartree-fock":
        for name, max_angular in [("multi-scale l=0", 0), ("multi-scale l≤2", 2)]:
            calculators[name] = MultiScalePowerSpectrum(
                soap_hypers(3.0, max_angular),
                lode_hypers(exponent, max_angular),
                neighbor_types=types,
            )
    features = {}
    for name, calculator in calculators.items():
        start = time.perf_counter()
        features[name] = binding(calculator.compute(frames))
        if progress:
            print(
                f"  {name}: {features[name].shape[1]} features, {time.perf_counter() - start:.0f} s"
            )
    # each feature set has unit RMS (``binding``): the concatenation weighs them alike
    lode = features[f"LODE p={exponent}"]
    features[f"SOAP + LODE p={exponent}"] = np.concatenate([features["SOAP 3 Å"], lode], axis=1)
    if target == "hartree-fock":
        charges = np.array([a.info["charge_a"] * a.info["charge_b"] for a in dimers], float)
        distances = np.array([a.info["distance"] for a in dimers])
        features["point charges"] = (COULOMB * charges / distances)[:, None]
    return features


def _unit_scale(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``x`` with the columns of each ``group`` label divided by their common RMS"""
    x = x.copy()
    for label in np.unique(group):
        columns = group == label
        rms = np.sqrt(np.mean(x[:, columns] ** 2))
        if rms > 0:
            x[:, columns] /= rms
    return x


def splits(dimers: Sequence, seed: int = 0) -> Dict[str, np.ndarray]:
    """split → the boolean mask of its test points"""
    curve = np.array([atoms.info["curve"] for atoms in dimers])
    pair = np.array([atoms.info["pair"] for atoms in dimers])
    distance = np.array([atoms.info["distance"] for atoms in dimers])
    # the rank of each point along its curve, from contact
    rank = np.zeros(len(dimers), dtype=int)
    size = np.zeros(len(dimers), dtype=int)
    for c in np.unique(curve):
        members = np.flatnonzero(curve == c)
        rank[members[np.argsort(distance[members])]] = np.arange(len(members))
        size[members] = len(members)
    tail = rank >= np.ceil(TRAINED_FRACTION * size)
    rng = np.random.default_rng(seed)
    pairs = np.unique(pair)
    unseen = np.isin(pair, rng.choice(pairs, size=max(1, len(pairs) // 5), replace=False))
    return {
        "extrapolation": tail,
        "random": rng.random(len(dimers)) < 0.2,
        "unseen pairs": unseen,
        "unseen pairs, tails": unseen & tail,
    }


def fit_and_test(
    x: np.ndarray,
    y: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray,
    train: Optional[np.ndarray] = None,
) -> tuple:
    """(test RMSE in % of the test standard deviation, predictions of every point) of a ridge
    model fitted on ``train`` (default: every point not in ``test``; for the tails of unseen
    pairs: not of an unseen pair), cross-validated by ``groups``"""
    train = ~test if train is None else train
    model = RidgeModel(fit_intercept=False).fit(x[train], y[train], groups=groups[train])
    predicted = model.predict(x)
    error = np.sqrt(np.mean((predicted[test] - y[test]) ** 2))
    return 100 * error / y[test].std(), predicted


def run(
    targets: Sequence[str] = ("hartree-fock", "dispersion"),
    train_fractions: Sequence[float] = (0.25, 0.5, 1.0),
    plot: Optional[str] = None,
    progress: bool = True,
    path: Optional[str] = None,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Print, for every target, the test errors of every model on every split and the learning
    curves of the extrapolation and unseen-pair splits (nested random subsets of the training
    curves); write the plot; return ``{target: {split: {model: error (%)}}}``"""
    dimers = load_dimers(path)
    curve = np.array([atoms.info["curve"] for atoms in dimers])
    pair = np.array([atoms.info["pair"] for atoms in dimers])
    test_masks = splits(dimers)
    n_pairs = len(np.unique(pair))
    print(f"{len(dimers)} points, {len(np.unique(curve))} curves, {n_pairs} monomer pairs")
    results, curves_by_panel, examples = {}, {}, {}
    for target in targets:
        key = {"hartree-fock": "energy_binding", "dispersion": "energy_d3_binding"}[target]
        y = np.array([atoms.info[key] for atoms in dimers])
        print(f"\n{target} binding energies: features")
        features = binding_features(dimers, target, progress)
        table: Dict[str, Dict[str, float]] = {}
        predictions: Dict[str, np.ndarray] = {}
        for split, test in test_masks.items():
            # the tails of unseen pairs: trained on the other pairs, whole curves
            train = ~test_masks["unseen pairs"] if split == "unseen pairs, tails" else None
            groups = pair if split.startswith("unseen") else curve
            table[split] = {}
            for name, x in features.items():
                error, predicted = fit_and_test(x, y, test, groups, train)
                table[split][name] = error
                if split == "extrapolation":
                    predictions[name] = predicted
        results[target] = table
        print(format_table(target, table), flush=True)
        # learning curves: nested random subsets of the training curves
        rng = np.random.default_rng(1)
        order = rng.permutation(np.unique(curve))
        for split in ("extrapolation", "unseen pairs"):
            test = test_masks[split]
            training_curves = [c for c in order if np.any(~test & (curve == c))]
            panel = {}
            for name, x in features.items():
                errors = []
                for fraction in train_fractions:
                    chosen = training_curves[: max(2, int(round(fraction * len(training_curves))))]
                    train = ~test & np.isin(curve, chosen)
                    groups = pair if split.startswith("unseen") else curve
                    errors.append(fit_and_test(x, y, test, groups, train)[0])
                panel[name] = np.array(errors)
            curves_by_panel[f"{target}: {split}"] = panel
        examples[target] = (y, predictions)
    if plot is not None:
        _plot(dimers, curves_by_panel, examples, test_masks, train_fractions, plot)
        print(f"\nplots written to {plot}")
    return results


def format_table(target: str, table: Dict[str, Dict[str, float]]) -> str:
    splits_ = list(table)
    header = f"{'model':<20}" + "".join(f"{s:>22}" for s in splits_)
    lines = [
        f"{target}: test RMSE in % of the test standard deviation",
        header,
        "-" * len(header),
    ]
    for name in table[splits_[0]]:
        lines.append(f"{name:<20}" + "".join(f"{table[s][name]:>21.2f}%" for s in splits_))
    return "\n".join(lines)


def _plot(dimers, curves_by_panel, examples, test_masks, train_fractions, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(curves_by_panel.items())
    n_rows = len(examples) + 1
    figure, axes = plt.subplots(n_rows, 2, figsize=(12, 4.5 * n_rows), squeeze=False)
    for axis, (title, curves) in zip(axes[: n_rows - 1].reshape(-1), panels):
        for index, (name, errors) in enumerate(curves.items()):
            axis.loglog(train_fractions, errors, "o-", color=f"C{index}", label=name)
        axis.set_title(title)
        axis.set_xlabel("fraction of the training curves")
        axis.set_ylabel("test RMSE (% of the test std)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    # one ion-pair curve of the extrapolation split: reference and every model
    curve = np.array([atoms.info["curve"] for atoms in dimers])
    charges = np.array([atoms.info["charge_a"] * atoms.info["charge_b"] for atoms in dimers])
    chosen = curve[np.flatnonzero(charges < 0)[0]] if np.any(charges < 0) else curve[0]
    members = np.flatnonzero(curve == chosen)
    distance = np.array([atoms.info["distance"] for atoms in dimers])[members]
    order = np.argsort(distance)
    tail = test_masks["extrapolation"][members][order]
    for axis, (target, (y, predictions)) in zip(axes[n_rows - 1], examples.items()):
        axis.plot(distance[order], y[members][order], "ko", label="reference")
        for index, (name, predicted) in enumerate(predictions.items()):
            axis.plot(
                distance[order], predicted[members][order], "-", color=f"C{index}", label=name
            )
        axis.axvspan(distance[order][tail].min(), distance.max(), color="0.9", zorder=0)
        axis.set_title(f"{target}: {dimers[members[0]].info['pair']} (grey: test tail)")
        axis.set_xlabel("centre-of-mass distance (Å)")
        axis.set_ylabel("binding energy (eV)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="dimer-learning-curves.png")
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["hartree-fock", "dispersion"],
        choices=["hartree-fock", "dispersion"],
    )
    parser.add_argument("--data", default=None, help="another file of binding curves")
    args = parser.parse_args(argv)
    run(targets=args.targets, plot=args.plot, path=args.data)


if __name__ == "__main__":
    main()
