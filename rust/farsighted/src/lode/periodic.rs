//! The reciprocal-space LODE sum for 3D-periodic systems, written as matrix products.
//!
//! With Sᵢₐ(k) = Σ_{j∈a} e^{ik·(rᵢ-rⱼ)} and one k of each ±k pair,
//!
//!   ⟨a n l m|Vᵢ⟩ = Σ_k Wₙₗₘ(k) {Re Sᵢₐ(k) for even l, Im Sᵢₐ(k) for odd l}
//!   Wₙₗₘ(k) = 2 (4π/V) ĝ(k) (-1)^{⌊(l+1)/2⌋} Iₗₙ(k) Yₗₘ(k̂)
//!
//! so that the values are (centres × k) phase matrices times a (k × features) table, computed
//! by blocks of k-vectors to bound memory. Gradients with respect to rⱼ use the same table
//! multiplied by k; gradients with respect to strain use k_β ∂W/∂k_α.

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

pub(crate) use super::kvectors::KVectors;
use super::LodeSphericalExpansion;
use crate::math::harmonics::{lm_index, SolidHarmonics};
use crate::System;

/// Number of k-vectors processed at once
const K_CHUNK: usize = 256;
/// Number of centres sharing one matrix product for the values
const CENTER_CHUNK: usize = 32;

/// Features of one parity of l, in (l, m, n) order
pub(crate) struct ParityFeatures {
    /// global feature index lm_index(l, m) * n_radial + n of each local feature
    pub global: Vec<usize>,
}

impl ParityFeatures {
    fn new(max_angular: usize, n_radial: usize, odd: bool) -> ParityFeatures {
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

/// Tables over all k-vectors of one system: (n_k, columns) row-major for each parity
pub(crate) struct KTables {
    pub n_k: usize,
    pub max_angular: usize,
    pub parities: [ParityFeatures; 2],
    /// [W | D] where D (9 blocks αβ) is present when strain gradients are requested
    pub values: [Vec<f64>; 2],
    pub values_columns: [usize; 2],
    /// [k_x W | k_y W | k_z W], when positions gradients are requested
    pub positions: Option<[Vec<f64>; 2]>,
}

impl LodeSphericalExpansion {
    pub(crate) fn k_tables(
        &self,
        system: &System,
        kvectors: &KVectors,
        positions: bool,
        strain: bool,
    ) -> KTables {
        let max_angular = self.parameters.max_angular;
        let n_radial = self.n_radial();
        let parities = [
            ParityFeatures::new(max_angular, n_radial, false),
            ParityFeatures::new(max_angular, n_radial, true),
        ];
        let n_k = kvectors.vectors.len();
        let prefactor = 2.0 * 4.0 * std::f64::consts::PI / system.volume();

        let strain_blocks = if strain { 9 } else { 0 };
        let values_columns = [0, 1].map(|p| parities[p].len() * (1 + strain_blocks));
        let gradient_columns = [0, 1].map(|p| if positions { 3 * parities[p].len() } else { 0 });
        let n_functions = (max_angular + 1) * n_radial;

        // one row of each table per k-vector, computed in parallel and then packed
        let rows: Vec<[[Vec<f64>; 2]; 2]> = (0..n_k)
            .into_par_iter()
            .map_init(
                || {
                    (
                        SolidHarmonics::new(max_angular),
                        vec![0.0; n_functions],
                        vec![0.0; n_functions],
                    )
                },
                |(harmonics, radial, radial_derivative), ik| {
                    let k = kvectors.vectors[ik];
                    let norm = (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
                    let direction = k.map(|x| x / norm);
                    harmonics.compute(direction);
                    self.radial.compute(norm, radial, radial_derivative);
                    let (g, dg) = self.density.fourier(norm);

                    [0, 1].map(|parity| {
                        let features = &parities[parity];
                        let n_features = features.len();
                        let mut row = vec![0.0; values_columns[parity]];
                        let mut grad = vec![0.0; gradient_columns[parity]];
                        for (local, &global) in features.global.iter().enumerate() {
                            let lm = global / n_radial;
                            let n = global % n_radial;
                            let l = (lm as f64).sqrt() as usize;
                            let phase = if l.div_ceil(2) % 2 == 0 { 1.0 } else { -1.0 };
                            let c = prefactor * phase;
                            let y = harmonics.values[lm];
                            let i = radial[l * n_radial + n];
                            let w = c * g * i * y;
                            row[local] = w;
                            if positions {
                                for alpha in 0..3 {
                                    grad[alpha * n_features + local] = k[alpha] * w;
                                }
                            }
                            if strain {
                                // ∂W/∂k_α = c [(ĝI)' k̂_α Y + ĝ I (∂_α R(k̂) - l k̂_α Y) / |k|]
                                let radial_part = dg * i + g * radial_derivative[l * n_radial + n];
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
                        [row, grad]
                    })
                },
            )
            .collect();

        let pack = |parity: usize, which: usize| -> Vec<f64> {
            let mut packed =
                Vec::with_capacity(n_k * rows.first().map_or(0, |r| r[parity][which].len()));
            for row in &rows {
                packed.extend_from_slice(&row[parity][which]);
            }
            packed
        };
        let values = [pack(0, 0), pack(1, 0)];
        let gradients = [pack(0, 1), pack(1, 1)];

        KTables {
            n_k,
            max_angular,
            parities,
            values,
            values_columns,
            positions: if positions { Some(gradients) } else { None },
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

    /// (cos k·r, sin k·r)
    #[inline]
    pub fn phase(&self, index: [i32; 3]) -> (f64, f64) {
        let a = self.tables[0][(index[0] + self.max_index[0]) as usize];
        let b = self.tables[1][(index[1] + self.max_index[1]) as usize];
        let c = self.tables[2][(index[2] + self.max_index[2]) as usize];
        let ab = (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        (ab.0 * c.0 - ab.1 * c.1, ab.0 * c.1 + ab.1 * c.0)
    }
}

/// Σ_{j∈t} (cos k·rⱼ, sin k·rⱼ) for each neighbour type t: (n_types, n_k) each
pub(crate) fn structure_factors(
    phases: &[AtomPhases],
    atom_type_index: &[Option<usize>],
    n_types: usize,
    kvectors: &KVectors,
) -> (Vec<f64>, Vec<f64>) {
    let n_k = kvectors.indices.len();
    let per_k: Vec<(Vec<f64>, Vec<f64>)> = kvectors
        .indices
        .par_iter()
        .map(|&index| {
            let mut cos = vec![0.0; n_types];
            let mut sin = vec![0.0; n_types];
            for (phase, t) in phases.iter().zip(atom_type_index) {
                if let Some(t) = *t {
                    let (c, s) = phase.phase(index);
                    cos[t] += c;
                    sin[t] += s;
                }
            }
            (cos, sin)
        })
        .collect();
    let mut cos = vec![0.0; n_types * n_k];
    let mut sin = vec![0.0; n_types * n_k];
    for (ik, (c, s)) in per_k.into_iter().enumerate() {
        for t in 0..n_types {
            cos[t * n_k + ik] = c[t];
            sin[t * n_k + ik] = s[t];
        }
    }
    (cos, sin)
}

/// Values (and strain parts) for the given centres and all neighbour types:
/// returns, per parity, a (n_centers × n_types, values_columns) row-major array.
pub(crate) fn kspace_values(
    tables: &KTables,
    kvectors: &KVectors,
    phases: &[AtomPhases],
    centers: &[usize],
    structure_cos: &[f64],
    structure_sin: &[f64],
    n_types: usize,
) -> [Vec<f64>; 2] {
    let n_k = tables.n_k;
    let columns = tables.values_columns;

    let chunks: Vec<[Vec<f64>; 2]> = centers
        .par_chunks(CENTER_CHUNK)
        .map(|chunk_centers| {
            let rows = chunk_centers.len() * n_types;
            let mut outputs = [0, 1].map(|p| vec![0.0; rows * columns[p]]);
            let mut real = vec![0.0; rows * K_CHUNK];
            let mut imag = vec![0.0; rows * K_CHUNK];
            for k_start in (0..n_k).step_by(K_CHUNK) {
                let kc = K_CHUNK.min(n_k - k_start);
                for (c, &center) in chunk_centers.iter().enumerate() {
                    for ik in 0..kc {
                        let (ci, si) = phases[center].phase(kvectors.indices[k_start + ik]);
                        for t in 0..n_types {
                            let cos_t = structure_cos[t * n_k + k_start + ik];
                            let sin_t = structure_sin[t * n_k + k_start + ik];
                            let row = c * n_types + t;
                            // Re and Im of e^{ik·rᵢ} Σⱼ e^{-ik·rⱼ}
                            real[row * kc + ik] = ci * cos_t + si * sin_t;
                            imag[row * kc + ik] = si * cos_t - ci * sin_t;
                        }
                    }
                }
                for (parity, phase_matrix) in [&real, &imag].into_iter().enumerate() {
                    if columns[parity] == 0 {
                        continue;
                    }
                    let table = &tables.values[parity]
                        [k_start * columns[parity]..(k_start + kc) * columns[parity]];
                    faer::linalg::matmul::matmul(
                        MatMut::from_row_major_slice_mut(
                            &mut outputs[parity],
                            rows,
                            columns[parity],
                        ),
                        Accum::Add,
                        MatRef::from_row_major_slice(&phase_matrix[..rows * kc], rows, kc),
                        MatRef::from_row_major_slice(table, kc, columns[parity]),
                        1.0,
                        Par::Seq,
                    );
                }
            }
            outputs
        })
        .collect();

    [0, 1].map(|parity| {
        chunks
            .iter()
            .flat_map(|c| c[parity].iter().copied())
            .collect()
    })
}

/// ∂⟨a n l m|Vᵢ⟩/∂rⱼ for one centre i and the atoms j in `rows`: per parity, a
/// (rows.len(), 3 × n_features) row-major array with columns (α, feature), in `scratch`.
pub(crate) fn kspace_positions_gradients(
    tables: &KTables,
    kvectors: &KVectors,
    phases: &[AtomPhases],
    center: usize,
    rows: &[usize],
    scratch: &mut PositionsScratch,
) {
    let n_k = tables.n_k;
    let n_rows = rows.len();
    let gradient_tables = tables.positions.as_ref().expect("positions tables");
    let columns = [3 * tables.parities[0].len(), 3 * tables.parities[1].len()];
    scratch.resize(n_rows, columns);
    for p in 0..2 {
        scratch.gradients[p].iter_mut().for_each(|v| *v = 0.0);
    }

    for k_start in (0..n_k).step_by(K_CHUNK) {
        let kc = K_CHUNK.min(n_k - k_start);
        let (sin_matrix, minus_cos_matrix) = (&mut scratch.sin, &mut scratch.minus_cos);
        for ik in 0..kc {
            let index = kvectors.indices[k_start + ik];
            let (ci, si) = phases[center].phase(index);
            for (r, &j) in rows.iter().enumerate() {
                let (cj, sj) = phases[j].phase(index);
                // sin(k·(rᵢ - rⱼ)) and -cos(k·(rᵢ - rⱼ))
                sin_matrix[r * kc + ik] = si * cj - ci * sj;
                minus_cos_matrix[r * kc + ik] = -(ci * cj + si * sj);
            }
        }
        for (parity, phase_matrix) in [&scratch.sin, &scratch.minus_cos].into_iter().enumerate() {
            if columns[parity] == 0 {
                continue;
            }
            let table = &gradient_tables[parity]
                [k_start * columns[parity]..(k_start + kc) * columns[parity]];
            faer::linalg::matmul::matmul(
                MatMut::from_row_major_slice_mut(
                    &mut scratch.gradients[parity],
                    n_rows,
                    columns[parity],
                ),
                Accum::Add,
                MatRef::from_row_major_slice(&phase_matrix[..n_rows * kc], n_rows, kc),
                MatRef::from_row_major_slice(table, kc, columns[parity]),
                1.0,
                Par::Seq,
            );
        }
    }
}

/// Per-thread buffers for `kspace_positions_gradients`
#[derive(Default)]
pub(crate) struct PositionsScratch {
    sin: Vec<f64>,
    minus_cos: Vec<f64>,
    /// (n_atoms, 3 × n_features) per parity
    pub gradients: [Vec<f64>; 2],
}

impl PositionsScratch {
    fn resize(&mut self, n_atoms: usize, columns: [usize; 2]) {
        self.sin.resize(n_atoms * K_CHUNK, 0.0);
        self.minus_cos.resize(n_atoms * K_CHUNK, 0.0);
        for (gradients, columns) in self.gradients.iter_mut().zip(columns) {
            gradients.resize(n_atoms * columns, 0.0);
        }
    }
}
