"""The shipped point-charge data set (``point_charges.xyz``) and its reference energies and forces.

The stored references come from pymatgen's Ewald summation (Coulomb) and a smooth-cutoff lattice
sum (1/r⁶), both made by ``farsighted.demo.generate_point_charges``. They are checked here by code
written independently of both: a plain Ewald summation, itself checked on the Madelung constant
of rock salt, and a brute-force image sum of 1/r⁶ with a sharp spherical cutoff and the continuum
tail beyond it; forces by central finite differences of these energies.
"""

import ase
import ase.build
import numpy as np
import pytest
from scipy import constants
from scipy.special import erfc

from farsighted.data import dataset_path, load_point_charges

# e²/(4πε₀) in eV·Å (14.3996454784...), as pymatgen uses it
COULOMB = 1e10 * constants.e / (4 * np.pi * constants.epsilon_0)
NACL_MADELUNG = 1.747564594633
CHARGES = {11: 1.0, 17: -1.0}
C6 = {(11, 11): 1.0, (17, 17): 4.0, (11, 17): 2.0, (17, 11): 2.0}  # eV·Å⁶


@pytest.fixture(scope="module")
def frames():
    return load_point_charges()


def _translations(cell, radius):
    """Lattice vectors n @ cell with |T| <= radius."""
    spacings = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    n_max = np.ceil(radius / spacings).astype(int)
    grid = np.meshgrid(*[np.arange(-n, n + 1) for n in n_max], indexing="ij")
    translations = np.stack(grid, axis=-1).reshape(-1, 3) @ cell
    return translations[np.linalg.norm(translations, axis=1) <= radius]


def ewald_energy(positions, cell, charges, alpha=None):
    """Coulomb energy (eV) of point charges in a periodic cell, tin-foil boundary conditions.

    Plain Ewald summation: real-space erfc(αr)/r sum, reciprocal sum, self and background terms,
    each converged to ~1e-15.
    """
    cell = np.asarray(cell, dtype=np.float64)
    volume = abs(np.linalg.det(cell))
    if alpha is None:
        alpha = np.sqrt(np.pi) * (len(charges) / volume**2) ** (1 / 6)
    r_cut = 6.5 / alpha  # erfc(6.5) ~ 4e-20
    k_cut = 2 * alpha * 6.5

    pairs = positions[None, :, :] - positions[:, None, :]
    qq = np.outer(charges, charges)
    real = 0.0
    for translation in _translations(cell, r_cut + np.linalg.norm(pairs, axis=2).max()):
        r = np.linalg.norm(pairs + translation, axis=2)
        mask = r > 1e-12
        real += 0.5 * (qq[mask] * erfc(alpha * r[mask]) / r[mask]).sum()

    reciprocal_cell = 2 * np.pi * np.linalg.inv(cell).T
    k = _translations(reciprocal_cell, k_cut)
    k = k[np.linalg.norm(k, axis=1) > 1e-12]
    k2 = (k**2).sum(axis=1)
    structure_factor = np.exp(1j * positions @ k.T).T @ charges
    reciprocal = (
        2 * np.pi / volume * (np.exp(-k2 / (4 * alpha**2)) / k2 * np.abs(structure_factor) ** 2)
    ).sum()

    self_energy = -alpha / np.sqrt(np.pi) * (charges**2).sum()
    background = -np.pi / (2 * volume * alpha**2) * charges.sum() ** 2
    return COULOMB * (real + reciprocal + self_energy + background)


def brute_force_dispersion(positions, cell, c6, radius):
    """−½ Σ' C_ij/|r_j − r_i + T|⁶ over all images closer than ``radius``, plus the continuum
    estimate of the rest, −½ Σ_ij C_ij 4π/(3 V radius³)."""
    cell = np.asarray(cell, dtype=np.float64)
    volume = abs(np.linalg.det(cell))
    pairs = positions[None, :, :] - positions[:, None, :]
    energy = 0.0
    for translation in _translations(cell, radius + np.linalg.norm(pairs, axis=2).max()):
        r2 = ((pairs + translation) ** 2).sum(axis=2)
        mask = (r2 > 1e-12) & (r2 <= radius**2)
        energy -= 0.5 * (c6[mask] / r2[mask] ** 3).sum()
    return energy - 0.5 * c6.sum() * 4 * np.pi / (3 * volume * radius**3)


def _charges(atoms):
    return np.array([CHARGES[z] for z in atoms.numbers])


def _c6(atoms):
    return np.array([[C6[(a, b)] for b in atoms.numbers] for a in atoms.numbers])


def _finite_difference_forces(energy, positions, atoms_indices, step=1e-4):
    """−∂E/∂r for the given atoms, by central differences of ``energy(positions)``."""
    forces = np.zeros((len(atoms_indices), 3))
    for row, atom in enumerate(atoms_indices):
        for xyz in range(3):
            displaced = positions.copy()
            displaced[atom, xyz] += step
            plus = energy(displaced)
            displaced[atom, xyz] -= 2 * step
            minus = energy(displaced)
            forces[row, xyz] = -(plus - minus) / (2 * step)
    return forces


def _some(frames):
    """A few structures: the smallest, the largest, the densest and the most dilute."""
    sizes = [len(atoms) for atoms in frames]
    densities = [atoms.info["number_density"] for atoms in frames]
    chosen = {
        int(np.argmin(sizes)),
        int(np.argmax(sizes)),
        int(np.argmax(densities)),
        int(np.argmin(densities)),
    }
    return [frames[i] for i in sorted(chosen)]


def rock_salt(a=5.64):
    """Conventional cubic cell of rock-salt NaCl (4 ion pairs), lattice parameter ``a``."""
    return ase.build.bulk("NaCl", "rocksalt", a=a, cubic=True)


def test_loader(frames):
    assert dataset_path("point_charges.xyz").is_file()
    assert isinstance(frames, list)
    assert len(frames) == 400
    for i, atoms in enumerate(frames):
        assert isinstance(atoms, ase.Atoms)
        assert atoms.info["structure_id"] == i
        assert np.all(atoms.pbc)
        assert 16 <= len(atoms) <= 64
        assert set(atoms.numbers) == {11, 17}
        assert (atoms.numbers == 11).sum() == (atoms.numbers == 17).sum()
        np.testing.assert_array_equal(atoms.get_initial_charges(), _charges(atoms))
        assert 0.02 <= atoms.info["number_density"] <= 0.05
        assert np.isclose(len(atoms) / atoms.get_volume(), atoms.info["number_density"], 1e-4)
        assert isinstance(atoms.info["energy_coulomb"], float)
        assert isinstance(atoms.info["energy_dispersion"], float)
        assert atoms.arrays["forces_coulomb"].shape == (len(atoms), 3)
        assert atoms.arrays["forces_dispersion"].shape == (len(atoms), 3)
        # no net force on a periodic system
        np.testing.assert_allclose(atoms.arrays["forces_coulomb"].sum(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(atoms.arrays["forces_dispersion"].sum(axis=0), 0, atol=1e-6)
    # the closest pair of every structure is at least 2 Å apart (minimum image)
    closest = min(
        atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)].min() for atoms in frames
    )
    assert closest >= 2.0 - 1e-6
    # varied densities, across the whole range
    densities = np.array([atoms.info["number_density"] for atoms in frames])
    assert densities.min() < 0.022 and densities.max() > 0.048


def test_ewald_madelung():
    """The Ewald summation of these tests gives rock salt's Madelung energy."""
    atoms = rock_salt(a=5.64)
    expected = -4 * NACL_MADELUNG * COULOMB / (5.64 / 2)
    for alpha in (0.3, 0.6, 1.0):
        energy = ewald_energy(atoms.positions, atoms.cell, _charges(atoms), alpha=alpha)
        assert energy == pytest.approx(expected, rel=1e-11)


def test_pymatgen_madelung():
    """pymatgen's Ewald summation, as the generator calls it, on rock salt and a random box."""
    pytest.importorskip("pymatgen")
    from farsighted.demo.generate_point_charges import coulomb_reference

    atoms = rock_salt(a=5.64)
    energy, forces = coulomb_reference(atoms)
    expected = -4 * NACL_MADELUNG * COULOMB / (5.64 / 2)
    assert energy == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(forces, 0, atol=1e-10)

    # pymatgen's units: eV and eV/Å
    atoms = atoms.repeat((2, 1, 1))
    atoms.rattle(0.2, seed=3)
    energy, forces = coulomb_reference(atoms)
    charges = _charges(atoms)
    assert energy == pytest.approx(ewald_energy(atoms.positions, atoms.cell, charges), rel=1e-10)
    indices = [0, 5, 11]
    expected = _finite_difference_forces(
        lambda positions: ewald_energy(positions, atoms.cell, charges), atoms.positions, indices
    )
    np.testing.assert_allclose(forces[indices], expected, atol=1e-6)


def test_coulomb_energies(frames):
    for atoms in _some(frames):
        energy = ewald_energy(atoms.positions, atoms.cell, _charges(atoms))
        assert atoms.info["energy_coulomb"] == pytest.approx(energy, rel=1e-10)


def test_coulomb_forces(frames):
    for atoms in _some(frames)[:2]:
        charges = _charges(atoms)
        indices = [0, len(atoms) - 1]
        forces = _finite_difference_forces(
            lambda positions: ewald_energy(positions, atoms.cell, charges),  # noqa: B023
            atoms.positions,
            indices,
        )
        np.testing.assert_allclose(atoms.arrays["forces_coulomb"][indices], forces, atol=1e-6)


def test_dispersion_energies(frames):
    for atoms in _some(frames):
        energy = brute_force_dispersion(atoms.positions, atoms.cell, _c6(atoms), radius=80.0)
        assert atoms.info["energy_dispersion"] == pytest.approx(energy, rel=1e-8)


@pytest.mark.slow
def test_dispersion_energies_converged(frames):
    """A larger brute-force sum is closer to the stored energies."""
    for atoms in _some(frames):
        energy = brute_force_dispersion(atoms.positions, atoms.cell, _c6(atoms), radius=160.0)
        assert atoms.info["energy_dispersion"] == pytest.approx(energy, rel=1e-9)


def test_dispersion_forces(frames):
    for atoms in _some(frames)[:2]:
        c6 = _c6(atoms)
        indices = [0, len(atoms) - 1]
        forces = _finite_difference_forces(
            lambda positions: brute_force_dispersion(positions, atoms.cell, c6, 40.0),  # noqa: B023
            atoms.positions,
            indices,
        )
        np.testing.assert_allclose(atoms.arrays["forces_dispersion"][indices], forces, atol=1e-7)
