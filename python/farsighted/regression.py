"""Linear (ridge) regression of structure properties on summed atom-centred features, and
learning curves: the simplest model in which to compare what features can learn."""

from typing import Dict, Optional, Sequence

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


class RidgeModel:
    """Ridge regression y ≈ X w + b on standardised columns, with the regularisation chosen by
    k-fold cross-validation on the training set among ``alphas`` (relative to the largest
    squared singular value)."""

    def __init__(self, alphas: Optional[Sequence[float]] = None, folds: int = 5, seed: int = 0):
        self.alphas = np.logspace(-14, -1, 27) if alphas is None else np.asarray(alphas)
        self.folds = folds
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeModel":
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
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


def _ridge_path(z: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """Ridge weights for every relative regularisation in ``alphas`` (one SVD)"""
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    uty = u.T @ y
    shrink = s[:, None] / (s[:, None] ** 2 + np.asarray(alphas)[None, :] * s[0] ** 2)
    return vt.T @ (shrink * uty[:, None])


def learning_curve(
    features: Dict[str, np.ndarray],
    target: np.ndarray,
    train_sizes: Sequence[int],
    n_test: int,
    seed: int = 0,
) -> Dict[str, np.ndarray]:
    """Test RMSE in % of the test set's standard deviation, for each feature set and training
    size. The test set (``n_test`` structures) is the same for every model and size; training
    sets are nested."""
    order = np.random.default_rng(seed).permutation(len(target))
    test, pool = order[:n_test], order[n_test:]
    if max(train_sizes) > len(pool):
        raise ValueError(
            f"largest training size {max(train_sizes)} exceeds the {len(pool)} structures left "
            f"after the {n_test} test structures"
        )
    scale = target[test].std()
    curves = {}
    for name, x in features.items():
        errors = []
        for size in train_sizes:
            train = pool[:size]
            model = RidgeModel(seed=seed).fit(x[train], target[train])
            residual = model.predict(x[test]) - target[test]
            errors.append(100 * np.sqrt(np.mean(residual**2)) / scale)
        curves[name] = np.array(errors)
    return curves


def plot_learning_curves(curves_by_target, train_sizes, path):
    """Log-log learning curves, one panel per target, to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(curves_by_target), figsize=(5.5 * len(curves_by_target), 4.5), squeeze=False
    )
    for axis, (title, curves) in zip(axes[0], curves_by_target.items()):
        for name, errors in curves.items():
            axis.loglog(train_sizes, errors, "o-", label=name)
        axis.set_title(title)
        axis.set_xlabel("training structures")
        axis.set_ylabel("test RMSE (% of the test standard deviation)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
