"""The Born–Huggins–Mayer potential of NaCl with the Tosi–Fumi parameters, as an ASE calculator.

Ions i, j (charges q = +1 for Na, −1 for Cl) at distance r interact by

    φ_ij(r) = A_ij b exp((σ_i + σ_j − r) / ρ) − C_ij / r⁶ − D_ij / r⁸ + q_i q_j / (4πε₀ r)

Parameters (F. G. Fumi and M. P. Tosi, J. Phys. Chem. Solids 25, 31 (1964); M. P. Tosi and
F. G. Fumi, J. Phys. Chem. Solids 25, 45 (1964)), as tabulated in Table I of S. Anwar,
D. Frenkel and M. G. Noro, J. Chem. Phys. 118, 728 (2003). The same numbers, in the same
units, are in the table of J. W. E. Lewis, K. Singer and L. V. Woodcock, J. Chem. Soc.
Faraday Trans. 2 71, 301 (1975), as used by an independent public OpenMM implementation of
the model, against which they were checked:

    b = 0.338e-19 J,  ρ = 0.317 Å,  σ_Na = 1.170 Å,  σ_Cl = 1.585 Å,
    A_++ = 1.25,  A_+- = 1.00,  A_-- = 0.75,
    C_ij (1e-79 J m⁶):  ++ 1.68,  +- 11.2,  -- 116,
    D_ij (1e-99 J m⁸):  ++ 0.8,   +- 13.9,  -- 233.

(Lewis et al. give 1/ρ = 3.15 Å⁻¹, i.e. ρ = 0.3175 Å; the 0.317 Å of Tosi and Fumi is used.)
1e-79 J m⁶ and 1e-99 J m⁸ are both 0.6241509 eV Å⁶ and eV Å⁸.

How each term is summed:

- short range (Born–Mayer repulsion and dispersion): a sum over the pairs of a neighbour list
  (vesin) within ``cutoff`` (12 Å by default), with the energy shifted, φ(r) − φ(r_c), so that
  the energy is continuous at the cutoff; the force jumps there by φ'(r_c), 1.2e-5 eV/Å at
  12 Å (the Cl–Cl dispersion), and no tail correction is added;
- Coulomb: torch-pme's Ewald summation (an independent code), in float64, with the real-space
  part on the same neighbour list. With the Gaussian splitting width s, the real-space terms
  erfc(r / √2 s) / r are cut at r_c and the reciprocal-space terms exp(−s²k²/2) / k² at k_c,
  and both truncations are set to exp(−x): s = r_c / √(2x), k_c = 2x / r_c. The default
  x = 14 with r_c = 12 Å (s = 1.60 Å, k_c = 2.33 Å⁻¹) was chosen on a 216-atom liquid box
  against x = 22 (r_c = 9 Å): energy within 1.4e-7 relative, forces within 1.4e-6 of their
  RMS, in 0.15 s (energy + forces, one core of a shared machine) where r_c = 10 Å needs
  0.28 s and PME (torch-pme, 6 interpolation nodes, the same accuracy) 0.7 s.
  tests/test_molten_nacl.py holds the Madelung constant of rock salt and pymatgen's Ewald
  energy of a distorted 64-atom box to 1e-6 relative.

Energies in eV, lengths in Å. Forces and stress come from autograd of the energy with respect
to positions and to a strain ε applied to positions and cell, r → r (1 + ε): the stress is
(1/V) ∂E/∂ε (ASE's sign convention: positive under tension).
"""

import math

import numpy as np
import torch
import torchpme
import vesin
from ase.calculators.calculator import Calculator, all_changes

#: 1e-19 J, 1e-79 J m⁶ and 1e-99 J m⁸ in eV, eV Å⁶ and eV Å⁸
JOULE_IN_EV = 1.0 / 1.602176634e-19
B = 0.338e-19 * JOULE_IN_EV  # 0.21096 eV
RHO = 0.317
SIGMA = {11: 1.170, 17: 1.585}
CHARGE = {11: 1.0, 17: -1.0}
# per pair kind: 0 = Na–Na, 1 = Na–Cl, 2 = Cl–Cl
PAULING = np.array([1.25, 1.00, 0.75])
C6 = np.array([1.68, 11.2, 116.0]) * 1e-79 * JOULE_IN_EV * 1e60
D8 = np.array([0.8, 13.9, 233.0]) * 1e-99 * JOULE_IN_EV * 1e80
#: e²/(4πε₀) in eV Å
COULOMB = torchpme.prefactors.eV_A


def pair_kind(types_i: np.ndarray, types_j: np.ndarray) -> np.ndarray:
    """0 for Na–Na, 1 for Na–Cl, 2 for Cl–Cl"""
    return (types_i == 17).astype(int) + (types_j == 17).astype(int)


def short_range_pair_energy(r, kind):
    """φ_ij(r) without the Coulomb term (eV), for distances r (Å) and pair kinds (torch or
    numpy arrays)"""
    lib = torch if isinstance(r, torch.Tensor) else np
    sigma = np.array([2 * SIGMA[11], SIGMA[11] + SIGMA[17], 2 * SIGMA[17]])
    prefactor = PAULING * B * np.exp(sigma / RHO)
    if lib is torch:
        prefactor, c6, d8 = (torch.tensor(a, dtype=r.dtype)[kind] for a in (prefactor, C6, D8))
    else:
        prefactor, c6, d8 = prefactor[kind], C6[kind], D8[kind]
    return prefactor * lib.exp(-r / RHO) - c6 / r**6 - d8 / r**8


class TosiFumi(Calculator):
    """The Tosi–Fumi potential of NaCl: energy (eV), forces (eV/Å) and stress (eV/Å³) of
    3D-periodic systems of Na and Cl.

    Parameters
    ----------
    cutoff
        short-range cutoff (Å) of the repulsion and dispersion, where their energy is shifted
        to zero, and real-space cutoff of the Ewald sum
    ewald_exponent
        x: the real- and reciprocal-space Ewald truncations are exp(−x)
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, cutoff: float = 12.0, ewald_exponent: float = 14.0, **kwargs):
        super().__init__(**kwargs)
        self.cutoff = float(cutoff)
        self.smearing = self.cutoff / math.sqrt(2 * ewald_exponent)
        k_cutoff = 2 * ewald_exponent / self.cutoff
        self.ewald = torchpme.EwaldCalculator(
            torchpme.CoulombPotential(smearing=self.smearing, prefactor=COULOMB),
            # torch-pme keeps the k-vectors n·b with |n_a| ≤ ns_a / 2, ns_a = ⌈|a| / λ⌉ (they
            # come from fftfreq): λ = π / k_c reaches k_c along each reciprocal axis
            lr_wavelength=math.pi / k_cutoff,
        ).to(torch.float64)
        self.neighbors = vesin.NeighborList(cutoff=self.cutoff, full_list=False)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces, stress = self.energy_forces_stress(self.atoms)
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": forces,
            "stress": stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]],
        }

    def _check(self, atoms):
        if not np.all(atoms.pbc):
            raise ValueError("TosiFumi needs a 3D-periodic system")
        unknown = set(atoms.numbers.tolist()) - {11, 17}
        if unknown:
            raise ValueError(f"TosiFumi knows Na and Cl only, got atomic numbers {unknown}")
        charges = np.array([CHARGE[int(t)] for t in atoms.numbers])
        if abs(charges.sum()) > 1e-12:
            raise ValueError("TosiFumi needs a neutral system (as many Na as Cl)")
        return charges

    def energy_terms(self, atoms, strain: torch.Tensor = None):
        """(short-range, Coulomb) energies as torch scalars, functions of the positions and of
        ``strain`` (a 3 × 3 tensor, zero by default) through r → r (1 + ε)"""
        charges = self._check(atoms)
        cell0 = torch.tensor(np.asarray(atoms.cell), dtype=torch.float64)
        positions0 = torch.tensor(atoms.positions, dtype=torch.float64)
        if strain is None:
            strain = torch.zeros((3, 3), dtype=torch.float64)
        deformation = torch.eye(3, dtype=torch.float64) + strain
        positions, cell = positions0 @ deformation, cell0 @ deformation
        return self._energies(atoms, charges, positions, cell)

    def _energies(self, atoms, charges, positions, cell):
        i, j, shifts = self.neighbors.compute(
            atoms.positions, np.asarray(atoms.cell), True, quantities="ijS"
        )
        i, j = torch.tensor(i.astype(np.int64)), torch.tensor(j.astype(np.int64))
        shifts = torch.tensor(shifts, dtype=torch.float64)
        vectors = positions[j] - positions[i] + shifts @ cell
        distances = torch.linalg.norm(vectors, dim=1)

        kind = torch.tensor(pair_kind(atoms.numbers[i.numpy()], atoms.numbers[j.numpy()]))
        at_cutoff = short_range_pair_energy(torch.full_like(distances, self.cutoff), kind)
        short_range = torch.sum(short_range_pair_energy(distances, kind) - at_cutoff)

        q = torch.tensor(charges, dtype=torch.float64).reshape(-1, 1)
        potentials = self.ewald(q, cell, positions, torch.stack([i, j], dim=1), distances)
        coulomb = torch.sum(q * potentials)
        return short_range, coulomb

    def energy_forces_stress(self, atoms):
        """The energy (eV), forces (eV/Å) and 3 × 3 stress (eV/Å³) of ``atoms``"""
        charges = self._check(atoms)
        cell0 = torch.tensor(np.asarray(atoms.cell), dtype=torch.float64)
        positions0 = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
        strain = torch.zeros((3, 3), dtype=torch.float64, requires_grad=True)
        deformation = torch.eye(3, dtype=torch.float64) + strain
        short_range, coulomb = self._energies(
            atoms, charges, positions0 @ deformation, cell0 @ deformation
        )
        energy = short_range + coulomb
        d_positions, d_strain = torch.autograd.grad(energy, [positions0, strain])
        volume = abs(float(torch.det(cell0)))
        stress = d_strain.numpy() / volume
        return float(energy.detach()), -d_positions.numpy(), 0.5 * (stress + stress.T)


def rock_salt(a: float = 5.64, repeat: int = 1):
    """The conventional cubic cell of rock-salt NaCl (8 atoms), repeated"""
    import ase.build

    return ase.build.bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(repeat)
