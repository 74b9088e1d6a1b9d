"""Hostile input never crashes, hangs or leaks a Rust panic: random and extreme
hyper-parameters and systems (huge, tiny, NaN, inf, empty, one atom, overlapping atoms,
near-singular cells) give a result with finite numbers or a clear Python exception.

The calls run in a worker process with a capped address space and a time limit per call, so
that a crash, a hang or a memory blow-up fails the test instead of the test runner. The same
file checks the regressions found this way (memory checked before the N² metadata of positions
gradients, accuracy below what double precision delivers, coordinates of 1e300), and that
calls from several Python threads give the numbers of sequential calls.
"""

import json
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import ase
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import farsighted

from helpers import examples

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses RLIMIT_AS and /proc"
)

# the worker's address space: what farsighted may use beyond the interpreter, numpy and
# metatensor (about 1.5 GiB of virtual memory with the threads' arenas). A calculation that
# passes the memory check and then allocates past it aborts the worker: a failure.
WORKER_HEADROOM = 3 * 1024**3
# seconds a single call may take before it counts as a hang (the slowest accepted call of the
# cases below takes ~3 s on 2 busy cores; accuracy=1e-11 on a 3-atom slab builds its split's
# tables for ~35 s before its clear error, that the spline accuracy is out of reach)
CALL_TIMEOUT = 60.0
# exceptions that name a problem; PanicException (a Rust panic) and crashes are failures
CLEAR_ERRORS = {"ValueError", "MemoryError", "TypeError", "RuntimeError"}

WORKER = textwrap.dedent(
    """
    import json, sys, types
    sys.modules["torch"] = None  # metatensor would import it: seconds, and not needed here
    import numpy as np
    import farsighted

    def system(data):
        return types.SimpleNamespace(
            types=np.array(data["types"], dtype=np.int64),
            positions=np.array(data["positions"], dtype=np.float64).reshape(-1, 3),
            cell=np.array(data["cell"], dtype=np.float64),
            pbc=data["pbc"],
        )

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        try:
            calculator = farsighted.LodeSphericalExpansion(**case["hypers"])
            systems = [system(s) for s in case["systems"]]
            result = calculator.compute(systems, gradients=case["gradients"])
            finite = all(
                np.isfinite(block.values).all()
                and all(np.isfinite(g.values).all() for _, g in block.gradients())
                for block in result.blocks()
            )
            if case.get("backward") and finite:
                for out in calculator.backward(systems, result):
                    finite = finite and all(np.isfinite(a).all() for a in out)
            answer = {"outcome": "result", "finite": bool(finite)}
        except BaseException as error:  # PanicException is a BaseException
            answer = {"outcome": type(error).__name__, "message": str(error)[:2000]}
        print(json.dumps(answer), flush=True)
    """
)


class Worker:
    """A Python process running calculations one at a time, with a memory cap"""

    def __init__(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = None

    def start(self):
        def limit():
            # the parent's current size plus the headroom (the worker imports the same)
            with open("/proc/self/status") as status:
                size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize"))
            cap = max(size, 2 * 1024**3) + WORKER_HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            preexec_fn=limit,
            env=dict(os.environ, RUST_BACKTRACE="0", RAYON_NUM_THREADS="2"),
        )
        assert self.read(120.0) == {"ready": True}

    def read(self, timeout):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else {"outcome": "crash"}

    def run(self, case, timeout=CALL_TIMEOUT):
        """The worker's answer, {"outcome": "timeout"} or {"outcome": "crash", ...}"""
        if self.process is None or self.process.poll() is not None:
            self.start()
        start = time.perf_counter()
        self.process.stdin.write(json.dumps(case) + "\n")
        self.process.stdin.flush()
        answer = self.read(timeout)
        if answer is None:
            self.stop()
            return {"outcome": "timeout"}
        if answer["outcome"] == "crash":
            self.process.wait()
            self.stderr.seek(0)
            answer["message"] = f"exit code {self.process.returncode}: {self.stderr.read()[-2000:]}"
            self.stderr.seek(0)
            self.stderr.truncate()
            self.process = None
        answer["seconds"] = time.perf_counter() - start
        return answer

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def worker():
    worker = Worker()
    yield worker
    worker.stop()


def check_answer(answer, case):
    description = json.dumps(case, allow_nan=True)[:1500]
    outcome = answer["outcome"]
    assert outcome != "timeout", f"no answer within {CALL_TIMEOUT} s: {description}"
    assert outcome != "crash", f"the process died ({answer['message']}): {description}"
    if outcome == "result":
        assert answer["finite"], f"accepted, with NaN or infinite numbers: {description}"
    else:
        assert outcome in CLEAR_ERRORS, f"{outcome}: {answer['message']} for {description}"
        assert len(answer["message"]) > 20, answer


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------


def hypers(
    smearing=1.0,
    exponent=1.0,
    max_angular=2,
    max_radial=2,
    radius=3.0,
    weight=1.0,
    spline="default",
    **extra,
):
    density = {"type": "SmearedPowerLaw", "smearing": smearing, "exponent": exponent}
    density["center_atom_weight"] = weight
    basis = {
        "type": "TensorProduct",
        "max_angular": max_angular,
        "radial": {"type": "Gto", "max_radial": max_radial, "radius": radius},
    }
    if spline != "default":
        basis["spline_accuracy"] = spline
    return dict({"density": density, "basis": basis}, **extra)


def system(geometry="bulk", positions=None, types=None, cell=None, n_atoms=3, seed=0):
    rng = np.random.default_rng(seed)
    if cell is None:
        cell = np.diag([5.0, 5.5, 6.0]) + rng.uniform(-0.5, 0.5, (3, 3))
    cell = np.asarray(cell, dtype=float)
    if positions is None:
        box = cell if geometry != "open" else 4 * np.eye(3)
        positions = rng.uniform(0, 1, (n_atoms, 3)) @ box
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    if types is None:
        types = [1 + 7 * (i % 2) for i in range(len(positions))]
    pbc = {"bulk": [True] * 3, "slab": [True, True, False], "open": [False] * 3}[geometry]
    if geometry == "slab":
        cell = cell.copy()
        cell[2] = 0.0
    return {
        "types": list(types),
        "positions": positions.tolist(),
        "cell": cell.tolist(),
        "pbc": pbc,
    }


def case(systems, gradients=("positions", "strain"), backward=True, **hyper_parameters):
    if isinstance(systems, dict):
        systems = [systems]
    return {
        "hypers": hypers(**hyper_parameters),
        "systems": systems,
        "gradients": list(gradients),
        "backward": backward,
    }


GEOMETRIES = ["bulk", "slab", "open"]
HUGE, TINY = 1e300, 1e-300

# the slowest (seconds per geometry: new tables at their finest) run with --runslow
SLOW_HYPERS = [{"accuracy": 1e-11}, {"spline": TINY}, {"max_angular": 12, "max_radial": 1}]
HOSTILE_HYPERS = [
    {"smearing": TINY},
    {"smearing": 1e-5},
    {"smearing": 1e5},
    {"smearing": HUGE},
    {"radius": TINY},
    {"radius": 1e-5},
    {"radius": 1e5},
    {"radius": HUGE},
    {"exponent": 0.0},
    {"exponent": 2.0},
    {"exponent": 3.0},
    {"exponent": 9.0},
    {"exponent": 1e-300},
    {"weight": HUGE},
    {"weight": -HUGE},
    {"spline": TINY},
    {"spline": HUGE},
    {"spline": None},
    {"k_cutoff": TINY},
    {"k_cutoff": HUGE},
    {"accuracy": 1e-11},
    {"accuracy": 0.1},
    {"accuracy": 1e-16},
    {"max_angular": 0, "max_radial": 0},
    {"max_angular": 12, "max_radial": 1},
    {"max_angular": 1, "max_radial": 12},
]

HOSTILE_SYSTEMS = {
    "one atom": lambda g: system(g, n_atoms=1),
    "empty": lambda g: system(g, positions=np.zeros((0, 3)), types=[]),
    "overlapping": lambda g: system(g, positions=[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0 + 1e-9]]),
    "nan": lambda g: system(g, positions=[[np.nan, 0, 0], [1, 1, 1]]),
    "inf": lambda g: system(g, positions=[[np.inf, 0, 0], [1, 1, 1]]),
    "huge coordinate": lambda g: system(g, positions=[[HUGE, 0, 0], [1, 1, 1]]),
    "far apart": lambda g: system(g, positions=[[1e8, 0, 0], [1, 1, 1]]),
    "tiny coordinates": lambda g: system(g, positions=[[TINY, 0, 0], [1, 1, 1]]),
    "close atoms": lambda g: system(g, positions=[[0, 0, 0], [2e-3, 0, 0]]),
    "huge cell": lambda g: system(g, cell=1e8 * np.eye(3), positions=[[0, 0, 0], [1, 1, 1]]),
    "tiny cell": lambda g: system(g, cell=1e-3 * np.eye(3), positions=[[0, 0, 0]]),
    "near-singular cell": lambda g: system(
        g, cell=[[5, 0, 0], [0, 5, 0], [5, 5, 1e-7]], positions=[[0, 0, 0], [1, 1, 0]]
    ),
    "flat cell": lambda g: system(
        g, cell=[[5, 0, 0], [5, 1e-9, 0], [0, 0, 5]], positions=[[0, 0, 0], [1, 1, 1]]
    ),
    "nan cell": lambda g: system(g, cell=np.full((3, 3), np.nan), positions=[[0, 0, 0]]),
    "extreme types": lambda g: system(g, types=[-(2**31), 2**31 - 1, 0]),
    "many types": lambda g: system(g, n_atoms=12, types=list(range(12))),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_SYSTEMS))
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_hostile_systems(worker, name, geometry):
    check_answer(worker.run(c := case(HOSTILE_SYSTEMS[name](geometry))), c)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            h,
            marks=[pytest.mark.slow] if h in SLOW_HYPERS else [],
        )
        for h in HOSTILE_HYPERS
    ],
    ids=[json.dumps(h).replace(" ", "") for h in HOSTILE_HYPERS],
)
def test_hostile_hyper_parameters(worker, changes):
    for geometry in GEOMETRIES:
        c = case(system(geometry), **changes)
        check_answer(worker.run(c), c)


@examples(30)
@given(
    geometry=st.sampled_from(GEOMETRIES),
    system_name=st.sampled_from(sorted(HOSTILE_SYSTEMS) + ["random"] * 6),
    changes=st.lists(
        st.sampled_from([h for h in HOSTILE_HYPERS if h not in SLOW_HYPERS]), max_size=2
    ),
    gradients=st.sampled_from([[], ["positions"], ["strain"], ["positions", "strain"]]),
    backward=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_random_hostile_combinations(
    worker, geometry, system_name, changes, gradients, backward, seed
):
    if system_name == "random":
        data = system(geometry, n_atoms=1 + seed % 5, seed=seed)
    else:
        data = HOSTILE_SYSTEMS[system_name](geometry)
    merged = {}
    for change in changes:
        merged.update(change)
    if "accuracy" in merged and "k_cutoff" in merged:
        del merged["k_cutoff"]
    c = case(data, gradients=gradients, backward=backward, **merged)
    check_answer(worker.run(c), c)


# ---------------------------------------------------------------------------------------------
# regressions
# ---------------------------------------------------------------------------------------------


def test_tiny_accuracy_is_refused_fast(worker):
    """accuracy=1e-16 on an 8-atom box ran for minutes (the tables were refined towards what
    double precision can not reach): now a ValueError that says why"""
    c = case(system("bulk", n_atoms=8), accuracy=1e-16)
    answer = worker.run(c, timeout=10.0)
    assert answer["outcome"] == "ValueError", answer
    assert "double precision" in answer["message"]


@pytest.mark.parametrize("geometry", ["bulk", "slab"])
def test_coordinates_of_1e300_are_refused(geometry):
    """a periodic coordinate of 1e300 was accepted, and wrapping it lost every digit"""
    calculator = farsighted.LodeSphericalExpansion(**hypers())
    atoms = ase.Atoms("H2", positions=[[1e300, 0, 0], [1, 1, 1]], cell=5 * np.eye(3), pbc=True)
    if geometry == "slab":
        atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match=r"atom 0 is .* cell vectors away .* wrap them"):
        calculator.compute(atoms)
    # a million cells away is still accepted: MD trajectories are not wrapped
    atoms.positions[0, 0] = 4.9e6
    calculator.compute(atoms)


def test_memory_error_points_to_what_works():
    """2 atoms in a 10 000 Å box: the k-space sum does not fit, and the error says to use
    `accuracy` (the Ewald split) or open boundaries, not to reduce the basis"""
    calculator = farsighted.LodeSphericalExpansion(**hypers())
    atoms = ase.Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=1e4 * np.eye(3), pbc=True)
    with pytest.raises(MemoryError, match="k-space sum") as error:
        calculator.compute(atoms)
    message = str(error.value)
    assert "accuracy" in message and "open boundaries" in message, message
    assert "basis" not in message, message
    # and both work: the split (σw ≈ 1000 σ, whose tables no longer grow with σw/σ) and the
    # open system agree to the images' contribution
    split = farsighted.LodeSphericalExpansion(**hypers(), accuracy=1e-6)
    start = time.perf_counter()
    periodic = split.compute(atoms, gradients=["positions", "strain"])
    assert time.perf_counter() - start < 30
    atoms.pbc = False
    molecule = calculator.compute(atoms)
    for key, block in molecule.items():
        difference = np.abs(periodic.block(key).values - block.values).max()
        assert difference < 1e-2 * np.abs(block.values).max(), key


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    sys.modules["torch"] = None  # metatensor would import it: seconds, and not needed here
    import numpy as np, ase, farsighted
    # the address space: what the imports took, and the headroom
    with open("/proc/self/status") as status:
        size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize"))
    cap = size + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def atoms(n_atoms, geometry, side=None):
        rng = np.random.default_rng(0)
        side = side or (n_atoms / 0.05) ** (1 / 3)
        pbc = {"open": False, "bulk": True, "slab": [True, True, False]}[geometry]
        positions = rng.uniform(0, side, (n_atoms, 3))
        return ase.Atoms("H" * n_atoms, positions=positions, cell=side * np.eye(3), pbc=pbc)

    for case in json.loads(sys.argv[2]):
        calculator = farsighted.LodeSphericalExpansion(
            density={"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
            basis={"type": "TensorProduct", "max_angular": case["lmax"],
                   "radial": {"type": "Gto", "max_radial": case["lmax"], "radius": 4.0}},
            **case["extra"],
        )
        system = atoms(case["n_atoms"], case["geometry"], case.get("side"))
        start = time.perf_counter()
        try:
            if case["gradients"] == "backward":
                # ∂L/∂X with the metadata of the features (computed as an open system)
                molecule = system.copy()
                molecule.pbc = False
                gradient = farsighted.LodeSphericalExpansion(
                    density={"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
                    basis={"type": "TensorProduct", "max_angular": case["lmax"],
                           "radial": {"type": "Gto", "max_radial": case["lmax"], "radius": 4.0}},
                ).compute(molecule)
                start = time.perf_counter()
                calculator.backward(system, gradient)
            else:
                calculator.compute(system, gradients=case["gradients"])
            answer = "COMPUTED"
        except MemoryError as error:
            answer = f"MemoryError {error}"
        print(json.dumps([time.perf_counter() - start, answer]), flush=True)
    """
)

# (atoms, geometry, what is asked, max_angular = max_radial, extra hyper-parameters, cell side)
# and the part of the estimate the error should name
MEMORY_CASES = [
    (20000, "open", ["positions"], 4, {}, None, "positions gradients"),
    (50000, "open", ["positions"], 4, {}, None, "positions gradients"),
    (20000, "bulk", ["positions"], 4, {"accuracy": 1e-6}, None, "positions gradients"),
    (20000, "slab", ["positions"], 4, {}, None, "positions gradients"),
    (20000, "bulk", ["strain"], 12, {"accuracy": 1e-6}, None, "accumulators"),
    (2, "bulk", [], 2, {}, 1e4, "k-space sum"),
    (2, "bulk", "backward", 2, {}, 1e4, "k-space sum"),
    (2, "slab", "backward", 2, {}, 1e5, "k-space sum"),
]


def test_memory_is_checked_before_large_allocations():
    """An open system of 20 000 atoms with positions gradients grew the process to 24 GB
    (the N² gradient samples were built before the memory check), and 50 000 atoms were killed
    by the OS. With 3 GiB of address space left (which the memory check now sees), every path
    (positions and strain gradients, backward products; open, periodic, slab, split) is
    refused at once with a MemoryError naming the part that does not fit"""
    headroom = 3 * 1024**3
    cases = [
        {"n_atoms": n, "geometry": g, "gradients": w, "lmax": l, "extra": e, "side": side}
        for n, g, w, l, e, side, _ in MEMORY_CASES
    ]
    script = [sys.executable, "-c", MEMORY_SCRIPT, str(headroom), json.dumps(cases)]
    try:
        result = subprocess.run(script, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"no answer within 300 s: {error.stdout}")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and len(answers) == len(cases), (
        f"crashed after {len(answers)} cases: {result.stdout}{result.stderr[-2000:]}"
    )
    for (seconds, answer), case in zip(answers, MEMORY_CASES):
        assert answer.startswith("MemoryError"), (case, answer)
        assert case[-1] in answer, (case, answer)
        assert seconds < 5, (case, seconds)
    assert "backward" in answers[0][1]


# ---------------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------------


def compute_in_threads(calculator, systems, copies):
    """Each system ``copies`` times, all at once from as many threads (released together)"""
    from test_properties import dense

    results = [None] * (copies * len(systems))
    barrier = threading.Barrier(len(results))

    def work(index):
        barrier.wait()
        atoms = systems[index % len(systems)]
        tensor = calculator.compute(atoms, gradients=["positions", "strain"])
        results[index] = dense(tensor, len(atoms))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("extra", [{}, {"accuracy": 1e-4}], ids=["k-space", "split"])
def test_threads_give_the_numbers_of_sequential_calls(extra):
    """Calls from several Python threads at once (the binding releases the GIL; one fresh
    calculator shared by all threads builds its tables on first use, under contention) give
    the numbers of sequential calls, for the three geometries"""
    from test_properties import dense, make_system

    systems = [
        make_system(geometry, [1, 8, 8, 1][: 2 + seed % 3], seed)
        for seed, geometry in enumerate(["bulk", "slab", "open"] * 2)
    ]
    sequential = farsighted.LodeSphericalExpansion(**hypers(weight=0.5), **extra)
    expected = [
        dense(sequential.compute(atoms, gradients=["positions", "strain"]), len(atoms))
        for atoms in systems
    ]
    shared = farsighted.LodeSphericalExpansion(**hypers(weight=0.5), **extra)
    results = compute_in_threads(shared, systems, copies=2)
    for index, result in enumerate(results):
        reference = expected[index % len(systems)]
        assert result is not None
        assert result.keys() == reference.keys()
        for key in reference:
            for kind, values in reference[key].items():
                # rayon's reductions may add in another order: rounding only
                scale = max(np.abs(values).max(), 1e-300)
                assert np.abs(result[key][kind] - values).max() <= 1e-13 * scale


def test_the_binding_releases_the_gil():
    """While a calculation runs in one thread, other Python threads keep running"""
    calculator = farsighted.LodeSphericalExpansion(**hypers(max_angular=4, max_radial=4))
    positions = np.random.default_rng(2).uniform(0, 40, (400, 3))
    big = ase.Atoms("H" * 400, positions=positions, pbc=False)
    calculator.compute(big[:2])  # the tables
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.01)
    start = time.perf_counter()
    calculator.compute(big, gradients=["positions"])
    end = time.perf_counter()
    done.set()
    counter.join()
    # with the GIL held during the calculation, the counter would not tick
    during = [t for t in ticks if start < t < end]
    assert end - start > 0.05
    assert len(during) > 0.1 * (end - start) / 0.001, (len(during), end - start)
