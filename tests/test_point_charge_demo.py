"""The science claim of the point-charge demonstration, on the shipped data: Coulomb energies
from an independent code (pymatgen's Ewald summation) are learned by LODE and multi-scale models
at least ten times better than by SOAP alone, by LODE to better than 0.5 % of their spread, and
the forces these energy models predict are better than SOAP's too; fitting LODE on energies and
forces predicts better forces than fitting it on energies alone.

The multi-scale invariants reach about 0.7 % (not 0.5 %): with 320 training structures their 576
features fit less well than the 24 LODE ν = 1 ones, of which the point-charge energy is a
nearly linear function (E = ½ Σᵢ qᵢ φᵢ)."""

import numpy as np
import pytest

from farsighted.demo.point_charges import run


@pytest.mark.slow
def test_lode_learns_coulomb_energies(tmp_path):
    curves = run(targets=["coulomb"], plot=str(tmp_path / "curves.png"), progress=False)
    energy = {name: values[-1] for name, values in curves["coulomb"]["energy"].items()}
    forces = {name: values[-1] for name, values in curves["coulomb"]["forces"].items()}
    multiscale = "multi-scale ρ⊗ρ ⊕ ρ⊗V"
    best_soap = min(energy["SOAP 3 Å"], energy["SOAP 6 Å"])
    assert energy["LODE ν=1"] < 0.5
    assert energy[multiscale] < 1.0
    assert energy["LODE ν=1"] * 10 < best_soap
    assert energy[multiscale] * 10 < best_soap
    assert forces["LODE ν=1"] * 5 < min(forces["SOAP 3 Å"], forces["SOAP 6 Å"])
    joint_forces = curves["coulomb"]["forces, fitted on energies and forces"]
    assert joint_forces["LODE ν=1"][-1] < forces["LODE ν=1"]
    # the learning curve of LODE goes down with the training size
    assert np.all(np.diff(curves["coulomb"]["energy"]["LODE ν=1"]) < 0.1)
