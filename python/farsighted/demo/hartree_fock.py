"""Hartree–Fock references with pyscf (the ``reference`` extra): energies and forces of molecules
and ions (RHF, density fitting; an ASE calculator for relaxations), dipole moments and static
polarizabilities by coupled-perturbed Hartree–Fock, checked against finite fields.

Hartree–Fock, not a tight-binding method, because the binding curves of ion pairs need integer
fragment charges at long range: gas-phase GFN2-xTB moves a spurious fraction of an electron
from anion to cation (the anion's HOMO lies above the cation's LUMO)."""

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

#: the basis of the binding curves
BASIS = "6-31g*"
#: the basis of the dipoles and polarizabilities of water clusters
RESPONSE_BASIS = "def2-svp"


def molecule(atoms, charge=0, basis=BASIS):
    """The pyscf molecule of ``atoms`` (Å) with total ``charge``, closed shell"""
    from pyscf import gto

    symbols = atoms.get_chemical_symbols()
    spec = [(symbol, tuple(position)) for symbol, position in zip(symbols, atoms.positions)]
    return gto.M(atom=spec, basis=basis, charge=charge, spin=0, unit="Angstrom", verbose=0)


def hartree_fock(atoms, charge, guess=None):
    """The converged RHF of ``atoms`` (density fitting), started from the density matrix
    ``guess`` when it is given (a neighbouring geometry)"""
    from pyscf import scf

    mf = scf.RHF(molecule(atoms, charge)).density_fit()
    mf.conv_tol = 1e-10
    mf.max_cycle = 200
    mf.kernel(dm0=guess)
    if not mf.converged:
        # level shift and a fresh guess: the fallback for difficult contact geometries
        mf = scf.RHF(molecule(atoms, charge)).density_fit()
        mf.conv_tol = 1e-10
        mf.level_shift = 0.3
        mf.max_cycle = 400
        mf.kernel()
        if not mf.converged:
            raise RuntimeError(
                f"RHF did not converge for {atoms.get_chemical_formula()} (charge {charge})"
            )
    return mf


class HartreeFock(Calculator):
    """Energy (eV) and forces (eV/Å) from RHF/6-31G* with density fitting"""

    implemented_properties = ["energy", "forces"]

    def __init__(self, charge, **kwargs):
        super().__init__(**kwargs)
        self.charge = charge
        self._guess = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        mf = hartree_fock(self.atoms, self.charge, self._guess)
        self._guess = mf.make_rdm1()
        gradient = mf.nuc_grad_method().kernel()
        self.results["energy"] = mf.e_tot * Hartree
        self.results["forces"] = -np.asarray(gradient) * Hartree / Bohr


def charge_center(mol):
    charges = mol.atom_charges()
    return charges @ mol.atom_coords() / charges.sum()


def dipole_integrals(mol):
    """⟨p|r - c|q⟩ (Bohr), c the nuclear charge centre: (3, nao, nao)"""
    with mol.with_common_orig(charge_center(mol)):
        return mol.intor_symmetric("int1e_r", comp=3)


def dipole(mf):
    """The dipole moment (atomic units) about the nuclear charge centre"""
    mol = mf.mol
    electrons = -np.einsum("xpq,qp->x", dipole_integrals(mol), mf.make_rdm1())
    nuclei = mol.atom_charges() @ (mol.atom_coords() - charge_center(mol))
    return electrons + nuclei


def polarizability(mf, tol=1e-10):
    """α_xy = ∂μ_y/∂F_x (atomic units) by coupled-perturbed Hartree–Fock"""
    from pyscf.scf import cphf

    mo_energy, mo_coeff, mo_occ = mf.mo_energy, mf.mo_coeff, mf.mo_occ
    occupied = mo_coeff[:, mo_occ > 0]
    virtual = mo_coeff[:, mo_occ == 0]
    n_vir, n_occ = virtual.shape[1], occupied.shape[1]
    r = dipole_integrals(mf.mol)
    # the perturbation F·r of every electron, in (virtual, occupied) MOs
    h1 = np.einsum("xpq,pa,qi->xai", r, virtual, occupied)
    response = mf.gen_response(mo_coeff, mo_occ, hermi=1)

    def induced(u):
        u = u.reshape(-1, n_vir, n_occ)
        # first-order density of doubly occupied orbitals 2 (Cᵥ U Cₒᵀ + transpose)
        dm = np.einsum("pa,xai,qi->xpq", virtual, 2 * u, occupied)
        v = response(dm + dm.transpose(0, 2, 1))
        return np.einsum("xpq,pa,qi->xai", v, virtual, occupied).ravel()

    u = cphf.solve(induced, mo_energy, mo_occ, h1, None, max_cycle=100, tol=tol)[0]
    u = u.reshape(3, n_vir, n_occ)
    # μ_y = -Tr(D r_y): ∂μ_y/∂F_x = -Tr(D¹_x r_y), D¹_x = 2 (C U_x Cₒᵀ + c.c.)
    return -4 * np.einsum("xai,yai->xy", u, h1)


def finite_field_polarizability(mol, step=1e-3):
    """α by central differences of the dipole in fields ±step (atomic units)"""
    from pyscf import scf

    r = dipole_integrals(mol)
    alpha = np.zeros((3, 3))
    for x in range(3):
        dipoles = []
        for sign in (1, -1):
            mf = scf.RHF(mol)
            hcore = mf.get_hcore() + sign * step * r[x]
            mf.get_hcore = lambda *args, h=hcore: h
            mf.conv_tol = 1e-12
            mf.kernel()
            dipoles.append(dipole(mf))
        alpha[x] = (dipoles[0] - dipoles[1]) / (2 * step)
    return alpha
