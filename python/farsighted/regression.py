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


def structure_feature_gradients(tensor: TensorMap, n_atoms: Sequence[int]) -> list:
    """∂(structure features)/∂positions of each structure, as arrays (n_atoms, 3, features)
    whose columns match :py:func:`structure_features`: the positions gradients of all the
    atoms of a structure, summed."""
    from scipy.sparse import csr_matrix

    offsets = np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64)
    columns = []
    for block in tensor.blocks():
        gradient = block.gradient("positions")
        values = np.asarray(gradient.values).reshape(len(gradient.samples), -1)
        rows = offsets[gradient.samples.column("system")] + gradient.samples.column("atom")
        # one sparse product sums the gradient samples of each (structure, atom)
        summing = csr_matrix(
            (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(offsets[-1], len(rows))
        )
        columns.append(np.asarray(summing @ values).reshape(offsets[-1], 3, -1))
    stacked = np.concatenate(columns, axis=2)
    return [stacked[offsets[s] : offsets[s + 1]] for s in range(len(n_atoms))]


class RidgeModel:
    """Ridge regression y ≈ X w + b with the regularisation chosen by k-fold cross-validation on
    the training set among ``alphas`` (relative to the largest squared singular value).

    Columns are centred and divided by one common scale, not standardised one by one:
    standardising would blow up the many nearly constant columns of large feature sets (high
    radial channels, empty type pairs) to the weight of the informative ones.

    With ``fit_intercept=False`` there is no offset b and nothing is centred: y ≈ X w. Energy
    models need it to stay extensive (a sum of atomic terms: per-type energies come from
    composition columns, and a constant per structure would not scale with its size)."""

    def __init__(
        self,
        alphas: Optional[Sequence[float]] = None,
        folds: int = 5,
        seed: int = 0,
        fit_intercept: bool = True,
    ):
        self.alphas = np.logspace(-14, -1, 27) if alphas is None else np.asarray(alphas)
        self.folds = folds
        self.seed = seed
        self.fit_intercept = fit_intercept

    def _center(self, values: np.ndarray):
        """The mean that the intercept removes (0 without intercept)"""
        return values.mean(axis=0) if self.fit_intercept else np.zeros_like(values[0])

    def _scaled_features(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Set the column means, the common scale and the offset from the training data, and
        return the centred, scaled features"""
        self.mean_ = self._center(x)
        self.scale_ = np.sqrt(np.mean((x - self.mean_) ** 2))
        if self.scale_ == 0.0:
            self.scale_ = 1.0
        self.offset_ = float(self._center(y))
        return (x - self.mean_) / self.scale_

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeModel":
        z = self._scaled_features(x, y)
        errors = np.zeros(len(self.alphas))
        order = np.random.default_rng(self.seed).permutation(len(y))
        folds = np.array_split(order, min(self.folds, len(y)))
        for held_out in folds:
            train = np.setdiff1d(order, held_out)
            weights = _ridge_path(z[train], y[train] - self._center(y[train]), self.alphas)
            predicted = z[held_out] @ weights + self._center(y[train])
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


def _ridge_path_normal(a: np.ndarray, b: np.ndarray, alphas) -> np.ndarray:
    """Solutions of (A + α λ_max I) w = b for every relative regularisation α in ``alphas``,
    from one eigendecomposition of the symmetric positive semi-definite A"""
    eigenvalues, vectors = np.linalg.eigh(a)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    largest = eigenvalues[-1] if eigenvalues[-1] > 0 else 1.0
    shrink = 1.0 / (eigenvalues[:, None] + np.asarray(alphas)[None, :] * largest)
    return vectors @ (shrink * (vectors.T @ b)[:, None])


class ForceMoments:
    """Sums over a set of structures of the force part of the normal equations, in the units of
    the raw features x: with G_s = ∂x_s/∂r (3 n_s × p) and F_s the reference forces of structure
    s, and the weight ω_s = 1 / (3 n_s),

    - ``gram`` = Σ ω_s G_sᵀ G_s (p × p), ``cross`` = Σ ω_s G_sᵀ F_s, ``residual`` = Σ ω_s ‖F_s‖²;
    - ``count``, ``total``, ``squares``: number, sum and sum of squares of the force components
      (for their variance).

    Moments of disjoint sets add, and subtract: the moments of a training set minus those of a
    cross-validation fold are those of the other folds."""

    def __init__(self, n_features: int):
        self.gram = np.zeros((n_features, n_features))
        self.cross = np.zeros(n_features)
        self.residual = 0.0
        self.count = 0
        self.total = 0.0
        self.squares = 0.0

    @classmethod
    def from_structures(
        cls, gradients: Sequence[np.ndarray], forces: Sequence[np.ndarray], n_features: int
    ) -> "ForceMoments":
        """Moments of structures given their feature gradients (n_atoms, 3, p), as from
        :py:func:`structure_feature_gradients`, and reference forces (n_atoms, 3)"""
        moments = cls(n_features)
        if len(gradients) == 0:
            return moments
        # one product for all the structures: rows scaled by √ω_s
        rows = np.concatenate(
            [g.reshape(-1, n_features) / np.sqrt(g.shape[0] * 3) for g in gradients]
        )
        targets = np.concatenate([f.reshape(-1) / np.sqrt(f.size) for f in forces])
        moments.gram = rows.T @ rows
        moments.cross = rows.T @ targets
        moments.residual = float(targets @ targets)
        moments.count = sum(f.size for f in forces)
        moments.total = float(sum(f.sum() for f in forces))
        moments.squares = float(sum((f**2).sum() for f in forces))
        return moments

    def _combine(self, other: "ForceMoments", sign: float) -> "ForceMoments":
        result = ForceMoments(0)
        result.gram = self.gram + sign * other.gram
        result.cross = self.cross + sign * other.cross
        result.residual = self.residual + sign * other.residual
        result.count = self.count + int(sign) * other.count
        result.total = self.total + sign * other.total
        result.squares = self.squares + sign * other.squares
        return result

    def __add__(self, other: "ForceMoments") -> "ForceMoments":
        return self._combine(other, 1.0)

    def __sub__(self, other: "ForceMoments") -> "ForceMoments":
        return self._combine(other, -1.0)

    def variance(self) -> float:
        """Variance of the force components"""
        if self.count == 0:
            return 0.0
        mean = self.total / self.count
        return max(self.squares / self.count - mean**2, 0.0)


class EnergyForceRidgeModel(RidgeModel):
    """Ridge regression fitted on energies and forces together: E_s ≈ z_s·w + b and
    F_s ≈ −(∂z_s/∂r)·w, with z = (x − mean) / scale the columns of :py:class:`RidgeModel`
    (centred, one common scale, from the training energies' features; the offset b has no
    force contribution) and the regularisation chosen by k-fold cross-validation over
    structures among ``alphas`` (relative to the largest eigenvalue of the weighted normal
    matrix).

    The rows are weighted so that energies and forces count comparably: the energies by
    1 / σ_E², the force components of structure s by ``force_weight`` / (σ_F² · 3 n_s), with σ_E²
    and σ_F² the variances of the training energies and force components. Each target is so
    measured in units of its spread, and the 3 n_s force components of a structure count, with
    ``force_weight = 1``, as much in total as its one energy: weighting every component like an
    energy would make the fit a force fit in which the energies only set the offset.

    The fit uses the normal equations, accumulated per structure in p × p matrices
    (:py:class:`ForceMoments`), never the design matrix of all the force rows: the moments of
    the cross-validation training sets are those of the training set minus those of the held-out
    fold, and one eigendecomposition per fold solves for every alpha. Solving the normal
    equations squares the condition number: regularisations below ~1e-12 of the largest
    eigenvalue are less accurate than :py:class:`RidgeModel`'s SVD."""

    def __init__(
        self,
        alphas: Optional[Sequence[float]] = None,
        folds: int = 5,
        seed: int = 0,
        force_weight: float = 1.0,
        fit_intercept: bool = True,
    ):
        super().__init__(alphas, folds, seed, fit_intercept)
        self.force_weight = force_weight

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        gradients: Sequence[np.ndarray],
        forces: Sequence[np.ndarray],
    ) -> "EnergyForceRidgeModel":
        """Fit on the structure features ``x`` (n, p) and energies ``y``, and the feature
        gradients (n_atoms, 3, p) (:py:func:`structure_feature_gradients`) and reference forces
        (n_atoms, 3) of the same structures. The folds are those of :py:class:`RidgeModel`."""
        order = np.random.default_rng(self.seed).permutation(len(y))
        folds = np.array_split(order, min(self.folds, len(y)))
        moments = [
            ForceMoments.from_structures(
                [gradients[i] for i in fold], [forces[i] for i in fold], x.shape[1]
            )
            for fold in folds
        ]
        return self.fit_moments(x, y, folds, moments)

    def fit_moments(
        self,
        x: np.ndarray,
        y: np.ndarray,
        folds: Sequence[np.ndarray],
        fold_moments: Sequence[ForceMoments],
    ) -> "EnergyForceRidgeModel":
        """Fit from the structure features ``x`` (n, p) and energies ``y`` of the training
        structures, a partition of their indices in cross-validation ``folds``, and the force
        moments of each fold"""
        n, p = x.shape
        z = self._scaled_features(x, y)
        total = fold_moments[0]
        for moments in fold_moments[1:]:
            total = total + moments
        energy_variance = y.var() if y.var() > 0 else 1.0
        force_variance = total.variance() if total.variance() > 0 else 1.0
        energy_weight = 1.0 / energy_variance
        force_weight = self.force_weight / force_variance

        def normal_equations(rows, moments):
            # the energies as in RidgeModel: centred by the mean of their training set
            centred = y[rows] - self._center(y[rows])
            a = energy_weight * z[rows].T @ z[rows] + force_weight * moments.gram / self.scale_**2
            b = energy_weight * z[rows].T @ centred - force_weight * moments.cross / self.scale_
            return a, b

        errors = np.zeros(len(self.alphas))
        everything = np.arange(n)
        for held_out, held_moments in zip(folds, fold_moments):
            if len(held_out) == 0 or len(held_out) == n:
                continue
            train = np.setdiff1d(everything, held_out)
            weights = _ridge_path_normal(
                *normal_equations(train, total - held_moments), self.alphas
            )
            predicted = z[held_out] @ weights + self._center(y[train])
            errors += energy_weight * ((predicted - y[held_out, None]) ** 2).sum(axis=0)
            # Σ ω_s ‖G_s w / scale + F_s‖² over the held-out structures, from their moments
            quadratic = np.einsum("pa,pq,qa->a", weights, held_moments.gram, weights)
            force_errors = (
                quadratic / self.scale_**2
                + 2 * held_moments.cross @ weights / self.scale_
                + held_moments.residual
            )
            errors += force_weight * force_errors
        self.alpha_ = self.alphas[np.argmin(errors)]
        self.weights_ = _ridge_path_normal(*normal_equations(everything, total), [self.alpha_])[
            :, 0
        ]
        return self


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
    size, of models fitted on energies (:py:class:`RidgeModel`) and, where feature gradients
    are given, on energies and forces (:py:class:`EnergyForceRidgeModel`).

    The test set (:py:func:`split_indices`) is the same for every model and size; training sets
    are nested. ``feature_gradients`` gives per model the positions gradients of the structure
    features of every structure (:py:func:`structure_feature_gradients`; ``None`` for the
    structures in no training or test set), and ``forces`` their reference forces: the forces
    the models predict are then evaluated on the test structures, and with ``fit_forces`` the
    models given gradients are fitted on energies and forces as well (``force_weight`` and
    ``folds``: see :py:class:`EnergyForceRidgeModel`).

    The energy and force fit reuses work across training sizes and folds: each structure of the
    training pool gets a cross-validation fold, balanced within the slice of structures that each
    training size adds to the previous one, and the force moments (:py:class:`ForceMoments`) of
    each (slice, fold) are computed once; the moments of a fold at a training size are the sums
    over the slices it contains.

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
