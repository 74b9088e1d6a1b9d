"""The dielectric response of water clusters (``water_clusters_hf.xyz``: (H2O)n, n = 2-6, with
RHF/def2-SVP dipole moments and static polarizabilities), learnt by equivariant linear models on
local (λ-SOAP) and multi-scale (λ-SOAP ⊕ ρ ⊗ V) features.

A cluster's dipole μ (a vector, λ = 1) and polarizability α (a symmetric 3 × 3 tensor,
λ = 0 ⊕ 2: the isotropic part tr α / 3 and the five components of the traceless part) are
predicted as sums of atomic contributions, each a linear function of the atom's equivariant
features of the same order λ:

    y_m(A) = Σ_{i∈A} Σ_q w_q x_{iqm}^λ,      m = -λ … λ,

with one weight w_q per feature, shared by the 2λ + 1 components m: this is what makes the
model equivariant (a rotation of the cluster mixes the x_m and the y_m with the same Wigner
matrix). The components are stacked as rows of the ridge regression, and the regularisation is
cross-validated over whole clusters (all the rows of one cluster together). There is no
intercept; the isotropic part has, besides the invariants, the number of atoms of each type
(a per-type polarizability).

The components of the Cartesian targets are taken in the basis of the features: featomic's
real spherical harmonics, m = -1, 0, 1 ↔ (y, z, x) for λ = 1, and for λ = 2 the orthonormal
traceless symmetric matrices B_m of ``QUADRUPOLE_BASIS`` (xy, yz, 3z² − r², xz, x² − y²), with
a_m = Σ_ab (B_m)_ab α_ab, so that rᵀ B_m r ∝ Y₂ₘ(r) with the same positive factor for every m.
The tests check this against the features of rotated clusters.

Features, per atom, summed over each cluster and each centre type:

- local: λ-SOAP, ⟨ρ ⊗ ρ; λ⟩ of the local density ρ (featomic ``SphericalExpansion``, cutoff
  3 Å: a molecule and the nearest atoms of its hydrogen-bonded neighbours), and for comparison
  the same at 4 Å, which sees most of the small clusters whole;
- multi-scale: the 3 Å λ-SOAP and ⟨ρ ⊗ V; λ⟩ of ρ and the LODE potential V of all the atoms
  (:py:class:`farsighted.LodeSphericalExpansion`, p = 1, open boundaries, one channel per
  atomic type).

Each family is scaled to unit root mean square on the training set before the fit. Only
proper tensors (``o3_sigma = 1``) enter: under inversion they change by (−1)^λ, as μ (→ −μ)
and α (→ α) do, and pseudo-tensors by the opposite sign.

The splits:

- extrapolation: trained on the small clusters (n ≤ 4), tested on the largest (n = 6);
- random: 20 % of the clusters, at random, are the test.

Errors are test RMSEs in % of the test standard deviation, for μ (its three components), the
isotropic polarizability, its anisotropic (λ = 2) part, and the collective part of α: the
prediction minus the sum of the isolated-molecule polarizabilities (``polarizability_molecules``,
each molecule alone in its geometry in the cluster), against the reference minus the same sum
(the nine Cartesian components). Below 100 % a model captures some of the non-additive,
collective response; the row "sum of molecules" predicts the sums of the isolated molecules
themselves, which leaves all of it out.

    python -m farsighted.demo.water_response --plot water-response.png
"""

import argparse
import time
from typing import Dict, Optional, Sequence

import numpy as np

from ..calculator import LodeSphericalExpansion
from ..regression import RidgeModel
from ..tensor_products import clebsch_gordan_product, prepare_density

#: the largest number of molecules of the clusters that the extrapolation split trains on
TRAINED_SIZE = 4

#: the orthonormal (Frobenius) basis of traceless symmetric 3 × 3 matrices, in the order and
#: with the signs of the real spherical harmonics Y₂ₘ, m = -2 … 2, of featomic
QUADRUPOLE_BASIS = (
    np.array(
        [
            [[0, 1, 0], [1, 0, 0], [0, 0, 0]],  # xy
            [[0, 0, 0], [0, 0, 1], [0, 1, 0]],  # yz
            [[-1, 0, 0], [0, -1, 0], [0, 0, 2]],  # 3z² - r²
            [[0, 0, 1], [0, 0, 0], [1, 0, 0]],  # xz
            [[1, 0, 0], [0, -1, 0], [0, 0, 0]],  # x² - y²
        ],
        dtype=float,
    )
    / np.sqrt([2, 2, 6, 2, 2])[:, None, None]
)

#: the Cartesian axis of each real spherical component m = -1, 0, 1 of a vector
VECTOR_ORDER = [1, 2, 0]

#: the cutoff of the local density ρ (Å): a molecule and the nearest atoms of its
#: hydrogen-bonded neighbours (O-O 2.5-3.3 Å in the clusters). At 4 Å a λ-SOAP already sees
#: most of the small clusters whole (trained on n ≤ 4, tested on n = 5: collective part 13 %
#: at 4 Å, 28 % at 3 Å, 12 % for the 3 Å multi-scale model)
CUTOFF = 3.0

#: the cutoff of the wider local model shown for comparison (Å)
WIDE_CUTOFF = 4.0

#: the properties of the table, in its order
PROPERTIES = ["dipole", "α isotropic", "α anisotropic", "α collective"]


def density_hypers(cutoff: float = CUTOFF, max_angular: int = 3, max_radial: int = 3) -> dict:
    """Hyper-parameters of the local density ρ (featomic ``SphericalExpansion``)"""
    return {
        "cutoff": {"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        "density": {"type": "Gaussian", "width": 0.4},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial},
        },
    }


def lode_hypers(max_angular: int = 3, max_radial: int = 3) -> dict:
    """Hyper-parameters of the potential V (:py:class:`farsighted.LodeSphericalExpansion`)"""
    return {
        "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
        "basis": {
            "type": "TensorProduct",
            "max_angular": max_angular,
            "radial": {"type": "Gto", "max_radial": max_radial, "radius": 3.0},
        },
    }


def load_clusters(path: Optional[str] = None, per_size: Optional[int] = None) -> list:
    """The water clusters (``ase.Atoms``, open boundaries), from ``path`` or the shipped
    ``water_clusters_hf.xyz`` (see :py:mod:`farsighted.data`); with ``per_size``, only the
    first ``per_size`` clusters of each number of molecules"""
    import ase.io

    from ..data import dataset_path

    frames = ase.io.read(path or dataset_path("water_clusters_hf.xyz"), ":")
    if per_size is not None:
        counts: Dict[int, int] = {}
        chosen = []
        for atoms in frames:
            n = atoms.info["n_molecules"]
            counts[n] = counts.get(n, 0) + 1
            if counts[n] <= per_size:
                chosen.append(atoms)
        frames = chosen
    for atoms in frames:
        atoms.calc = None
        atoms.pbc = False
    return frames


def vector_to_spherical(vectors: np.ndarray) -> np.ndarray:
    """The real spherical components (m = -1, 0, 1: y, z, x) of Cartesian vectors (..., 3)"""
    return np.asarray(vectors)[..., VECTOR_ORDER]


def spherical_to_vector(components: np.ndarray) -> np.ndarray:
    """The Cartesian vectors (..., 3) of real spherical components (..., 3)"""
    vectors = np.empty_like(components)
    vectors[..., VECTOR_ORDER] = components
    return vectors


def tensor_to_spherical(tensors: np.ndarray) -> tuple:
    """(isotropic part tr T / 3 (...), λ = 2 components (..., 5)) of symmetric 3 × 3 tensors
    (..., 3, 3), the latter in :py:data:`QUADRUPOLE_BASIS`; an antisymmetric part is dropped"""
    tensors = np.asarray(tensors)
    isotropic = np.trace(tensors, axis1=-2, axis2=-1) / 3
    return isotropic, np.einsum("mab,...ab->...m", QUADRUPOLE_BASIS, tensors)


def spherical_to_tensor(isotropic: np.ndarray, anisotropic: np.ndarray) -> np.ndarray:
    """The symmetric 3 × 3 tensors of an isotropic part (...) and λ = 2 components (..., 5)"""
    return np.asarray(isotropic)[..., None, None] * np.eye(3) + np.einsum(
        "mab,...m->...ab", QUADRUPOLE_BASIS, anisotropic
    )


def _per_structure(tensor, n_structures: int) -> Dict[int, np.ndarray]:
    """λ → the features summed over the atoms of each structure, (structures, 2λ + 1, p): the
    blocks of every centre type side by side"""
    by_lambda: Dict[int, list] = {}
    names = tensor.keys.names
    for key, block in zip(tensor.keys.values, tensor.blocks()):
        entry = dict(zip(names, (int(v) for v in key)))
        if entry["o3_sigma"] != 1:
            continue
        values = np.asarray(block.values)
        summed = np.zeros((n_structures,) + values.shape[1:])
        np.add.at(summed, block.samples.column("system"), values)
        by_lambda.setdefault(entry["o3_lambda"], []).append(summed)
    return {o3_lambda: np.concatenate(parts, axis=2) for o3_lambda, parts in by_lambda.items()}


def equivariant_features(
    frames: Sequence,
    max_angular: int = 3,
    max_radial: int = 3,
    cutoff: float = CUTOFF,
    wide_cutoff: Optional[float] = None,
    progress: bool = False,
) -> Dict[str, Dict[int, np.ndarray]]:
    """family → λ → the structure features (structures, 2λ + 1, p) for λ = 0, 1, 2 (proper
    tensors): "ρ⊗ρ" (λ-SOAP) and "ρ⊗V" (multi-scale) with ρ at ``cutoff``, "ρ⊗ρ wide"
    (λ-SOAP at ``wide_cutoff``, if given), and for λ = 0 of "composition" the number of atoms
    of each type"""
    import featomic
    from metatensor import Labels

    start = time.perf_counter()
    frames = list(frames)
    types = sorted({int(z) for atoms in frames for z in atoms.numbers})
    proper = Labels(["o3_sigma"], np.array([[1]], dtype=np.int32))
    n = len(frames)

    def density(radius):
        hypers = density_hypers(radius, max_angular, max_radial)
        rho = featomic.SphericalExpansion(**hypers).compute(frames)
        return prepare_density(rho, 1, types), prepare_density(rho, 2, types)

    def product(a, b):
        return _per_structure(clebsch_gordan_product(a, b, 2, selected_keys=proper), n)

    v = LodeSphericalExpansion(**lode_hypers(max_angular, max_radial)).compute(frames)
    rho_1, rho_2 = density(cutoff)
    features = {
        "composition": {
            0: np.array([[[np.sum(a.numbers == t) for t in types]] for a in frames], float)
        },
        "ρ⊗ρ": product(rho_1, rho_2),
        "ρ⊗V": product(rho_1, prepare_density(v, 2, types)),
    }
    if wide_cutoff is not None:
        features["ρ⊗ρ wide"] = product(*density(wide_cutoff))
    if progress:
        sizes = {
            f: {o3_lambda: x.shape[2] for o3_lambda, x in d.items()} for f, d in features.items()
        }
        print(f"  features (λ: columns) {sizes}, {time.perf_counter() - start:.0f} s")
    return features


def models(cutoff: float = CUTOFF, wide_cutoff: Optional[float] = None) -> Dict[str, list]:
    """model → the feature families (of :py:func:`equivariant_features`) it uses"""
    chosen = {
        f"local (λ-SOAP {cutoff:g} Å)": ["composition", "ρ⊗ρ"],
        f"multi-scale (λ-SOAP {cutoff:g} Å ⊕ ρ⊗V)": ["composition", "ρ⊗ρ", "ρ⊗V"],
    }
    if wide_cutoff is not None:
        chosen[f"local (λ-SOAP {wide_cutoff:g} Å)"] = ["composition", "ρ⊗ρ wide"]
    return chosen


class EquivariantRidge:
    """A ridge model of one spherical component of order λ: y_m = Σ_q w_q x_qm, the weights
    shared by the 2λ + 1 components, without intercept, its regularisation cross-validated over
    whole structures.

    The features come in families (λ-SOAP, ρ ⊗ V, …) of very different sizes and magnitudes;
    each family is divided by its root mean square over the training structures, so that one
    regularisation treats them alike."""

    def __init__(self, folds: int = 5, seed: int = 0):
        self.folds = folds
        self.seed = seed

    def fit(self, families: Sequence[np.ndarray], y: np.ndarray) -> "EquivariantRidge":
        """Fit on the features of each family (structures, 2λ + 1, p_f) and the targets
        (structures, 2λ + 1)"""
        self.scales_ = [float(np.sqrt(np.mean(x**2))) or 1.0 for x in families]
        x = self._design(families)
        n, components = y.shape
        groups = np.repeat(np.arange(n), components)
        self.model_ = RidgeModel(fit_intercept=False, folds=self.folds, seed=self.seed)
        self.model_.fit(x, y.reshape(-1), groups=groups)
        return self

    def _design(self, families: Sequence[np.ndarray]) -> np.ndarray:
        """The design matrix: one row per (structure, m)"""
        scaled = [x / scale for x, scale in zip(families, self.scales_)]
        x = np.concatenate(scaled, axis=2)
        return x.reshape(-1, x.shape[2])

    def predict(self, families: Sequence[np.ndarray]) -> np.ndarray:
        """The predictions (structures, 2λ + 1)"""
        n, components = families[0].shape[:2]
        return self.model_.predict(self._design(families)).reshape(n, components)


def targets(frames: Sequence) -> Dict[str, np.ndarray]:
    """The reference dipoles (structures, 3) and polarizabilities (structures, 3, 3, made
    symmetric) of the clusters and the sums of the same over their isolated molecules"""

    def tensors(key):
        values = np.array([atoms.info[key] for atoms in frames], float).reshape(-1, 3, 3)
        return 0.5 * (values + values.transpose(0, 2, 1))

    return {
        "dipole": np.array([atoms.info["dipole_hf"] for atoms in frames], float),
        "dipole_molecules": np.array([atoms.info["dipole_molecules"] for atoms in frames], float),
        "polarizability": tensors("polarizability"),
        "polarizability_molecules": tensors("polarizability_molecules"),
    }


def fit_and_predict(
    features: Dict[str, Dict[int, np.ndarray]],
    families: Sequence[str],
    reference: Dict[str, np.ndarray],
    train: np.ndarray,
) -> Dict[str, np.ndarray]:
    """The predicted dipoles (structures, 3) and polarizabilities (structures, 3, 3) of every
    structure by equivariant models fitted on the ``train`` structures: λ = 1 for the dipole,
    λ = 0 and λ = 2 for the polarizability"""

    def model(o3_lambda, y):
        chosen = [features[f][o3_lambda] for f in families if o3_lambda in features[f]]
        fitted = EquivariantRidge().fit([x[train] for x in chosen], y[train])
        return fitted.predict(chosen)

    isotropic, anisotropic = tensor_to_spherical(reference["polarizability"])
    dipole = model(1, vector_to_spherical(reference["dipole"]))
    return {
        "dipole": spherical_to_vector(dipole),
        "polarizability": spherical_to_tensor(
            model(0, isotropic[:, None])[:, 0], model(2, anisotropic)
        ),
    }


def errors(
    predicted: Dict[str, np.ndarray], reference: Dict[str, np.ndarray], test: np.ndarray
) -> Dict[str, float]:
    """property → test RMSE in % of the test standard deviation (all components together)"""

    def relative(p, r):
        p, r = p[test].reshape(-1), r[test].reshape(-1)
        return 100 * np.sqrt(np.mean((p - r) ** 2)) / r.std()

    iso_p, aniso_p = tensor_to_spherical(predicted["polarizability"])
    iso_r, aniso_r = tensor_to_spherical(reference["polarizability"])
    molecules = reference["polarizability_molecules"]
    return {
        "dipole": relative(predicted["dipole"], reference["dipole"]),
        "α isotropic": relative(iso_p, iso_r),
        "α anisotropic": relative(aniso_p, aniso_r),
        "α collective": relative(
            predicted["polarizability"] - molecules, reference["polarizability"] - molecules
        ),
    }


def splits(frames: Sequence, seed: int = 0) -> Dict[str, tuple]:
    """split → (train mask, test mask): the extrapolation split tests the largest clusters
    (n = 6) and trains on n ≤ 4 (on a partial data set: the largest n present, trained on the
    smaller ones up to 4); the random split tests 20 % of the clusters"""
    size = np.array([atoms.info["n_molecules"] for atoms in frames])
    largest = size.max()
    test = size == largest
    train = size <= min(TRAINED_SIZE, largest - 1)
    random_test = np.zeros(len(frames), dtype=bool)
    chosen = np.random.default_rng(seed).permutation(len(frames))
    random_test[chosen[: max(1, int(round(0.2 * len(frames))))]] = True
    return {"extrapolation": (train, test), "random": (~random_test, random_test)}


def run(
    plot: Optional[str] = None,
    progress: bool = True,
    path: Optional[str] = None,
    per_size: Optional[int] = None,
    max_angular: int = 3,
    max_radial: int = 3,
    cutoff: float = CUTOFF,
    wide_cutoff: Optional[float] = WIDE_CUTOFF,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Print the test errors of the local and multi-scale models (and of the sums of the
    isolated molecules) on both splits, write the parity plots of the extrapolation split;
    return ``{split: {model: {property: error (%)}}}``.

    ``path``: another file of clusters; ``per_size``: the first clusters of each size only;
    ``max_angular``, ``max_radial``: the bases of ρ and V; ``cutoff``: that of ρ;
    ``wide_cutoff``: that of a second local model, for comparison (``None``: none)."""
    frames = load_clusters(path, per_size)
    size = np.array([atoms.info["n_molecules"] for atoms in frames])
    counts = ", ".join(f"n = {n}: {np.sum(size == n)}" for n in np.unique(size))
    print(f"{len(frames)} water clusters ({counts})")
    reference = targets(frames)
    collective = reference["polarizability"] - reference["polarizability_molecules"]
    print(
        "collective polarizability: isotropic mean "
        f"{np.trace(collective, axis1=1, axis2=2).mean() / 3:.3f} Å³ "
        f"({np.mean(np.trace(collective, axis1=1, axis2=2) / size) / 3:.3f} per molecule), "
        f"RMS of the components {np.sqrt(np.mean(collective**2)):.3f} Å³, "
        f"of the polarizability {np.sqrt(np.mean(reference['polarizability'] ** 2)):.3f} Å³"
    )
    features = equivariant_features(frames, max_angular, max_radial, cutoff, wide_cutoff, progress)
    chosen = models(cutoff, wide_cutoff)
    plotted = list(chosen)[:2]
    additive = {
        "dipole": reference["dipole_molecules"],
        "polarizability": reference["polarizability_molecules"],
    }
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    parity: Dict[str, Dict[str, np.ndarray]] = {}
    for split, (train, test) in splits(frames).items():
        trained = ", ".join(str(n) for n in np.unique(size[train]))
        tested = ", ".join(str(n) for n in np.unique(size[test]))
        print(
            f"\n{split}: {train.sum()} training clusters (n = {trained}), {test.sum()} test "
            f"(n = {tested})"
        )
        results[split] = {"sum of molecules": errors(additive, reference, test)}
        for name, families in chosen.items():
            predicted = fit_and_predict(features, families, reference, train)
            results[split][name] = errors(predicted, reference, test)
            if split == "extrapolation" and name in plotted:
                parity[name] = {key: value[test] for key, value in predicted.items()}
        print(format_table(split, results[split]))
    if plot is not None:
        test = splits(frames)["extrapolation"][1]
        reference = {key: value[test] for key, value in reference.items()}
        _plot(parity, reference, results["extrapolation"], plot)
        print(f"\nplots written to {plot}")
    return results


def format_table(split: str, table: Dict[str, Dict[str, float]]) -> str:
    header = f"{'model':<36}" + "".join(f"{p:>16}" for p in PROPERTIES)
    lines = [
        f"{split}: test RMSE in % of the test standard deviation",
        header,
        "-" * len(header),
    ]
    for name, row in table.items():
        lines.append(f"{name:<36}" + "".join(f"{row[p]:>15.1f}%" for p in PROPERTIES))
    return "\n".join(lines)


def _plot(parity, reference, table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    molecules = reference["polarizability_molecules"]
    rows = [
        ("dipole (e Å)", ["dipole"], lambda d: d["dipole"], reference["dipole"]),
        (
            "polarizability (Å³)",
            ["α isotropic", "α anisotropic"],
            lambda d: d["polarizability"],
            reference["polarizability"],
        ),
        (
            "collective polarizability α − Σ α_molecule (Å³)",
            ["α collective"],
            lambda d: d["polarizability"] - molecules,
            reference["polarizability"] - molecules,
        ),
    ]
    figure, axes = plt.subplots(len(rows), len(parity), figsize=(5 * len(parity), 4.5 * len(rows)))
    axes = np.asarray(axes).reshape(len(rows), len(parity))
    for column, (name, predicted) in enumerate(parity.items()):
        for row, (quantity, shown, get, ref) in enumerate(rows):
            axis = axes[row, column]
            p, r = get(predicted).reshape(len(ref), -1), ref.reshape(len(ref), -1)
            labels = "xyz" if p.shape[1] == 3 else [a + b for a in "xyz" for b in "xyz"]
            for index, label in enumerate(labels):
                if p.shape[1] == 9 and label[0] > label[1]:
                    continue  # the symmetric duplicates
                axis.plot(r[:, index], p[:, index], ".", color=f"C{index}", label=label)
            low, high = min(r.min(), p.min()), max(r.max(), p.max())
            axis.plot([low, high], [low, high], "k-", lw=0.5)
            rmse = ", ".join(f"{p}: {table[name][p]:.1f} %" for p in shown)
            axis.set_title(f"{name}\n{quantity}\nRMSE/std {rmse}", fontsize=9)
            axis.set_xlabel("reference")
            axis.set_ylabel("predicted")
            axis.legend(fontsize=7, ncol=2)
    figure.suptitle("extrapolation: trained on small clusters, tested on the largest")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="water-response.png")
    parser.add_argument("--data", default=None, help="another file of water clusters")
    parser.add_argument(
        "--per-size", type=int, default=None, help="use the first clusters of each size only"
    )
    parser.add_argument("--cutoff", type=float, default=CUTOFF, help="of the local density (Å)")
    args = parser.parse_args(argv)
    run(plot=args.plot, path=args.data, per_size=args.per_size, cutoff=args.cutoff)


if __name__ == "__main__":
    main()
