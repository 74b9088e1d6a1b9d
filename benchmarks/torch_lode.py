"""The TorchScript LODE path against the Rust core and torch-pme, in one run.

For random Na/Cl boxes at 0.04 Å⁻³ (p = 1, σ = 1 Å, l ≤ 4, 6 radial functions, default
k_cutoff 1.2π/σ):

- farsighted (Rust core): values, and values + backward product of L = Σ w·X (forces and
  cell gradient, the fast path without the N² Jacobian);
- farsighted.torch: values, and values + autograd ∂L/∂positions and ∂L/∂strain (what an
  energy model needs for forces and stress);
- torch-pme: the Coulomb energy and forces of the same boxes with charges ±1, with its PME
  and Ewald calculators (one potential channel, against our 6 × 25 × 2 feature channels).

Each time is the best of up to 3 runs. The ratios torch / Rust are printed and written to
``benchmarks/results/torch_lode.json``. ``python benchmarks/torch_lode.py --sizes 216 1000``.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from lode_backward import nacl_box

HERE = Path(__file__).resolve().parent
DENSITY = 0.04

HYPERS = {
    "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 4,
        "radial": {"type": "Gto", "max_radial": 5, "radius": 4.0},
    },
}


def best_time(function, repeats=3, repeat_below=20.0):
    times = []
    while len(times) < repeats and (not times or times[-1] < repeat_below):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def rust_times(atoms):
    import metatensor

    import farsighted

    calculator = farsighted.LodeSphericalExpansion(**HYPERS)
    values = best_time(lambda: calculator.compute(atoms))

    def values_and_backward():
        features = calculator.compute(atoms)
        calculator.backward(atoms, metatensor.ones_like(features))

    return values, best_time(values_and_backward)


def torch_times(atoms):
    import torch
    from metatomic.torch import System, systems_to_torch

    import farsighted.torch

    module = torch.jit.script(farsighted.torch.LodeSphericalExpansion(**HYPERS))
    base = systems_to_torch(atoms, dtype=torch.float64)

    def values():
        with torch.no_grad():
            module([base])

    def values_and_gradients():
        positions = base.positions.detach().requires_grad_(True)
        strain = torch.zeros((3, 3), dtype=torch.float64, requires_grad=True)
        transform = torch.eye(3, dtype=torch.float64) + strain
        system = System(
            types=base.types,
            positions=positions @ transform,
            cell=base.cell @ transform,
            pbc=base.pbc,
        )
        features = module([system])
        loss = sum(block.values.sum() for block in features.blocks())
        torch.autograd.grad(loss, [positions, strain])

    return best_time(values), best_time(values_and_gradients)


def torchpme_times(atoms, cutoff=5.0, accuracy=1e-5):
    """Coulomb energy + forces with torch-pme's PME and Ewald, tuned to ``accuracy``; the
    neighbour list (vesin) is computed once, the distances inside the timed function"""
    import torch
    import torchpme
    import vesin

    i, j, shifts = vesin.NeighborList(cutoff=cutoff, full_list=False).compute(
        points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="ijS"
    )
    pairs = torch.tensor(np.stack([i, j], axis=1).astype(np.int64))
    shifts = torch.tensor(shifts, dtype=torch.float64)
    cell = torch.tensor(atoms.cell.array)
    positions = torch.tensor(atoms.positions, requires_grad=True)
    charges = torch.tensor(np.where(atoms.numbers == 11, 1.0, -1.0)).reshape(-1, 1)

    def distances(positions):
        vectors = positions[pairs[:, 1]] - positions[pairs[:, 0]] + shifts @ cell
        return torch.linalg.norm(vectors, dim=1)

    results = {}
    for name, tune, make in [
        ("PME", torchpme.tuning.tune_pme, torchpme.PMECalculator),
        ("Ewald", torchpme.tuning.tune_ewald, torchpme.EwaldCalculator),
    ]:
        smearing, parameters, _ = tune(
            charges,
            cell,
            positions.detach(),
            cutoff,
            pairs,
            distances(positions.detach()),
            accuracy=accuracy,
        )
        calculator = make(torchpme.CoulombPotential(smearing=smearing), **parameters)

        def energy_and_forces(calculator=calculator):
            potentials = calculator(charges, cell, positions, pairs, distances(positions))
            torch.autograd.grad((charges * potentials).sum(), positions)

        results[name] = best_time(energy_and_forces)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[216, 1000, 4000])
    arguments = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    print(
        f"{'N':>6} {'rust values':>12} {'rust +bwd':>10} {'torch values':>13} "
        f"{'torch +grad':>12} {'ratio':>6} {'PME E+F':>8} {'Ewald E+F':>10}"
    )
    for n in arguments.sizes:
        atoms = nacl_box(n, DENSITY, seed=0)
        rust_values, rust_backward = rust_times(atoms)
        torch_values, torch_gradients = torch_times(atoms)
        pme = torchpme_times(atoms)
        row = {
            "n_atoms": n,
            "rust_values_s": rust_values,
            "rust_values_backward_s": rust_backward,
            "torch_values_s": torch_values,
            "torch_values_autograd_s": torch_gradients,
            "ratio_torch_over_rust": torch_gradients / rust_backward,
            "torchpme_pme_energy_forces_s": pme["PME"],
            "torchpme_ewald_energy_forces_s": pme["Ewald"],
        }
        rows.append(row)
        _write(rows)
        print(
            f"{n:>6} {rust_values:>12.3f} {rust_backward:>10.3f} {torch_values:>13.3f} "
            f"{torch_gradients:>12.3f} {row['ratio_torch_over_rust']:>6.2f} "
            f"{pme['PME']:>8.3f} {pme['Ewald']:>10.3f}"
        )
    print(f"written to {OUTPUT}")


OUTPUT = HERE / "results" / "torch_lode.json"


def _write(rows):
    """Write the rows measured so far (a long run stopped early keeps them)"""
    machine = platform.processor() or platform.machine()
    OUTPUT.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
