"""The water-response demonstration (:py:mod:`farsighted.demo.water_response`): the spherical
components of its Cartesian targets are in the basis of its features (checked on rotated and
inverted clusters), its equivariant models learn exactly equivariant synthetic targets, it
runs on a subset of the shipped clusters, and (slow) its multi-scale model learns the collective
response of the largest clusters from the smaller ones."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from farsighted.demo.generate_water_clusters import cluster
from farsighted.demo.water_response import (
    PROPERTIES,
    equivariant_features,
    errors,
    fit_and_predict,
    models,
    run,
    spherical_to_tensor,
    spherical_to_vector,
    tensor_to_spherical,
    vector_to_spherical,
)

#: small bases: the checks hold for any
BASES = {"max_angular": 2, "max_radial": 2}


def clusters(sizes, seed):
    rng = np.random.default_rng(seed)
    frames = [cluster(n, rng) for n in sizes]
    for atoms in frames:
        atoms.pbc = False
    return frames


def transformed(frames, matrix):
    """Copies of ``frames`` with positions r → M r"""
    copies = []
    for atoms in frames:
        copy = atoms.copy()
        copy.positions = atoms.positions @ matrix.T
        copies.append(copy)
    return copies


def target_wigner(o3_lambda, matrix):
    """The matrix D with sph(M t) = D sph(t) of the Cartesian → spherical conversion of the
    demo, for a vector (λ = 1: t → M t) or a traceless symmetric tensor (λ = 2: t → M t Mᵀ)"""
    size = 2 * o3_lambda + 1
    columns = []
    for unit in np.eye(size):
        if o3_lambda == 1:
            columns.append(vector_to_spherical(matrix @ spherical_to_vector(unit)))
        else:
            tensor = spherical_to_tensor(0.0, unit)
            isotropic, anisotropic = tensor_to_spherical(matrix @ tensor @ matrix.T)
            assert abs(isotropic) < 1e-12
            columns.append(anisotropic)
    return np.array(columns).T


def feature_wigner(features, transformed_features):
    """D with F' = D F by least squares over the structures and properties, and the relative
    residual"""
    before = np.concatenate(list(features), axis=1)
    after = np.concatenate(list(transformed_features), axis=1)
    wigner = after @ np.linalg.pinv(before)
    residual = np.linalg.norm(wigner @ before - after) / np.linalg.norm(after)
    return wigner, residual


@pytest.fixture(scope="module")
def transformed_features():
    frames = clusters([3, 4], seed=11)
    rotation = Rotation.random(random_state=5).as_matrix()
    together = frames + transformed(frames, rotation) + transformed(frames, -np.eye(3))
    features = equivariant_features(together, **BASES)
    return features, rotation, len(frames)


@pytest.mark.parametrize("family", ["ρ⊗ρ", "ρ⊗V"])
@pytest.mark.parametrize("o3_lambda", [1, 2])
def test_targets_rotate_like_the_features(transformed_features, family, o3_lambda):
    features, rotation, n = transformed_features
    values = features[family][o3_lambda]
    wigner, residual = feature_wigner(values[:n], values[n : 2 * n])
    # the features of the rotated clusters are those of the clusters, rotated
    assert residual < 1e-8
    np.testing.assert_allclose(wigner @ wigner.T, np.eye(2 * o3_lambda + 1), atol=1e-8)
    # ... and by the same matrix as the spherical components of rotated targets
    np.testing.assert_allclose(wigner, target_wigner(o3_lambda, rotation), atol=1e-8)


@pytest.mark.parametrize("family", ["ρ⊗ρ", "ρ⊗V"])
@pytest.mark.parametrize("o3_lambda", [0, 1, 2])
def test_features_have_the_parity_of_the_targets(transformed_features, family, o3_lambda):
    # proper tensors: a dipole changes sign under inversion, a polarizability does not
    features, _, n = transformed_features
    values = features[family][o3_lambda]
    np.testing.assert_allclose(
        values[2 * n :], (-1) ** o3_lambda * values[:n], atol=1e-10 * np.abs(values).max()
    )


def test_spherical_round_trip(rng):
    vectors = rng.normal(size=(4, 3))
    np.testing.assert_allclose(spherical_to_vector(vector_to_spherical(vectors)), vectors)
    tensors = rng.normal(size=(4, 3, 3))
    tensors = tensors + tensors.transpose(0, 2, 1)
    np.testing.assert_allclose(spherical_to_tensor(*tensor_to_spherical(tensors)), tensors)
    # an orthonormal basis: the Frobenius norm of the traceless part is kept
    isotropic, anisotropic = tensor_to_spherical(tensors)
    traceless = tensors - isotropic[:, None, None] * np.eye(3)
    np.testing.assert_allclose(
        np.linalg.norm(anisotropic, axis=1), np.linalg.norm(traceless, axis=(1, 2))
    )


def rows_of(features, rows):
    """The features of the structures ``rows``"""
    return {f: {o3_lambda: x[rows] for o3_lambda, x in d.items()} for f, d in features.items()}


def test_synthetic_equivariant_targets_are_learnt_exactly(rng):
    # exactly linear, equivariant targets y_m = Σ_q w_q x_qm (one random weight per feature,
    # shared by the components), tested on rotated clusters whose targets are the Cartesian
    # targets of the clusters rotated (μ → R μ, α → R α Rᵀ): this checks the shared weights,
    # the stacking of the components and the conversions together. Small bases, so that the
    # training clusters outnumber the invariant features.
    n_train, n_test = 160, 40
    frames = clusters([2, 3, 4] * 67, seed=12)[: n_train + n_test]
    rotations = Rotation.random(n_test, random_state=6).as_matrix()
    rotated = [transformed([a], r)[0] for a, r in zip(frames[n_train:], rotations)]
    features = equivariant_features(frames + rotated, max_angular=1, max_radial=1)
    families = ["composition", "ρ⊗ρ", "ρ⊗V"]

    def synthetic(o3_lambda):
        """the targets of the clusters before rotation"""
        chosen = [features[f][o3_lambda] for f in families if o3_lambda in features[f]]
        x = np.concatenate([c / np.sqrt(np.mean(c**2)) for c in chosen], axis=2)
        return x[: n_train + n_test] @ rng.normal(size=x.shape[2])

    dipole = spherical_to_vector(synthetic(1))
    polarizability = spherical_to_tensor(synthetic(0)[:, 0], synthetic(2))
    dipole[n_train:] = np.einsum("sab,sb->sa", rotations, dipole[n_train:])
    polarizability[n_train:] = np.einsum(
        "sab,sbc,sdc->sad", rotations, polarizability[n_train:], rotations
    )
    reference = {
        "dipole": dipole,
        "polarizability": polarizability,
        "polarizability_molecules": 0.9 * polarizability,
    }
    # the training clusters, then the rotated test clusters
    used = rows_of(features, np.r_[:n_train, n_train + n_test : n_train + 2 * n_test])
    test = np.arange(n_train + n_test) >= n_train
    predicted = fit_and_predict(used, families, reference, ~test)
    for name, error in errors(predicted, reference, test).items():
        assert error < 1e-3, name


def test_demo_runs_on_a_subset(tmp_path):
    from farsighted.data import dataset_path

    plot = tmp_path / "response.png"
    results = run(
        plot=str(plot),
        progress=False,
        path=str(dataset_path("water_clusters_hf.xyz")),
        per_size=6,
        **BASES,
    )
    assert set(results) == {"extrapolation", "random"}
    for table in results.values():
        assert len(table) == 4  # the sums of molecules, three models
        for row in table.values():
            assert set(row) == set(PROPERTIES)
            assert all(np.isfinite(value) for value in row.values())
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_multiscale_features_learn_the_collective_response():
    # the science claim on the shipped clusters: trained on n ≤ 4 and tested on n = 6, the
    # multi-scale model predicts the anisotropic polarizability and its collective part (the
    # cluster's minus its isolated molecules') far better than the local model of the same
    # cutoff, and captures most of the collective part
    from farsighted.data import dataset_path

    results = run(progress=False, path=str(dataset_path("water_clusters_hf.xyz")))
    table = results["extrapolation"]
    local, multiscale = (table[name] for name in list(models())[:2])
    assert multiscale["α collective"] < 0.6 * local["α collective"]
    assert multiscale["α anisotropic"] < 0.6 * local["α anisotropic"]
    assert multiscale["α collective"] < 25.0
    assert table["sum of molecules"]["α collective"] > 100.0
