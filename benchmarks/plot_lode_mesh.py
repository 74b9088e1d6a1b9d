"""Plots of the particle-mesh benchmark (``lode_mesh.py``) from its saved results, for the docs.

Reads ``lode_mesh.json`` (bulk, p = 1), ``lode_mesh_1e6.json`` (10⁵ and 10⁶ atoms, another
run), ``lode_mesh_p6.json``, ``lode_mesh_slab.json`` and ``lode_mesh_open.json`` from
``--results`` (a missing file is skipped with a note) and writes to ``--output``:

- ``lode-mesh-scaling.png``: wall time against the number of atoms, log-log. Left: the bulk
  p = 1 runs, one line per method, each run with its own markers; right: farsighted's values
  (cost model's choice) and its sum over wave vectors / all pairs for every geometry.
- ``lode-mesh-accuracy.png``: the measured error / ε against ε, one panel per geometry, with
  the target window ε/30 … ε shaded.

Nothing is rerun: ``python benchmarks/plot_lode_mesh.py``.
"""

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

HERE = Path(__file__).resolve().parent
FILES = [
    "lode_mesh",
    "lode_mesh_1e6",
    "lode_mesh_1e6_backward",
    "lode_mesh_p6",
    "lode_mesh_slab",
    "lode_mesh_open",
]

# the columns of docs/benchmarks.rst
METHODS = {
    "mesh": ("mesh (values)", "C0"),
    "backward": ("backward (forces, cell)", "C1"),
    "k-sum": ("k-sum (sum over k)", "C2"),
    "featomic": ("featomic (default cutoff)", "C4"),
    "torch-pme": ("torch-pme PME (1 channel)", "C3"),
}
# how each run timed its calls (docs/benchmarks.rst; the JSON files do not say)
TIMING = {
    "lode_mesh": "best of 2 calls",
    "lode_mesh_1e6": "one call, tables built in it",
    "lode_mesh_1e6_backward": "one call, later build",
}
# the other geometries of the right-hand panel and of the accuracy figure
GEOMETRIES = {
    "lode_mesh": ("bulk, p = 1", "C0"),
    "lode_mesh_p6": ("bulk, p = 6", "C1"),
    "lode_mesh_slab": ("slab, p = 1", "C2"),
    "lode_mesh_open": ("open cluster, p = 1", "C3"),
}
PARTS = {"values": "C0", "forces": "C1", "cell": "C2"}
# structure: (marker, line style, filled, legend label)
STRUCTURES = {
    "random": ("o", "-", True, "random box"),
    "crystal": ("s", "--", False, "rattled rock-salt crystal"),
}
GUIDE = {"color": "0.6", "linestyle": (0, (4, 3)), "linewidth": 1}


def load(results):
    """The results found in `results`, by file name without suffix"""
    data = {}
    for name in FILES:
        path = results / f"{name}.json"
        if path.exists():
            data[name] = json.loads(path.read_text())
        else:
            print(f"note: {path} not found, skipped")
    return data


def cases_by_method(run):
    """{method: [(atoms, seconds or None, mesh used, error or None)]}, sorted by atoms"""
    methods = {}
    for key, case in run["cases"].items():
        method, atoms = key.rsplit(" ", 1)
        seconds = case.get("seconds")
        # "mesh" is the cost model's choice: no mesh recorded means it chose the k-sum
        used_mesh = method != "mesh" or case.get("mesh") is not None
        methods.setdefault(method, []).append((int(atoms), seconds, used_mesh, case.get("error")))
    return {method: sorted(points) for method, points in methods.items()}


def run_label(name, run):
    date = run["date"][:10]
    timing = TIMING.get(name)
    return f"run of {date}" + (f": {timing}" if timing else "")


def describe(run, system):
    """A title from a run's settings: system, exponent, accuracy and cores"""
    settings = run["settings"]
    accuracy = settings["accuracy"]
    exponent = round(math.log10(accuracy))
    if math.isclose(accuracy, 10.0**exponent):
        accuracy = f"10$^{{{exponent}}}$"
    cores = run["machine"]["usable_cpus"]
    return f"{system}, p = {settings['exponent']}, ε = {accuracy}, {cores} cores"


def power_label(atoms):
    exponent = len(str(atoms)) - 1
    return f"10$^{exponent}$" if atoms == 10**exponent else str(atoms)


def plot_line(axes, points, color, marker, linestyle, label=None):
    """Times against atoms; an open marker where the cost model chose the k-sum"""
    timed = [(n, s, mesh) for n, s, mesh, _ in points if s is not None]
    if not timed:
        return
    atoms, seconds, _ = zip(*timed)
    axes.plot(atoms, seconds, color=color, linestyle=linestyle, label=label)
    for n, s, used_mesh in timed:
        axes.plot(n, s, marker=marker, color=color, markerfacecolor=color if used_mesh else "white")


def annotate_slopes(axes, run, points):
    """The fitted log-log slopes of the mesh, at the middle of each segment"""
    seconds = {n: s for n, s, _, _ in points if s is not None}
    for interval, slope in run.get("mesh_log_log_slopes", {}).items():
        low, high = (int(n) for n in interval.split("-"))
        if low in seconds and high in seconds:
            x = (low * high) ** 0.5
            y = (seconds[low] * seconds[high]) ** 0.5
            axes.annotate(
                f"slope {slope:.2f}",
                (x, y),
                xytext=(6, -4),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=8,
                color=METHODS["mesh"][1],
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )


def guide(axes, atoms, seconds):
    """A dashed line of slope 1 through (atoms, seconds), across the axes' atoms"""
    low, high = axes.get_xlim()
    axes.plot([low, high], [seconds * low / atoms, seconds * high / atoms], zorder=0, **GUIDE)
    axes.set_xlim(low, high)


def style_log(axes, xlabel, ylabel):
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="major", color="0.9")


def plot_bulk(axes, data):
    """The bulk p = 1 runs: one colour per method, one marker per run"""
    bulk_runs = {
        "lode_mesh": ("o", "-"),
        "lode_mesh_1e6": ("D", ":"),
        "lode_mesh_1e6_backward": ("s", ""),
    }
    runs = [name for name in bulk_runs if name in data]
    markers = {name: bulk_runs[name][0] for name in runs}
    linestyles = {name: bulk_runs[name][1] for name in runs}
    failed, timed = [], set()
    for name in runs:
        methods = cases_by_method(data[name])
        for method, points in methods.items():
            color = METHODS.get(method, (method, "0.3"))[1]
            plot_line(axes, points, color, markers[name], linestyles[name])
            failed += [(method, n, error) for n, _, _, error in points if error]
            timed |= {(method, n) for n, seconds, _, _ in points if seconds is not None}
        if "mesh" in methods:
            annotate_slopes(axes, data[name], methods["mesh"])
    # a failure that a later run measured is not drawn
    for method, atoms, error in [f for f in failed if f[:2] not in timed]:
        # "MemoryError: not enough memory: details" -> "not enough memory"
        reason = error.split(": ")[1] if ": " in error else error
        axes.annotate(
            f"{method} at {power_label(atoms)}:\n{reason}",
            (atoms, 3.0),
            ha="center",
            fontsize=7.5,
            color=METHODS.get(method, (method, "0.3"))[1],
        )

    style_log(axes, "atoms N", "wall time (s)")
    if runs:
        axes.set_title(describe(data[runs[0]], "bulk Na/Cl"), fontsize=10)
    axes.set_xlim(6e2, 1.6e6)
    handles = [Line2D([], [], color=c, marker="o", label=label) for label, c in METHODS.values()]
    for name in runs:
        style = {"marker": markers[name], "linestyle": linestyles[name]}
        handles.append(Line2D([], [], color="0.3", label=run_label(name, data[name]), **style))
    handles += [
        Line2D(
            [],
            [],
            color="0.3",
            marker="o",
            markerfacecolor="white",
            linestyle="",
            label="auto chose the k-sum",
        ),
        Line2D([], [], label="slope 1, O(N)", **GUIDE),
    ]
    axes.legend(handles=handles, fontsize=7.5, loc="upper left", frameon=False)


def plot_geometries(axes, data):
    """farsighted's values and its k-sum (all pairs for open clusters) in every geometry"""
    for name, (label, color) in GEOMETRIES.items():
        if name not in data:
            continue
        methods = cases_by_method(data[name])
        slopes = ", ".join(f"{s:.2f}" for s in data[name].get("mesh_log_log_slopes", {}).values())
        label = f"{label} (slope {slopes})" if slopes else label
        plot_line(axes, methods.get("mesh", []), color, "o", "-", label=label)
        plot_line(axes, methods.get("k-sum", []), color, "^", ":")
    style_log(axes, "atoms N", "")
    dates = sorted({data[name]["date"][:10] for name in GEOMETRIES if name in data})
    axes.set_title(f"farsighted in each geometry (one run each, {', '.join(dates)})", fontsize=10)
    axes.set_xlim(6e2, 1.6e5)
    axes.yaxis.set_tick_params(labelleft=True)
    handles, _ = axes.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="0.3", marker="o", label="mesh (values, auto)"),
        Line2D([], [], color="0.3", marker="^", linestyle=":", label="k-sum (open: all pairs)"),
    ]
    axes.legend(handles=handles, fontsize=7.5, loc="upper left", frameon=False)


def bulk_mesh_seconds(data, atoms):
    """The time of the bulk p = 1 mesh at `atoms` in the run of ``lode_mesh.json``, or None"""
    points = cases_by_method(data["lode_mesh"]).get("mesh", []) if "lode_mesh" in data else []
    return next((s for n, s, _, _ in points if n == atoms), None)


def plot_scaling(data, path):
    if not any(name in data for name in FILES):
        print(f"note: no timings found, {path.name} not written")
        return
    figure, (bulk, geometries) = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    plot_bulk(bulk, data)
    plot_geometries(geometries, data)
    # the O(N) guide, a factor 3 below the bulk mesh at 10⁴ atoms
    seconds = bulk_mesh_seconds(data, 10_000) or 3.0
    for axes in (bulk, geometries):
        guide(axes, 10_000, seconds / 3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def plot_accuracy(data, path):
    names = [name for name in GEOMETRIES if data.get(name, {}).get("accuracy_over_epsilon")]
    if not names:
        print(f"note: no accuracy results found, {path.name} not written")
        return
    columns = min(2, len(names))
    rows = (len(names) + columns - 1) // columns
    figure, grid = plt.subplots(
        rows, columns, figsize=(4.6 * columns, 3.3 * rows), sharex=True, sharey=True, squeeze=False
    )
    for axes, name in zip(grid.flat, names):
        run = data[name]
        for structure, by_epsilon in run["accuracy_over_epsilon"].items():
            marker, linestyle, filled, _ = STRUCTURES.get(structure, ("x", "-.", True, ""))
            epsilons = sorted(by_epsilon, key=float)
            for part, color in PARTS.items():
                axes.plot(
                    [float(e) for e in epsilons],
                    [by_epsilon[e][part] for e in epsilons],
                    color=color,
                    marker=marker,
                    markersize=4,
                    markerfacecolor=color if filled else "white",
                    linestyle=linestyle,
                )
        axes.axhspan(1 / 30, 1, color="0.85", zorder=0)
        axes.axhline(1, color="k", linewidth=1)
        style_log(axes, "", "")
        axes.set_title(f"{GEOMETRIES[name][0]}, N = {run['accuracy_size']}", fontsize=10)
    for axes in grid.flat[len(names) :]:
        axes.set_visible(False)
    for axes in grid[-1]:
        axes.set_xlabel("ε (accuracy asked)")
    for axes in grid[:, 0]:
        axes.set_ylabel("measured error / ε")
    grid[0, 0].set_ylim(3e-6, 3)

    handles = [Line2D([], [], color=c, marker="o", label=part) for part, c in PARTS.items()]
    for marker, linestyle, filled, label in STRUCTURES.values():
        face = "0.3" if filled else "white"
        style = {"marker": marker, "linestyle": linestyle, "markerfacecolor": face}
        handles.append(Line2D([], [], color="0.3", label=label, **style))
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.85", label="target: ε/30 … ε"))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "results",
        metavar="DIR",
        help="folder of the JSON results (default: results/ beside this script)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE.parent / "docs" / "images",
        metavar="DIR",
        help="folder of the PNG files (default: docs/images)",
    )
    args = parser.parse_args()
    data = load(args.results)
    args.output.mkdir(parents=True, exist_ok=True)
    plot_scaling(data, args.output / "lode-mesh-scaling.png")
    plot_accuracy(data, args.output / "lode-mesh-accuracy.png")


if __name__ == "__main__":
    main()
