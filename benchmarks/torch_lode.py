"""The TorchScript LODE path against the Rust core and torch-pme, in one run.

For random Na/Cl boxes at 0.04 Å⁻³ (p = 1, σ = 1 Å, l ≤ 4, 6 radial functions, default
k_cutoff 1.2π/σ):

- farsighted (Rust core): values, and values + backward product of L = Σ w·X (forces and
  cell gradient, the fast path without the N² Jacobian);
- farsighted.torch: values, and values + autograd ∂L/∂positions and ∂L/∂strain (what an
  energy model needs for forces and stress);
- torch-pme: the Coulomb energy and forces of the same boxes with charges ±1, with its PME
  and Ewald calculators (``--torchpme``; one potential channel, against our 6 × 25 × 2 feature
  channels), on the torch device.

For each box the torch module's values and the autograd forces of L = Σ features are compared
with the Rust core's (``values_error``, ``forces_error``: the largest difference over the
largest entry, of each block for the values), and on CUDA the peak memory of values + autograd
is reported.

``--accuracy ε``: the Ewald split of both at ε, with the wide part on the mesh
(``reciprocal="mesh"``; the module built from the Rust calculator on the box itself, its
neighbour list within d_c from vesin), written to ``results/torch_lode_mesh.json``: the
O(N log N) path that MD of 10⁴-10⁵ atoms needs.

Each time is the best of up to 3 runs (one where a run takes over 20 s), after two untimed
calls (one where the first takes over 20 s: TorchScript optimises a function on its first
calls). The ratios
torch / Rust are printed and written to ``benchmarks/results/torch_lode.json``. ``--device
cuda`` runs the torch parts on a GPU.

Then the MD step time of a saved model (a linear SOAP + LODE model fitted on a few shipped
boxes, saved as a metatomic model, run by metatomic-ase): one velocity-Verlet step of a
216-atom box (``--md-atoms``), with energy, forces and stress, the mean of ``--md-steps``
after one untimed step; with ``--accuracy``, the model's LODE is the split at ε fixed on the MD
box.

``python benchmarks/torch_lode.py --sizes 216 1000 4000``
``python benchmarks/torch_lode.py --sizes 1000 10000 --accuracy 1e-5 --md-atoms 0``
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


def best_time(function, repeats=3, repeat_below=20.0, warmup=2):
    """The best of up to ``repeats`` runs (one where a run takes over ``repeat_below`` s)
    after ``warmup`` untimed calls (one where the first takes that long). The first call is
    never timed: TorchScript optimises a function on its first calls, which took 21.9 s
    against 10.7 s afterwards for values + autograd of 4000 atoms on 2 cores"""
    for _ in range(warmup):
        start = time.perf_counter()
        function()
        if time.perf_counter() - start > repeat_below:
            break
    times = []
    while len(times) < repeats and (not times or times[-1] < repeat_below):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def rust_calculator(accuracy):
    import farsighted

    if accuracy is None:
        return farsighted.LodeSphericalExpansion(**HYPERS)
    return farsighted.LodeSphericalExpansion(**HYPERS, accuracy=accuracy, reciprocal="mesh")


def rust_times(atoms, calculator):
    """Seconds of the values and of values + backward product of L = Σ features, and the
    values and forces (the backward product with G = 1) themselves"""
    import metatensor

    results = {}
    values = best_time(lambda: results.update(values=calculator.compute(atoms)))

    def values_and_backward():
        features = calculator.compute(atoms)
        [(forces, *_)] = calculator.backward(atoms, metatensor.ones_like(features))
        results["forces"] = forces

    return values, best_time(values_and_backward), results


def torch_times(atoms, device, calculator, reference):
    """The module of ``calculator``'s hyper-parameters (and, with the split, its mesh and
    σw, for ``atoms``): seconds of values and of values + autograd, and its errors against
    the Rust core's ``reference`` values and forces"""
    import torch
    import vesin.metatomic
    from metatomic.torch import System, systems_to_torch

    import farsighted.torch

    # the split is fixed on a representative system; without it there is none to fix
    with_split = "accuracy" in json.loads(calculator.parameters)
    eager = farsighted.torch.LodeSphericalExpansion.from_calculator(
        calculator, representative_system=atoms if with_split else None
    )
    module = torch.jit.script(eager).to(device)
    base = systems_to_torch(atoms, dtype=torch.float64, device=device)
    requested = eager.requested_neighbor_lists()
    for neighbors in vesin.metatomic.neighbor_lists_for_model(
        "angstrom", eager, model_length_unit="angstrom", skin=0.0
    ):
        neighbors.add_neighbor_list([base])

    def synchronized(function):
        def run():
            function()
            if device != "cpu":
                torch.cuda.synchronize()

        return run

    def values():
        with torch.no_grad():
            module([base])

    def values_and_gradients():
        positions = base.positions.detach().requires_grad_(True)
        strain = torch.zeros((3, 3), dtype=torch.float64, device=device, requires_grad=True)
        transform = torch.eye(3, dtype=torch.float64, device=device) + strain
        system = System(
            types=base.types,
            positions=positions @ transform,
            cell=base.cell @ transform,
            pbc=base.pbc,
        )
        for options in requested:
            # the module recomputes the pair vectors from positions, cell and shifts
            system.add_neighbor_list(options, base.get_neighbor_list(options))
        features = module([system])
        loss = sum(block.values.sum() for block in features.blocks())
        forces, _ = torch.autograd.grad(loss, [positions, strain])
        results["features"] = features
        results["forces"] = forces

    results = {}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    times = best_time(synchronized(values)), best_time(synchronized(values_and_gradients))
    errors = {
        "values_error": max(
            float(
                np.abs(block.values.detach().cpu().numpy() - expected.values).max()
                / np.abs(expected.values).max()
            )
            for block, expected in zip(
                results["features"].blocks(), reference["values"].blocks(), strict=True
            )
        ),
        "forces_error": float(
            np.abs(results["forces"].cpu().numpy() - reference["forces"]).max()
            / np.abs(reference["forces"]).max()
        ),
    }
    if device.startswith("cuda"):
        errors["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return (*times, errors)


def torchpme_times(
    atoms, cutoff=5.0, accuracy=1e-5, exponent=1, methods=("PME", "Ewald"), device="cpu"
):
    """Energy + forces of the charges ±1 with torch-pme's PME and Ewald on ``device``, tuned
    to ``accuracy`` (its tuners are for Coulomb: other exponents use the Coulomb parameters
    with ``InversePowerLawPotential``), and under "PME parameters" and "Ewald parameters" what
    its tuner chose; the neighbour list (vesin) is computed once, the distances inside the timed
    function"""
    import torch
    import torchpme
    import vesin

    i, j, shifts = vesin.NeighborList(cutoff=cutoff, full_list=False).compute(
        points=atoms.positions, box=atoms.cell.array, periodic=True, quantities="ijS"
    )
    pairs = torch.tensor(np.stack([i, j], axis=1).astype(np.int64), device=device)
    shifts = torch.tensor(shifts, dtype=torch.float64, device=device)
    cell = torch.tensor(atoms.cell.array, device=device)
    positions = torch.tensor(atoms.positions, requires_grad=True, device=device)
    charges = torch.tensor(np.where(atoms.numbers == 11, 1.0, -1.0), device=device)
    charges = charges.reshape(-1, 1)

    def distances(positions):
        vectors = positions[pairs[:, 1]] - positions[pairs[:, 0]] + shifts @ cell
        return torch.linalg.norm(vectors, dim=1)

    def potential(smearing):
        if exponent == 1:
            return torchpme.CoulombPotential(smearing=smearing)
        return torchpme.InversePowerLawPotential(exponent=exponent, smearing=smearing)

    results = {}
    for name, tune, make in [
        ("PME", torchpme.tuning.tune_pme, torchpme.PMECalculator),
        ("Ewald", torchpme.tuning.tune_ewald, torchpme.EwaldCalculator),
    ]:
        if name not in methods:
            continue
        smearing, parameters, _ = tune(
            charges,
            cell,
            positions.detach(),
            cutoff,
            pairs,
            distances(positions.detach()),
            accuracy=accuracy,
        )
        calculator = make(potential(smearing), **parameters).to(device)

        def energy_and_forces(calculator=calculator):
            potentials = calculator(charges, cell, positions, pairs, distances(positions))
            torch.autograd.grad((charges * potentials).sum(), positions)
            if device != "cpu":
                torch.cuda.synchronize()

        results[name] = best_time(energy_and_forces)
        # what the tuner chose: its accuracy is an estimate of the absolute force error
        results[f"{name} parameters"] = {"smearing": float(smearing), **parameters}
    return results


def md_step_times(n_atoms, device, steps=10, accuracy=None, profile=None):
    """Seconds of each of ``steps`` velocity-Verlet steps after an untimed one (energy, forces,
    stress) of a saved SOAP + LODE model run by metatomic-ase; with ``accuracy``, its LODE is
    the Ewald split at that ε, fixed on the MD box (the mesh, at large sizes); with
    ``profile`` (a path), torch's profiler over one more step, its operators by self time
    written there"""
    import tempfile

    import ase.io
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from metatomic_ase import MetatomicCalculator

    import farsighted.torch
    from farsighted.data import dataset_path

    frames = ase.io.read(dataset_path("point_charges.xyz"), ":20")
    energies = [frame.info["energy_coulomb"] for frame in frames]
    forces = [frame.arrays["forces_coulomb"] for frame in frames]
    soap = {
        "cutoff": {"radius": 4.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.5},
        "basis": {
            "type": "TensorProduct",
            "max_angular": 2,
            "radial": {"type": "Gto", "max_radial": 5},
        },
    }
    lode = dict(HYPERS, basis=dict(HYPERS["basis"], max_angular=0))
    atoms = nacl_box(n_atoms, DENSITY, seed=1)
    split = {}
    if accuracy is not None:
        lode["accuracy"] = accuracy
        split["representative_system"] = atoms
    model, _ = farsighted.torch.fit_energy_model(
        frames, energies, forces, soap=soap, lode=[lode], **split
    )
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "model.pt")
        extensions = farsighted.torch.save_model(model, path)
        atoms.calc = MetatomicCalculator(path, extensions_directory=extensions, device=device)
        dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)

        def step():
            dynamics.run(1)
            atoms.get_stress()

        step()
        seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - start)
        if profile is not None:
            import torch.profiler

            with torch.profiler.profile() as profiler:
                step()
            averages = profiler.key_averages()
            sort = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
            tables = [averages.table(sort_by=key, row_limit=30) for key in (sort, "cpu_time_total")]
            Path(profile).write_text("\n\n".join(tables) + "\n")
        return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[216, 1000, 4000])
    parser.add_argument("--device", default="cpu", help="torch device of the torch parts")
    parser.add_argument("--md-atoms", type=int, default=216, help="0: no MD step timing")
    parser.add_argument("--md-steps", type=int, default=10, help="timed MD steps")
    parser.add_argument(
        "--md-profile", type=Path, help="write torch's profile of one more MD step there"
    )
    parser.add_argument(
        "--md-no-fusion",
        action="store_true",
        help="MD without TorchScript's fuser (no kernels compiled for new shapes)",
    )
    parser.add_argument(
        "--torchpme",
        nargs="*",
        default=["PME", "Ewald"],
        choices=["PME", "Ewald"],
        help="torch-pme's calculators to time (none: no torch-pme)",
    )
    parser.add_argument(
        "--accuracy", type=float, default=None, help="ε of the split on the mesh (both sides)"
    )
    parser.add_argument(
        "--output", type=Path, help="results/torch_lode[_mesh].json (with --accuracy) by default"
    )
    arguments = parser.parse_args()
    output = arguments.output or (OUTPUT if arguments.accuracy is None else OUTPUT_MESH)

    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    print(
        f"{'N':>6} {'rust values':>12} {'rust +bwd':>10} {'torch values':>13} "
        f"{'torch +grad':>12} {'ratio':>6} {'PME E+F':>8} {'Ewald E+F':>10}"
    )
    for n in arguments.sizes:
        atoms = nacl_box(n, DENSITY, seed=0)
        calculator = rust_calculator(arguments.accuracy)
        rust_values, rust_backward, reference = rust_times(atoms, calculator)
        torch_values, torch_gradients, errors = torch_times(
            atoms, arguments.device, calculator, reference
        )
        pme = torchpme_times(
            atoms,
            accuracy=arguments.accuracy or 1e-5,
            methods=arguments.torchpme,
            device=arguments.device,
        )
        row = {
            "n_atoms": n,
            "rust_values_s": rust_values,
            "rust_values_backward_s": rust_backward,
            "torch_values_s": torch_values,
            "torch_values_autograd_s": torch_gradients,
            "ratio_torch_over_rust": torch_gradients / rust_backward,
            "torchpme_pme_energy_forces_s": pme.get("PME"),
            "torchpme_ewald_energy_forces_s": pme.get("Ewald"),
            **errors,
        }
        rows.append(row)
        _write(output, rows, arguments)
        print(
            f"{n:>6} {rust_values:>12.3f} {rust_backward:>10.3f} {torch_values:>13.3f} "
            f"{torch_gradients:>12.3f} {row['ratio_torch_over_rust']:>6.2f} "
            f"{_seconds(pme.get('PME')):>8} {_seconds(pme.get('Ewald')):>10}"
        )
        print(f"       torch against Rust: {errors}")
    md = None
    if arguments.md_atoms > 0:
        if arguments.md_no_fusion:
            # TorchScript compiles fused kernels for the first shapes it sees (two static,
            # then ten dynamic), and in MD the number of pairs changes at every step
            torch._C._jit_set_texpr_fuser_enabled(False)
        md = md_step_times(
            arguments.md_atoms,
            arguments.device,
            steps=arguments.md_steps,
            accuracy=arguments.accuracy,
            profile=arguments.md_profile,
        )
        print(
            f"MD step of the saved SOAP + LODE model, {arguments.md_atoms} atoms: "
            f"{np.mean(md):.3f} s (steps: {', '.join(f'{t:.3f}' for t in md)})"
        )
    _write(output, rows, arguments, md)
    print(f"written to {output}")


OUTPUT = HERE / "results" / "torch_lode.json"
OUTPUT_MESH = HERE / "results" / "torch_lode_mesh.json"


def _seconds(value):
    return "-" if value is None else f"{value:.3f}"


def _write(output, rows, arguments, md_seconds=None):
    """Write the rows measured so far (a long run stopped early keeps them), and the seconds
    of each timed MD step"""
    import torch

    machine = platform.processor() or platform.machine()
    if arguments.device.startswith("cuda"):
        machine = f"{torch.cuda.get_device_name(arguments.device)}, CPU {machine}"
    result = {
        "machine": f"{machine} (torch {torch.__version__}, Python {platform.python_version()})",
        "torch_device": arguments.device,
        "rows": rows,
    }
    if arguments.accuracy is not None:
        result["accuracy"] = arguments.accuracy
    if md_seconds is not None:
        result["md_step_s"] = {
            "n_atoms": arguments.md_atoms,
            "steps": arguments.md_steps,
            "seconds": float(np.mean(md_seconds)),
            "each_step": md_seconds,
            "fusion": not arguments.md_no_fusion,
        }
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
