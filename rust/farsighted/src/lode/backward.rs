//! Backward (vector–Jacobian) products: given G = ∂L/∂features, ∂L/∂positions and ∂L/∂cell of
//! every system without forming the N² Jacobian. This file checks G and arranges it by system,
//! in the layouts its plan reads (`Layouts`); the plan of each system (lode/plan.rs) runs its
//! method's backward product (lode/kspace/backward.rs, lode/slab/backward.rs,
//! lode/pairs/backward.rs, lode/ewald/backward.rs), and the cell gradient follows from the
//! strain derivative Ξ by the geometry.

use std::collections::{BTreeSet, HashSet};

use rayon::prelude::*;

use super::kspace::ParityFeatures;
use super::plan::{Geometry, Method, Plan};
use super::{Gradients, LodeSphericalExpansion};
use crate::math::harmonics::lm_index;
use crate::output::BlockData;
use crate::{Error, System};

/// ∂L/∂(positions, cell) of one system, from G = ∂L/∂features
#[derive(Debug, Clone, PartialEq)]
pub struct BackwardGradients {
    /// ∂L/∂rⱼ (Cartesian, Å⁻¹ times the unit of L), the cell fixed
    pub positions: Vec<[f64; 3]>,
    /// ∂L/∂h_iβ for the cell vectors hᵢ (rows), the Cartesian positions fixed:
    /// h⁻ᵀ (Ξ − Rᵀ ∂L/∂R); zero for open systems, whose cell is ignored, and for the
    /// non-periodic row of slabs
    pub cell: [[f64; 3]; 3],
    /// Ξ_αβ = ∂L/∂ε_αβ for r' = r (1 + ε), h' = h (1 + ε): Σ G · (strain gradient);
    /// Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R
    pub strain: [[f64; 3]; 3],
}

/// G of one system, arranged like the forward pass's rows, in the layouts its plan reads
/// (`Layouts`; the others are empty)
pub(crate) struct SystemInput {
    /// centres with a non-zero G row, sorted
    pub centers: Vec<usize>,
    pub neighbor_types: Vec<i32>,
    /// (centre × neighbour type, feature of the parity) row-major, per parity: the sums over
    /// k-vectors (lode/kspace/backward.rs)
    pub g: [Vec<f64>; 2],
    /// (centre × neighbour type, feature lm_index(l, m) * n_radial + n) row-major: the mesh,
    /// the pair sums and the planar part of slabs
    pub by_feature: Vec<f64>,
}

/// Which layouts of G the backward product of a plan reads: at 10⁶ atoms each is 2.4 GB
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layouts {
    pub by_parity: bool,
    pub by_feature: bool,
}

impl Layouts {
    pub fn of(plan: &Plan) -> Layouts {
        let (over_k, pairs, mesh) = match plan.method {
            Method::KSpace => (true, false, false),
            Method::Split { grid, mesh, .. } => (mesh.is_none(), grid > 0, mesh.is_some()),
            Method::Pairs => (false, true, false),
        };
        Layouts {
            by_parity: over_k,
            // the planar part of slabs reads G by feature
            by_feature: pairs || mesh || plan.geometry == Geometry::Slab,
        }
    }

    /// Bytes of G in these layouts, for `rows` rows of `n_features`
    pub fn bytes(self, rows: f64, n_features: f64) -> f64 {
        8.0 * rows * n_features * (self.by_parity as usize + self.by_feature as usize) as f64
    }
}

impl SystemInput {
    /// The l = 0 entries of row `row`, which come first in either layout
    pub fn l0_row(&self, row: usize, n_radial: usize) -> &[f64] {
        let rows = self.centers.len() * self.neighbor_types.len();
        let g = match self.by_feature.is_empty() {
            true => &self.g[0],
            false => &self.by_feature,
        };
        &g[row * (g.len() / rows)..][..n_radial]
    }

    /// The index in `neighbor_types` of each atom's type (None for other types)
    pub fn atom_type_index(&self, system: &System) -> Vec<Option<usize>> {
        system
            .types
            .iter()
            .map(|t| self.neighbor_types.binary_search(t).ok())
            .collect()
    }
}

impl LodeSphericalExpansion {
    /// ∂L/∂positions and ∂L/∂cell of every system for `gradients` = ∂L/∂features.
    ///
    /// `gradients` holds blocks like those of [`LodeSphericalExpansion::compute`] (key,
    /// samples, `n_components = 2λ + 1`, `n_properties = max_radial + 1`, values with the
    /// same layout; gradient fields are ignored). Any subset of the keys and samples a
    /// forward calculation produces can be given: missing ones have G = 0. The cost is about
    /// twice that of the values, and the memory does not grow as N²: the blocks are taken
    /// and released as they are arranged, so that G is held once more at most.
    ///
    /// Open systems (pbc all false) ignore their cell: their `cell` gradient is zero and
    /// their `strain` is the virial Rᵀ ∂L/∂R. With `accuracy`, periodic systems and slabs use the
    /// Ewald split that `compute` picks for the values alone (see `split_backward`).
    ///
    /// Slabs (pbc true along two cell vectors, lode/slab/backward.rs) ignore their
    /// non-periodic cell vector: its row of the `cell` gradient is zero.
    pub fn backward(
        &self,
        systems: &[System],
        gradients: Vec<BlockData>,
    ) -> Result<Vec<BackwardGradients>, Error> {
        // the split `compute` picks for the values alone (lode/ewald/backward.rs)
        let plans = self.plans(systems, Gradients::default())?;
        let inputs = self.arrange_gradients(systems, gradients, &plans)?;
        self.check_backward_memory(systems, &plans, &inputs)?;
        self.prepare(systems, &plans)?;
        systems
            .par_iter()
            .zip(inputs.par_iter())
            .zip(plans.par_iter())
            .enumerate()
            .map(|(s, ((system, input), plan))| self.run_backward(plan, s, system, input))
            .collect()
    }

    /// Check the blocks and gather G by system, in the layouts of its plan (`Layouts`), each
    /// block released once gathered: G is held once at a time, besides the caller's own
    fn arrange_gradients(
        &self,
        systems: &[System],
        blocks: Vec<BlockData>,
        plans: &[Plan],
    ) -> Result<Vec<SystemInput>, Error> {
        let max_angular = self.parameters.max_angular;
        let n_radial = self.n_radial();
        let mut keys = HashSet::new();
        let mut centers = vec![BTreeSet::new(); systems.len()];
        let mut types = vec![BTreeSet::new(); systems.len()];
        // the types of each system, looked up for every sample (a scan of the atoms each time
        // took 170 s for 10⁷ samples of 10⁶ atoms)
        let present: Vec<BTreeSet<i32>> = systems.iter().map(System::type_set).collect();
        for block in &blocks {
            let key = block.key;
            let [l, sigma, center_type, neighbor_type] = key;
            let error = |message: String| {
                Err(Error::InvalidParameter(format!(
                    "gradient block {key:?}: {message}"
                )))
            };
            if sigma != 1 || l < 0 || l as usize > max_angular {
                return error(format!(
                    "this key does not exist: o3_sigma must be 1 and o3_lambda between 0 and {max_angular}"
                ));
            }
            if !keys.insert(key) {
                return error("this key appears twice".into());
            }
            let l = l as usize;
            if block.n_components != 2 * l + 1 || block.n_properties != n_radial {
                return error(format!(
                    "values must have {} components and {n_radial} properties, got {} and {}",
                    2 * l + 1,
                    block.n_components,
                    block.n_properties
                ));
            }
            let size = block.n_components * block.n_properties;
            if block.values.len() != block.samples.len() * size {
                return error(format!(
                    "{} values for {} samples of size {size}",
                    block.values.len(),
                    block.samples.len()
                ));
            }
            if block.values.iter().any(|v| !v.is_finite()) {
                return error("the values contain NaN or infinite numbers".into());
            }
            let mut samples = HashSet::new();
            for &[s, i] in &block.samples {
                let system = (s >= 0)
                    .then(|| systems.get(s as usize))
                    .flatten()
                    .filter(|system| i >= 0 && (i as usize) < system.size());
                let Some(system) = system else {
                    return error(format!("sample (system={s}, atom={i}) does not exist"));
                };
                if system.types[i as usize] != center_type {
                    return error(format!(
                        "sample (system={s}, atom={i}): this atom has type {}, not center_type",
                        system.types[i as usize]
                    ));
                }
                if !present[s as usize].contains(&neighbor_type) {
                    return error(format!(
                        "sample (system={s}, atom={i}): system {s} has no atom of neighbor_type"
                    ));
                }
                if !samples.insert((s, i)) {
                    return error(format!("sample (system={s}, atom={i}) appears twice"));
                }
                centers[s as usize].insert(i as usize);
                types[s as usize].insert(neighbor_type);
            }
        }

        // (parity, index among the parity's features) of each global feature
        let parities = [false, true].map(|odd| ParityFeatures::new(max_angular, n_radial, odd));
        let mut local = vec![(0, 0); (max_angular + 1).pow(2) * n_radial];
        for (parity, features) in parities.iter().enumerate() {
            for (index, &global) in features.global.iter().enumerate() {
                local[global] = (parity, index);
            }
        }
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let layouts: Vec<Layouts> = plans.iter().map(Layouts::of).collect();
        let mut inputs: Vec<SystemInput> = centers
            .into_iter()
            .zip(types)
            .zip(&layouts)
            .map(|((centers, types), layouts)| {
                let rows = centers.len() * types.len();
                let sized =
                    |used: bool, length: usize| vec![0.0; if used { rows * length } else { 0 }];
                SystemInput {
                    centers: centers.into_iter().collect(),
                    neighbor_types: types.into_iter().collect(),
                    g: [0, 1].map(|p| sized(layouts.by_parity, parities[p].len())),
                    by_feature: sized(layouts.by_feature, n_features),
                }
            })
            .collect();
        // each block is dropped at the end of its iteration
        for block in blocks {
            let l = block.key[0] as usize;
            // the block's (m, n) values are the features first..first + size of a row
            let first = lm_index(l, -(l as isize)) * n_radial;
            let size = block.n_components * n_radial;
            for (sample, &[s, i]) in block.samples.iter().enumerate() {
                let input = &mut inputs[s as usize];
                let layouts = layouts[s as usize];
                let c = input.centers.binary_search(&(i as usize)).expect("centre");
                let t = input
                    .neighbor_types
                    .binary_search(&block.key[3])
                    .expect("type");
                let row = c * input.neighbor_types.len() + t;
                let values = &block.values[sample * size..(sample + 1) * size];
                if layouts.by_parity {
                    for (f, &value) in values.iter().enumerate() {
                        let (parity, index) = local[first + f];
                        input.g[parity][row * parities[parity].len() + index] = value;
                    }
                }
                if layouts.by_feature {
                    input.by_feature[row * n_features + first..][..size].copy_from_slice(values);
                }
            }
        }
        Ok(inputs)
    }
}

/// ∂L/∂h = h⁻ᵀ (Ξ − Rᵀ ∂L/∂R), from Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R (the chain rule for
/// h' = h (1 + ε), r' = r (1 + ε))
pub(crate) fn cell_gradient(
    system: &System,
    strain: &[[f64; 3]; 3],
    positions_gradient: &[[f64; 3]],
) -> [[f64; 3]; 3] {
    let mut rest = *strain;
    for (r, g) in system.positions.iter().zip(positions_gradient) {
        for alpha in 0..3 {
            for beta in 0..3 {
                rest[alpha][beta] -= r[alpha] * g[beta];
            }
        }
    }
    // h⁻ᵀ = B / 2π for the reciprocal vectors bᵢ as rows of B, since h Bᵀ = 2π 1
    let reciprocal = system.reciprocal_cell();
    let mut cell = [[0.0; 3]; 3];
    for i in 0..3 {
        for beta in 0..3 {
            cell[i][beta] = (0..3)
                .map(|alpha| reciprocal[i][alpha] * rest[alpha][beta])
                .sum::<f64>()
                / (2.0 * std::f64::consts::PI);
        }
    }
    cell
}
