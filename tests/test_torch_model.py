"""The linear SOAP + LODE energy model: fitted by ridge on energies and forces from the Rust
core and featomic, the TorchScript model gives the ridge predictions; saved as a metatomic
model, it runs in metatomic-ase in a process that never imports farsighted, with forces and
stress that are the derivatives of its energy, and conserves energy in NVE dynamics."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
pytest.importorskip("featomic.torch")
pytest.importorskip("metatomic_ase")

import ase.io  # noqa: E402

import farsighted.systems  # noqa: E402
import farsighted.torch  # noqa: E402
from farsighted.data import dataset_path  # noqa: E402
from farsighted.demo.point_charges import lode_hypers, soap_hypers  # noqa: E402
from farsighted.regression import structure_features  # noqa: E402
from farsighted.torch.fit import _composition, _numpy_calculators  # noqa: E402

from helpers import attach_neighbor_lists  # noqa: E402

N_TRAIN = 40


@pytest.fixture(scope="module")
def data():
    frames = ase.io.read(dataset_path("point_charges.xyz"), ":56")
    energies = np.array([frame.info["energy_coulomb"] for frame in frames])
    forces = [frame.arrays["forces_coulomb"] for frame in frames]
    return frames, energies, forces


@pytest.fixture(scope="module")
def fitted(data):
    frames, energies, forces = data
    soap, lode = soap_hypers(4.0, 2), [lode_hypers(1, 0)]
    model, ridge = farsighted.torch.fit_energy_model(
        frames[:N_TRAIN], energies[:N_TRAIN], forces[:N_TRAIN], soap=soap, lode=lode
    )
    return model, ridge, soap, lode


def energies_of(model, frames):
    systems = [metatomic_torch.systems_to_torch(f, dtype=torch.float64) for f in frames]
    attach_neighbor_lists(systems, model)
    outputs = {"energy": metatomic_torch.ModelOutput(sample_kind="system")}
    return model(systems, outputs, None)["energy"].block().values[:, 0].detach().numpy()


def test_torch_model_gives_the_ridge_predictions(data, fitted):
    frames, energies, _ = data
    model, ridge, soap, lode = fitted
    test = frames[N_TRAIN:]
    calculators = _numpy_calculators(soap, lode).values()
    columns = [structure_features(c.compute(test), len(test)) for c in calculators]
    x = np.concatenate(columns + [_composition(test, model.atomic_types)], axis=1)
    expected = ridge.predict(x)

    actual = energies_of(torch.jit.script(model), test)
    assert np.abs(actual - expected).max() < 1e-8
    # and the model learnt the Coulomb energies (≈ 0.5 % of their spread)
    rmse = np.sqrt(np.mean((actual - energies[N_TRAIN:]) ** 2))
    assert rmse < 0.02 * energies[N_TRAIN:].std()


def test_unknown_types_are_refused(data, fitted):
    model = fitted[0]
    frame = data[0][0].copy()
    frame.numbers[0] = 8
    with pytest.raises(Exception, match="does not know"):
        energies_of(torch.jit.script(model), [frame])


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import ase.io
    import numpy as np
    from metatomic_ase import MetatomicCalculator

    path, extensions, structure = sys.argv[1:4]
    atoms = ase.io.read(structure)
    atoms.calc = MetatomicCalculator(path, extensions_directory=extensions)
    result = {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces().tolist(),
        "stress": atoms.get_stress(voigt=False).tolist(),
        "farsighted_imported": any(name.startswith("farsighted") for name in sys.modules),
    }
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    path = str(directory / "model.pt")
    extensions = farsighted.torch.save_model(fitted[0], path)
    return path, extensions


def test_saved_model_runs_in_ase_without_farsighted(data, fitted, saved, tmp_path):
    path, extensions = saved
    frame = data[0][N_TRAIN]
    structure = str(tmp_path / "structure.xyz")
    ase.io.write(structure, frame)
    script = tmp_path / "run.py"
    script.write_text(FRESH_PROCESS)
    environment = dict(os.environ, PYTHONWARNINGS="ignore")
    completed = subprocess.run(
        [sys.executable, str(script), path, extensions, structure],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=str(tmp_path),
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert not result["farsighted_imported"]

    expected = energies_of(torch.jit.script(fitted[0]), [frame])[0]
    assert abs(result["energy"] - expected) < 1e-8 * max(1.0, abs(expected))

    # forces and stress are the derivatives of the energy the engine sees
    from metatomic_ase import MetatomicCalculator

    calculator = MetatomicCalculator(path, extensions_directory=extensions)
    atoms = frame.copy()
    atoms.calc = calculator
    np.testing.assert_allclose(atoms.get_forces(), np.array(result["forces"]), atol=1e-10)
    assert_derivatives_of_energy(calculator, frame)


def assert_derivatives_of_energy(calculator, frame, step=1e-4):
    """The forces and stress ``calculator`` gives for ``frame`` against central finite
    differences of its energy, relative 1e-6 (for slabs the strain moves the atoms along the
    normal too, and the stress is divided by the volume of the full cell, as metatomic-ase
    does)"""
    atoms = frame.copy()
    atoms.calc = calculator
    forces = atoms.get_forces()
    stress = atoms.get_stress(voigt=False)
    for atom, direction in [(0, 0), (3, 1), (7, 2)]:
        energies = []
        for sign in [1, -1]:
            moved = frame.copy()
            moved.positions[atom, direction] += sign * step
            moved.calc = calculator
            energies.append(moved.get_potential_energy())
        numeric = -(energies[0] - energies[1]) / (2 * step)
        assert abs(numeric - forces[atom, direction]) < 1e-6 * max(1.0, np.abs(forces).max())

    volume = frame.get_volume()
    for a, b in [(0, 0), (1, 2), (2, 1), (2, 2)]:
        energies = []
        for sign in [1, -1]:
            strain = np.eye(3)
            strain[a, b] += sign * step
            deformed = frame.copy()
            deformed.set_cell(frame.cell.array @ strain, scale_atoms=True)
            deformed.calc = calculator
            energies.append(deformed.get_potential_energy())
        numeric = (energies[0] - energies[1]) / (2 * step) / volume
        symmetric = 0.5 * (stress[a, b] + stress[b, a])
        assert abs(numeric - symmetric) < 1e-6 * max(1.0, np.abs(stress).max()), (a, b)


@pytest.mark.filterwarnings("ignore:stress requested but likely to be wrong")
def test_saved_model_stress_of_slabs(data, tmp_path):
    """A model built for slabs (max_slab_thickness), saved and run in metatomic-ase on a slab:
    forces and stress are the derivatives of its energy"""
    from metatomic_ase import MetatomicCalculator

    frames, energies, forces = data
    model, _ = farsighted.torch.fit_energy_model(
        frames[:12],
        energies[:12],
        forces[:12],
        soap=soap_hypers(4.0, 2),
        lode=[lode_hypers(1, 0)],
        max_slab_thickness=15.0,
    )
    path = str(tmp_path / "slab_model.pt")
    extensions = farsighted.torch.save_model(model, path)
    slab = frames[N_TRAIN].copy()
    slab.pbc = [True, True, False]
    assert 0.0 < farsighted.systems.slab_thickness(slab) < 15.0
    assert_derivatives_of_energy(MetatomicCalculator(path, extensions_directory=extensions), slab)


@pytest.mark.slow
def test_nve_dynamics_conserves_energy(data, saved):
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from metatomic_ase import MetatomicCalculator

    path, extensions = saved
    atoms = data[0][N_TRAIN + 1].copy()
    atoms.calc = MetatomicCalculator(path, extensions_directory=extensions)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    total, kinetic = [], []
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    for _ in range(100):
        dynamics.run(1)
        total.append(atoms.get_total_energy())
        kinetic.append(atoms.get_kinetic_energy())
    total, kinetic = np.array(total), np.array(kinetic)
    # velocity Verlet: the total energy fluctuates far less than the kinetic energy
    assert np.std(total) < 0.05 * np.std(kinetic)


IPI_INPUT = """<simulation verbosity="low" safe_stride="1000">
  <output prefix="simulation">
    <properties stride="1" filename="out">[step, potential{electronvolt}]</properties>
    <trajectory filename="positions" stride="1" format="ase">positions</trajectory>
  </output>
  <total_steps>8</total_steps>
  <prng><seed>12345</seed></prng>
  <ffdirect name="farsighted">
    <pes>metatomic</pes>
    <parameters>{template: structure.xyz, model: MODEL, extensions: EXTENSIONS}</parameters>
  </ffdirect>
  <system>
    <initialize nbeads="1">
      <file mode="ase">structure.xyz</file>
      <velocities mode="thermal" units="kelvin">300</velocities>
    </initialize>
    <forces><force forcefield="farsighted"/></forces>
    <motion mode="dynamics">
      <dynamics mode="nvt">
        <timestep units="femtosecond">0.5</timestep>
        <thermostat mode="svr"><tau units="femtosecond">10</tau></thermostat>
      </dynamics>
    </motion>
    <ensemble><temperature units="kelvin">300</temperature></ensemble>
  </system>
</simulation>
"""


def test_saved_model_drives_ipi(data, saved, tmp_path):
    """The same file in a second engine: an NVT run of i-PI through its metatomic driver, whose
    potential energies are metatomic-ase's on the configurations of the run"""
    pytest.importorskip("ipi")
    import ipi
    from metatomic_ase import MetatomicCalculator

    path, extensions = saved
    frame = data[0][N_TRAIN + 2]
    ase.io.write(
        str(tmp_path / "structure.xyz"),
        ase.Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True),
    )
    xml = IPI_INPUT.replace("MODEL", path).replace("EXTENSIONS", extensions)
    (tmp_path / "input.xml").write_text(xml)
    i_pi = os.path.join(os.path.dirname(sys.executable), "i-pi")
    subprocess.run([i_pi, "input.xml"], cwd=str(tmp_path), check=True, capture_output=True)

    values, _ = ipi.read_output(str(tmp_path / "simulation.out"))
    trajectory = ase.io.read(str(tmp_path / "simulation.positions_0.extxyz"), ":")
    assert len(trajectory) == len(values["potential"]) == 9
    calculator = MetatomicCalculator(path, extensions_directory=extensions)
    for atoms, energy in zip(trajectory, values["potential"]):
        atoms.calc = calculator
        assert abs(atoms.get_potential_energy() - energy) < 1e-6 * max(1.0, abs(energy))
    # the thermostat moved the atoms: the configurations differ
    assert np.abs(trajectory[-1].positions - trajectory[0].positions).max() > 1e-3


def test_model_is_extensive(data, fitted):
    """A sum of atomic terms without a per-structure constant: a 2×1×1 supercell (the same
    atomic environments) has twice the energy of its cell"""
    model = torch.jit.script(fitted[0])
    frame = data[0][N_TRAIN + 3]
    cell, supercell = energies_of(model, [frame, frame.repeat((2, 1, 1))])
    assert abs(supercell - 2 * cell) < 1e-9 * abs(cell)


def test_selected_atoms(data, fitted):
    """With ``selected_atoms``, per-atom energies are the selected rows of the full per-atom
    output, and a system's energy is the sum over its selected atoms (the environments, and
    so each atom's energy, still see every atom)"""
    from metatensor.torch import Labels

    model = torch.jit.script(fitted[0])
    frames = [data[0][N_TRAIN], data[0][N_TRAIN + 1]]
    systems = [metatomic_torch.systems_to_torch(f, dtype=torch.float64) for f in frames]
    attach_neighbor_lists(systems, fitted[0])
    per_atom = {"energy": metatomic_torch.ModelOutput(sample_kind="atom")}
    full = model(systems, per_atom, None)["energy"].block()
    chosen = torch.tensor([[0, 1], [0, 5], [1, 0], [1, 7]], dtype=torch.int32)
    selected = Labels(["system", "atom"], chosen)

    atomic = model(systems, per_atom, selected)["energy"].block()
    np.testing.assert_array_equal(atomic.samples.values.numpy(), chosen.numpy())
    rows = [int(np.flatnonzero((full.samples.values == row).all(dim=1))[0]) for row in chosen]
    np.testing.assert_allclose(atomic.values.numpy(), full.values[rows].numpy(), atol=1e-12)

    per_system = {"energy": metatomic_torch.ModelOutput(sample_kind="system")}
    totals = model(systems, per_system, selected)["energy"].block().values[:, 0].numpy()
    expected = [float(full.values[rows[0:2]].sum()), float(full.values[rows[2:4]].sum())]
    np.testing.assert_allclose(totals, expected, atol=1e-10)
