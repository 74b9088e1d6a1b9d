"""Learning curves of ridge models: the test errors of models fitted on growing training sets
(:py:class:`~farsighted.regression.RidgeModel` on energies,
:py:class:`~farsighted.regression.EnergyForceRidgeModel` on energies and forces), and their
plot (matplotlib, from the ``demo`` extra)."""

from typing import Dict, Optional, Sequence

import numpy as np

from ..regression import EnergyForceRidgeModel, ForceMoments, RidgeModel


def split_indices(n_structures: int, n_test: int, seed: int = 0):
    """(test, pool): a random test set of ``n_test`` structures, and the other structures in the
    random order in which training sets are taken from them"""
    order = np.random.default_rng(seed).permutation(n_structures)
    return order[:n_test], order[n_test:]


#: the learning curves of :py:func:`learning_curve`: (fit, quantity) -> key
CURVE_KEYS = {
    ("energies", "energy"): "energy",
    ("energies", "forces"): "forces",
    ("energies and forces", "energy"): "energy, fitted on energies and forces",
    ("energies and forces", "forces"): "forces, fitted on energies and forces",
}


def learning_curve(
    features: Dict[str, np.ndarray],
    target: np.ndarray,
    train_sizes: Sequence[int],
    n_test: int,
    seed: int = 0,
    feature_gradients: Optional[Dict[str, Sequence[Optional[np.ndarray]]]] = None,
    forces: Optional[Sequence[Optional[np.ndarray]]] = None,
    force_weight: float = 1.0,
    folds: int = 5,
    fit_forces: bool = True,
) -> Dict[str, Dict[str, np.ndarray]]:
    """Test RMSE in % of the test set's standard deviation, for each feature set and training
    size, of models fitted on energies (:py:class:`~farsighted.regression.RidgeModel`) and,
    where feature gradients are given, on energies and forces
    (:py:class:`~farsighted.regression.EnergyForceRidgeModel`).

    The test set (:py:func:`split_indices`) is the same for every model and size; training sets
    are nested. ``feature_gradients`` gives per model the positions gradients of the structure
    features of every structure
    (:py:func:`~farsighted.regression.structure_feature_gradients`; ``None`` for the
    structures in no training or test set), and ``forces`` their reference forces: the forces
    the models predict are then evaluated on the test structures, and with ``fit_forces`` the
    models given gradients are fitted on energies and forces as well (``force_weight`` and
    ``folds``: see :py:class:`~farsighted.regression.EnergyForceRidgeModel`).

    The energy and force fit reuses work across training sizes and folds: each structure of the
    training pool gets a cross-validation fold, balanced within the slice of structures that each
    training size adds to the previous one, and the force moments
    (:py:class:`~farsighted.regression.ForceMoments`) of each (slice, fold) are computed once;
    the moments of a fold at a training size are the sums over the slices it contains.

    Returns
    -------
    dict
        ``{key: {model: errors}}`` with the keys of :py:data:`CURVE_KEYS`: ``"energy"``, and
        with gradients ``"forces"`` (RMSE over force components in % of their standard
        deviation), and with ``fit_forces`` ``"energy, fitted on energies and forces"`` and
        ``"forces, fitted on energies and forces"``
    """
    test, pool = split_indices(len(target), n_test, seed)
    if max(train_sizes) > len(pool):
        raise ValueError(
            f"largest training size {max(train_sizes)} exceeds the {len(pool)} structures left "
            f"after the {n_test} test structures"
        )
    feature_gradients = {} if feature_gradients is None else feature_gradients
    scale = target[test].std()
    curves: Dict[str, Dict[str, np.ndarray]] = {"energy": {}}
    if feature_gradients:
        for key in list(CURVE_KEYS.values())[1 : 4 if fit_forces else 2]:
            curves[key] = {}
        reference_forces = np.concatenate([forces[i].reshape(-1) for i in test])
        force_scale = reference_forces.std()

    def force_error(model, gradients):
        predicted = np.concatenate(
            [-model.predict_gradient(gradients[i]).reshape(-1) for i in test]
        )
        return 100 * np.sqrt(np.mean((predicted - reference_forces) ** 2)) / force_scale

    def energy_error(model, x):
        return 100 * np.sqrt(np.mean((model.predict(x[test]) - target[test]) ** 2)) / scale

    # the folds of the energy and force fits, balanced in each slice added by a training size
    sizes = sorted(set(train_sizes))
    n_folds = min(folds, sizes[0])
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(sizes[-1], dtype=int)
    for start, stop in zip([0] + sizes[:-1], sizes):
        fold_of[start:stop] = rng.permutation(stop - start) % n_folds

    for name, x in features.items():
        errors = {key: [] for key in curves}
        for size in train_sizes:
            train = pool[:size]
            model = RidgeModel(seed=seed, folds=folds).fit(x[train], target[train])
            errors["energy"].append(energy_error(model, x))
            if name in feature_gradients:
                errors["forces"].append(force_error(model, feature_gradients[name]))
        if fit_forces and name in feature_gradients:
            gradients = feature_gradients[name]
            slices = {}  # (size, fold) -> moments of the slice ending at size
            for start, stop in zip([0] + sizes[:-1], sizes):
                for fold in range(n_folds):
                    members = pool[start:stop][fold_of[start:stop] == fold]
                    slices[stop, fold] = ForceMoments.from_structures(
                        [gradients[i] for i in members], [forces[i] for i in members], x.shape[1]
                    )
            for size in train_sizes:
                fold_moments = []
                for fold in range(n_folds):
                    moments = ForceMoments(x.shape[1])
                    for stop in sizes[: sizes.index(size) + 1]:
                        moments = moments + slices[stop, fold]
                    fold_moments.append(moments)
                model = EnergyForceRidgeModel(
                    seed=seed, folds=folds, force_weight=force_weight
                ).fit_moments(
                    x[pool[:size]],
                    target[pool[:size]],
                    [np.nonzero(fold_of[:size] == fold)[0] for fold in range(n_folds)],
                    fold_moments,
                )
                errors[CURVE_KEYS["energies and forces", "energy"]].append(energy_error(model, x))
                errors[CURVE_KEYS["energies and forces", "forces"]].append(
                    force_error(model, gradients)
                )
        for key, values in errors.items():
            if values:
                curves[key][name] = np.array(values)
    return curves


def plot_learning_curves(curves_by_target, train_sizes, path, dashed=None, labels=None):
    """Log-log learning curves, one panel per entry of ``curves_by_target`` ({title: {model:
    errors}}), two panels a row, to ``path`` (PNG). ``dashed`` ({title: {model: errors}})
    adds dashed curves in the colours of the same models (another fit of them), and ``labels``
    names the solid and dashed line styles in the legends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    dashed = {} if dashed is None else dashed
    n_columns = min(2, len(curves_by_target))
    n_rows = -(-len(curves_by_target) // n_columns)
    figure, axes = plt.subplots(
        n_rows, n_columns, figsize=(6 * n_columns, 4.5 * n_rows), squeeze=False
    )
    for axis, (title, curves) in zip(axes.reshape(-1), curves_by_target.items()):
        for index, (name, errors) in enumerate(curves.items()):
            color = f"C{index}"
            axis.loglog(train_sizes, errors, "o-", color=color, label=name)
            if name in dashed.get(title, {}):
                axis.loglog(
                    train_sizes, dashed[title][name], "s--", color=color, markersize=4, alpha=0.9
                )
        handles, names = axis.get_legend_handles_labels()
        if dashed.get(title) and labels is not None:
            for style, label in zip(["o-", "s--"], labels):
                handles.append(Line2D([], [], color="black", linestyle=style[1:], marker=style[0]))
                names.append(label)
        axis.set_xticks(train_sizes, [str(n) for n in train_sizes])
        axis.minorticks_off()
        axis.set_title(title)
        axis.set_xlabel("training structures")
        axis.set_ylabel("test RMSE (% of the test standard deviation)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(handles, names, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
