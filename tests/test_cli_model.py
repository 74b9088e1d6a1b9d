"""Tests of ``farsighted fit`` and ``farsighted eval``: a small end-to-end fit on the Coulomb
energies and forces of the shipped point charges, whose printed errors are recomputed here
from the saved file (loaded with metatomic, evaluated without the command line's code) and
the reference data; and one test per kind of bad input."""

import contextlib
import io
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
metatomic_torch = pytest.importorskip("metatomic.torch")
pytest.importorskip("featomic.torch")
pytest.importorskip("metatomic_ase")

import ase.io  # noqa: E402
from vesin.metatomic import neighbor_lists_for_model  # noqa: E402

from farsighted.cli import main  # noqa: E402
from farsighted.data import dataset_path  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

# a tiny basis and a large smearing (few k-vectors): the test is about the plumbing
CONFIG = {
    "features": {
        "soap": {
            "cutoff": {"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
            "density": {"type": "Gaussian", "width": 0.5},
            "basis": {
                "type": "TensorProduct",
                "max_angular": 1,
                "radial": {"type": "Gto", "max_radial": 2},
            },
        },
        "lode": [
            {
                "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
                "basis": {
                    "type": "TensorProduct",
                    "max_angular": 0,
                    "radial": {"type": "Gto", "max_radial": 3, "radius": 2.0},
                },
                "k_cutoff": 2.5,
            }
        ],
    },
    "fit": {"force_weight": 1.0},
    "validation": {"fraction": 0.25, "seed": 3},
    "targets": {"energy": "energy_coulomb", "forces": "forces_coulomb", "stress": None},
    "metadata": {"name": "test model", "description": "Coulomb energies of Na/Cl boxes"},
}


def run(argv):
    """The exit status of ``farsighted argv``, whether ``main`` returns it or argparse exits"""
    try:
        return main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code


def write_config(path, config):
    path.write_text(json.dumps(config))
    return path


def parse_table(out):
    """label → numbers of each row of the error table printed by ``fit`` and ``eval``"""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^((energy|forces|stress) (RMSE|MAE) \[[^\]]+\])\s+(.*)$", line)
        if match:
            rows[match.group(1)] = [float(value) for value in match.group(4).split()]
    return rows


def parse_indices(out):
    """the validation indices printed by ``fit`` ("1-3, 7" → [1, 2, 3, 7])"""
    line = next(line for line in out.splitlines() if line.startswith("validation structures"))
    indices = []
    for part in line.split(":", 1)[1].split(","):
        first, _, last = part.strip().partition("-")
        indices += list(range(int(first), int(last or first) + 1))
    return indices


def predict(model, frames):
    """Energies and forces of ``frames`` from the metatomic ``model``, directly: systems,
    neighbour lists, one forward pass each, forces by autograd"""
    energies, forces = [], []
    options = metatomic_torch.ModelEvaluationOptions(
        length_unit="angstrom", outputs={"energy": metatomic_torch.ModelOutput(unit="eV")}
    )
    neighbor_lists = neighbor_lists_for_model("angstrom", model)
    for atoms in frames:
        system = metatomic_torch.systems_to_torch(
            atoms, dtype=torch.float64, positions_requires_grad=True
        )
        for neighbor_list in neighbor_lists:
            neighbor_list.add_neighbor_list([system])
        energy = model([system], options, check_consistency=True)["energy"].block().values
        (gradient,) = torch.autograd.grad(energy.sum(), system.positions)
        energies.append(float(energy.detach().sum()))
        forces.append(-gradient.numpy())
    return np.array(energies), forces


def errors(frames, energies, forces):
    """The errors the command line prints, computed from the reference data"""
    reference = np.array([atoms.info["energy_coulomb"] for atoms in frames])
    n_atoms = np.array([len(atoms) for atoms in frames])
    difference = energies - reference
    force_difference = np.concatenate(
        [f - atoms.arrays["forces_coulomb"] for f, atoms in zip(forces, frames)]
    )
    return {
        "energy RMSE [eV]": np.sqrt(np.mean(difference**2)),
        "energy MAE [eV]": np.mean(np.abs(difference)),
        "energy RMSE [meV/atom]": np.sqrt(np.mean((1000 * difference / n_atoms) ** 2)),
        "energy MAE [meV/atom]": np.mean(np.abs(1000 * difference / n_atoms)),
        "forces RMSE [eV/Å]": np.sqrt(np.mean(force_difference**2)),
        "forces MAE [eV/Å]": np.mean(np.abs(force_difference)),
    }


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """The 12 smallest of the first 60 shipped point-charge boxes (16 to 22 atoms)"""
    frames = ase.io.read(dataset_path("point_charges.xyz"), ":60")
    chosen = sorted(sorted(range(len(frames)), key=lambda i: len(frames[i]))[:12])
    path = tmp_path_factory.mktemp("data") / "train.xyz"
    ase.io.write(path, [frames[i] for i in chosen])
    return path


@pytest.fixture(scope="module")
def fitted(training, tmp_path_factory):
    """(the model file, its extensions, what ``fit`` printed)"""
    directory = tmp_path_factory.mktemp("model")
    config = write_config(directory / "config.json", CONFIG)
    output = directory / "model.pt"
    out = io.StringIO()  # capsys is per test; this fixture is shared by the module
    with contextlib.redirect_stdout(out):
        status = run(["fit", training, "--config", config, "--output", output, "-q"])
    assert status == 0
    return output, directory / "extensions", out.getvalue()


def test_fit_prints_the_errors_of_the_saved_model(training, fitted):
    output, extensions, out = fitted
    assert output.is_file() and extensions.is_dir()
    assert "metatomic.torch import load_atomistic_model" in out
    frames = ase.io.read(training, ":")
    validation = parse_indices(out)
    assert len(validation) == 3  # a quarter of 12
    table = parse_table(out)

    model = metatomic_torch.load_atomistic_model(str(output), extensions_directory=str(extensions))
    assert model.metadata().name == "test model"
    training_set = [i for i in range(len(frames)) if i not in validation]
    for column, indices in enumerate([training_set, validation]):
        subset = [frames[i] for i in indices]
        expected = errors(subset, *predict(model, subset))
        for label, value in expected.items():
            # printed with 6 significant digits
            assert table[label][column] == pytest.approx(value, rel=1e-5), label

    # the model learnt something: errors well below the spread of the energies
    energies = np.array([atoms.info["energy_coulomb"] for atoms in frames])
    assert table["energy RMSE [eV]"][1] < 0.2 * energies.std()


def test_eval_reproduces_the_errors_of_fit(training, fitted, tmp_path, capsys):
    output, extensions, out = fitted
    frames = ase.io.read(training, ":")
    validation = parse_indices(out)
    structures = tmp_path / "validation.xyz"
    ase.io.write(structures, [frames[i] for i in validation])

    predictions = tmp_path / "predictions.xyz"
    targets = "energy=energy_coulomb,forces=forces_coulomb"
    status = run(
        ["eval", output, structures, "--targets", targets, "--output", predictions, "-q"]
    )  # extensions/ next to the model are found without --extensions
    assert status == 0
    evaluated = parse_table(capsys.readouterr().out)
    fitted_table = parse_table(out)
    assert evaluated.keys() == fitted_table.keys()
    for label, values in evaluated.items():
        assert values == [fitted_table[label][1]], label

    written = ase.io.read(predictions, ":")
    model = metatomic_torch.load_atomistic_model(str(output), extensions_directory=str(extensions))
    energies, forces = predict(model, [frames[i] for i in validation])
    for atoms, energy, force in zip(written, energies, forces):
        assert atoms.info["predicted_energy"] == pytest.approx(energy, abs=1e-9)
        # extended XYZ keeps 8 decimals of per-atom arrays
        np.testing.assert_allclose(atoms.arrays["predicted_forces"], force, atol=1e-7)
        assert atoms.info["predicted_stress"].shape == (3, 3)
        assert "energy_coulomb" in atoms.info  # the references are kept

    # the predictions as references: zero errors, stress included
    targets = "energy=predicted_energy,forces=predicted_forces,stress=predicted_stress"
    assert run(["eval", output, predictions, "--targets", targets, "-q"]) == 0
    table = parse_table(capsys.readouterr().out)
    assert table["stress RMSE [eV/Å³]"] == [0.0]
    assert table["energy RMSE [eV]"] == [0.0]
    assert table["forces RMSE [eV/Å]"][0] < 1e-8


def test_eval_without_references(training, fitted, capsys):
    output, extensions, _ = fitted
    status = run(["eval", output, training, "--extensions", extensions, "--index", ":1", "-q"])
    assert status == 0
    assert "no reference values" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def fit_error(tmp_path, capsys, config, training):
    """The exit status and error message of ``fit`` with ``config``"""
    path = write_config(tmp_path / "config.json", config)
    status = run(["fit", training, "-c", path, "-o", tmp_path / "model.pt", "-q"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (tmp_path / "model.pt").exists()
    return status, err


def test_missing_energy(tmp_path, capsys, training):
    config = dict(CONFIG, targets={"energy": "energy_dft", "forces": None})
    status, err = fit_error(tmp_path, capsys, config, training)
    assert status == 2
    assert "structure 0" in err and "'energy_dft'" in err
    assert "energy_coulomb" in err  # what the file has instead

    # the default names: ase's "energy" and "forces"
    status, err = fit_error(tmp_path, capsys, {"features": CONFIG["features"]}, training)
    assert status == 2 and "no energy 'energy'" in err


def test_energy_in_some_structures_only(tmp_path, capsys, training):
    frames = ase.io.read(training, ":4")
    del frames[2].info["energy_coulomb"]
    structures = tmp_path / "partial.xyz"
    ase.io.write(structures, frames)
    status, err = fit_error(tmp_path, capsys, CONFIG, structures)
    assert status == 2 and "structure 2" in err and "energy_coulomb" in err


def test_unknown_config_keys(tmp_path, capsys, training):
    config = dict(CONFIG, features=dict(CONFIG["features"], soup={}))
    status, err = fit_error(tmp_path, capsys, config, training)
    assert status == 2
    assert "'soup'" in err
    # the accepted keys come from fit_energy_model's signature
    assert "soap, lode, multiscale" in err

    for config, name in [
        (dict(CONFIG, fitting={}), "fitting"),
        (dict(CONFIG, fit={"alpha": 1e-6}), "alpha"),
        (dict(CONFIG, validation={"fraction": 0.1, "sed": 1}), "sed"),
        (dict(CONFIG, targets={"energies": "energy_coulomb"}), "energies"),
    ]:
        status, err = fit_error(tmp_path, capsys, config, training)
        assert status == 2 and f"'{name}'" in err and "accepted" in err


def test_invalid_hyper_parameters_name_their_entry(tmp_path, capsys, training):
    lode = CONFIG["features"]["lode"][0]
    bad_lode = dict(lode, density=dict(lode["density"], smearing=-1.0))
    config = dict(CONFIG, features=dict(CONFIG["features"], lode=[lode, bad_lode]))
    status, err = fit_error(tmp_path, capsys, config, training)
    assert status == 2 and "features.lode[1]" in err and "smearing" in err

    soap = dict(CONFIG["features"]["soap"], cutoff={"radius": 3.0})
    config = dict(CONFIG, features=dict(CONFIG["features"], soap=soap))
    status, err = fit_error(tmp_path, capsys, config, training)
    assert status == 2 and "features.soap" in err and "smoothing" in err


def test_geometries_the_model_can_not_evaluate(tmp_path, capsys, training):
    # wires: said before the fit, naming the structure
    frames = ase.io.read(training, ":4")
    frames[2].pbc = [True, False, False]
    structures = tmp_path / "wire.xyz"
    ase.io.write(structures, frames)
    status, err = fit_error(tmp_path, capsys, CONFIG, structures)
    assert status == 2
    assert "features.lode[0]" in err and "structure 2 of" in err and "wires" in err


def test_fit_and_eval_every_geometry(tmp_path, capsys, training):
    """3D-periodic boxes, a slab and an open cluster in one training file, LODE with the
    Ewald split (chosen on the first box) and the k-space sum: the model saved by ``fit``
    evaluates all of them through ``eval``, with the errors ``fit`` printed"""
    frames = ase.io.read(training, ":6")
    frames[1].pbc = [True, True, False]
    frames[4].pbc = False
    structures = tmp_path / "geometries.xyz"
    ase.io.write(structures, frames)
    lode = CONFIG["features"]["lode"][0]
    split = {key: value for key, value in lode.items() if key != "k_cutoff"}
    features = dict(CONFIG["features"], lode=[lode, dict(split, accuracy=1e-4)])
    config = dict(CONFIG, features=features, validation={"fraction": 0})
    path = write_config(tmp_path / "config.json", config)
    output = tmp_path / "model.pt"
    assert run(["fit", structures, "-c", path, "-o", output, "-q"]) == 0
    fitted = parse_table(capsys.readouterr().out)
    targets = "energy=energy_coulomb,forces=forces_coulomb"
    assert run(["eval", output, structures, "--targets", targets, "-q"]) == 0
    evaluated = parse_table(capsys.readouterr().out)
    for label, values in evaluated.items():
        assert values == [fitted[label][0]], label


def test_bad_config_files(tmp_path, capsys, training):
    path = tmp_path / "config.json"
    path.write_text('{"features": ')
    assert run(["fit", training, "-c", path, "-o", tmp_path / "m.pt"]) == 2
    assert "not valid JSON" in capsys.readouterr().err

    status, err = fit_error(tmp_path, capsys, dict(CONFIG, validation={"fraction": 1.5}), training)
    assert status == 2 and "fraction" in err

    status, err = fit_error(tmp_path, capsys, {"fit": {}}, training)
    assert status == 2 and "no 'features' section" in err

    try:
        import yaml  # noqa: F401
    except ImportError:
        path = tmp_path / "config.yaml"
        path.write_text("features: {}\n")
        assert run(["fit", training, "-c", path, "-o", tmp_path / "m.pt"]) == 2
        assert "pyyaml" in capsys.readouterr().err


def eval_error(fitted, capsys, frames, tmp_path, *options):
    """The exit status and error message of ``eval`` on ``frames``"""
    structures = tmp_path / "structures.xyz"
    if frames is None:
        structures.write_text("")
    else:
        ase.io.write(structures, frames)
    status = run(["eval", fitted[0], structures, "-q", *options])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def test_eval_unknown_atomic_types(training, fitted, capsys, tmp_path):
    frames = ase.io.read(training, ":3")
    frames[1].numbers[4] = 8
    status, err = eval_error(fitted, capsys, frames, tmp_path)
    assert status == 2
    assert "structure 1" in err and "O (8)" in err and "Na (11), Cl (17)" in err


def test_eval_nan_positions(training, fitted, capsys, tmp_path):
    frames = ase.io.read(training, ":3")
    frames[2].positions[5, 1] = np.nan
    status, err = eval_error(fitted, capsys, frames, tmp_path)
    assert status == 2 and "structure 2" in err and "atom 5" in err and "not finite" in err


def test_eval_wires(training, fitted, capsys, tmp_path):
    frames = ase.io.read(training, ":4")
    frames[3].pbc = [False, True, False]
    # batches of 2: the wire is the second system of the second batch
    status, err = eval_error(fitted, capsys, frames, tmp_path, "--batch-size", "2")
    assert status == 2
    assert "structure 3 of" in err and "wires" in err


def test_eval_bad_files(training, fitted, capsys, tmp_path):
    status, err = eval_error(fitted, capsys, None, tmp_path)
    assert status == 2 and "no structure" in err

    status, err = eval_error(
        fitted, capsys, ase.io.read(training, ":2"), tmp_path, "--targets", "energy=dft"
    )
    assert status == 2 and "no energy 'dft'" in err and "--targets" in err

    status, err = eval_error(
        fitted, capsys, ase.io.read(training, ":2"), tmp_path, "--targets", "energy"
    )
    assert status == 2 and "TARGET=NAME" in err

    assert run(["eval", tmp_path / "missing.pt", training]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["eval", training, training]) == 2
    assert "could not load the model" in capsys.readouterr().err
