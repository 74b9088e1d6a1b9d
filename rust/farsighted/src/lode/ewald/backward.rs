//! Backward product of the Ewald split (`accuracy`: 3D periodic systems, slabs, large open
//! systems), term by
//! term as in `split_values`:
//!
//! - the wide part is the k-space backward product of the split's inner calculator (σw, the
//!   split's k-cutoff, its k = 0 term for p = 0 and p > 3), over k-vectors or on the mesh
//!   (lode/mesh/backward.rs);
//! - the real-space remainder is a pair sum over the periodic neighbour list within d_c
//!   (several images of one j, j = i with T ≠ 0), through [`pair_sums_backward`], whose
//!   virial Ξ = Σ d ⊗ v is its strain derivative;
//! - for 0 < p ≤ 3, the k = 0 term removed from the remainder, -(N_a/V) ĥ(0) √(4π) Iₙ₀(0),
//!   depends on the cell through 1/V only: its strain derivative is -δ_αβ times itself;
//! - slabs: the wide part is the slab backward product, the remainder runs over in-plane
//!   images, and for 0 < p ≤ 2 the planar constant -(N_a/A) K √(4π) Iₙ₀(0) depends on the
//!   cell through 1/A: A ∂(1/A)/∂ε_αβ = -(δ_αβ - n_α n_β);
//! - the centre's own remainder and the `center_atom_weight` term are constants;
//! - open systems: the wide part is the free-space sum on the mesh of their box
//!   (lode/mesh/open.rs), the remainder runs over the box's neighbour list (no image in
//!   reach), and the strain is the virial of the positions gradient: the features depend on
//!   the positions alone.
//!
//! σw is the one `compute` picks for the values alone (no gradients asked), so that backward
//! differentiates exactly the features a user computed without gradients; every split gives
//! the same features within `accuracy`.

use super::EwaldSplit;
use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::mesh::open::FreeSpace;
use crate::lode::mesh::MeshSize;
use crate::lode::pairs::backward::pair_sums_backward;
use crate::lode::plan::Geometry;
use crate::lode::LodeSphericalExpansion;
use crate::{Error, System};

impl LodeSphericalExpansion {
    /// ∂L/∂positions and Ξ of one system (bulk, slab, or open on its box `free`) by the
    /// Ewald split
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn split_backward(
        &self,
        split: &EwaldSplit,
        geometry: Geometry,
        mesh: Option<MeshSize>,
        free: Option<&FreeSpace>,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        let sizes = (self.parameters.max_angular, self.n_radial());
        let result = match free {
            Some(free) => {
                // the box's cell is ignored: the strain is the virial of the positions gradient
                let mut result = split.wide.open_mesh_backward_sum(free, input)?;
                result.strain = virial(system, &result.positions);
                result
            }
            None => split.wide.backward(geometry, mesh, s, system, input)?,
        };
        let Some(remainder) = &split.remainder else {
            // σw = σ: the pure k-space sum
            return Ok(result);
        };
        if input.centers.is_empty() {
            return Ok(result);
        }

        let neighbors = self.remainder_neighbors(split, system, geometry, free)?;
        let pairs = pair_sums_backward(remainder, system, input, sizes, |_, i| {
            neighbors.neighbors(i).into_iter()
        });
        let mut result = result.add(pairs);

        if let Some((zero, strain)) = self.removed_constant(split, system, geometry) {
            // Σ G · (removed constant) over the (l, m) = (0, 0) features
            let counts: Vec<f64> = input
                .neighbor_types
                .iter()
                .map(|&a| system.types.iter().filter(|&&x| x == a).count() as f64)
                .collect();
            let mut removed = 0.0;
            for row in 0..input.centers.len() * counts.len() {
                let count = counts[row % counts.len()];
                let g = input.l0_row(row, sizes.1);
                for (g, radial) in g.iter().zip(&self.kspace.radial_at_zero) {
                    removed -= g * count * zero * radial;
                }
            }
            for alpha in 0..3 {
                for beta in 0..3 {
                    result.strain[alpha][beta] += strain[3 * alpha + beta] * removed;
                }
            }
        }
        Ok(result)
    }
}

/// Σᵢ rᵢ,α ∂L/∂rᵢ,β: the strain derivative of a function of the positions alone
fn virial(system: &System, positions: &[[f64; 3]]) -> [[f64; 3]; 3] {
    let mut strain = [[0.0; 3]; 3];
    for (r, g) in system.positions.iter().zip(positions) {
        for alpha in 0..3 {
            for beta in 0..3 {
                strain[alpha][beta] += r[alpha] * g[beta];
            }
        }
    }
    strain
}
