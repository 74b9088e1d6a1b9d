"""Molecular dynamics of molten NaCl with farsighted models, against the Tosi–Fumi reference.

1. Fit two linear models by ridge regression on the energies and forces of the Tosi–Fumi
   data (generate_data.py) with :py:func:`farsighted.torch.fit_energy_model`: a multi-scale
   model (SOAP power spectrum + the λ = 0 LODE features of the Coulomb-like potential,
   p = 1) and a SOAP-only model (the same SOAP features, a few percent fewer weights).
2. Save both as metatomic models (:py:func:`farsighted.torch.save_model`), and measure their
   errors on held-out frames of the data set through ``metatomic_ase.MetatomicCalculator``.
3. Run NVE dynamics (velocity Verlet) with each saved model and with the reference, from the
   same equilibrated 216-atom liquid at 1200 K; report the drift of the total energy (linear
   fit, meV/atom/ps), the standard deviation of the total energy over that of the kinetic
   energy, the errors of each model against the reference on configurations along its own
   trajectory, the radial distribution functions of the three trajectories, and the wall
   time of one MD step (energy, forces and stress).

    python run.py                                    # the documented run (docs/molten_nacl.rst)
    python run.py --n-train 60 --steps 100 --models multiscale --no-reference-md --no-plots
"""

import argparse
import importlib
import json
import time
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch
import vesin
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from tosi_fumi import TosiFumi

import farsighted.torch

HERE = Path(__file__).resolve().parent
DOCS_IMAGES = HERE.parents[1] / "docs" / "images"
PAIRS = {"Na–Na": (11, 11), "Na–Cl": (11, 17), "Cl–Cl": (17, 17)}
#: eV/Å³ in GPa
EV_A3_GPA = 160.21766208


def soap_hypers(cutoff: float, max_angular: int, max_radial: int) -> dict:
    """SOAP: Gaussian densities of width 0.5 Å, smoothed over the last 1 Å of the cutoff"""
    return {
        "cutoff": {"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": 1.0}},
        "density": {"type": "Gaussian", "width": 0.5},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial},
        },
    }


def lode_hypers(smearing: float, radius: float, max_radial: int) -> dict:
    """LODE of the potential of Gaussian charges (p = 1); the fit keeps λ = 0"""
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": smearing, "exponent": 1},
        "basis": {
            "type": "TensorProduct",
            "max_angular": 0,
            "radial": {"type": "Gto", "max_radial": max_radial, "radius": radius},
        },
    }


def split(frames, n_train: int, n_test: int, seed: int):
    """(train, test): disjoint random subsets of ``frames``"""
    order = np.random.default_rng(seed).permutation(len(frames))
    if n_train + n_test > len(frames):
        raise ValueError(f"{n_train} + {n_test} frames asked, the data set has {len(frames)}")
    train = [frames[i] for i in order[n_test : n_test + n_train]]
    return train, [frames[i] for i in order[:n_test]]


def fit(frames, soap, lode, force_weight: float):
    energies = np.array([frame.get_potential_energy() for frame in frames])
    forces = [frame.get_forces() for frame in frames]
    start = time.perf_counter()
    model, ridge = farsighted.torch.fit_energy_model(
        frames, energies, forces, soap=soap, lode=lode, force_weight=force_weight
    )
    return model, ridge, time.perf_counter() - start


def calculator_of(path: Path, extensions: str):
    from metatomic_ase import MetatomicCalculator

    return MetatomicCalculator(str(path), extensions_directory=extensions)


def predictions(calculator, frames):
    """energies (eV), forces (eV/Å) and 3 × 3 stresses (eV/Å³) of ``calculator`` on ``frames``"""
    energies, forces, stresses = [], [], []
    for frame in frames:
        atoms = ase.Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True)
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        stresses.append(atoms.get_stress(voigt=False))
    return np.array(energies), forces, np.array(stresses)


def errors(predicted, reference, n_atoms):
    """RMSEs: energy per atom (meV/atom; and the mean signed error), force components (meV/Å
    and % of the reference forces' standard deviation), stress components (GPa)"""
    (e, f, s), (e_ref, f_ref, s_ref) = predicted, reference
    n_atoms = np.asarray(n_atoms)
    f, f_ref = np.concatenate(f).ravel(), np.concatenate(f_ref).ravel()
    return {
        "energy_meV_per_atom": 1000 * float(np.sqrt(np.mean(((e - e_ref) / n_atoms) ** 2))),
        "energy_mean_error_meV_per_atom": 1000 * float(np.mean((e - e_ref) / n_atoms)),
        "forces_meV_per_A": 1000 * float(np.sqrt(np.mean((f - f_ref) ** 2))),
        "forces_percent_of_std": 100 * float(np.sqrt(np.mean((f - f_ref) ** 2)) / f_ref.std()),
        "stress_GPa": EV_A3_GPA * float(np.sqrt(np.mean((s - s_ref) ** 2))),
    }


def reference_values(frames):
    return (
        np.array([frame.get_potential_energy() for frame in frames]),
        [frame.get_forces() for frame in frames],
        np.array([frame.get_stress(voigt=False) for frame in frames]),
    )


def nve(atoms, calculator, steps: int, timestep: float, sample_every: int, rdf_every: int):
    """Velocity Verlet from ``atoms`` (positions and momenta); returns the potential and
    kinetic energies of every step, the configurations every ``sample_every`` steps with the
    calculator's energy, forces and stress, those every ``rdf_every`` steps, and the wall time
    per step"""
    atoms = atoms.copy()
    atoms.calc = calculator
    dynamics = VelocityVerlet(atoms, timestep=timestep * units.fs)
    record = {"potential": [], "kinetic": [], "samples": [], "rdf_frames": []}

    def observe():
        step = dynamics.nsteps
        record["potential"].append(atoms.get_potential_energy())
        record["kinetic"].append(atoms.get_kinetic_energy())
        if step % sample_every == 0:
            sample = ase.Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
            sample.calc = SinglePointCalculator(
                sample,
                energy=atoms.get_potential_energy(),
                forces=atoms.get_forces(),
                stress=atoms.get_stress(),
            )
            record["samples"].append(sample)
        if step % rdf_every == 0:
            record["rdf_frames"].append(atoms.copy())

    # ASE calls the observers at step 0 too
    dynamics.attach(observe, interval=1)
    start = time.perf_counter()
    dynamics.run(steps)
    record["seconds_per_step"] = (time.perf_counter() - start) / steps
    record["potential"] = np.array(record["potential"][: steps + 1])
    record["kinetic"] = np.array(record["kinetic"][: steps + 1])
    record["time_ps"] = np.arange(steps + 1) * timestep / 1000
    return record


def conservation(record, n_atoms: int):
    """Drift of the total energy (linear fit, meV/atom/ps) and std(E_total) / std(E_kinetic)"""
    total = record["potential"] + record["kinetic"]
    slope = np.polyfit(record["time_ps"], total, 1)[0]
    return {
        "drift_meV_per_atom_per_ps": 1000 * float(slope) / n_atoms,
        "std_total_over_std_kinetic": float(total.std() / record["kinetic"].std()),
        "std_total_meV_per_atom": 1000 * float(total.std()) / n_atoms,
        "mean_temperature_K": float(2 * record["kinetic"].mean() / (3 * n_atoms * units.kB)),
    }


def radial_distribution(frames, r_max: float, n_bins: int = 120):
    """g(r) of each pair of :py:data:`PAIRS`, averaged over ``frames`` (cubic or not)"""
    edges = np.linspace(0.0, r_max, n_bins + 1)
    counts = {name: np.zeros(n_bins) for name in PAIRS}
    calculator = vesin.NeighborList(cutoff=r_max, full_list=False)
    for atoms in frames:
        i, j, d = calculator.compute(atoms.positions, atoms.cell[:], True, quantities="ijd")
        types_i, types_j = atoms.numbers[i], atoms.numbers[j]
        for name, (a, b) in PAIRS.items():
            if a == b:
                mask = (types_i == a) & (types_j == a)
            else:
                mask = ((types_i == a) & (types_j == b)) | ((types_i == b) & (types_j == a))
            counts[name] += np.histogram(d[mask], bins=edges)[0]
    volume = frames[0].get_volume()
    shells = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = {}
    for name, (a, b) in PAIRS.items():
        n_a = np.sum(frames[0].numbers == a)
        n_b = np.sum(frames[0].numbers == b)
        # unordered pairs: N_a (N_a − 1) / 2 of the same type, N_a N_b of different types
        n_pairs = n_a * (n_a - 1) / 2 if a == b else n_a * n_b
        g[name] = counts[name] / len(frames) / (n_pairs / volume * shells)
    return 0.5 * (edges[1:] + edges[:-1]), g


def plot_rdf(r, rdfs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    styles = {
        "reference": ("black", "-", 2.2),
        "multi-scale": ("C0", "--", 1.5),
        "SOAP only": ("C3", ":", 1.5),
    }
    for axis, pair in zip(axes, PAIRS):
        for name, g in rdfs.items():
            color, style, width = styles.get(name, ("C2", "-.", 1.5))
            axis.plot(r, g[pair], style, color=color, linewidth=width, label=name)
        axis.set_title(pair)
        axis.set_xlabel("r (Å)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("g(r)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_energy(records, n_atoms, path):
    """Top: the kinetic and total energies of each NVE run (meV/atom); bottom: the total
    energy alone, magnified (μeV/atom), with its linear fit"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(records)
    figure, axes = plt.subplots(
        2, n, figsize=(4.4 * n, 6.0), sharex=True, sharey="row", squeeze=False
    )
    for column, (name, record) in enumerate(records.items()):
        total = record["potential"] + record["kinetic"]
        kinetic = record["kinetic"]
        t = record["time_ps"]
        top, bottom = axes[0, column], axes[1, column]
        top.plot(
            t,
            1000 * (kinetic - kinetic.mean()) / n_atoms,
            color="0.6",
            linewidth=0.8,
            label="kinetic − mean",
        )
        top.plot(
            t,
            1000 * (total - total[0]) / n_atoms,
            color="C0",
            linewidth=1.2,
            label="total − initial",
        )
        top.set_title(f"{name} (NVE, {n_atoms} atoms)")
        top.legend(fontsize=7, loc="lower left")
        slope, offset = np.polyfit(t, total, 1)
        bottom.plot(
            t,
            1e6 * (total - total[0]) / n_atoms,
            color="C0",
            linewidth=0.8,
            label="total − initial",
        )
        bottom.plot(
            t,
            1e6 * (slope * t + offset - total[0]) / n_atoms,
            "k--",
            linewidth=1.0,
            label=f"linear fit: {1000 * slope / n_atoms:+.1e} meV/atom/ps",
        )
        bottom.set_xlabel("time (ps)")
        bottom.legend(fontsize=7, loc="lower left")
        for axis in (top, bottom):
            axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("energy (meV/atom)")
    axes[1, 0].set_ylabel("total energy (μeV/atom)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def rdf_difference(g, reference):
    """RMS difference of two sets of g(r) over r and the three pairs"""
    return float(np.sqrt(np.mean([(g[p] - reference[p]) ** 2 for p in PAIRS])))


def evaluation_times(calculators, atoms, repeats: int, seed: int):
    """Median wall time (s) of one energy + forces + stress evaluation of each calculator on
    ``atoms`` with fresh random displacements, the calculators interleaved so that they share
    the machine's load"""
    rng = np.random.default_rng(seed)
    times = {name: [] for name in calculators}
    for _ in range(repeats):
        displaced = atoms.copy()
        displaced.positions += rng.normal(scale=0.01, size=displaced.positions.shape)
        for name, calculator in calculators.items():
            displaced.calc = calculator
            calculator.reset()
            start = time.perf_counter()
            displaced.get_forces()
            displaced.get_stress()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def replot(output: Path, images: Path):
    """The two plots again, from the ``results.json`` and ``nve.npz`` of a run"""
    with open(output / "results.json") as file:
        results = json.load(file)
    series = np.load(output / "nve.npz")
    records = {}
    for key in series.files:
        name, quantity = key.split(":")
        records.setdefault(name, {})[quantity] = series[key]
    rdf = results["rdf"]
    r = np.array(rdf.pop("r"))
    rdfs = {name: {p: np.array(g[p]) for p in PAIRS} for name, g in rdf.items()}
    images.mkdir(parents=True, exist_ok=True)
    plot_rdf(r, rdfs, images / "molten-nacl-rdf.png")
    plot_energy(records, results["md_atoms"], images / "molten-nacl-energy.png")


def start_configuration(path: str, temperature: float, seed: int):
    atoms = ase.io.read(path)
    if not atoms.has("momenta") or np.allclose(atoms.get_momenta(), 0.0):
        import ase.md.velocitydistribution as distribution

        function = getattr(distribution, "thermalize_momenta", None)
        if function is None:
            function = distribution.MaxwellBoltzmannDistribution
        function(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
        Stationary(atoms)
    return ase.Atoms(
        atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True, momenta=atoms.get_momenta()
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(HERE / "nacl_tosi_fumi.xyz"))
    parser.add_argument(
        "--start",
        default=str(HERE / "start_216.xyz"),
        help="NVE start (positions and momenta; thermalized at 1200 K if none)",
    )
    parser.add_argument("--output", default=str(HERE / "output"), help="models and results")
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=60)
    parser.add_argument("--steps", type=int, default=2000, help="NVE steps")
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument(
        "--sample-every",
        type=int,
        default=50,
        help="steps between the configurations where errors are measured",
    )
    parser.add_argument("--rdf-every", type=int, default=10)
    parser.add_argument(
        "--models", nargs="+", default=["multiscale", "soap"], choices=["multiscale", "soap"]
    )
    parser.add_argument("--no-reference-md", action="store_true")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the plots from --output's files"
    )
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument("--images", default=str(DOCS_IMAGES), help="folder of the plots")
    parser.add_argument("--soap-cutoff", type=float, default=5.0)
    parser.add_argument("--soap-max-angular", type=int, default=3)
    parser.add_argument("--soap-max-radial", type=int, default=4)
    parser.add_argument("--lode-smearing", type=float, default=1.0)
    parser.add_argument("--lode-radius", type=float, default=4.5)
    parser.add_argument("--lode-max-radial", type=int, default=5)
    parser.add_argument("--force-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    output = Path(args.output)
    if args.replot:
        replot(output, Path(args.images))
        return None
    output.mkdir(parents=True, exist_ok=True)

    frames = ase.io.read(args.data, ":")
    train, test = split(frames, args.n_train, args.n_test, args.seed)
    soap = soap_hypers(args.soap_cutoff, args.soap_max_angular, args.soap_max_radial)
    lode = [lode_hypers(args.lode_smearing, args.lode_radius, args.lode_max_radial)]
    feature_sets = {"multiscale": (soap, lode), "soap": (soap, [])}
    names = {"multiscale": "multi-scale", "soap": "SOAP only"}

    started = time.perf_counter()
    results = {
        "settings": vars(args),
        "n_train_atoms": sum(len(f) for f in train),
        "versions": {
            name: importlib.import_module(module).__version__
            for name, module in [
                ("farsighted", "farsighted"),
                ("torch", "torch"),
                ("metatomic-torch", "metatomic.torch"),
                ("featomic", "featomic"),
                ("torch-pme", "torchpme"),
                ("ase", "ase"),
            ]
        },
    }
    reference_test = reference_values(test)
    calculators = {}
    for key in args.models:
        model, ridge, seconds = fit(train, *feature_sets[key], args.force_weight)
        path = output / f"{key}.pt"
        extensions = farsighted.torch.save_model(
            model, str(path), name=f"molten NaCl, {names[key]}"
        )
        calculators[key] = calculator_of(path, extensions)
        results[key] = {
            "weights": int(model.weights.shape[0]) + len(model.atomic_types) + 1,
            "feature_weights": int(model.weights.shape[0]),
            "alpha": float(ridge.alpha_),
            "fit_seconds": round(seconds, 1),
            "test": errors(
                predictions(calculators[key], test), reference_test, [len(f) for f in test]
            ),
        }
        print(key, json.dumps(results[key]), flush=True)

    start = start_configuration(args.start, 1200.0, args.seed)
    n_atoms = len(start)
    results["md_atoms"] = n_atoms
    runs = {}
    if not args.no_reference_md:
        runs["reference"] = TosiFumi()
    for key in args.models:
        runs[key] = calculators[key]
    records, rdfs = {}, {}
    reference = TosiFumi()
    for key, calculator in runs.items():
        record = nve(
            start, calculator, args.steps, args.timestep, args.sample_every, args.rdf_every
        )
        label = "reference" if key == "reference" else names[key]
        records[label] = record
        entry = results.setdefault(key, {})
        entry["nve"] = conservation(record, n_atoms)
        entry["seconds_per_md_step"] = record["seconds_per_step"]
        if key != "reference":
            samples = record["samples"]
            labelled = []
            for sample in samples:
                energy, forces, stress = reference.energy_forces_stress(sample)
                copy = sample.copy()
                copy.calc = SinglePointCalculator(
                    copy,
                    energy=energy,
                    forces=forces,
                    stress=stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]],
                )
                labelled.append(copy)
            predicted = reference_values(samples)
            entry["trajectory"] = errors(
                predicted, reference_values(labelled), [len(s) for s in samples]
            )
            entry["trajectory"]["configurations"] = len(samples)
        r_max = 0.5 * min(np.linalg.norm(start.cell, axis=1))
        r, rdfs[label] = radial_distribution(record["rdf_frames"], r_max)
        if key == "reference":
            # the statistical scale of RDF differences: the two halves of the run
            half = len(record["rdf_frames"]) // 2
            halves = [
                radial_distribution(part, r_max)[1]
                for part in (record["rdf_frames"][:half], record["rdf_frames"][half:])
            ]
            entry["rdf_rms_difference_between_halves"] = rdf_difference(*halves)
        print(key, json.dumps(entry), flush=True)
    timed = evaluation_times(runs, start, args.timing_repeats, args.seed)
    for key, seconds in timed.items():
        results[key]["seconds_per_evaluation"] = seconds
    for key in args.models:
        if not args.no_reference_md:
            difference = rdf_difference(rdfs[names[key]], rdfs["reference"])
            results[key]["rdf_rms_difference_to_reference"] = difference

    if not args.no_plots and records:
        images = Path(args.images)
        images.mkdir(parents=True, exist_ok=True)
        plot_rdf(r, rdfs, images / "molten-nacl-rdf.png")
        plot_energy(records, n_atoms, images / "molten-nacl-energy.png")
    np.savez(
        output / "nve.npz",
        **{
            f"{k}:{q}": r[q]
            for k, r in records.items()
            for q in ("time_ps", "potential", "kinetic")
        },
    )
    results["rdf"] = {
        "r": r.tolist(),
        **{k: {p: g[p].tolist() for p in PAIRS} for k, g in rdfs.items()},
    }
    results["total_seconds"] = time.perf_counter() - started
    with open(output / "results.json", "w") as file:
        json.dump(results, file, indent=1)
    return results


if __name__ == "__main__":
    main()
