"""The molten NaCl example (examples/molten_nacl): the Tosi–Fumi reference calculator against
finite differences, the Madelung constant, pymatgen's Ewald sum and the lattice energy of
the crystal; and, as a slow test, a short version of the whole example (fit, save, NVE with
the saved model through metatomic-ase)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchpme")
pytest.importorskip("vesin")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "molten_nacl"
sys.path.insert(0, str(EXAMPLE))

from tosi_fumi import COULOMB, TosiFumi, rock_salt  # noqa: E402

MADELUNG_NACL = 1.747564594633


def _load(name):
    spec = importlib.util.spec_from_file_location(f"molten_nacl_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def calculator():
    return TosiFumi()


@pytest.fixture
def liquid_like():
    """64 ions at the density of the liquid, displaced at random, in a sheared cell"""
    atoms = rock_salt(5.64, 2)
    shear = np.array([[1.0, 0.04, 0.0], [0.0, 1.0, 0.03], [0.02, 0.0, 1.0]])
    atoms.set_cell(atoms.cell @ shear * (2.165 / 1.55) ** (1 / 3), scale_atoms=True)
    atoms.rattle(0.25, seed=3)
    return atoms


def test_forces_and_stress_are_derivatives_of_the_energy(calculator, liquid_like):
    energy, forces, stress = calculator.energy_forces_stress(liquid_like)

    def energy_of(atoms):
        return sum(float(term) for term in calculator.energy_terms(atoms))

    assert abs(energy_of(liquid_like) - energy) < 1e-10 * abs(energy)
    h = 1e-4
    for atom in [0, 17, 40]:
        for direction in range(3):
            shifted = []
            for sign in (1, -1):
                atoms = liquid_like.copy()
                atoms.positions[atom, direction] += sign * h
                shifted.append(energy_of(atoms))
            finite_difference = -(shifted[0] - shifted[1]) / (2 * h)
            assert abs(finite_difference - forces[atom, direction]) < 1e-6 * np.abs(forces).max()

    volume = liquid_like.get_volume()
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:
        shifted = []
        for sign in (1, -1):
            strain = torch.zeros((3, 3), dtype=torch.float64)
            # a symmetric strain whose ε_ab + ε_ba is ±h
            strain[a, b] += sign * h / 2
            strain[b, a] += sign * h / 2
            shifted.append(sum(float(t) for t in calculator.energy_terms(liquid_like, strain)))
        finite_difference = (shifted[0] - shifted[1]) / (2 * h) / volume
        assert abs(finite_difference - stress[a, b]) < 1e-6 * np.abs(stress).max()


def test_ase_interface(calculator, liquid_like):
    liquid_like.calc = calculator
    energy, forces, stress = calculator.energy_forces_stress(liquid_like)
    assert liquid_like.get_potential_energy() == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(liquid_like.get_forces(), forces, atol=1e-12)
    np.testing.assert_allclose(liquid_like.get_stress(voigt=False), stress, atol=1e-12)
    # Newton's third law
    assert np.abs(forces.sum(axis=0)).max() < 1e-9


def test_madelung_constant(calculator):
    a = 5.64
    atoms = rock_salt(a, 2)
    _, coulomb = calculator.energy_terms(atoms)
    madelung = -float(coulomb) / (len(atoms) // 2) * (a / 2) / COULOMB
    assert abs(madelung - MADELUNG_NACL) < 1e-6 * MADELUNG_NACL


def test_coulomb_energy_and_forces_against_pymatgen(calculator, liquid_like):
    pytest.importorskip("pymatgen")
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(liquid_like)
    structure.add_oxidation_state_by_element({"Na": 1, "Cl": -1})
    ewald = EwaldSummation(structure, acc_factor=14.0, compute_forces=True)

    positions = torch.tensor(liquid_like.positions, requires_grad=True)
    charges, cell = calculator._check(liquid_like), torch.tensor(liquid_like.cell[:])
    _, coulomb = calculator._energies(liquid_like, charges, positions, cell)
    (gradient,) = torch.autograd.grad(coulomb, positions)
    assert abs(float(coulomb) - ewald.total_energy) < 1e-6 * abs(ewald.total_energy)
    forces = -gradient.numpy()
    assert np.abs(forces - ewald.forces).max() < 1e-5 * np.abs(ewald.forces).max()


def test_lattice_energy_and_lattice_constant(calculator):
    """The static lattice energy of rock salt at a = 5.64 Å (the experimental lattice
    constant at room temperature) against the experimental lattice energy, 183.1 kcal/mol =
    7.94 eV per ion pair (C. Kittel, Introduction to Solid State Physics, 8th ed., ch. 3,
    Table 7): the static energy of the potential comes out 1.4 % lower (-8.056 eV, -777.3
    kJ/mol), of the size of the zero-point energy it leaves out, 9/8 k_B Θ_D per ion = 0.06
    eV per pair with Θ_D = 321 K. Tosi and Fumi fitted the potential to the crystal: its
    pressure vanishes within 0.5 % of the experimental lattice constant."""
    atoms = rock_salt(5.64, 2)
    atoms.calc = calculator
    energy_per_pair = atoms.get_potential_energy() / (len(atoms) // 2)
    assert abs(energy_per_pair - (-7.94)) < 0.02 * 7.94
    assert -8.07 < energy_per_pair < -8.04

    pressures = []
    for a in (5.60, 5.66):
        atoms = rock_salt(a, 2)
        atoms.calc = calculator
        pressures.append(-np.trace(atoms.get_stress(voigt=False)) / 3)
    assert pressures[0] > 0 > pressures[1]


def test_bad_input(calculator):
    atoms = rock_salt(5.64, 1)
    atoms.numbers[0] = 19
    with pytest.raises(ValueError, match="Na and Cl only"):
        calculator.energy_forces_stress(atoms)
    atoms = rock_salt(5.64, 1)
    atoms.numbers[1] = 11
    with pytest.raises(ValueError, match="neutral"):
        calculator.energy_forces_stress(atoms)
    atoms = rock_salt(5.64, 1)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="3D-periodic"):
        calculator.energy_forces_stress(atoms)


@pytest.mark.slow
def test_short_molecular_dynamics(tmp_path):
    """Fit the multi-scale model on 24 frames of the shipped data (64 atoms), save it, and
    run 100 NVE steps of a 64-atom liquid with the saved file through metatomic-ase: the
    total energy fluctuates far less than the kinetic energy, and the forces on held-out
    frames and along the trajectory are learnt to a fraction of their spread.

    With frames of one size only, the cross-validation of the ridge fit is not distracted by
    the per-type energies, which one composition cannot separate from the constant."""
    pytest.importorskip("metatomic_ase")
    pytest.importorskip("featomic.torch")
    import ase.io

    run = _load("run")
    frames = [f for f in ase.io.read(EXAMPLE / "nacl_tosi_fumi.xyz", ":") if len(f) == 64]
    start = next(i for i, f in enumerate(frames) if f.info["temperature"] == 1250)
    ase.io.write(tmp_path / "start.xyz", frames.pop(start))
    ase.io.write(tmp_path / "data.xyz", frames)
    results = run.main(
        [
            "--data", str(tmp_path / "data.xyz"),
            "--n-train", "24",
            "--n-test", "8",
            "--steps", "100",
            "--sample-every", "50",
            "--models", "multiscale",
            "--no-reference-md",
            "--no-plots",
            "--start", str(tmp_path / "start.xyz"),
            "--output", str(tmp_path),
        ]
    )  # fmt: skip
    multiscale = results["multiscale"]
    assert multiscale["nve"]["std_total_over_std_kinetic"] < 0.1
    assert multiscale["test"]["forces_percent_of_std"] < 30
    assert multiscale["trajectory"]["forces_percent_of_std"] < 30
    assert (tmp_path / "multiscale.pt").exists()
