"""
LODE features of Na/Cl boxes
============================

This example computes the LODE (long-distance equivariant) spherical expansion of a few
structures of the small data set shipped with farsighted: random, neutral boxes of Na and Cl
atoms in triclinic periodic cells. The features are returned as a
:py:class:`metatensor.TensorMap`, together with their gradients with respect to the atomic
positions and to the cell strain, which is what linear models on energies, forces and stress
need.

The same can be done from the command line with
``farsighted featurize nacl_boxes.xyz --hypers lode_hypers.json --output nacl.mts``.
"""

# %%
import json

import ase.io
import numpy as np

import farsighted
from farsighted.data import dataset_path

# %%
# Structures and hyper-parameters
# -------------------------------
#
# The data set is an extended XYZ file, read with ASE. We take the first two structures.

frames = ase.io.read(dataset_path("nacl_boxes.xyz"), ":2")
for i, atoms in enumerate(frames):
    print(
        f"structure {i}: {atoms.get_chemical_formula()}, "
        f"cell lengths and angles {atoms.cell.cellpar().round(1)}"
    )

# %%
# The hyper-parameters use the same dictionaries as featomic's ``LodeSphericalExpansion``:
# a smeared 1/r (p = 1) density, i.e. the electrostatic potential of Gaussian charges of
# width 1 Å, expanded on spherical harmonics up to l = 4 times 6 Gaussian-type radial
# functions within 4 Å of each atom.

with open(dataset_path("lode_hypers.json")) as file:
    hypers = json.load(file)
print(json.dumps(hypers, indent=2))

calculator = farsighted.LodeSphericalExpansion(**hypers)

# %%
# Computing the features and their gradients
# ------------------------------------------

descriptor = calculator.compute(frames, gradients=["positions", "strain"])

# %%
# There is one block per angular channel ``o3_lambda`` and pair of central and neighbour
# species. Values have the shape (atoms of ``center_type``, 2λ + 1, radial functions);
# position gradients add one row per (centre, moving atom) pair and an ``xyz`` axis, strain
# gradients one 3 x 3 matrix per centre.

print(descriptor.keys.names)
for key, block in descriptor.items():
    if key["o3_lambda"] > 1:
        continue
    print(
        f"λ={key['o3_lambda']} center={key['center_type']:>2} neighbor={key['neighbor_type']:>2}:",
        f"values {block.values.shape},",
        f"positions gradient {block.gradient('positions').values.shape},",
        f"strain gradient {block.gradient('strain').values.shape}",
    )

# %%
# An invariant
# ------------
#
# Blocks with λ > 0 are equivariant: they rotate with the structure. Their norm over the
# ``o3_mu`` axis is invariant. We check it on the potential of the Cl atoms around the first
# Na atom, for the structure and a rigidly rotated copy of it (atoms and cell together).

block = descriptor.block(o3_lambda=1, center_type=11, neighbor_type=17)
first_na = block.values[0]  # shape (3, n_radial): the samples are (system, atom)
invariant = np.linalg.norm(first_na, axis=0)
print("sample", block.samples.entry(0), "‖V_l=1‖ per radial function:", invariant.round(6))

rotated = frames[0].copy()
rotated.rotate(37.0, (1.0, 2.0, -0.5), rotate_cell=True)
rotated_block = calculator.compute(rotated).block(o3_lambda=1, center_type=11, neighbor_type=17)
rotated_invariant = np.linalg.norm(rotated_block.values[0], axis=0)
print("same after rotation:", np.allclose(invariant, rotated_invariant, rtol=1e-8, atol=1e-12))
