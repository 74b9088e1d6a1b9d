"""Real Clebsch–Gordan coefficients: against featomic's independent implementation, and by
the defining property that coupled spherical harmonics rotate like spherical harmonics."""

import featomic.clebsch_gordan
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from farsighted.clebsch_gordan import real_clebsch_gordan

from helpers import real_wigner_d

L_MAX = 4


def test_against_featomic():
    reference = featomic.clebsch_gordan.calculate_cg_coefficients(
        L_MAX, "python-dense", "numpy", np.float64, "cpu"
    )
    for key, block in reference.items():
        l1, l2, o3_lambda = (int(key[name]) for name in ["l1", "l2", "lambda"])
        expected = block.values.reshape(2 * l1 + 1, 2 * l2 + 1, 2 * o3_lambda + 1)
        np.testing.assert_allclose(real_clebsch_gordan(l1, l2, o3_lambda), expected, atol=1e-14)


@pytest.mark.parametrize("l1, l2", [(1, 1), (2, 1), (2, 3), (4, 4)])
def test_equivariance(l1, l2):
    rng = np.random.default_rng(5)
    rotation = Rotation.random(random_state=7)
    a = rng.normal(size=2 * l1 + 1)
    b = rng.normal(size=2 * l2 + 1)
    d1, d2 = real_wigner_d(l1, rotation), real_wigner_d(l2, rotation)
    for o3_lambda in range(abs(l1 - l2), l1 + l2 + 1):
        cg = real_clebsch_gordan(l1, l2, o3_lambda)
        coupled = np.einsum("a,b,abc->c", a, b, cg)
        rotated = np.einsum("a,b,abc->c", d1 @ a, d2 @ b, cg)
        expected = real_wigner_d(o3_lambda, rotation) @ coupled
        # pseudo-tensors (l1 + l2 + λ odd) rotate like tensors under proper rotations
        np.testing.assert_allclose(rotated, expected, atol=1e-12)
