"""
Multi-scale features: local densities ⊗ the LODE potential
==========================================================

The local density ρ around an atom (SOAP, from featomic) sees only neighbours within a cutoff;
the LODE expansion V of the potential of all atoms sees the whole system. Their
Clebsch–Gordan product ⟨ρ ⊗ V; λ⟩ correlates the two: for λ = 0 the invariant multi-scale
features of Grisafi, Nigam & Ceriotti (2021), for λ = 1, 2 equivariants for dipoles and
polarizabilities. This example builds them from the pieces, then in one call, with gradients.
"""

# %%
import ase.io
import numpy as np

import farsighted
from farsighted.data import dataset_path
from farsighted.multiscale import MultiScalePowerSpectrum
from farsighted.tensor_products import clebsch_gordan_product, density_correlations, prepare_density

frames = ase.io.read(dataset_path("nacl_boxes.xyz"), ":2")

soap = {
    "cutoff": {"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
    "density": {"type": "Gaussian", "width": 0.5},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 3},
    },
}
lode = {
    "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
    "basis": {
        "type": "TensorProduct",
        "max_angular": 2,
        "radial": {"type": "Gto", "max_radial": 3, "radius": 3.0},
    },
}

# %%
# Step by step
# ------------
#
# Both expansions have keys ``o3_lambda, o3_sigma, center_type, neighbor_type``;
# :py:func:`prepare_density` moves the neighbour type to the properties and names the
# properties after the position of the factor in the product.

import featomic  # noqa: E402

rho = featomic.SphericalExpansion(**soap).compute(frames, gradients=["positions"])
potential = farsighted.LodeSphericalExpansion(**lode).compute(frames, gradients=["positions"])
types = [11, 17]
rho_1 = prepare_density(rho, 1, types)
potential_2 = prepare_density(potential, 2, types)

rho_v = clebsch_gordan_product(rho_1, potential_2, max_angular=2)
print(rho_v.keys)
block = rho_v.block(o3_lambda=1, o3_sigma=1, center_type=11)
print("λ = 1 block:", block.values.shape, "properties", block.properties.names)
print("positions gradient:", block.gradient("positions").values.shape)

# %%
# Higher body order, as in the ACDC construction: (ρ ⊗ ρ) ⊗ V.

rho_2 = prepare_density(rho, 2, types)
potential_3 = prepare_density(potential, 3, types)
rho_rho_v = density_correlations([rho_1, rho_2, potential_3], max_angular=0)
print("(ρ ⊗ ρ) ⊗ V invariants:", rho_rho_v.block(0).values.shape)

# %%
# In one call
# -----------
#
# :py:class:`MultiScalePowerSpectrum` gives ρ ⊗ ρ ⊕ ρ ⊗ V (and V ⊗ V on request) per centre;
# the ``product`` property says which is which.

features = MultiScalePowerSpectrum(soap, lode, neighbor_types=types).compute(
    frames, gradients=["positions", "strain"]
)
block = features.block(center_type=17)
products = block.properties.column("product")
print("ρ ⊗ ρ features:", np.sum(products == 0), " ρ ⊗ V features:", np.sum(products == 1))
print("strain gradient:", block.gradient("strain").values.shape)
