"""The science claim of the point-charge demonstration, on the shipped data: energies from
independent codes (pymatgen's Ewald summation, a direct lattice sum) are learned by LODE and
multi-scale models at least ten times better than by SOAP alone, and the Coulomb energy to
better than 0.5 % of its spread."""

import numpy as np
import pytest

from farsighted.point_charge_demo import run


@pytest.mark.slow
def test_lode_learns_coulomb_energies(tmp_path):
    curves = run(targets=["coulomb"], plot=str(tmp_path / "curves.png"), progress=False)
    errors = {name: values[-1] for name, values in curves["coulomb"].items()}
    best_soap = min(errors["SOAP 3 Å"], errors["SOAP 6 Å"])
    assert errors["LODE ν=1"] < 0.5
    assert errors["multi-scale ρ⊗ρ ⊕ ρ⊗V"] < 0.5
    assert errors["LODE ν=1"] * 10 < best_soap
    assert errors["multi-scale ρ⊗ρ ⊕ ρ⊗V"] * 10 < best_soap
    # the learning curves of the long-range models go down with the training size
    assert np.all(np.diff(curves["coulomb"]["LODE ν=1"]) < 0.1)
