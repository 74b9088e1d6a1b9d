"""The ``farsighted`` command line.

``farsighted featurize STRUCTURES --hypers HYPERS.json --output OUT.mts``
    computes the LODE spherical expansion of every structure of a file that ``ase.io.read``
    reads (3D-periodic cells, slabs, open systems), and saves it as one
    :py:class:`metatensor.TensorMap` (``.mts`` file);
``farsighted fit TRAIN.xyz --config CONFIG.json --output MODEL.pt``
    fits a linear energy model on SOAP, LODE and multi-scale features, saves it as a metatomic
    model and prints the errors of the saved model on the training and validation structures;
``farsighted eval MODEL.pt STRUCTURES.xyz``
    evaluates a saved model, prints its errors where the file has reference values, and
    optionally writes the predictions;
``farsighted demo``
    the point-charge demonstration on the data set shipped with farsighted: learning curves of
    SOAP, LODE and multi-scale ridge models of Coulomb and dispersion energies, fitted on
    energies and on energies and forces (a table on stdout and a plot);
``farsighted --version``
    prints the version.

Each command lives in its own module (``_cli_featurize``, ``_cli_fit``, ``_cli_eval``; what
they share in ``_cli_common``, ``_cli_targets`` and ``_cli_evaluate``).
:py:func:`main` returns the exit status instead of exiting, so that it can be called from
Python: ``0`` on success, ``2`` on bad input (missing files, invalid JSON or hyper-parameters,
structures a calculator or a model can not handle), with a one-line message on stderr and no
traceback. Errors in the command line itself are reported by :py:mod:`argparse`, which raises
``SystemExit(2)``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import farsighted

from . import _cli_eval, _cli_featurize, _cli_fit
from ._cli_common import CliError, quiet_torch_warnings

__all__ = ["CliError", "build_parser", "main"]

DEMO_PLOT = "point-charge-learning-curves.png"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_demo_parser(subparsers) -> None:
    demo_parser = subparsers.add_parser(
        "demo",
        help="learning curves of SOAP, LODE and multi-scale models on shipped point charges",
        description="Fit ridge models of the Coulomb and dispersion energies of the shipped "
        "random Na+/Cl- boxes on SOAP, LODE and multi-scale features; print the learning "
        "curves and plot them.",
    )
    demo_parser.add_argument(
        "--targets",
        nargs="+",
        choices=["coulomb", "dispersion"],
        default=["coulomb", "dispersion"],
        help="energies to learn (default: both)",
    )
    demo_parser.add_argument(
        "--train-sizes",
        nargs="+",
        type=_positive_int,
        default=[20, 40, 80, 160, 320],
        help="numbers of training structures (default: 20 40 80 160 320)",
    )
    demo_parser.add_argument(
        "--n-test", type=_positive_int, default=80, help="test structures (default: 80)"
    )
    demo_parser.add_argument(
        "--max-structures",
        type=_positive_int,
        default=None,
        help="use only the first N structures of the data set",
    )
    demo_parser.add_argument(
        "--plot", default=DEMO_PLOT, help=f"where to write the plot (default: {DEMO_PLOT})"
    )
    demo_parser.add_argument(
        "--no-forces-fit",
        action="store_true",
        help="fit the models on energies only (faster: the feature gradients of the test "
        "structures only)",
    )
    demo_parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    demo_parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    import importlib.util

    # said before minutes of computing, not when the plot is drawn
    if importlib.util.find_spec("matplotlib") is None:
        raise CliError(
            "the demo plots its learning curves with matplotlib, which is not installed: "
            "pip install 'farsighted[demo]'"
        )
    from .demo.point_charges import run as run_demo

    try:
        run_demo(
            targets=args.targets,
            train_sizes=args.train_sizes,
            n_test=args.n_test,
            max_structures=args.max_structures,
            plot=args.plot,
            progress=not args.quiet,
            forces_fit=not args.no_forces_fit,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``farsighted`` command."""
    parser = argparse.ArgumentParser(
        prog="farsighted",
        description="Long-range (LODE) features for atomistic machine learning.",
    )
    parser.add_argument(
        "--version", action="version", version=f"farsighted {farsighted.__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _cli_featurize.add_parser(subparsers, _positive_int)
    _cli_fit.add_parser(subparsers, _positive_int)
    _cli_eval.add_parser(subparsers, _positive_int)
    _add_demo_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``farsighted`` command with the arguments ``argv`` (default: ``sys.argv[1:]``),
    and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with quiet_torch_warnings():
            return args.run(args)
    except CliError as error:
        print(f"farsighted: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("farsighted: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (``farsighted ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
