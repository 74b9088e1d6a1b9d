//! The reciprocal-space LODE sum for 3D-periodic systems, written as matrix products.
//!
//! With Sᵢₐ(k) = Σ_{j∈a} e^{ik·(rᵢ-rⱼ)} and one k of each ±k pair,
//!
//!   ⟨a n l m|Vᵢ⟩ = Σ_k Wₙₗₘ(k) {Re Sᵢₐ(k) for even l, Im Sᵢₐ(k) for odd l}
//!   Wₙₗₘ(k) = 2 (4π/V) ĝ(k) (-1)^{⌊(l+1)/2⌋} Iₗₙ(k) Yₗₘ(k̂)
//!
//! so that the values are (centres × k) phase matrices times a (k × features) table, computed
//! by blocks of k-vectors to bound memory. Gradients with respect to rⱼ use k_α Wₙₗₘ(k), tabulated
//! as |k| Wₙₗₘ(k) / Yₗₘ(k̂) times the 4l + 2 harmonics Y_LM(k̂), L = l ± 1, that span the
//! 3 (2l + 1) products k̂_α Yₗₘ (see `GradientColumns`); gradients with respect to strain use
//! k_β ∂W/∂k_α.

pub(crate) mod backward;
pub(crate) mod kvectors;
pub(crate) mod positions;
pub(crate) mod radial;

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

pub(crate) use kvectors::{half_space_k_vectors, KVectors};
use std::sync::OnceLock;

use crate::basis::GtoBasis;
use crate::density::SmearedPowerLaw;
use crate::lode::mesh::MeshSize;
use crate::lode::metadata::{SystemTask, SystemValues};
use crate::lode::plan::Geometry;
use crate::lode::radial::RadialFunctions;
use crate::lode::slab::SlabCache;
use crate::lode::{KSpaceRadialIntegral, RadialProjector};
use crate::math::direction_products::direction_products;
use crate::math::harmonics::{lm_index, SolidHarmonics};
use crate::Error;
use crate::System;

/// Number of k-vectors processed at once
pub(crate) const K_CHUNK: usize = 256;

/// The reciprocal-space sum of one smeared density: the calculator's own, or the wide part of
/// an Ewald split (lode/ewald/). Its tables are built on first use.
pub(crate) struct KSpace {
    pub density: SmearedPowerLaw,
    pub basis: GtoBasis,
    pub max_angular: usize,
    pub n_radial: usize,
    /// the k-vectors summed have |k| below it: min(k_cutoff, 10.2/σ)
    pub k_cutoff: f64,
    pub spline_accuracy: Option<f64>,
    /// the error allowed to the planar part of slabs summed on a grid of heights, relative
    /// to the largest planar function of each l (lode/slab/planar_grid.rs): set by the Ewald
    /// split for its wide part, None (no grid) for the calculator's own sum
    pub planar_tolerance: Option<f64>,
    projector: RadialProjector,
    radial: OnceLock<Result<KSpaceRadialIntegral, Error>>,
    /// √(4π) ∫ r² Rₙ(r) g(r) dr: the atom's own density projected on (l, m) = (0, 0)
    center_contribution: Vec<f64>,
    /// Iₙ₀(0) = ∫ r² Rₙ(r) dr
    pub radial_at_zero: Vec<f64>,
    /// the bound of the k_z sums of slabs and the radial integrals up to it (lode/slab/)
    pub slab: SlabCache,
}

impl KSpace {
    pub fn new(
        basis: &GtoBasis,
        max_angular: usize,
        density: SmearedPowerLaw,
        k_cutoff: f64,
        spline_accuracy: Option<f64>,
    ) -> KSpace {
        let projector = RadialProjector::new(basis, max_angular, k_cutoff, density.smearing);
        let center_contribution: Vec<f64> = projector
            .project(|r| density.real_space(r))
            .into_iter()
            .map(|v| (4.0 * std::f64::consts::PI).sqrt() * v)
            .collect();
        let radial_at_zero = projector.project(|_| 1.0);
        KSpace {
            density,
            basis: basis.clone(),
            max_angular,
            n_radial: basis.size(),
            k_cutoff,
            spline_accuracy,
            planar_tolerance: None,
            projector,
            radial: OnceLock::new(),
            center_contribution,
            radial_at_zero,
            slab: SlabCache::default(),
        }
    }

    /// The k-space radial integrals Iₗₙ(k) on [0, k_cutoff], built (once) on first use
    pub fn radial(&self) -> Result<&KSpaceRadialIntegral, Error> {
        let radial = self.radial.get_or_init(|| {
            KSpaceRadialIntegral::new(self.projector.clone(), self.k_cutoff, self.spline_accuracy)
        });
        radial.as_ref().map_err(Clone::clone)
    }

    /// √(4π) ∫ r² Rₙ(r) g(r) dr: the atom's own density projected on (l, m) = (0, 0)
    pub fn center_contribution(&self) -> &[f64] {
        &self.center_contribution
    }

    pub(crate) fn n_features(&self) -> usize {
        (self.max_angular + 1).pow(2) * self.n_radial
    }

    /// Values (and strain) of one system of this geometry, over k-vectors or on `mesh`
    /// (lode/mesh/, values only); positions gradients are written into the task's outputs,
    /// except the centres' own rows
    pub fn values(
        &self,
        geometry: Geometry,
        mesh: Option<MeshSize>,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        match geometry {
            Geometry::Bulk => self.bulk_values(mesh, task),
            Geometry::Slab => self.slab_values(mesh, task),
            Geometry::Open => Err(Error::InvalidSystem(format!(
                "internal error: system {} is open, it has no k-space sum",
                task.s
            ))),
        }
    }

    /// All 0 < |k| < k_cutoff of a 3D cell, one of each ±k pair
    fn bulk_k_vectors(&self, s: usize, system: &System) -> Result<KVectors, Error> {
        let kvectors = half_space_k_vectors(system, self.k_cutoff);
        if kvectors.vectors.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "system {s}: no k-vector is shorter than k_cutoff={}; increase k_cutoff or the cell size",
                self.k_cutoff
            )));
        }
        Ok(kvectors)
    }

    /// A 3D-periodic system: the k-sum, and the k = 0 term where ĝ(0) is finite
    fn bulk_values(&self, mesh: Option<MeshSize>, task: SystemTask) -> Result<SystemValues, Error> {
        let system = task.system;
        let mut result = match mesh {
            Some(size) => self.mesh_sum(Geometry::Bulk, size, task)?,
            None => {
                let kvectors = self.bulk_k_vectors(task.s, system)?;
                self.sum(self.radial()?, task, &kvectors)
            }
        };
        if result.centers.is_empty() {
            return Ok(result);
        }
        self.add_zero_term(system, &mut result);
        if task.gradients.strain {
            result.subtract_volume_factor();
        }
        Ok(result)
    }

    /// The k = 0 term of a 3D-periodic sum where ĝ(0) is finite (p = 0 and p > 3):
    /// (1/V) ĝ(0) 4π Y₀₀ Iₙ₀(0) for every atom of the neighbour type
    pub fn add_zero_term(&self, system: &System, result: &mut SystemValues) {
        let Some(g0) = self.density.fourier_at_zero() else {
            return;
        };
        let factor = g0 * (4.0 * std::f64::consts::PI).sqrt() / system.volume();
        let n_features = self.n_features();
        let n_types = result.n_types;
        for (&a, &t) in &result.type_index {
            let count = system.types.iter().filter(|&&x| x == a).count() as f64;
            for c in 0..result.centers.len() {
                for n in 0..self.n_radial {
                    result.values[(c * n_types + t) * n_features + n] +=
                        count * factor * self.radial_at_zero[n];
                }
            }
        }
    }

    /// The k-sum over `kvectors` of one system: values and strain (without the strain of the
    /// cell's volume factor 1/V, `SystemValues::subtract_volume_factor`), positions gradients
    /// written into the task's outputs
    pub fn sum(
        &self,
        radial: &KSpaceRadialIntegral,
        task: SystemTask,
        kvectors: &KVectors,
    ) -> SystemValues {
        let (centers, type_index) = task.centers_and_types();
        let SystemTask {
            system,
            gradients,
            layout,
            outputs,
            ..
        } = task;
        let n_types = type_index.len();
        let n_features = self.n_features();
        if centers.is_empty() {
            return SystemValues::default();
        }

        let phases = AtomPhases::of_system(system, kvectors.max_index);
        let tables = self.k_tables(
            system,
            kvectors,
            radial,
            gradients.positions,
            gradients.strain,
        );
        let atom_type_index: Vec<Option<usize>> = system
            .types
            .iter()
            .map(|t| type_index.get(t).copied())
            .collect();
        let parity_outputs = kspace_values(
            &tables,
            kvectors,
            &phases,
            &centers,
            &atom_type_index,
            n_types,
        );

        // unpack into (centre, type, feature)
        let n_rows = centers.len() * n_types;
        let mut values = vec![0.0; n_rows * n_features];
        let mut strain = if gradients.strain {
            vec![0.0; n_rows * 9 * n_features]
        } else {
            Vec::new()
        };
        for (parity, parity_output) in parity_outputs.iter().enumerate() {
            let features = &tables.parities[parity];
            let columns = tables.values_columns[parity];
            let n_local = features.len();
            for row in 0..n_rows {
                let out = &parity_output[row * columns..(row + 1) * columns];
                for (local, &global) in features.global.iter().enumerate() {
                    values[row * n_features + global] = out[local];
                    if gradients.strain {
                        for ab in 0..9 {
                            strain[(row * 9 + ab) * n_features + global] =
                                out[(1 + ab) * n_local + local];
                        }
                    }
                }
            }
        }

        if let Some(layout) = layout {
            positions::compute_pairs(
                system,
                layout,
                outputs,
                &tables,
                kvectors,
                &phases,
                self.n_radial,
            );
        }

        SystemValues {
            centers,
            type_index,
            n_types,
            values,
            strain,
        }
    }
}

impl SystemValues {
    /// The volume factor 1/V of the k-space sums: d/dε_αβ = -δ_αβ times the values
    pub(crate) fn subtract_volume_factor(&mut self) {
        let n_rows = self.centers.len() * self.n_types;
        if n_rows == 0 {
            return;
        }
        let n_features = self.values.len() / n_rows;
        for row in 0..n_rows {
            for alpha in 0..3 {
                for f in 0..n_features {
                    self.strain[(row * 9 + 4 * alpha) * n_features + f] -=
                        self.values[row * n_features + f];
                }
            }
        }
    }
}

/// Features of one parity of l, in (l, m, n) order
pub(crate) struct ParityFeatures {
    /// global feature index lm_index(l, m) * n_radial + n of each local feature
    pub global: Vec<usize>,
}

impl ParityFeatures {
    pub(crate) fn new(max_angular: usize, n_radial: usize, odd: bool) -> ParityFeatures {
        let mut global = Vec::new();
        for l in (0..=max_angular).filter(|l| (l % 2 == 1) == odd) {
            for m in -(l as isize)..=(l as isize) {
                for n in 0..n_radial {
                    global.push(lm_index(l, m) * n_radial + n);
                }
            }
        }
        ParityFeatures { global }
    }

    pub fn len(&self) -> usize {
        self.global.len()
    }
}

/// (-1)^{⌊(l+1)/2⌋}, the sign of Wₙₗₘ (module documentation)
fn sign_of_l(l: usize) -> f64 {
    if l.div_ceil(2) % 2 == 0 {
        1.0
    } else {
        -1.0
    }
}

/// Columns of the positions gradient tables. k_α Wₙₗₘ(k) = |k| Wₙₗₘ(k) k̂_α Yₗₘ(k̂) / Yₗₘ(k̂) is
/// a combination of the 4l + 2 functions |k| Wₙₗₘ(k) Y_LM(k̂) / Yₗₘ(k̂), L = l ± 1
/// (math/direction_products.rs): the matrix products run over those, two thirds of the
/// 3 (2l + 1) products, and the gradients are recombined per row afterwards.
pub(crate) struct GradientColumns {
    /// for each parity, the (l, L, M) of its blocks of n_radial columns, in order
    pub blocks: [Vec<(usize, usize, isize)>; 2],
    /// for each l: (first value of (α, m) in a gradient row of 3 (2l + 1) n_radial values,
    /// first column of (l, L, M) in the table of l's parity, coefficient)
    pub terms: Vec<Vec<(usize, usize, f64)>>,
    n_radial: usize,
}

impl GradientColumns {
    fn new(max_angular: usize, n_radial: usize) -> GradientColumns {
        let mut blocks = [Vec::new(), Vec::new()];
        let mut terms = Vec::with_capacity(max_angular + 1);
        for l in 0..=max_angular {
            let products = direction_products(l);
            let parity_blocks = &mut blocks[l % 2];
            let mut l_terms = Vec::with_capacity(products.len());
            for product in products {
                let block = (l, product.big_l, product.big_m);
                let column = match parity_blocks.iter().position(|b| *b == block) {
                    Some(position) => position,
                    None => {
                        parity_blocks.push(block);
                        parity_blocks.len() - 1
                    }
                };
                let target = product.alpha * (2 * l + 1) + (product.m + l as isize) as usize;
                l_terms.push((target * n_radial, column * n_radial, product.coefficient));
            }
            terms.push(l_terms);
        }
        GradientColumns {
            blocks,
            terms,
            n_radial,
        }
    }

    pub fn max_angular(&self) -> usize {
        self.terms.len() - 1
    }

    /// Number of columns of the table of one parity
    pub fn len(&self, parity: usize) -> usize {
        self.blocks[parity].len() * self.n_radial
    }
}

/// The positions gradient tables, (n_k, columns) row-major for each parity
pub(crate) struct PositionsTables {
    pub tables: [Vec<f64>; 2],
    pub columns: GradientColumns,
}

/// Tables over all k-vectors of one system: (n_k, columns) row-major for each parity
pub(crate) struct KTables {
    pub n_k: usize,
    pub parities: [ParityFeatures; 2],
    /// [W | D] where D (9 blocks αβ) is present when strain gradients are requested
    pub values: [Vec<f64>; 2],
    pub values_columns: [usize; 2],
    /// |k| W Y_LM / Yₗₘ, when positions gradients are requested
    pub positions: Option<PositionsTables>,
}

impl KSpace {
    pub(crate) fn k_tables(
        &self,
        system: &System,
        kvectors: &KVectors,
        radial: &impl RadialFunctions,
        positions: bool,
        strain: bool,
    ) -> KTables {
        let max_angular = self.max_angular;
        let n_radial = self.n_radial;
        let parities = [
            ParityFeatures::new(max_angular, n_radial, false),
            ParityFeatures::new(max_angular, n_radial, true),
        ];
        let n_k = kvectors.vectors.len();
        let prefactor = 2.0 * 4.0 * std::f64::consts::PI / system.volume();

        let strain_blocks = if strain { 9 } else { 0 };
        let values_columns = [0, 1].map(|p| parities[p].len() * (1 + strain_blocks));
        let gradient_layout = positions.then(|| GradientColumns::new(max_angular, n_radial));
        let gradient_columns =
            [0, 1].map(|p| gradient_layout.as_ref().map_or(0, |layout| layout.len(p)));
        let n_functions = (max_angular + 1) * n_radial;

        let mut values = [0, 1].map(|p| vec![0.0; n_k * values_columns[p]]);
        let mut gradients = [0, 1].map(|p| vec![0.0; n_k * gradient_columns[p]]);

        // tables are filled in place, by blocks of k-vectors computed in parallel
        const ROWS: usize = 64;
        let n_chunks = n_k.div_ceil(ROWS);
        let [values_even, values_odd] = &mut values;
        let [gradients_even, gradients_odd] = &mut gradients;
        let chunks: Vec<_> = split_rows(values_even, values_columns[0] * ROWS, n_chunks)
            .into_iter()
            .zip(split_rows(values_odd, values_columns[1] * ROWS, n_chunks))
            .zip(split_rows(
                gradients_even,
                gradient_columns[0] * ROWS,
                n_chunks,
            ))
            .zip(split_rows(
                gradients_odd,
                gradient_columns[1] * ROWS,
                n_chunks,
            ))
            .enumerate()
            .collect();
        chunks.into_par_iter().for_each_init(
            || {
                (
                    // L = l + 1 for the positions gradient tables
                    SolidHarmonics::new(max_angular + 1),
                    vec![0.0; n_functions],
                    vec![0.0; n_functions],
                )
            },
            |(harmonics, radial_values, radial_derivatives),
             (chunk, (((v_even, v_odd), g_even), g_odd))| {
                let rows = [v_even, v_odd];
                let grads = [g_even, g_odd];
                for ik in (chunk * ROWS)..((chunk + 1) * ROWS).min(n_k) {
                    let local_k = ik - chunk * ROWS;
                    let k = kvectors.vectors[ik];
                    let norm = (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
                    let direction = k.map(|x| x / norm);
                    harmonics.compute(direction);
                    radial.compute(norm, radial_values, radial_derivatives);
                    let (g, dg) = self.density.fourier(norm);

                    for parity in 0..2 {
                        let features = &parities[parity];
                        let n_features = features.len();
                        let row = &mut rows[parity][local_k * values_columns[parity]
                            ..(local_k + 1) * values_columns[parity]];
                        let grad = &mut grads[parity][local_k * gradient_columns[parity]
                            ..(local_k + 1) * gradient_columns[parity]];
                        for (local, &global) in features.global.iter().enumerate() {
                            let lm = global / n_radial;
                            let n = global % n_radial;
                            let l = (lm as f64).sqrt() as usize;
                            let c = prefactor * sign_of_l(l);
                            let y = harmonics.values[lm];
                            let i = radial_values[l * n_radial + n];
                            let w = c * g * i * y;
                            row[local] = w;
                            if strain {
                                // ∂W/∂k_α = c [(ĝI)' k̂_α Y + ĝ I (∂_α R(k̂) - l k̂_α Y) / |k|]
                                let radial_part = dg * i + g * radial_derivatives[l * n_radial + n];
                                let gradient_y = harmonics.gradients[lm];
                                for alpha in 0..3 {
                                    let d_alpha = c
                                        * (radial_part * direction[alpha] * y
                                            + g * i
                                                * (gradient_y[alpha]
                                                    - l as f64 * direction[alpha] * y)
                                                / norm);
                                    for beta in 0..3 {
                                        // d k'/dε_αβ = -k_β e_α
                                        row[(1 + 3 * alpha + beta) * n_features + local] =
                                            -k[beta] * d_alpha;
                                    }
                                }
                            }
                        }
                        if let Some(layout) = &gradient_layout {
                            let columns = layout.blocks[parity].iter();
                            for (&(l, big_l, big_m), out) in
                                columns.zip(grad.chunks_exact_mut(n_radial))
                            {
                                let c = prefactor * sign_of_l(l) * g * norm;
                                let y = harmonics.values[lm_index(big_l, big_m)];
                                let radial = &radial_values[l * n_radial..(l + 1) * n_radial];
                                for (o, i) in out.iter_mut().zip(radial) {
                                    *o = c * i * y;
                                }
                            }
                        }
                    }
                }
            },
        );

        KTables {
            n_k,
            parities,
            values,
            values_columns,
            positions: gradient_layout.map(|columns| PositionsTables {
                tables: gradients,
                columns,
            }),
        }
    }
}

/// e^{i n b_d·r} for n in [-max_d, max_d], for one atom, so that e^{ik·r} for k = Σ n_d b_d is
/// a product of three table entries
pub(crate) struct AtomPhases {
    max_index: [i32; 3],
    /// (cos, sin) for each direction, indexed by n + max_d
    tables: [Vec<(f64, f64)>; 3],
}

impl AtomPhases {
    /// The phases of every atom of `system`, up to `max_index`
    pub fn of_system(system: &System, max_index: [i32; 3]) -> Vec<AtomPhases> {
        let reciprocal = system.reciprocal_cell();
        system
            .positions
            .par_iter()
            .map(|&r| AtomPhases::new(r, &reciprocal, max_index))
            .collect()
    }

    pub fn new(position: [f64; 3], reciprocal: &[[f64; 3]; 3], max_index: [i32; 3]) -> AtomPhases {
        let tables = [0, 1, 2].map(|d| {
            let b = reciprocal[d];
            let angle = b[0] * position[0] + b[1] * position[1] + b[2] * position[2];
            (-max_index[d]..=max_index[d])
                .map(|n| {
                    let (s, c) = (n as f64 * angle).sin_cos();
                    (c, s)
                })
                .collect()
        });
        AtomPhases { max_index, tables }
    }

    /// (cos k·r, sin k·r) for consecutive k-vectors, reusing the product of the first two
    /// factors while only n₃ changes (the innermost loop of the k-vector generation)
    pub fn fill(&self, indices: &[[i32; 3]], cos: &mut [f64], sin: &mut [f64]) {
        let mut cached: Option<([i32; 2], (f64, f64))> = None;
        for (ik, index) in indices.iter().enumerate() {
            let ab = match cached {
                Some((key, value)) if key == [index[0], index[1]] => value,
                _ => {
                    let a = self.tables[0][(index[0] + self.max_index[0]) as usize];
                    let b = self.tables[1][(index[1] + self.max_index[1]) as usize];
                    let value = (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
                    cached = Some(([index[0], index[1]], value));
                    value
                }
            };
            let c = self.tables[2][(index[2] + self.max_index[2]) as usize];
            cos[ik] = ab.0 * c.0 - ab.1 * c.1;
            sin[ik] = ab.0 * c.1 + ab.1 * c.0;
        }
    }
}

/// Values (and strain parts) for the given centres and all neighbour types: returns, per
/// parity, a (n_centers × n_types, values_columns) row-major array.
///
/// Blocks of k-vectors are processed in parallel; each computes e^{ik·rⱼ} once for all atoms,
/// the structure factors Σ_{j∈t} e^{-ik·rⱼ} of each type, the phase matrices of the centres,
/// and accumulates one matrix product per parity into its own output.
pub(crate) fn kspace_values(
    tables: &KTables,
    kvectors: &KVectors,
    phases: &[AtomPhases],
    centers: &[usize],
    atom_type_index: &[Option<usize>],
    n_types: usize,
) -> [Vec<f64>; 2] {
    let n_k = tables.n_k;
    let columns = tables.values_columns;
    let rows = centers.len() * n_types;
    let zero = || [0, 1].map(|p| vec![0.0; rows * columns[p]]);

    let (chunk_starts, min_len) = k_blocks(n_k);
    chunk_starts
        .par_iter()
        .with_min_len(min_len)
        .fold(
            || (zero(), StructureFactors::default()),
            |(mut outputs, mut scratch), &k_start| {
                let kc = K_CHUNK.min(n_k - k_start);
                let indices = &kvectors.indices[k_start..k_start + kc];
                scratch.compute(phases, indices, atom_type_index, centers, n_types);
                for (parity, phase_matrix) in scratch.phase.iter().enumerate() {
                    if columns[parity] != 0 {
                        let table = &tables.values[parity];
                        accumulate_product(
                            &mut outputs[parity],
                            phase_matrix,
                            table,
                            rows,
                            k_start,
                            kc,
                        );
                    }
                }
                (outputs, scratch)
            },
        )
        .map(|(outputs, _)| outputs)
        .reduce(zero, |mut a, b| {
            for (a, b) in a.iter_mut().zip(b) {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            }
            a
        })
}

/// The first k-vector of each block of K_CHUNK, and the fewest blocks a parallel task takes:
/// a few accumulators per thread at most, as each holds a full output
pub(crate) fn k_blocks(n_k: usize) -> (Vec<usize>, usize) {
    let starts: Vec<usize> = (0..n_k).step_by(K_CHUNK).collect();
    let min_len = starts.len() / (4 * rayon::current_num_threads()).max(1);
    (starts, min_len.max(1))
}

/// `n_chunks` consecutive slices of `chunk_size` (the last one shorter, all empty when the
/// table is)
fn split_rows(table: &mut [f64], chunk_size: usize, n_chunks: usize) -> Vec<&mut [f64]> {
    let mut chunks = Vec::with_capacity(n_chunks);
    let mut rest = table;
    for _ in 0..n_chunks {
        let (chunk, tail) = rest.split_at_mut(chunk_size.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// The structure factors of one block of k-vectors: with cⱼ, sⱼ = cos, sin k·rⱼ of every atom
/// and, for every neighbour type a, Cₐ = Σ_{j∈a} cⱼ, Sₐ = Σ_{j∈a} sⱼ, the phase matrices
/// Re Sᵢₐ(k) = cᵢ Cₐ + sᵢ Sₐ and Im Sᵢₐ(k) = sᵢ Cₐ - cᵢ Sₐ of Sᵢₐ(k) = e^{ik·rᵢ} Σ_{j∈a} e^{-ik·rⱼ}
/// for every centre i: what the values (`kspace_values`) and the backward product
/// (`backward::backward_chunk`) both start from. Per-thread buffers, resized for each block.
#[derive(Default)]
pub(crate) struct StructureFactors {
    /// cⱼ and sⱼ, (atom, k)
    pub cos: Vec<f64>,
    pub sin: Vec<f64>,
    /// Cₐ and Sₐ, (type, k)
    pub structure_cos: Vec<f64>,
    pub structure_sin: Vec<f64>,
    /// Re and Im of Sᵢₐ(k), (centre × type, k)
    pub phase: [Vec<f64>; 2],
}

impl StructureFactors {
    /// Compute them for the k-vectors of `indices`, from the phases of every atom
    pub fn compute(
        &mut self,
        phases: &[AtomPhases],
        indices: &[[i32; 3]],
        atom_type_index: &[Option<usize>],
        centers: &[usize],
        n_types: usize,
    ) {
        let kc = indices.len();
        let n_atoms = phases.len();
        let rows = centers.len() * n_types;
        let StructureFactors {
            cos,
            sin,
            structure_cos,
            structure_sin,
            phase,
        } = self;
        cos.resize(n_atoms * kc, 0.0);
        sin.resize(n_atoms * kc, 0.0);
        for sums in [&mut *structure_cos, &mut *structure_sin] {
            sums.clear();
            sums.resize(n_types * kc, 0.0);
        }
        for matrix in phase.iter_mut() {
            matrix.resize(rows * kc, 0.0);
        }
        for (j, atom) in phases.iter().enumerate() {
            atom.fill(
                indices,
                &mut cos[j * kc..(j + 1) * kc],
                &mut sin[j * kc..(j + 1) * kc],
            );
            if let Some(t) = atom_type_index[j] {
                for ik in 0..kc {
                    structure_cos[t * kc + ik] += cos[j * kc + ik];
                    structure_sin[t * kc + ik] += sin[j * kc + ik];
                }
            }
        }
        let [real, imag] = phase;
        for (c, &center) in centers.iter().enumerate() {
            let ci = &cos[center * kc..(center + 1) * kc];
            let si = &sin[center * kc..(center + 1) * kc];
            for t in 0..n_types {
                let row = c * n_types + t;
                let ct = &structure_cos[t * kc..(t + 1) * kc];
                let st = &structure_sin[t * kc..(t + 1) * kc];
                let real = &mut real[row * kc..(row + 1) * kc];
                let imag = &mut imag[row * kc..(row + 1) * kc];
                for ik in 0..kc {
                    real[ik] = ci[ik] * ct[ik] + si[ik] * st[ik];
                    imag[ik] = si[ik] * ct[ik] - ci[ik] * st[ik];
                }
            }
        }
    }
}

/// output (rows, columns) += phases (rows, kc) × table[k_start..k_start + kc] (kc, columns),
/// all row-major, with `columns` deduced from the output size
pub(crate) fn accumulate_product(
    output: &mut [f64],
    phases: &[f64],
    table: &[f64],
    rows: usize,
    k_start: usize,
    kc: usize,
) {
    let columns = output.len() / rows;
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(output, rows, columns),
        Accum::Add,
        MatRef::from_row_major_slice(&phases[..rows * kc], rows, kc),
        MatRef::from_row_major_slice(
            &table[k_start * columns..(k_start + kc) * columns],
            kc,
            columns,
        ),
        1.0,
        Par::Seq,
    );
}
