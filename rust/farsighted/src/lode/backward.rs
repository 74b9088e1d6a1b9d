//! Backward (vector–Jacobian) product of the periodic expansion: given G = ∂L/∂features,
//! ∂L/∂positions and ∂L/∂cell without forming the N² Jacobian.
//!
//! The features are matrix products of phase matrices with the table W (see `periodic`), so
//! L = Σ_k Σ_{i,a} [H⁰ᵢₐ(k) Re Sᵢₐ(k) + H¹ᵢₐ(k) Im Sᵢₐ(k)] (+ the k = 0 term) with
//! Hᵢₐ(k) = Σ_f Gᵢₐf W_f(k) (one matrix product per parity). Its derivatives with respect to
//! the positions are structure-factor-like sums over atoms for each k (see `backward_kernel`),
//! and with respect to the strain they contract Mf(k) = Σᵢₐ Gᵢₐf Sᵢₐ(k) (a second matrix
//! product) with the strain table ∂W/∂ε. The cell gradient follows from the strain one.

use std::collections::{BTreeSet, HashSet};

use rayon::prelude::*;

use super::backward_kernel::{backward_chunk, Accumulator, ChunkInput, ChunkScratch};
use super::open::{is_open, validate_open};
use super::periodic::{ParityFeatures, K_CHUNK};
use super::LodeSphericalExpansion;
use super::{KSpaceRadialIntegral, KVectors};
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

/// G of one system, arranged like the forward pass's rows
pub(super) struct SystemInput {
    /// centres with a non-zero G row, sorted
    pub centers: Vec<usize>,
    pub neighbor_types: Vec<i32>,
    /// (centre × neighbour type, feature of the parity) row-major, per parity
    pub g: [Vec<f64>; 2],
}

impl SystemInput {
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
    /// twice that of the values, and the memory does not grow as N².
    ///
    /// Open systems (pbc all false) ignore their cell: their `cell` gradient is zero and
    /// their `strain` is the virial Rᵀ ∂L/∂R. With `accuracy`, periodic systems and slabs use the
    /// Ewald split that `compute` picks for the values alone (see `split_backward`).
    ///
    /// Slabs (pbc true along two cell vectors, lode/slab_backward.rs) ignore their
    /// non-periodic cell vector: its row of the `cell` gradient is zero.
    pub fn backward(
        &self,
        systems: &[System],
        gradients: &[BlockData],
    ) -> Result<Vec<BackwardGradients>, Error> {
        for (i, system) in systems.iter().enumerate() {
            if super::slab::is_mixed(system) {
                // slabs (lode/slab_backward.rs); wires are refused here
                super::slab::validate_mixed(system, i)?;
            } else if is_open(system) {
                validate_open(system, i)?;
            } else {
                system.validate_periodic(i)?;
            }
        }
        let inputs = self.arrange_gradients(systems, gradients)?;
        self.check_backward_memory(systems, &inputs)?;
        // k-space tables for periodic systems, pair radial functions for open ones; the
        // Ewald split (`accuracy`) has its own tables
        let split = self.parameters.accuracy.is_some();
        let (radial, slab_radial) = self.kspace_radials(systems)?;
        // the splits `compute` picks for the values alone (lode/split_backward.rs)
        let splits = systems
            .iter()
            .map(|system| match split && !is_open(system) {
                true => self
                    .split_tables(self.choose_split(system, super::Gradients::default()))
                    .map(Some),
                false => Ok(None),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.prepare_tables(systems, &splits)?;
        let pair = match systems.iter().any(is_open) {
            true => Some(self.pair_radial()?),
            false => None,
        };
        systems
            .par_iter()
            .zip(inputs.par_iter())
            .enumerate()
            .map(|(s, (system, input))| match (radial, slab_radial, pair) {
                (_, _, Some(pair)) if is_open(system) => {
                    Ok(self.backward_open_system(pair, system, input))
                }
                _ if split => self.backward_split_system(s, system, input),
                (_, Some(radial), _) if super::slab::is_slab(system) => {
                    self.backward_slab_system(radial, s, system, input)
                }
                (Some(radial), _, _) if !super::slab::is_slab(system) => {
                    self.backward_system(radial, s, system, input, false)
                }
                _ => Err(Error::InvalidSystem(format!(
                    "system {s}: no k-space tables"
                ))),
            })
            .collect()
    }

    /// Check the blocks and gather G by system, as (centre × type, feature) rows per parity
    fn arrange_gradients(
        &self,
        systems: &[System],
        blocks: &[BlockData],
    ) -> Result<Vec<SystemInput>, Error> {
        let max_angular = self.parameters.max_angular;
        let n_radial = self.n_radial();
        let mut keys = HashSet::new();
        let mut centers = vec![BTreeSet::new(); systems.len()];
        let mut types = vec![BTreeSet::new(); systems.len()];
        for block in blocks {
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
                if !system.types.contains(&neighbor_type) {
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
        let mut inputs: Vec<SystemInput> = centers
            .into_iter()
            .zip(types)
            .map(|(centers, types)| {
                let rows = centers.len() * types.len();
                SystemInput {
                    centers: centers.into_iter().collect(),
                    neighbor_types: types.into_iter().collect(),
                    g: [0, 1].map(|p| vec![0.0; rows * parities[p].len()]),
                }
            })
            .collect();
        for block in blocks {
            let l = block.key[0] as usize;
            let first = lm_index(l, -(l as isize)) * n_radial;
            let size = block.n_components * n_radial;
            for (sample, &[s, i]) in block.samples.iter().enumerate() {
                let input = &mut inputs[s as usize];
                let c = input.centers.binary_search(&(i as usize)).expect("centre");
                let t = input
                    .neighbor_types
                    .binary_search(&block.key[3])
                    .expect("type");
                let row = c * input.neighbor_types.len() + t;
                for (f, &value) in block.values[sample * size..(sample + 1) * size]
                    .iter()
                    .enumerate()
                {
                    let (parity, index) = local[first + f];
                    input.g[parity][row * parities[parity].len() + index] = value;
                }
            }
        }
        Ok(inputs)
    }

    /// `in_plane_only`: the k∥ ≠ 0 part of a slab, on its internal cell (no k = 0 term)
    pub(super) fn backward_system(
        &self,
        radial: &KSpaceRadialIntegral,
        s: usize,
        system: &System,
        input: &SystemInput,
        in_plane_only: bool,
    ) -> Result<BackwardGradients, Error> {
        let n_atoms = system.size();
        let mut result = BackwardGradients {
            positions: vec![[0.0; 3]; n_atoms],
            cell: [[0.0; 3]; 3],
            strain: [[0.0; 3]; 3],
        };
        if input.centers.is_empty() {
            return Ok(result);
        }
        let (kvectors, phases) = self.k_vectors_and_phases(s, system, in_plane_only)?;
        let atom_type_index = input.atom_type_index(system);
        let chunk_input = ChunkInput {
            phases: &phases,
            centers: &input.centers,
            atom_type_index: &atom_type_index,
            n_types: input.neighbor_types.len(),
            g: &input.g,
            active: [0, 1].map(|p| input.g[p].iter().any(|&v| v != 0.0)),
        };

        // blocks of k-vectors in parallel, each with its own slice of the tables
        let n_k = kvectors.vectors.len();
        let chunk_starts: Vec<usize> = (0..n_k).step_by(K_CHUNK).collect();
        let min_len = chunk_starts.len() / (4 * rayon::current_num_threads()).max(1);
        let total = chunk_starts
            .par_iter()
            .with_min_len(min_len.max(1))
            .fold(
                || (Accumulator::new(n_atoms), ChunkScratch::default()),
                |(mut accumulator, mut scratch), &start| {
                    let end = (start + K_CHUNK).min(n_k);
                    let chunk = KVectors {
                        indices: kvectors.indices[start..end].to_vec(),
                        vectors: kvectors.vectors[start..end].to_vec(),
                        max_index: kvectors.max_index,
                    };
                    let tables = self.k_tables(system, &chunk, radial, false, true);
                    backward_chunk(
                        &tables,
                        &chunk,
                        &chunk_input,
                        &mut scratch,
                        &mut accumulator,
                    );
                    (accumulator, scratch)
                },
            )
            .map(|(accumulator, _)| accumulator)
            .reduce(|| Accumulator::new(n_atoms), Accumulator::add);

        // Σ G X over the lattice part of the features: the k-sum and the k = 0 term
        let mut lattice = total.lattice;
        if let (Some(g0), false) = (self.density.fourier_at_zero(), in_plane_only) {
            let factor = g0 * (4.0 * std::f64::consts::PI).sqrt() / system.volume();
            let n_types = input.neighbor_types.len();
            let n_even = input.g[0].len() / (input.centers.len() * n_types);
            for (t, &a) in input.neighbor_types.iter().enumerate() {
                let count = system.types.iter().filter(|&&x| x == a).count() as f64;
                for c in 0..input.centers.len() {
                    // l = 0 comes first among the even features, n in order
                    let row = &input.g[0][(c * n_types + t) * n_even..];
                    for (g, radial) in row.iter().zip(&self.radial_at_zero) {
                        lattice += g * count * factor * radial;
                    }
                }
            }
        }

        result.positions = total.positions;
        for alpha in 0..3 {
            for beta in 0..3 {
                // the volume factor 1/V: -δ_αβ times the lattice part
                let volume = if alpha == beta { lattice } else { 0.0 };
                result.strain[alpha][beta] = total.strain[3 * alpha + beta] - volume;
            }
        }
        result.cell = cell_gradient(system, &result.strain, &result.positions);
        Ok(result)
    }
}

/// ∂L/∂h = h⁻ᵀ (Ξ − Rᵀ ∂L/∂R), from Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R (the chain rule for
/// h' = h (1 + ε), r' = r (1 + ε))
pub(super) fn cell_gradient(
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
