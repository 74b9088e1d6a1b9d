"""Training and test data for the molten NaCl example: liquid NaCl boxes of 64 and 216 atoms
with Tosi–Fumi energies, forces and stress (tosi_fumi.py), written as extended XYZ.

Each box starts from the rock-salt crystal expanded to the experimental density of the liquid
at the target temperature, ρ(T) = 1.556 − 5.43e-4 (T − 1074 K) g/cm³ (G. J. Janz, J. Phys.
Chem. Ref. Data 17, Suppl. 2 (1988), as tabulated in the CRC Handbook's "Density of molten
elements and representative salts": 1.556 g/cm³ at the melting point, 1074 K), is melted by
Langevin dynamics at 3000 K, and then, for each temperature in turn (the box rescaled to its
density), equilibrated by Langevin dynamics (1 fs, friction 0.01 fs⁻¹) and sampled every
``--interval`` steps. A few frames are snapshots with random displacements (0.1 Å) in a
cell strained by up to ±3 %, away from the thermal distribution.

Every frame carries ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å³, ASE's Voigt
order), and in ``info`` its ``temperature`` (K), ``kind`` ("md" or "displaced") and ``box``
(the run it comes from). The equilibrated 216-atom liquid at 1200 K is also written, with its
velocities, as the start of the NVE runs of run.py.

    python generate_data.py            # the shipped data: about 10 minutes on one core
    python generate_data.py --quick    # a tiny set for tests (seconds)
"""

import argparse
import json
import platform
import time
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary
from tosi_fumi import TosiFumi, rock_salt

HERE = Path(__file__).resolve().parent
#: mass of one NaCl formula unit (g/mol) and Avogadro's number
NACL_MOLAR_MASS = 22.98976928 + 35.453
AVOGADRO = 6.02214076e23


def liquid_density(temperature: float) -> float:
    """Experimental density of molten NaCl (g/cm³) at ``temperature`` (K) (Janz 1988)"""
    return 1.556 - 5.43e-4 * (temperature - 1074.0)


def box_length(n_atoms: int, density: float) -> float:
    """Edge (Å) of the cubic box of ``n_atoms`` ions of NaCl at ``density`` (g/cm³)"""
    volume_cm3 = (n_atoms // 2) * NACL_MOLAR_MASS / AVOGADRO / density
    return (volume_cm3 * 1e24) ** (1 / 3)


def set_density(atoms: ase.Atoms, temperature: float) -> None:
    length = box_length(len(atoms), liquid_density(temperature))
    atoms.set_cell(np.eye(3) * length, scale_atoms=True)


def thermalize(atoms: ase.Atoms, temperature: float, rng: np.random.Generator) -> None:
    """Maxwell–Boltzmann momenta at ``temperature`` (K), without centre-of-mass motion"""
    import ase.md.velocitydistribution as distribution

    # thermalize_momenta is the name from ASE 3.29 on
    function = getattr(distribution, "thermalize_momenta", None)
    if function is None:
        function = distribution.MaxwellBoltzmannDistribution
    function(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)


def labelled(atoms: ase.Atoms, calculator: TosiFumi, **info) -> ase.Atoms:
    """A copy of ``atoms`` with the reference energy, forces and stress attached"""
    energy, forces, stress = calculator.energy_forces_stress(atoms)
    frame = ase.Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
    frame.info.update(info)
    voigt = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces, stress=voigt)
    return frame


def run_box(
    n_cells: int,
    temperatures,
    n_snapshots,
    interval: int,
    equilibration: int,
    melt_steps: int,
    calculator: TosiFumi,
    rng: np.random.Generator,
    name: str,
):
    """Melt a box of (2 n_cells)³ ions and sample ``n_snapshots[i]`` frames at each
    temperature; returns (frames, the equilibrated atoms at the last temperature)"""
    atoms = rock_salt(5.64, n_cells)
    set_density(atoms, temperatures[0])
    atoms.calc = calculator
    thermalize(atoms, 3000, rng)
    atoms.set_constraint(FixCom())
    dynamics = Langevin(
        atoms,
        1.0 * units.fs,
        temperature_K=3000,
        friction=0.01 / units.fs,
        fixcm=False,
        rng=rng,
    )
    dynamics.run(melt_steps)
    frames = []
    for temperature, count in zip(temperatures, n_snapshots):
        set_density(atoms, temperature)
        dynamics.set_temperature(temperature_K=temperature)
        start = atoms.get_positions(wrap=False).copy()
        dynamics.run(equilibration)
        msd = np.mean(np.sum((atoms.get_positions(wrap=False) - start) ** 2, axis=1))
        for _ in range(count):
            dynamics.run(interval)
            frames.append(labelled(atoms, calculator, temperature=temperature, kind="md", box=name))
        print(
            f"  {name} {len(atoms)} atoms at {temperature:.0f} K: {count} frames, "
            f"mean squared displacement over the equilibration {msd:.1f} Å², "
            f"T = {atoms.get_temperature():.0f} K",
            flush=True,
        )
    return frames, atoms


def displaced(frames, count, calculator, rng):
    """``count`` frames: snapshots with random displacements (0.1 Å) in strained cells"""
    result = []
    for index in rng.choice(len(frames), size=count, replace=False):
        atoms = frames[index].copy()
        strain = np.diag(1 + rng.uniform(-0.03, 0.03, size=3))
        atoms.set_cell(atoms.cell @ strain, scale_atoms=True)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        result.append(
            labelled(
                atoms,
                calculator,
                temperature=frames[index].info["temperature"],
                kind="displaced",
                box=frames[index].info["box"],
            )
        )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(HERE / "nacl_tosi_fumi.xyz"))
    parser.add_argument("--start", default=str(HERE / "start_216.xyz"), help="NVE start")
    parser.add_argument("--quick", action="store_true", help="a tiny set, for tests")
    parser.add_argument("--interval", type=int, default=30, help="steps between snapshots")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    calculator = TosiFumi()

    if args.quick:
        small = dict(temperatures=[1200, 1500], n_snapshots=[6, 6], equilibration=100)
        large = dict(temperatures=[1200], n_snapshots=[2], equilibration=100)
        melt_steps, n_displaced, interval = 100, 2, 10
    else:
        small = dict(
            temperatures=[1000, 1125, 1250, 1375, 1500],
            n_snapshots=[48] * 5,
            equilibration=300,
        )
        large = dict(temperatures=[1500, 1200], n_snapshots=[12, 24], equilibration=400)
        melt_steps, n_displaced, interval = 300, 24, args.interval

    start = time.perf_counter()
    frames_64, _ = run_box(
        2,
        **small,
        interval=interval,
        melt_steps=melt_steps,
        calculator=calculator,
        rng=rng,
        name="64",
    )
    frames_216, liquid = run_box(
        3,
        **large,
        interval=interval,
        melt_steps=melt_steps,
        calculator=calculator,
        rng=rng,
        name="216",
    )
    frames = frames_64 + frames_216
    frames += displaced(frames_64, n_displaced, calculator, rng)
    elapsed = time.perf_counter() - start

    ase.io.write(args.output, frames, format="extxyz")
    liquid.calc = None
    liquid.set_constraint()
    ase.io.write(args.start, liquid, format="extxyz")
    versions = {
        "python": platform.python_version(),
        "ase": ase.__version__,
        "torch": torch.__version__,
        "torch-pme": __import__("torchpme").__version__,
        "vesin": __import__("vesin").__version__,
        "numpy": np.__version__,
    }
    summary = {
        "frames": len(frames),
        "frames_64": len(frames_64),
        "frames_216": len(frames_216),
        "frames_displaced": len(frames) - len(frames_64) - len(frames_216),
        "seconds": round(elapsed, 1),
        "torch_threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "versions": versions,
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
