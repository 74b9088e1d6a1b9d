//! The cost model of the Ewald split: which σw = σ 2^{j/4}, and which sum of the wide part
//! (over k-vectors, or on a mesh, lode/mesh/), makes a system cheapest, from the number of
//! k-vectors or mesh points of the wide part and of real-space pairs of the remainder, and the
//! estimates of both cutoffs that the memory model needs. The physics of the split, and its
//! accuracy, do not depend on it (lode/ewald/mod.rs): every σw gives the same features within ε.

use super::{wide_k_cutoff, wide_smearing, Margins, MAX_GRID};
use crate::density::SmearedPowerLaw;
use crate::lode::mesh::MeshSize;
use crate::lode::plan::Geometry;
use crate::lode::slab::kspace_system;
use crate::lode::{Gradients, LodeSphericalExpansion, NEGLIGIBLE_K_SIGMA};
use crate::{Error, Reciprocal, System};

/// Relative costs of the cost model, per feature: one (atom, k-vector) term of the values, one
/// (atom pair, k-vector) term of the positions gradients, and one real-space pair (values,
/// and with positions gradients). Rough: tuned on this machine (2 cores) with random Na/Cl
/// boxes at 0.04 atoms/Å³ (lmax 4, nmax 5, radius 4 Å, σ = 1 Å, positions gradients). With
/// ε = 9.2e-3 at N = 216 the time is flat within 5% for σw from 2.4 to 3.4 Å (0.35 s; the
/// model picks 2.4 Å), and at N = 512 (ε = 1.1e-2) the model's σw = 3.4 Å takes 1.9 s where
/// the best grid value, 4 Å, takes 1.6 s.
const COST_K_VALUES: f64 = 1.0;
const COST_K_POSITIONS: f64 = 0.25;
const COST_PAIR_VALUES: f64 = 10.0;
const COST_PAIR_POSITIONS: f64 = 20.0;

impl LodeSphericalExpansion {
    /// Grid index j of σw = σ 2^{j/4}, the margins of the truncations (lode/ewald/margins.rs)
    /// and the mesh of the wide part (None: its k-space sum) minimising the cost model for
    /// this system, within the method `reciprocal` allows
    pub(crate) fn choose_split(
        &self,
        system: &System,
        geometry: Geometry,
        gradients: Gradients,
    ) -> Result<(i32, Margins, Option<MeshSize>), Error> {
        let reciprocal = self.parameters.reciprocal;
        // the mesh gives values of 3D-periodic systems; their gradients are the backward
        // product's
        let mesh_possible = geometry == Geometry::Bulk && !gradients.positions && !gradients.strain;
        if reciprocal == Reciprocal::Mesh && !mesh_possible {
            return Err(Error::InvalidParameter(format!(
                "reciprocal='mesh' computes the values of 3D-periodic systems only (pbc={:?}, \
                 gradients: positions={}, strain={}): use the backward product for forces and \
                 stress, or reciprocal='auto'",
                system.pbc, gradients.positions, gradients.strain
            )));
        }
        let use_mesh = match reciprocal {
            Reciprocal::Auto => mesh_possible,
            Reciprocal::KSpace => false,
            Reciprocal::Mesh => true,
        };
        let accuracy = self.parameters.accuracy.expect("split calculator");
        let margins_of = |grid: i32| {
            let cutoff = self.parameters.radius
                + wide_smearing(self.parameters.smearing, grid) * Margins::Averaged.reach(accuracy);
            Margins::of_cell(system, geometry, cutoff)
        };
        let mesh_of = |grid: i32, margins: Margins| {
            let density = SmearedPowerLaw {
                smearing: wide_smearing(self.parameters.smearing, grid),
                ..self.density
            };
            MeshSize::cheapest(
                system,
                &density,
                self.parameters.max_angular,
                self.split_k_cutoff(grid, margins),
                margins.mesh_target(accuracy),
                system.size(),
            )
        };
        if let Some(grid) = *self.splits.forced.lock().expect("no panic") {
            let margins = margins_of(grid);
            let mesh = (reciprocal == Reciprocal::Mesh).then(|| mesh_of(grid, margins));
            return Ok((grid, margins, mesh));
        }
        let original = system;
        let sigma = self.parameters.smearing;
        let system = kspace_system(system, geometry, self.basis.support());
        let n = system.size() as f64;
        let volume = system.volume();
        let shortest = system
            .reciprocal_cell()
            .iter()
            .map(|b| b.iter().map(|x| x * x).sum::<f64>().sqrt())
            .fold(f64::INFINITY, f64::min);
        let mut best = (f64::INFINITY, (0, Margins::Tight, None));
        for grid in 0..=MAX_GRID {
            let margins = margins_of(grid);
            let wide = wide_smearing(sigma, grid);
            let k_cutoff = self.split_k_cutoff(grid, margins);
            if grid > 0 && k_cutoff < shortest {
                // no k-vector left in the wide part
                break;
            }
            let n_k = volume * k_cutoff.powi(3) / (12.0 * std::f64::consts::PI.powi(2));
            let d_c = if grid == 0 {
                0.0
            } else {
                self.parameters.radius + wide * margins.reach(accuracy)
            };
            let n_pairs = n / volume * 4.0 / 3.0 * std::f64::consts::PI * d_c.powi(3);
            let mut k_cost = COST_K_VALUES * n * n_k;
            let mut mesh = None;
            if use_mesh {
                let size = mesh_of(grid, margins);
                let mesh_cost = size.cost(original.size(), 1);
                if reciprocal == Reciprocal::Mesh || mesh_cost < k_cost {
                    k_cost = mesh_cost;
                    mesh = Some(size);
                }
            }
            let mut cost = k_cost + COST_PAIR_VALUES * n * n_pairs;
            if gradients.positions {
                cost += COST_K_POSITIONS * n * n * n_k + COST_PAIR_POSITIONS * n * n_pairs;
            }
            if cost < best.0 {
                best = (cost, (grid, margins, mesh));
            }
        }
        Ok(best.1)
    }

    /// The k-space cutoff of the wide part of the split with grid index j and `margins`
    pub(crate) fn split_k_cutoff(&self, grid: i32, margins: Margins) -> f64 {
        let accuracy = self.parameters.accuracy.expect("split calculator");
        let wide = wide_smearing(self.parameters.smearing, grid);
        wide_k_cutoff(wide, accuracy, margins).min(NEGLIGIBLE_K_SIGMA / wide)
    }

    /// An upper estimate of the real-space cutoff d_c of the split with grid index j and
    /// `margins` (the one of the tables when they are built), for the memory model
    pub(crate) fn estimated_remainder_cutoff(&self, grid: i32, margins: Margins) -> f64 {
        let accuracy = self.parameters.accuracy.expect("split calculator");
        if grid == 0 {
            return 0.0;
        }
        let tables = self.splits.tables.lock().expect("no panic");
        if let Some(split) = tables.get(&(grid, margins)) {
            return split.cutoff;
        }
        self.parameters.radius
            + wide_smearing(self.parameters.smearing, grid) * margins.reach(accuracy)
    }
}
