//! The cost model of the Ewald split: which σw = σ 2^{j/4}, and which sum of the wide part
//! (over k-vectors, or on a mesh, lode/mesh/), makes a system cheapest, from the number of
//! k-vectors or mesh points of the wide part and of real-space pairs of the remainder, and the
//! estimate of the k-space cutoff that the memory model needs. The physics of the split, and its
//! accuracy, do not depend on it (lode/ewald/mod.rs): every σw gives the same features within ε.

use super::{wide_k_cutoff, wide_smearing, Margins, MAX_GRID};
use crate::density::SmearedPowerLaw;
use crate::lode::mesh::open::{extents, FreeSpace, FreeSpaceParameters};
use crate::lode::mesh::{KSet, MeshSize};
use crate::lode::plan::Geometry;
use crate::lode::slab::{self, estimated_k_count, kspace_system, slab_k_bound};
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
/// One pair of heights of the planar part of slabs summed over all pairs, beside the sum over
/// k-vectors (on the mesh it is on a grid of heights, lode/slab/planar_grid.rs): estimated
/// like one (atom, k-vector) term, as both update every channel of the pair's block
const COST_PLANAR_PAIR: f64 = 1.0;
/// The smallest system for which `reciprocal="auto"` considers the mesh
const MESH_MIN_ATOMS: usize = 500;

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
        // the mesh gives values of 3D-periodic systems and slabs; their gradients are the
        // backward product's
        let periodic = matches!(geometry, Geometry::Bulk | Geometry::Slab);
        let mesh_possible = periodic && !gradients.positions && !gradients.strain;
        if reciprocal == Reciprocal::Mesh && !mesh_possible {
            return Err(mesh_without_gradients(gradients));
        }
        // the mesh pays for itself on large systems only (measured crossovers: 1000 to 5000
        // atoms); below, the bound K of each σw that the mesh of a slab needs (a scan each) is
        // not worth computing
        let use_mesh = match reciprocal {
            Reciprocal::Auto => mesh_possible && system.size() >= MESH_MIN_ATOMS,
            Reciprocal::KSpace => false,
            Reciprocal::Mesh => true,
        };
        let accuracy = self.parameters.accuracy.expect("split calculator");
        let margins_of = |grid: i32| {
            Margins::of_cell(system, geometry, self.remainder_reach(grid, Margins::Wide))
        };
        let original = system;
        // the cell of the k-space sum: for slabs, the internal cell (a, b, L n̂)
        let system = kspace_system(system, geometry, self.basis.support());
        let k_set = |grid: i32| {
            let k_cutoff = self.split_k_cutoff(grid);
            KSet::of(geometry, k_cutoff, || self.split_slab_k_bound(grid))
        };
        let mesh_of = |grid: i32| {
            let density = SmearedPowerLaw {
                smearing: wide_smearing(self.parameters.smearing, grid),
                ..self.density
            };
            MeshSize::cheapest(
                &system,
                &density,
                self.parameters.max_angular,
                k_set(grid),
                accuracy,
                original.size(),
            )
        };
        if let Some(grid) = *self.splits.forced.lock().expect("no panic") {
            let margins = margins_of(grid);
            let mesh = (reciprocal == Reciprocal::Mesh).then(|| mesh_of(grid));
            return Ok((grid, margins, mesh));
        }
        let n = system.size() as f64;
        let volume = system.volume();
        let shortest = system
            .reciprocal_cell()
            .iter()
            .map(|b| b.iter().map(|x| x * x).sum::<f64>().sqrt())
            .fold(f64::INFINITY, f64::min);
        // neighbours of an atom within d: at the atoms' density in 3D; slabs of thickness t
        // and area A (not the internal cell's volume, mostly vacuum), n/A min(4πd³/3t, πd²)
        let (area, thickness) = match geometry {
            Geometry::Slab => slab::area_and_thickness(original),
            _ => (0.0, 0.0),
        };
        let neighbors = |d: f64| {
            let ball = 4.0 / 3.0 * std::f64::consts::PI * d.powi(3);
            match geometry {
                Geometry::Slab => n / area * (ball / thickness).min(std::f64::consts::PI * d * d),
                _ => n / volume * ball,
            }
        };
        let mut best = (f64::INFINITY, (0, Margins::Tight, None));
        for grid in 0..=MAX_GRID {
            let margins = margins_of(grid);
            let k_cutoff = self.split_k_cutoff(grid);
            if grid > 0 && k_cutoff < shortest {
                // no k-vector left in the wide part
                break;
            }
            let n_k = match use_mesh.then(|| k_set(grid)) {
                Some(KSet::Slab { k_cutoff, bound }) => estimated_k_count(&system, k_cutoff, bound),
                None | Some(KSet::Sphere { .. } | KSet::Open { .. }) => {
                    volume * k_cutoff.powi(3) / (12.0 * std::f64::consts::PI.powi(2))
                }
            };
            let n_pairs = neighbors(self.remainder_reach(grid, margins));
            let mut k_cost = COST_K_VALUES * n * n_k;
            if geometry == Geometry::Slab {
                k_cost += COST_PLANAR_PAIR * n * n;
            }
            let mut mesh = None;
            if use_mesh {
                let size = mesh_of(grid);
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

    /// Open systems: the grid index j, margins and mesh of the split whose wide part on the
    /// mesh of a box (lode/mesh/open.rs) makes the system cheapest, if it is cheaper than the
    /// pair sums over all pairs (None), within the method `reciprocal` allows
    pub(crate) fn choose_open(
        &self,
        system: &System,
        gradients: Gradients,
    ) -> Result<Option<(i32, Margins, MeshSize)>, Error> {
        let reciprocal = self.parameters.reciprocal;
        let explicit = gradients.positions || gradients.strain;
        if reciprocal == Reciprocal::Mesh && explicit {
            return Err(mesh_without_gradients(gradients));
        }
        let use_mesh = match reciprocal {
            Reciprocal::Auto => !explicit && system.size() >= MESH_MIN_ATOMS,
            Reciprocal::KSpace => false,
            Reciprocal::Mesh => true,
        };
        if !use_mesh {
            return Ok(None);
        }
        let n = system.size() as f64;
        // neighbours within d at the density of the cluster's bounding box, widened by d
        let extents = extents(system);
        let neighbors = |d: f64| {
            let volume: f64 = extents.iter().map(|e| e + d).product();
            n / volume * 4.0 / 3.0 * std::f64::consts::PI * d.powi(3)
        };
        let cost_of = |grid: i32| {
            let margins = self.open_margins(system, grid);
            let free = FreeSpace::cheapest(system, &self.free_space_parameters(grid, margins));
            let d_c = self.remainder_reach(grid, margins);
            let pairs = if grid == 0 { 0.0 } else { n * neighbors(d_c) };
            let cost = free.cost() + COST_PAIR_VALUES * pairs;
            (cost, (grid, margins, free.size))
        };
        let best = match *self.splits.forced.lock().expect("no panic") {
            Some(grid) => cost_of(grid),
            None => (0..=MAX_GRID)
                .map(cost_of)
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .expect("some grids"),
        };
        let all_pairs = COST_PAIR_VALUES * n * (n - 1.0);
        match reciprocal == Reciprocal::Mesh || best.0 < all_pairs {
            true => Ok(Some(best.1)),
            false => Ok(None),
        }
    }

    /// The margins of the split of an open system: wide where the cluster is at least 2 d_c
    /// wide along every direction (lode/ewald/margins.rs)
    pub(crate) fn open_margins(&self, system: &System, grid: i32) -> Margins {
        let cutoff = self.remainder_reach(grid, Margins::Wide);
        let narrowest = extents(system).into_iter().fold(f64::INFINITY, f64::min);
        Margins::of_width(narrowest, cutoff)
    }

    /// The estimate of the remainder's d_c for the split with grid index j and `margins`, not
    /// the cutoff of the tables: what the cost model counts pairs within, and the reach the
    /// box of an open system leaves free of images, so that the plan and the values build the
    /// same box (lode/ewald/mod.rs checks it). It is 0 at j = 0, which has no remainder: every
    /// system is wide enough for the wide margins there, which change nothing without one
    pub(crate) fn remainder_reach(&self, grid: i32, margins: Margins) -> f64 {
        let accuracy = self.parameters.accuracy.expect("split calculator");
        match grid {
            0 => 0.0,
            _ => {
                self.parameters.radius
                    + wide_smearing(self.parameters.smearing, grid) * margins.reach(accuracy)
            }
        }
    }

    /// What sizes the box of an open system for the split with grid index j and `margins`
    pub(crate) fn free_space_parameters(&self, grid: i32, margins: Margins) -> FreeSpaceParameters {
        let accuracy = self.parameters.accuracy.expect("split calculator");
        FreeSpaceParameters {
            density: SmearedPowerLaw {
                smearing: wide_smearing(self.parameters.smearing, grid),
                ..self.density
            },
            max_angular: self.parameters.max_angular,
            k_cutoff: self.split_k_cutoff(grid),
            accuracy,
            support: self.basis.support(),
            remainder_cutoff: self.remainder_reach(grid, margins),
        }
    }

    /// The k-space cutoff of the wide part of the split with grid index j
    pub(crate) fn split_k_cutoff(&self, grid: i32) -> f64 {
        let accuracy = self.parameters.accuracy.expect("split calculator");
        let wide = wide_smearing(self.parameters.smearing, grid);
        wide_k_cutoff(wide, accuracy).min(NEGLIGIBLE_K_SIGMA / wide)
    }

    /// The bound max(k_c, K) of the k_z sums of slabs for the wide part of the split with
    /// grid index j (that of its tables, `KSpace::slab_k_bound`), computed once per grid
    pub(crate) fn split_slab_k_bound(&self, grid: i32) -> f64 {
        if let Some(split) = self.built_split(grid) {
            return split.wide.slab_k_bound();
        }
        if let Some(&bound) = self.splits.slab_bounds.lock().expect("no panic").get(&grid) {
            return bound;
        }
        let density = SmearedPowerLaw {
            smearing: wide_smearing(self.parameters.smearing, grid),
            ..self.density
        };
        let max_angular = self.parameters.max_angular;
        let k_cutoff = self.split_k_cutoff(grid);
        let bound = slab_k_bound(&self.basis, max_angular, density, k_cutoff);
        let mut bounds = self.splits.slab_bounds.lock().expect("no panic");
        *bounds.entry(grid).or_insert(bound)
    }
}

/// The error of reciprocal='mesh' with explicit gradients
fn mesh_without_gradients(gradients: Gradients) -> Error {
    Error::InvalidParameter(format!(
        "reciprocal='mesh' computes values only, without explicit gradients \
         (gradients: positions={}, strain={}): use the backward product for forces \
         and stress, or reciprocal='auto'",
        gradients.positions, gradients.strain
    ))
}
