"""Linear (ridge) regression of structure properties on summed atom-centred features, and
learning curves: the simplest model in which to compare what features can learn."""

from typing import Dict, List, Optional, Sequence

import numpy as np
from metatensor import TensorMap


def structure_features(tensor: TensorMap, n_structures: int) -> np.ndarray:
    """Sum the features of every atom of each structure, one column per (block, property).

    Blocks are usually per centre type: a structure's features are then the sums over its
    atoms of each type, which makes the model a sum of atomic contributions.
    """
    columns = []
    for block in tensor.blocks():
        values = np.asarray(block.values).reshape(len(block.samples), -1)
        summed = np.zeros((n_structures, values.shape[1]))
        np.add.at(summed, block.samples.column("system"), values)
        columns.append(summed)
    return np.concatenate(columns, axis=1)


def structure_feature_gradients(tensor: TensorMap, n_atoms: Sequence[int]) -> list:
    """∂(structure features)/∂positions of each structure, as arrays (n_atoms, 3, features)
    whose columns match :py:func:`structure_features`: the positions gradients of all the
    atoms of a structure, summed."""
    gradients = [np.zeros((n, 3, 0)) for n in n_atoms]
    for block in tensor.blocks():
        gradient = block.gradient("positions")
        values = np.asarray(gradient.values).reshape(len(gradient.samples), 3, -1)
        systems = gradient.samples.column("system")
        atoms = gradient.samples.column("atom")
        for s, n in enumerate(n_atoms):
            rows = np.nonzero(systems == s)[0]
            summed = np.zeros((n, 3, values.shape[2]))
            np.add.at(summed, atoms[rows], values[rows])
            gradients[s] = np.concatenate([gradients[s], summed], axis=2)
    return gradients


class RidgeModel:
    """Ridge regression y ≈ X w + b with the regularisation chosen by k-fold cross-validation on
    the training set among ``alphas`` (relative to the largest squared singular value).

    Columns are centred and divided by one common scale, not standardised one by one:
    standardising would blow up the many nearly constant columns of large feature sets (high
    radial channels, empty type pairs) to the weight of the informative ones."""

    def __init__(self, alphas: Optional[Sequence[float]] = None, folds: int = 5, seed: int = 0):
        self.alphas = np.logspace(-14, -1, 27) if alphas is None else np.asarray(alphas)
        self.folds = folds
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeModel":
        self.mean_ = x.mean(axis=0)
        self.scale_ = np.sqrt(np.mean((x - self.mean_) ** 2))
        if self.scale_ == 0.0:
            self.scale_ = 1.0
        self.offset_ = y.mean()
        z = (x - self.mean_) / self.scale_
        errors = np.zeros(len(self.alphas))
        order = np.random.default_rng(self.seed).permutation(len(y))
        folds = np.array_split(order, min(self.folds, len(y)))
        for held_out in folds:
            train = np.setdiff1d(order, held_out)
            weights = _ridge_path(z[train], y[train] - y[train].mean(), self.alphas)
            predicted = z[held_out] @ weights + y[train].mean()
            errors += ((predicted - y[held_out, None]) ** 2).sum(axis=0)
        self.alpha_ = self.alphas[np.argmin(errors)]
        self.weights_ = _ridge_path(z, y - self.offset_, [self.alpha_])[:, 0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.scale_) @ self.weights_ + self.offset_

    def predict_gradient(self, dx: np.ndarray) -> np.ndarray:
        """Gradient of the prediction from the gradient of the features (last axis)"""
        return dx @ self.weights_ / self.scale_


def _ridge_path(z: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """Ridge weights for every relative regularisation in ``alphas`` (one SVD)"""
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    uty = u.T @ y
    shrink = s[:, None] / (s[:, None] ** 2 + np.asarray(alphas)[None, :] * s[0] ** 2)
    return vt.T @ (shrink * uty[:, None])


def split_indices(n_structures: int, n_test: int, seed: int = 0):
    """(test, pool): a random test set of ``n_test`` structures, and the other structures in the
    random order in which training sets are taken from them"""
    order = np.random.default_rng(seed).permutation(n_structures)
    return order[:n_test], order[n_test:]


def learning_curve(
    features: Dict[str, np.ndarray],
    target: np.ndarray,
    train_sizes: Sequence[int],
    n_test: int,
    seed: int = 0,
    test_feature_gradients: Optional[Dict[str, List[np.ndarray]]] = None,
    test_forces: Optional[List[np.ndarray]] = None,
) -> Dict[str, Dict[str, np.ndarray]]:
    """Test RMSE in % of the test set's standard deviation, for each feature set and training
    size; models are fitted on energies.

    The test set (:py:func:`split_indices`) is the same for every model and size; training sets
    are nested. With ``test_feature_gradients`` (per model: the positions gradients of the
    structure features of the first test structures, from
    :py:func:`structure_feature_gradients`) and the reference ``test_forces`` of those
    structures, the forces the models predict are evaluated as well.

    Returns
    -------
    dict
        ``{"energy": {model: errors}}``, and ``"forces"`` (RMSE over force components in % of
        their standard deviation) when gradients are given
    """
    test, pool = split_indices(len(target), n_test, seed)
    if max(train_sizes) > len(pool):
        raise ValueError(
            f"largest training size {max(train_sizes)} exceeds the {len(pool)} structures left "
            f"after the {n_test} test structures"
        )
    scale = target[test].std()
    curves: Dict[str, Dict[str, np.ndarray]] = {"energy": {}}
    if test_feature_gradients is not None:
        curves["forces"] = {}
        reference_forces = np.concatenate([f.reshape(-1) for f in test_forces])
    for name, x in features.items():
        errors, force_errors = [], []
        for size in train_sizes:
            train = pool[:size]
            model = RidgeModel(seed=seed).fit(x[train], target[train])
            residual = model.predict(x[test]) - target[test]
            errors.append(100 * np.sqrt(np.mean(residual**2)) / scale)
            if test_feature_gradients is not None and name in test_feature_gradients:
                predicted = np.concatenate(
                    [-model.predict_gradient(g).reshape(-1) for g in test_feature_gradients[name]]
                )
                rmse = np.sqrt(np.mean((predicted - reference_forces) ** 2))
                force_errors.append(100 * rmse / reference_forces.std())
        curves["energy"][name] = np.array(errors)
        if force_errors:
            curves["forces"][name] = np.array(force_errors)
    return curves


def plot_learning_curves(curves_by_target, train_sizes, path):
    """Log-log learning curves, one panel per entry of ``curves_by_target`` ({title: {model:
    errors}}), two panels a row, to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_columns = min(2, len(curves_by_target))
    n_rows = -(-len(curves_by_target) // n_columns)
    figure, axes = plt.subplots(
        n_rows, n_columns, figsize=(6 * n_columns, 4.5 * n_rows), squeeze=False
    )
    for axis, (title, curves) in zip(axes.reshape(-1), curves_by_target.items()):
        for name, errors in curves.items():
            axis.loglog(train_sizes, errors, "o-", label=name)
        axis.set_xticks(train_sizes, [str(n) for n in train_sizes])
        axis.minorticks_off()
        axis.set_title(title)
        axis.set_xlabel("training structures")
        axis.set_ylabel("test RMSE (% of the test standard deviation)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
