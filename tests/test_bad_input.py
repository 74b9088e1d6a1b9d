"""Bad input gets a clear Python exception naming the problem, and nothing crashes."""

import os
import resource
import subprocess
import sys
import textwrap

import ase
import numpy as np
import pytest
from metatensor import Labels

import farsighted

DENSITY = {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1}
BASIS = {
    "type": "TensorProduct",
    "max_angular": 2,
    "radial": {"type": "Gto", "max_radial": 2, "radius": 3.0},
}
KEY_NAMES = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]


def calculator(density=None, basis=None, **kwargs):
    return farsighted.LodeSphericalExpansion(
        density=dict(DENSITY) if density is None else density,
        basis=dict(BASIS) if basis is None else basis,
        **kwargs,
    )


def with_radial(**changes):
    return dict(BASIS, radial=dict(BASIS["radial"], **changes))


def water(**changes) -> ase.Atoms:
    atoms = ase.Atoms(
        "H2O",
        positions=[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        cell=5.0 * np.eye(3),
        pbc=True,
    )
    for name, value in changes.items():
        setattr(atoms, name, value)
    return atoms


def test_good_input_works():
    """The reference input used below is valid"""
    descriptor = calculator().compute(water(), gradients=["positions", "strain"])
    assert len(descriptor.keys) > 0


# ---------------------------------------------------------------------------------------------
# systems
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_position(value):
    atoms = water()
    atoms.positions[1, 2] = value
    with pytest.raises(ValueError, match=r"(?i)position.*(not finite|nan|inf)"):
        calculator().compute(atoms)


def test_non_finite_cell():
    atoms = water(cell=[[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, np.nan]])
    with pytest.raises(ValueError, match=r"(?i)cell.*(not finite|nan|inf)"):
        calculator().compute(atoms)


def test_singular_cell():
    atoms = water(cell=[[5.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    with pytest.raises(ValueError, match=r"(?i)cell.*(singular|volume)"):
        calculator().compute(atoms)


def test_zero_cell():
    atoms = water(cell=np.zeros((3, 3)))
    atoms.pbc = True
    with pytest.raises(ValueError, match=r"(?i)cell.*(singular|volume)"):
        calculator().compute(atoms)


@pytest.mark.parametrize("pbc", [[True, False, False], [False, False, True]])
def test_wires_refused(pbc):
    # one periodic direction (wires) is not implemented; two (slabs) are, see test_slabs.py
    atoms = water(pbc=pbc)
    with pytest.raises(ValueError, match="wires.*not implemented"):
        calculator().compute(atoms)


def test_open_boundaries_accepted():
    # open systems (molecules) are computed without images; their cell is ignored, even zero
    atoms = water(pbc=False)
    atoms.cell = np.zeros((3, 3))
    descriptor = calculator().compute(atoms)
    assert len(descriptor) > 0


def test_empty_system():
    atoms = ase.Atoms(cell=5.0 * np.eye(3), pbc=True)
    with pytest.raises(ValueError, match="no atom"):
        calculator().compute(atoms)


@pytest.mark.parametrize("system", ["H2O", None, 3, {"positions": [[0, 0, 0]]}, np.zeros(3)])
def test_not_a_system(system):
    with pytest.raises(TypeError, match="system 0 has type"):
        calculator().compute(system)


def test_not_a_system_in_a_list():
    with pytest.raises(TypeError, match="system 1 has type str"):
        calculator().compute([water(), "H2O"])


def test_atoms_like_with_wrong_positions_shape():
    class System:
        numbers = np.array([1, 1, 8])
        positions = np.zeros((2, 3))
        cell = 5.0 * np.eye(3)
        pbc = True

    with pytest.raises(ValueError, match="positions must have shape"):
        calculator().compute(System())


# ---------------------------------------------------------------------------------------------
# hyper-parameters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("smearing", [-1.0, 0.0])
def test_bad_smearing(smearing):
    with pytest.raises(ValueError, match=r"density\.smearing"):
        calculator(density=dict(DENSITY, smearing=smearing))


@pytest.mark.parametrize("smearing", [float("nan"), float("inf")])
def test_non_finite_smearing(smearing):
    with pytest.raises(ValueError, match=r"density\.smearing"):
        calculator(density=dict(DENSITY, smearing=smearing))


@pytest.mark.parametrize("exponent", [12, -1, -0.5, 9.5, 10, 1e300])
def test_bad_exponent(exponent):
    message = r"density\.exponent must be a real number between 0 and 9, got"
    with pytest.raises(ValueError, match=message):
        calculator(density=dict(DENSITY, exponent=exponent))


@pytest.mark.parametrize("exponent", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_exponent(exponent):
    with pytest.raises(ValueError, match=r"density\.exponent must be a finite number"):
        calculator(density=dict(DENSITY, exponent=exponent))


def test_exponent_must_be_a_number():
    with pytest.raises(ValueError, match=r"density\.exponent must be a number"):
        calculator(density=dict(DENSITY, exponent="1.5"))


@pytest.mark.parametrize("exponent", [0, 0.5, 1.5, 3, 4.3, 9])
def test_real_exponents_are_accepted(exponent):
    calculator(density=dict(DENSITY, exponent=exponent))


@pytest.mark.parametrize("max_angular", [500, -1, 1.5])
def test_bad_max_angular(max_angular):
    with pytest.raises(ValueError, match=r"basis\.max_angular"):
        calculator(basis=dict(BASIS, max_angular=max_angular))


@pytest.mark.parametrize("max_radial", [2.5, -1, "2"])
def test_bad_max_radial(max_radial):
    with pytest.raises((ValueError, TypeError), match=r"basis\.radial\.max_radial"):
        calculator(basis=with_radial(max_radial=max_radial))


@pytest.mark.parametrize("radius", [-1.0, 0.0])
def test_bad_radius(radius):
    with pytest.raises(ValueError, match=r"basis\.radial\.radius"):
        calculator(basis=with_radial(radius=radius))


def test_bad_spline_accuracy():
    with pytest.raises(ValueError, match=r"basis\.spline_accuracy"):
        calculator(basis=dict(BASIS, spline_accuracy=-1e-8))


def test_smearing_as_string():
    with pytest.raises((ValueError, TypeError), match=r"density\.smearing"):
        calculator(density=dict(DENSITY, smearing="1.0"))


def test_center_atom_weight_as_string():
    with pytest.raises((ValueError, TypeError), match=r"density\.center_atom_weight"):
        calculator(density=dict(DENSITY, center_atom_weight="one"))


@pytest.mark.parametrize("density", ["SmearedPowerLaw", [1.0], 1.0])
def test_density_not_a_dict(density):
    with pytest.raises((ValueError, TypeError), match="density must be a dict"):
        calculator(density=density)


@pytest.mark.parametrize("basis", ["TensorProduct", 3])
def test_basis_not_a_dict(basis):
    with pytest.raises((ValueError, TypeError), match="basis must be a dict"):
        calculator(basis=basis)


@pytest.mark.parametrize(
    "density, basis, name",
    [
        (dict(DENSITY, type="Gaussian"), BASIS, r"density\.type"),
        (DENSITY, dict(BASIS, type="Explicit"), r"basis\.type"),
        (DENSITY, with_radial(type="Spline"), r"basis\.radial\.type"),
    ],
)
def test_unknown_type(density, basis, name):
    with pytest.raises(ValueError, match=name):
        calculator(density=density, basis=basis)


@pytest.mark.parametrize(
    "density, basis, name",
    [
        (dict(DENSITY, smearnig=1.0), BASIS, r"density\.smearnig"),
        (DENSITY, dict(BASIS, max_angualr=2), r"basis\.max_angualr"),
        (DENSITY, with_radial(cutoff=3.0), r"basis\.radial\.cutoff"),
    ],
)
def test_unknown_hyper_parameter(density, basis, name):
    with pytest.raises(ValueError, match=name):
        calculator(density=density, basis=basis)


def test_unknown_top_level_hyper_parameter():
    with pytest.raises(TypeError, match="cutoff"):
        calculator(cutoff=3.0)


@pytest.mark.parametrize(
    "density, basis, name",
    [
        ({"type": "SmearedPowerLaw", "exponent": 1}, BASIS, r"density\.smearing"),
        (DENSITY, {"type": "TensorProduct", "max_angular": 2}, r"basis\.radial"),
    ],
)
def test_missing_hyper_parameter(density, basis, name):
    with pytest.raises(ValueError, match=f"missing.*{name}"):
        calculator(density=density, basis=basis)


@pytest.mark.parametrize("k_cutoff", [-1.0, 0.0])
def test_bad_k_cutoff(k_cutoff):
    with pytest.raises(ValueError, match="k_cutoff"):
        calculator(k_cutoff=k_cutoff)


# ---------------------------------------------------------------------------------------------
# memory: these run in a child process with a capped address space, so that a failure to
# refuse the calculation is a failed test (the child aborts) and not a machine out of memory
# ---------------------------------------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, ase, farsighted
    atoms = ase.Atoms(
        "H2O", positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0]], cell=10.0 * np.eye(3), pbc=True
    )
    basis = {{
        "type": "TensorProduct",
        "max_angular": 4,
        "radial": {{"type": "Gto", "max_radial": 5, "radius": 3.0}},
    }}
    if {spline_accuracy!r} != "default":
        basis["spline_accuracy"] = {spline_accuracy!r}
    calculator = farsighted.LodeSphericalExpansion(
        density={{"type": "SmearedPowerLaw", "smearing": 0.05, "exponent": 1}},
        basis=basis,
        k_cutoff={k_cutoff!r},
    )
    try:
        calculator.compute(atoms)
        print("COMPUTED")
    except MemoryError as error:
        print("MemoryError:", error)
    """
)

ADDRESS_SPACE_CAP = 6 * 1024**3


def available_memory():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def run_capped(k_cutoff, spline_accuracy, timeout):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))

    script = MEMORY_SCRIPT.format(k_cutoff=k_cutoff, spline_accuracy=spline_accuracy)
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            check=False,
            capture_output=True,
            text=True,
            preexec_fn=limit,
            timeout=timeout,
            env=dict(os.environ, RUST_BACKTRACE="0"),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"k_cutoff={k_cutoff} did not finish nor raise within {timeout} s")
    assert result.returncode == 0, (
        f"the child process crashed (exit code {result.returncode}) instead of raising "
        f"MemoryError:\n{result.stderr[:1000]}"
    )
    return result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
def test_k_cutoff_memory_far_too_large():
    """k_cutoff=2000 on a 10 Å cell: ~2·10¹⁰ k-vectors, terabytes of tables"""
    output = run_capped(2000.0, None, timeout=60)
    assert output.startswith("MemoryError:") and "memory" in output, output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
@pytest.mark.skipif(
    (available_memory() or 0) > 40 * 1024**3,
    reason="with more than 40 GiB available k_cutoff=200 may legitimately fit",
)
def test_k_cutoff_memory_does_not_fit():
    """k_cutoff=200 with smearing 0.05 on a 10 Å cell: ~6.7·10⁷ half-space k-vectors and 150
    features, so the tables alone need ~80 GiB: refused with MemoryError before anything
    large is allocated or splined."""
    output = run_capped(200.0, None, timeout=120)
    assert output.startswith("MemoryError:") and "memory" in output, output


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
@pytest.mark.skipif(
    (available_memory() or 0) > 40 * 1024**3,
    reason="with more than 40 GiB available k_cutoff=200 may legitimately fit",
)
def test_k_cutoff_memory_does_not_fit_default_spline():
    """The same as a user would write it, with the default spline accuracy"""
    output = run_capped(200.0, "default", timeout=60)
    assert output.startswith("MemoryError:") and "memory" in output, output


# ---------------------------------------------------------------------------------------------
# compute arguments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gradient", ["cell", "Positions", "forces"])
def test_unknown_gradient(gradient):
    with pytest.raises(ValueError, match=f"unknown gradient '{gradient}'"):
        calculator().compute(water(), gradients=["positions", gradient])


@pytest.mark.parametrize(
    "key, problem",
    [
        ([0, -1, 1, 1], "o3_sigma"),
        ([3, 1, 1, 1], "o3_lambda"),
        ([500, 1, 8, 8], "o3_lambda"),
    ],
)
def test_impossible_selected_keys(key, problem):
    selection = Labels(KEY_NAMES, np.array([key], dtype=np.int32))
    with pytest.raises(ValueError, match=f"{key}.*{problem}"):
        calculator().compute(water(), selected_keys=selection)


@pytest.mark.parametrize("name, value", [("o3_sigma", -1), ("o3_lambda", 3)])
def test_impossible_partial_selected_keys(name, value):
    selection = Labels([name], np.array([[value]], dtype=np.int32))
    with pytest.raises(ValueError, match=name):
        calculator().compute(water(), selected_keys=selection)


def test_unknown_selected_keys_dimension():
    selection = Labels(["spherical_harmonics_l"], np.array([[0]], dtype=np.int32))
    with pytest.raises(ValueError, match="spherical_harmonics_l"):
        calculator().compute(water(), selected_keys=selection)


def test_selected_keys_not_labels():
    with pytest.raises(TypeError, match="selected_keys must be metatensor.Labels"):
        calculator().compute(water(), selected_keys=[[0, 1, 1, 1]])


@pytest.mark.parametrize(
    "names, values",
    [
        (["system", "atom"], [[0, 7]]),
        (["system", "atom"], [[0, 0], [0, 7]]),
        (["atom"], [[3]]),
        (["system", "atom"], [[2, 0]]),
    ],
)
def test_selected_samples_missing_atom(names, values):
    selection = Labels(names, np.array(values, dtype=np.int32))
    with pytest.raises(ValueError, match="(atom|system)"):
        calculator().compute(water(), selected_samples=selection)


def test_selected_samples_unknown_dimension():
    selection = Labels(["structure"], np.array([[0]], dtype=np.int32))
    with pytest.raises(ValueError, match="structure"):
        calculator().compute(water(), selected_samples=selection)


def test_selected_properties_unknown_dimension():
    selection = Labels(["radial"], np.array([[0]], dtype=np.int32))
    with pytest.raises(ValueError, match="radial"):
        calculator().compute(water(), selected_properties=selection)


@pytest.mark.parametrize(
    "second",
    [
        [1.0, 0.0, 0.0],  # on top of atom 1
        [1.0, 0.0, 5.0],  # on top of a periodic image of atom 1
        [1.0002, 0.0, 4.9999],
    ],
)
def test_overlapping_atoms(second):
    atoms = water()
    atoms += ase.Atoms("H", positions=[second])
    with pytest.raises(ValueError, match="atoms 1 and 3 are closer than"):
        calculator().compute(atoms)


def test_gradients_as_a_string():
    with pytest.raises(TypeError, match="gradients must be a list"):
        calculator().compute(water(), gradients="positions")
