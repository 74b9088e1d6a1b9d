"""Tests of the ``farsighted`` command line (``farsighted.cli``)."""

import json
import subprocess
import sys

import ase
import ase.build
import ase.io
import metatensor
import numpy as np
import pytest

import farsighted
from farsighted.cli import main
from farsighted.data import dataset_path

STRUCTURES = dataset_path("nacl_boxes.xyz")

SMALL_HYPERS = {
    "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 2, "radius": 4.0},
    },
}


def run(argv):
    """The exit status of ``farsighted argv``, whether ``main`` returns it or argparse exits"""
    try:
        return main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code


@pytest.fixture
def hypers_file(tmp_path):
    path = tmp_path / "hypers.json"
    path.write_text(json.dumps(SMALL_HYPERS))
    return path


def assert_same_tensormap(actual, expected, same_key_order=True, noise=0.0):
    """Same metadata, and values and gradients within 1e-12 relative, or ``noise`` times the
    largest value of the block (round-off of entries that vanish, summed in another order
    when the structures are computed in other batches)"""
    assert actual.keys.names == expected.keys.names
    if same_key_order:
        np.testing.assert_array_equal(actual.keys.values, expected.keys.values)
    else:
        assert sorted(map(tuple, actual.keys.values.tolist())) == sorted(
            map(tuple, expected.keys.values.tolist())
        )

    for key, expected_block in expected.items():
        block = actual.block(key)
        assert block.samples.names == expected_block.samples.names
        np.testing.assert_array_equal(block.samples.values, expected_block.samples.values)
        assert block.components == expected_block.components
        assert block.properties == expected_block.properties
        atol = noise * np.abs(expected_block.values).max()
        np.testing.assert_allclose(block.values, expected_block.values, rtol=1e-12, atol=atol)

        assert sorted(block.gradients_list()) == sorted(expected_block.gradients_list())
        for parameter, expected_gradient in expected_block.gradients():
            gradient = block.gradient(parameter)
            assert gradient.samples.names == expected_gradient.samples.names
            np.testing.assert_array_equal(gradient.samples.values, expected_gradient.samples.values)
            assert gradient.components == expected_gradient.components
            atol = noise * np.abs(expected_gradient.values).max()
            np.testing.assert_allclose(
                gradient.values, expected_gradient.values, rtol=1e-12, atol=atol
            )


def test_featurize_single_batch(tmp_path, hypers_file, capsys):
    output = tmp_path / "features.mts"
    status = run(
        ["featurize", STRUCTURES, "--hypers", hypers_file, "--output", output, "--index", "0:4"]
    )
    assert status == 0

    frames = ase.io.read(STRUCTURES, ":4")
    expected = farsighted.LodeSphericalExpansion(**SMALL_HYPERS).compute(frames)
    assert_same_tensormap(metatensor.load(output), expected)

    out = capsys.readouterr().out
    n_atoms = sum(len(atoms) for atoms in frames)
    assert "structures          4" in out
    assert f"atoms               {n_atoms}" in out
    assert "Na (11), Cl (17)" in out
    assert f"keys/blocks         {len(expected.keys)}" in out
    assert f"{sum(block.values.size for block in expected):,}" in out
    assert "atoms/s" in out


def test_featurize_batches_with_gradients(tmp_path, hypers_file):
    # 7 structures in batches of 3: the joined TensorMap must be the one a single call gives
    output = tmp_path / "features.mts"
    status = run(
        [
            "featurize", STRUCTURES, "--hypers", hypers_file, "--output", output,
            "--index", "3:10", "--batch-size", "3", "--gradients", "positions", "strain", "-q",
        ]
    )  # fmt: skip
    assert status == 0

    frames = ase.io.read(STRUCTURES, "3:10")
    expected = farsighted.LodeSphericalExpansion(**SMALL_HYPERS).compute(
        frames, gradients=["positions", "strain"]
    )
    actual = metatensor.load(output)
    assert_same_tensormap(actual, expected)
    assert sorted(actual.block(0).gradients_list()) == ["positions", "strain"]


def test_featurize_batches_with_different_keys(tmp_path, hypers_file):
    # batches holding different species have different keys; the join must still give the
    # TensorMap of a single computation
    nacl = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    nacl.positions += np.random.default_rng(0).normal(scale=0.1, size=nacl.positions.shape)
    sodium = ase.build.bulk("Na", "bcc", a=4.23, cubic=True) * (2, 1, 1)
    kcl = ase.build.bulk("KCl", "rocksalt", a=6.29)
    chlorine = ase.Atoms("Cl2", positions=[[0, 0, 0], [2.0, 0.5, 0.3]], cell=[5, 6, 7], pbc=True)
    frames = [sodium, nacl, kcl, chlorine, sodium]
    structures = tmp_path / "mixed.xyz"
    ase.io.write(structures, frames)

    expected = farsighted.LodeSphericalExpansion(**SMALL_HYPERS).compute(
        ase.io.read(structures, ":"), gradients=["positions", "strain"]
    )
    for batch_size in [1, 2]:
        output = tmp_path / f"features-{batch_size}.mts"
        status = run(
            [
                "featurize", structures, "--hypers", hypers_file, "--output", output,
                "--batch-size", batch_size, "--gradients", "positions", "strain", "-q",
            ]
        )  # fmt: skip
        assert status == 0
        assert_same_tensormap(metatensor.load(output), expected, same_key_order=False)


def test_output_extension(tmp_path, hypers_file):
    status = run(
        ["featurize", STRUCTURES, "--hypers", hypers_file, "-o", tmp_path / "out", "--index", "0"]
    )
    assert status == 0
    assert (tmp_path / "out.mts").is_file()


def test_unknown_hyper_parameter(tmp_path, capsys):
    for hypers, name in [
        ({**SMALL_HYPERS, "cutoff": 4.0}, "cutoff"),
        (
            {**SMALL_HYPERS, "density": {**SMALL_HYPERS["density"], "width": 1.0}},
            "density.width",
        ),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(hypers))
        status = run(["featurize", STRUCTURES, "--hypers", path, "-o", tmp_path / "out.mts"])
        assert status == 2
        err = capsys.readouterr().err
        assert name in err
        assert "Traceback" not in err
    assert not (tmp_path / "out.mts").exists()


def test_invalid_hyper_parameters(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"density": {"type": "SmearedPowerLaw",')
    assert run(["featurize", STRUCTURES, "--hypers", path, "-o", tmp_path / "out.mts"]) == 2
    assert "not valid JSON" in capsys.readouterr().err

    path.write_text(json.dumps({"density": SMALL_HYPERS["density"]}))
    assert run(["featurize", STRUCTURES, "--hypers", path, "-o", tmp_path / "out.mts"]) == 2
    assert "basis" in capsys.readouterr().err

    hypers = {**SMALL_HYPERS, "density": {**SMALL_HYPERS["density"], "smearing": -1.0}}
    path.write_text(json.dumps(hypers))
    assert run(["featurize", STRUCTURES, "--hypers", path, "-o", tmp_path / "out.mts"]) == 2
    assert "smearing" in capsys.readouterr().err


def test_missing_files(tmp_path, hypers_file, capsys):
    missing = tmp_path / "missing.xyz"
    assert run(["featurize", missing, "--hypers", hypers_file, "-o", tmp_path / "out.mts"]) == 2
    err = capsys.readouterr().err
    assert "missing.xyz" in err and "does not exist" in err

    missing = tmp_path / "missing.json"
    assert run(["featurize", STRUCTURES, "--hypers", missing, "-o", tmp_path / "out.mts"]) == 2
    assert "missing.json" in capsys.readouterr().err

    output = tmp_path / "no-such-directory" / "out.mts"
    assert run(["featurize", STRUCTURES, "--hypers", hypers_file, "-o", output]) == 2
    assert "no-such-directory" in capsys.readouterr().err


def geometries():
    """A 3D-periodic cell, an open molecule (no cell) and a slab (the third cell vector, along
    the non-periodic direction, is ignored) with the same species"""
    bulk = ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    bulk.positions += np.random.default_rng(1).normal(scale=0.1, size=bulk.positions.shape)
    molecule = ase.Atoms(
        "NaCl2", positions=[[0.0, 0.0, 0.0], [2.4, 0.3, -0.2], [-1.1, 2.2, 0.4]], pbc=False
    )
    slab = ase.Atoms(
        "NaClNa",
        positions=[[0.0, 0.0, 0.0], [2.1, 1.3, 0.9], [4.2, 3.9, -0.8]],
        cell=[[8.0, 0.0, 0.0], [0.7, 8.4, 0.0], [0.0, 0.0, 20.0]],
        pbc=[True, True, False],
    )
    return [bulk, molecule, slab, molecule]


def test_featurize_open_systems_and_slabs(tmp_path, hypers_file):
    structures = tmp_path / "geometries.xyz"
    ase.io.write(structures, geometries())
    frames = ase.io.read(structures, ":")
    assert [int(np.sum(atoms.pbc)) for atoms in frames] == [3, 0, 2, 0]
    expected = farsighted.LodeSphericalExpansion(**SMALL_HYPERS).compute(
        frames, gradients=["positions", "strain"]
    )
    for batch_size in [1, 3]:
        output = tmp_path / f"features-{batch_size}.mts"
        status = run(
            [
                "featurize", structures, "--hypers", hypers_file, "--output", output,
                "--batch-size", batch_size, "--gradients", "positions", "strain", "-q",
            ]
        )  # fmt: skip
        assert status == 0
        assert_same_tensormap(metatensor.load(output), expected, noise=1e-12)


def test_featurize_with_accuracy(tmp_path, capsys):
    hypers = {**SMALL_HYPERS, "accuracy": 1e-5}
    path = tmp_path / "hypers.json"
    path.write_text(json.dumps(hypers))
    structures = tmp_path / "geometries.xyz"
    ase.io.write(structures, geometries()[:3])
    output = tmp_path / "features.mts"
    args = ["featurize", structures, "--hypers", path, "-o", output, "--gradients", "positions"]
    assert run(args) == 0
    assert "3 (1 periodic, 1 open, 1 slab)" in capsys.readouterr().out

    expected = farsighted.LodeSphericalExpansion(**hypers).compute(
        ase.io.read(structures, ":"), gradients=["positions"]
    )
    assert_same_tensormap(metatensor.load(output), expected, noise=1e-12)

    # accuracy and k_cutoff exclude each other: the library says so
    path.write_text(json.dumps({**hypers, "k_cutoff": 3.0}))
    assert run(["featurize", structures, "--hypers", path, "-o", output]) == 2
    err = capsys.readouterr().err
    assert "accuracy" in err and "k_cutoff" in err


def test_featurize_wires(tmp_path, hypers_file, capsys):
    frames = geometries()
    wire = frames[2].copy()
    wire.pbc = [False, True, False]
    structures = tmp_path / "wire.xyz"
    ase.io.write(structures, frames[:3] + [wire])
    output = tmp_path / "o.mts"
    # batches of 2: the wire is the second system of the second batch
    args = ["featurize", structures, "--hypers", hypers_file, "-o", output, "--batch-size", "2"]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "structure 3 of" in err and "wires" in err and "slabs" in err
    assert "Traceback" not in err
    assert not output.exists()


def test_featurize_nan_positions(tmp_path, hypers_file, capsys):
    frames = geometries()
    frames[1].positions[2, 0] = np.nan
    structures = tmp_path / "nan.xyz"
    ase.io.write(structures, frames)
    assert run(["featurize", structures, "--hypers", hypers_file, "-o", tmp_path / "o.mts"]) == 2
    err = capsys.readouterr().err
    assert "structure 1" in err and "atom 2" in err and "not finite" in err


def test_bad_command_line(tmp_path, hypers_file):
    assert run([]) == 2
    assert run(["featurize", STRUCTURES, "--hypers", hypers_file]) == 2  # no --output
    args = ["featurize", STRUCTURES, "--hypers", hypers_file, "-o", tmp_path / "o.mts"]
    assert run(args + ["--batch-size", "0"]) == 2
    assert run(args + ["--gradients", "cell"]) == 2


@pytest.mark.slow  # 40 to 90 s on two shared cores
def test_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small = ["--max-structures", "40", "--train-sizes", "10", "20", "--n-test", "20", "-q"]
    assert run(["demo", "--targets", "coulomb"] + small) == 0
    out = capsys.readouterr().out
    assert "coulomb energy (p = 1), 40 structures" in out
    for model in ["SOAP 3 Å", "SOAP 6 Å", "LODE ν=1", "multi-scale"]:
        assert model in out
    assert (tmp_path / "point-charge-learning-curves.png").stat().st_size > 10_000

    assert run(["demo", "--max-structures", "40", "--train-sizes", "30", "--n-test", "20"]) == 2
    assert "exceeds" in capsys.readouterr().err


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"farsighted {farsighted.__version__}"


def test_python_m():
    result = subprocess.run(
        [sys.executable, "-m", "farsighted", "--version"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert farsighted.__version__ in result.stdout


def test_shipped_dataset():
    frames = ase.io.read(STRUCTURES, ":")
    assert 15 <= len(frames) <= 30
    for atoms in frames:
        assert 8 <= len(atoms) <= 64
        assert np.sum(atoms.numbers == 11) == np.sum(atoms.numbers == 17) == len(atoms) // 2
        assert all(atoms.pbc)
        assert 0.029 <= len(atoms) / atoms.get_volume() <= 0.051
        distances = atoms.get_all_distances(mic=True)
        np.fill_diagonal(distances, np.inf)
        assert distances.min() >= 2.0 - 1e-6
    assert STRUCTURES.stat().st_size < 200_000

    hypers = json.loads(dataset_path("lode_hypers.json").read_text())
    assert hypers["basis"]["max_angular"] == 4
    assert hypers["basis"]["radial"]["max_radial"] == 5

    with pytest.raises(FileNotFoundError, match="available"):
        dataset_path("nothing-here.xyz")
