"""Times of two builds of farsighted in one run, on the same machine and structures.

A benchmark script has a worker mode (``--worker``) that imports farsighted, times its cases
and prints ``{"farsighted": path, "times": {case: seconds}}`` as JSON on stdout. :func:`compare`
runs the worker once per build and round in its own subprocess (``PYTHONPATH`` puts the other
build first), the builds alternating so that a change of the machine's load affects both, and
keeps the best time of each case. ``--before PATH`` names a directory from which ``import
farsighted`` finds the other build, e.g. an unpacked wheel of an older commit.
"""

import json
import os
import subprocess
import sys
import time


def best_time(function, repeats):
    """The result of ``function()`` and the shortest of ``repeats`` calls' times"""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, min(times)


def worker_arguments(args, names):
    """The command-line options ``--name value`` that pass ``args.name`` on to a worker"""
    arguments = []
    for name in names:
        arguments += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return arguments


def run_worker(script, worker_args, path):
    """The JSON a worker of ``script`` prints, with the build at ``path`` (None: installed)"""
    command = [sys.executable, str(script), "--worker", *worker_args]
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def compare(script, worker_args, before=None, rounds=2):
    """Best time of every case for each build: ``{"before": ..., "installed": ...}`` (only
    ``installed`` without ``before``), each ``{"farsighted": path, "times": {case: s}}``"""
    builds = {"installed": None} if before is None else {"before": before, "installed": None}
    runs = {name: [] for name in builds}
    for _ in range(rounds):
        for name, path in builds.items():
            runs[name].append(run_worker(script, worker_args, path))
    best = {}
    for name, results in runs.items():
        cases = results[0]["times"]
        best[name] = {
            "farsighted": results[0]["farsighted"],
            "times": {case: min(r["times"][case] for r in results) for case in cases},
        }
    return best


def table(best):
    """A Markdown table of the best times (s) of every case, and after / before"""
    cases = list(best["installed"]["times"])
    has_before = "before" in best
    header = "| case | " + (
        "before (s) | after (s) | after / before |" if has_before else "time (s) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for case in cases:
        after = best["installed"]["times"][case]
        if has_before:
            before = best["before"]["times"][case]
            lines.append(f"| {case} | {before:.3f} | {after:.3f} | {after / before:.2f} |")
        else:
            lines.append(f"| {case} | {after:.3f} |")
    return "\n".join(lines)


def machine():
    """The CPUs and load of this machine, for the report"""
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
