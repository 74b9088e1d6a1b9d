"""The ridge model fitted on energies and forces, against an independent least-squares solution
of the explicitly stacked and weighted problem, and against the energy-only model."""

import numpy as np
import pytest

from farsighted.demo.learning_curves import learning_curve
from farsighted.regression import EnergyForceRidgeModel, ForceMoments, RidgeModel


def random_problem(n_structures=15, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_structures, n_features)) + 3.0
    energies = x @ rng.normal(size=n_features) + 0.1 * rng.normal(size=n_structures) + 7.0
    n_atoms = rng.integers(2, 6, size=n_structures)
    gradients = [rng.normal(size=(n, 3, n_features)) for n in n_atoms]
    forces = [rng.normal(size=(n, 3)) for n in n_atoms]
    return x, energies, gradients, forces


def stacked_solution(x, energies, gradients, forces, alpha, force_weight):
    """Weights and offset from numpy's lstsq on the stacked design matrix: weighted energy rows
    (with an unregularised offset column), weighted force rows, and the regularisation as rows"""
    mean = x.mean(axis=0)
    scale = np.sqrt(np.mean((x - mean) ** 2))
    z = (x - mean) / scale
    all_forces = np.concatenate([f.reshape(-1) for f in forces])
    energy_weight = 1 / energies.var()
    rows, targets = [np.sqrt(energy_weight) * z], [np.sqrt(energy_weight) * energies]
    for gradient, force in zip(gradients, forces):
        weight = force_weight / (all_forces.var() * force.size)
        rows.append(-np.sqrt(weight) * gradient.reshape(-1, x.shape[1]) / scale)
        targets.append(np.sqrt(weight) * force.reshape(-1))
    design = np.concatenate(rows)
    largest = np.linalg.svd(design, compute_uv=False)[0] ** 2
    offset_column = np.zeros((len(design), 1))
    offset_column[: len(x)] = np.sqrt(energy_weight)
    regularised = np.block(
        [
            [design, offset_column],
            [np.sqrt(alpha * largest) * np.eye(x.shape[1]), np.zeros((x.shape[1], 1))],
        ]
    )
    solution = np.linalg.lstsq(
        regularised, np.concatenate(targets + [np.zeros(x.shape[1])]), rcond=None
    )[0]
    return solution[:-1] / scale, solution[-1] - mean @ solution[:-1] / scale


@pytest.mark.parametrize("force_weight", [1.0, 0.3, 10.0])
def test_joint_fit_matches_stacked_least_squares(force_weight):
    x, energies, gradients, forces = random_problem()
    alpha = 1e-3
    model = EnergyForceRidgeModel(alphas=[alpha], force_weight=force_weight)
    model.fit(x, energies, gradients, forces)
    weights, offset = stacked_solution(x, energies, gradients, forces, alpha, force_weight)
    # the model in raw feature units: E = x·(w / scale) + offset − mean·w / scale
    np.testing.assert_allclose(model.weights_ / model.scale_, weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict(np.zeros((1, x.shape[1])))[0], offset, rtol=1e-10)
    for gradient in gradients[:3]:
        np.testing.assert_allclose(
            model.predict_gradient(gradient), gradient @ weights, rtol=1e-10, atol=1e-12
        )


def test_zero_force_weight_is_the_energy_model():
    x, energies, gradients, forces = random_problem(n_structures=40)
    joint = EnergyForceRidgeModel(force_weight=0.0).fit(x, energies, gradients, forces)
    energy_only = RidgeModel().fit(x, energies)
    assert joint.alpha_ == energy_only.alpha_
    np.testing.assert_allclose(joint.weights_, energy_only.weights_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(joint.predict(x), energy_only.predict(x), rtol=1e-10)


def test_force_moments_add_and_subtract():
    x, energies, gradients, forces = random_problem()
    first = ForceMoments.from_structures(gradients[:5], forces[:5], x.shape[1])
    rest = ForceMoments.from_structures(gradients[5:], forces[5:], x.shape[1])
    both = ForceMoments.from_structures(gradients, forces, x.shape[1])
    difference = both - first
    np.testing.assert_allclose(difference.gram, rest.gram, atol=1e-12)
    np.testing.assert_allclose(difference.cross, rest.cross, atol=1e-12)
    assert difference.count == rest.count
    all_forces = np.concatenate([f.reshape(-1) for f in forces])
    assert np.isclose((first + rest).variance(), all_forces.var())


def test_forces_teach_what_energies_cannot():
    """Targets linear in the features, with fewer structures than features: the energies alone
    cannot determine the weights, the forces can"""
    rng = np.random.default_rng(1)
    n_structures, n_features = 40, 30
    true_weights = rng.normal(size=n_features)
    x = rng.normal(size=(n_structures, n_features))
    gradients = [rng.normal(size=(4, 3, n_features)) for _ in range(n_structures)]
    energies = x @ true_weights
    forces = [-g @ true_weights for g in gradients]
    curves = learning_curve(
        {"linear": x},
        energies,
        [10, 20],
        n_test=20,
        feature_gradients={"linear": gradients},
        forces=forces,
    )
    assert curves["energy"]["linear"][0] > 10
    assert curves["energy, fitted on energies and forces"]["linear"][-1] < 0.1
    assert curves["forces, fitted on energies and forces"]["linear"][-1] < 0.1


def test_cross_validation_by_groups():
    """With as many folds as groups, the regularisation is the one of leave-one-group-out
    cross-validation, computed here independently (normal equations per held-out group)"""
    rng = np.random.default_rng(5)
    n_groups, per_group, n_features = 6, 8, 10
    groups = np.repeat(np.arange(n_groups), per_group)
    # points of a group are near copies: random folds would favour little regularisation
    base = rng.normal(size=(n_groups, n_features))
    x = base[groups] + 0.05 * rng.normal(size=(len(groups), n_features))
    y = x @ rng.normal(size=n_features) + rng.normal(size=n_groups)[groups]
    alphas = np.logspace(-8, 0, 9)
    model = RidgeModel(alphas, folds=n_groups, fit_intercept=False).fit(x, y, groups=groups)

    z = x / np.sqrt(np.mean(x**2))
    errors = []
    for alpha in alphas:
        error = 0.0
        for g in range(n_groups):
            train, test = groups != g, groups == g
            # the regularisation is relative to the training set's largest eigenvalue
            largest = np.linalg.svd(z[train], compute_uv=False)[0] ** 2
            a = z[train].T @ z[train] + alpha * largest * np.eye(n_features)
            weights = np.linalg.solve(a, z[train].T @ y[train])
            error += np.sum((z[test] @ weights - y[test]) ** 2)
        errors.append(error)
    assert model.alpha_ == alphas[int(np.argmin(errors))]

    with pytest.raises(ValueError, match="one label per sample"):
        RidgeModel().fit(x, y, groups=groups[:-1])
    with pytest.raises(ValueError, match="at least two groups"):
        RidgeModel().fit(x, y, groups=np.zeros(len(y)))


def test_more_features_than_samples():
    """With more features than samples the weights come from the Gram matrix: the same as
    numpy's least squares on the problem augmented with the regularisation rows"""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(12, 40)), rng.normal(size=12)
    alpha = 1e-3
    model = RidgeModel([alpha], fit_intercept=False).fit(x, y)
    z = x / model.scale_
    largest = np.linalg.svd(z, compute_uv=False)[0] ** 2
    design = np.concatenate([z, np.sqrt(alpha * largest) * np.eye(40)])
    target = np.concatenate([y, np.zeros(40)])
    expected = np.linalg.lstsq(design, target, rcond=None)[0]
    np.testing.assert_allclose(model.weights_, expected, atol=1e-10 * np.abs(expected).max())
