"""Generate ``point_charges.xyz``: random Na⁺/Cl⁻ point charges in periodic boxes, with reference
Coulomb and 1/r⁶ energies and forces computed by codes independent of farsighted.

Structures
    Each structure is a neutral periodic box holding as many Na (charge +1 e) as Cl (charge −1 e)
    atoms, 16 to 64 atoms in total, at a number density drawn uniformly between 0.02 and
    0.05 atoms/Å³ (the varied density is what defeats purely local models), in a random triclinic
    cell. Cells and positions come from ``random_nacl_boxes`` of
    :py:mod:`farsighted.demo.generate_nacl_boxes` (cell lengths within a factor 1.25 of each
    other, angles between 75° and 105°, atoms at least 2.0 Å apart under periodic boundary
    conditions).

Coulomb reference (p = 1)
    ``energy_coulomb`` (eV) and ``forces_coulomb`` (eV/Å) are pymatgen's ``EwaldSummation``
    (``total_energy`` and ``forces``, both already in eV and eV/Å) of the point charges, with
    ``acc_factor`` = ``EWALD_ACC_FACTOR``: E = ½ Σ_{i,j} Σ'_T k_e q_i q_j / |r_j − r_i + T|,
    k_e = 10¹⁰ e/(4πε₀) = 14.39964548 eV·Å/e² (scipy's CODATA constants, as pymatgen takes them),
    the conditionally convergent sum as Ewald's method defines it (tin-foil boundary
    conditions). The shipped file was made with pymatgen 2026.10.24; its energies agree with an
    independent Ewald summation to ~2e-13 (relative).

Dispersion reference (p = 6)
    ``energy_dispersion`` (eV) and ``forces_dispersion`` (eV/Å) are the lattice sum

        E = −½ Σ_{i,j} Σ'_T C_ij / |r_j − r_i + T|⁶,

    where Σ' leaves out T = 0 when i = j, with C_NaNa = 1, C_ClCl = 4 and C_NaCl = 2 eV·Å⁶
    (geometric mixing). A sharp spherical truncation of this sum at a radius R converges only as
    R⁻³, so the sum over images is split with a smooth cutoff::

        1/r⁶ = Γ(3, x)/(2r⁶) + γ(3, x)/(2r⁶),   x = r²/(2η²).

    The first part is summed directly over all images up to x = ``SPLIT``. The second part is
    smooth, so its lattice sum is its integral over space divided by the cell volume V (Poisson
    summation), up to its Fourier components at the non-zero reciprocal lattice vectors k, which
    are smaller than exp(−k²η²/2) times the k = 0 one::

        Σ'_T γ(3, x)/(2|r + T|⁶) = π^{3/2}/(6√2 η³ V) − δ_ij/(48η⁶),

    with η chosen so that k²η²/2 >= ``SPLIT`` for every k ≠ 0. With ``SPLIT`` = 20 the energies
    and forces change by less than 1e-13 (relative) and 1e-14 eV/Å when ``SPLIT`` goes to 32, and
    they agree with brute-force sums over images within R = 160 Å (plus the continuum tail beyond
    R) to the ~1e-10 accuracy of the latter. Forces are the analytic derivatives of the direct
    sum (the remainder does not depend on the positions). ``tests/test_point_charge_data.py``
    checks both references against brute-force image sums, an Ewald summation of its own and
    finite differences.

Positions and cells are rounded to what the extended XYZ file stores before the references are
computed, so the stored energies and forces are those of the stored structures (forces are stored
with 8 decimals, i.e. to 1e-8 eV/Å). The generator is
seeded, so running it again gives the same file (up to the last digits of the pymatgen numbers
if the numerical libraries change)::

    pip install "farsighted[demo]"  # pymatgen
    python -m farsighted.demo.generate_point_charges  # writes farsighted/data/point_charges.xyz

Each frame's ``info`` records its index (``structure_id``), its ``number_density`` (Å⁻³),
``energy_coulomb`` and ``energy_dispersion``; its ``arrays`` hold ``forces_coulomb`` and
``forces_dispersion``. Charges follow from the species (Na: +1, Cl: −1); ``load_point_charges``
in ``farsighted.data`` sets them as the atoms' initial charges.
"""

from __future__ import annotations

import functools
import io

import numpy as np

from farsighted.demo.generate_nacl_boxes import random_nacl_boxes, write_data_set

SEED = 20251123
N_STRUCTURES = 400
MIN_ATOMS = 16
MAX_ATOMS = 64
DENSITY_RANGE = (0.02, 0.05)  # atoms / Å³

CHARGES = {11: 1.0, 17: -1.0}  # e
C6 = {11: 1.0, 17: 2.0}  # √C_aa in eV^½ Å³: C_ab = C6[a] C6[b] (geometric mixing)

EWALD_ACC_FACTOR = 12.0
# the direct sum of the 1/r⁶ lattice sum stops at r²/(2η²) = SPLIT, and the Fourier components
# of the smooth remainder that are left out are below exp(-SPLIT) (see the module docstring)
SPLIT = 20.0
# images are summed in batches of this many (pair, image) terms, to bound the memory used
BATCH = 2_000_000


def coulomb_reference(atoms) -> tuple[float, np.ndarray]:
    """Coulomb energy (eV) and forces (eV/Å) of the point charges in ``atoms``, by pymatgen.

    Parameters
    ----------
    atoms : ase.Atoms
        periodic structure of Na (+1 e) and Cl (−1 e)

    Returns
    -------
    energy : float
        Ewald energy, in eV
    forces : numpy.ndarray
        forces, shape (n_atoms, 3), in eV/Å
    """
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(atoms)
    structure.add_oxidation_state_by_site([CHARGES[z] for z in atoms.numbers])
    ewald = EwaldSummation(structure, acc_factor=EWALD_ACC_FACTOR, compute_forces=True)
    return float(ewald.total_energy), np.array(ewald.forces, dtype=np.float64)


def _half_lattice_translations(cell: np.ndarray, radius: float) -> np.ndarray:
    """Lattice vectors T = n @ cell with 0 < |T| <= radius, one of each pair ±T."""
    # the spacing between lattice planes along each reciprocal direction bounds |n_a|
    spacings = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    n_max = np.ceil(radius / spacings).astype(int)
    ranges = [np.arange(-m, m + 1) for m in n_max]
    n = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    # keep n > 0 in lexicographic order
    first = np.where(n[:, 0] != 0, n[:, 0], np.where(n[:, 1] != 0, n[:, 1], n[:, 2]))
    translations = n[first > 0] @ cell
    return translations[np.linalg.norm(translations, axis=1) <= radius]


def _smooth_cutoff_sums(vectors: np.ndarray, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """u(r) = Γ(3, x)/(2r⁶) and −u'(r)/r = exp(−x)(x³ + 3x² + 6x + 6)/r⁸, x = r²/(2η²)."""
    r2 = np.einsum("...x,...x->...", vectors, vectors)
    x = r2 / (2 * eta**2)
    damping = np.exp(-x) / (r2 * r2 * r2)
    return damping * ((x + 2) * x + 2) / 2, damping * (((x + 3) * x + 6) * x + 6) / r2


def dispersion_reference(atoms) -> tuple[float, np.ndarray]:
    """Dispersion energy (eV) and forces (eV/Å) −½ Σ C_ij/r⁶, summed over periodic images.

    Parameters
    ----------
    atoms : ase.Atoms
        periodic structure of Na and Cl (C_NaNa = 1, C_ClCl = 4, C_NaCl = 2 eV·Å⁶)

    Returns
    -------
    energy : float
        lattice sum, in eV (see the module docstring for the method and its accuracy)
    forces : numpy.ndarray
        forces, shape (n_atoms, 3), in eV/Å
    """
    cell = np.array(atoms.cell, dtype=np.float64)
    positions = atoms.get_positions(wrap=True)
    volume = abs(np.linalg.det(cell))
    sqrt_c = np.array([C6[z] for z in atoms.numbers])
    c6 = np.outer(sqrt_c, sqrt_c)
    n_atoms = len(atoms)

    # the smooth-cutoff width η: the shortest non-zero reciprocal vector k has k²η²/2 >= SPLIT
    n = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    k = np.linalg.norm(n[np.any(n != 0, axis=1)] @ (2 * np.pi * np.linalg.inv(cell).T), axis=1)
    eta = np.sqrt(2 * SPLIT) / k.min()
    # bound on the neglected Fourier components, relative to the k = 0 one (module docstring)
    neglected = 1.5 * np.exp(-0.5 * (k * eta) ** 2).sum()
    assert neglected < 1e3 * np.exp(-SPLIT), neglected
    # the direct sum stops where x = r²/(2η²) = SPLIT
    cutoff = eta * np.sqrt(2 * SPLIT)

    # T = 0, i != j
    pairs = positions[None, :, :] - positions[:, None, :]
    off_diagonal = ~np.eye(n_atoms, dtype=bool)
    u, du = _smooth_cutoff_sums(pairs[off_diagonal], eta)
    energy = -0.5 * (c6[off_diagonal] * u).sum()
    weights = np.zeros((n_atoms, n_atoms))
    weights[off_diagonal] = c6[off_diagonal] * du
    forces = np.einsum("ij,ijx->ix", weights, pairs)

    # T != 0: the terms of (i, j, -T) are those of (j, i, T), with opposite pair vectors
    translations = _half_lattice_translations(cell, cutoff + np.linalg.norm(pairs, axis=2).max())
    batch = max(1, BATCH // n_atoms**2)
    for start in range(0, len(translations), batch):
        vectors = pairs[None] + translations[start : start + batch, None, None, :]
        u, du = _smooth_cutoff_sums(vectors, eta)
        energy -= (c6 * u.sum(axis=0)).sum()
        weights = c6 * du
        forces += np.einsum("tij,tijx->ix", weights, vectors)
        forces -= np.einsum("tij,tijx->jx", weights, vectors)

    # the remainder: ĥ(0)/V for every pair (i, j), less its value at r = 0 for i = j at T = 0
    energy -= 0.5 * c6.sum() * np.pi**1.5 / (6 * np.sqrt(2) * eta**3 * volume)
    energy += 0.5 * np.trace(c6) / (48 * eta**6)
    return float(energy), forces


def _stored(frames: list) -> list:
    """``frames`` written to extended XYZ and read back: positions as the file stores them."""
    import ase.io

    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    buffer.seek(0)
    return ase.io.read(buffer, index=":", format="extxyz")


def generate(seed: int = SEED, n_structures: int = N_STRUCTURES, progress: bool = False) -> list:
    """The list of ``ase.Atoms`` of the data set, with their reference energies and forces."""
    frames = random_nacl_boxes(seed, n_structures, (MIN_ATOMS, MAX_ATOMS), DENSITY_RANGE)
    frames = _stored(frames)
    for atoms in frames:
        energy, forces = coulomb_reference(atoms)
        atoms.info["energy_coulomb"] = energy
        atoms.arrays["forces_coulomb"] = forces
        energy, forces = dispersion_reference(atoms)
        atoms.info["energy_dispersion"] = energy
        atoms.arrays["forces_dispersion"] = forces
        if progress and (atoms.info["structure_id"] + 1) % 50 == 0:
            print(f"  {atoms.info['structure_id'] + 1} / {len(frames)} structures done")
    return frames


def main(argv=None):
    with_progress = functools.partial(generate, progress=True)
    write_data_set(with_progress, "point_charges.xyz", __doc__, SEED, N_STRUCTURES, argv)


if __name__ == "__main__":
    main()
