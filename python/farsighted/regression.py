"""Linear (ridge) regression of structure properties on summed atom-centred features: the
simplest model in which to compare what features can learn."""

from typing import Optional, Sequence

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

    def fit(
        self, x: np.ndarray, y: np.ndarray, groups: Optional[np.ndarray] = None
    ) -> "RidgeModel":
        """Fit on features ``x`` (n, p) and targets ``y`` (n). ``groups`` (n labels): the
        cross-validation folds hold out whole groups (the points of a binding curve, the
        structures of a molecule), so that the regularisation is chosen for what the model
        has not seen, not for near copies of its training points."""
        z = self._scaled_features(x, y)
        errors = np.zeros(len(self.alphas))
        for held_out in self._folds(len(y), groups):
            train = np.setdiff1d(np.arange(len(y)), held_out)
            weights = _ridge_path(z[train], y[train] - self._center(y[train]), self.alphas)
            predicted = z[held_out] @ weights + self._center(y[train])
            errors += ((predicted - y[held_out, None]) ** 2).sum(axis=0)
        self.alpha_ = self.alphas[np.argmin(errors)]
        self.weights_ = _ridge_path(z, y - self.offset_, [self.alpha_])[:, 0]
        return self

    def _folds(self, n: int, groups: Optional[np.ndarray]) -> list:
        """The indices held out by each cross-validation fold: random points, or random
        groups of points"""
        rng = np.random.default_rng(self.seed)
        if groups is None:
            return np.array_split(rng.permutation(n), min(self.folds, n))
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must hold one label per sample ({n}), got {groups.shape}")
        labels = np.unique(groups)
        if len(labels) < 2:
            raise ValueError("cross-validation by groups needs at least two groups")
        chosen = np.array_split(rng.permutation(labels), min(self.folds, len(labels)))
        return [np.flatnonzero(np.isin(groups, fold)) for fold in chosen]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.scale_) @ self.weights_ + self.offset_

    def predict_gradient(self, dx: np.ndarray) -> np.ndarray:
        """Gradient of the prediction from the gradient of the features (last axis)"""
        return dx @ self.weights_ / self.scale_


def _ridge_path(z: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """Ridge weights for every relative regularisation in ``alphas`` (one SVD; with more
    features than samples, from the eigendecomposition of the n × n Gram matrix instead:
    w = Zᵀ (Z Zᵀ + α s₀² I)⁻¹ y, the same weights, at a fraction of the SVD's cost)"""
    n, p = z.shape
    if n < p:
        gram = z @ z.T
        eigenvalues, vectors = np.linalg.eigh(gram)
        eigenvalues = np.maximum(eigenvalues, 0.0)
        largest = eigenvalues[-1] if eigenvalues[-1] > 0 else 1.0
        shrink = 1.0 / (eigenvalues[:, None] + np.asarray(alphas)[None, :] * largest)
        return z.T @ (vectors @ (shrink * (vectors.T @ y)[:, None]))
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
