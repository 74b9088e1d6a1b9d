//! Gradients with respect to atomic positions of the k-space sum, using its pair symmetry.
//!
//! ∂⟨a n l m|Vᵢ⟩/∂rⱼ = Σ_k k W(k) {sin(k·(rᵢ-rⱼ)) for even l, -cos(k·(rᵢ-rⱼ)) for odd l} does not
//! depend on the types, so the same numbers give ∂Vⱼ/∂rᵢ = ∓∂Vᵢ/∂rⱼ: each pair is computed once,
//! by the task of one of its atoms, and written to both outputs (lode/positions.rs).

use rayon::prelude::*;

use super::{accumulate_product, AtomPhases, KTables, KVectors, K_CHUNK};
use crate::lode::positions::{channel_rows, swapped_pair_sign, PositionsLayout, SharedRows};
use crate::System;

/// Compute and write every off-diagonal gradient row of one system
#[allow(clippy::too_many_arguments)]
pub(crate) fn compute_pairs(
    system: &System,
    layout: &PositionsLayout,
    outputs: &[Option<SharedRows>],
    tables: &KTables,
    kvectors: &KVectors,
    phases: &[AtomPhases],
    n_radial: usize,
) {
    let n_atoms = system.size();
    let is_center: Vec<bool> = (0..n_atoms).map(|i| layout.is_center(i)).collect();
    let needs_pair = |i: usize, j: usize| {
        let (ti, tj) = (system.types[i], system.types[j]);
        (is_center[i] && layout.blocks_by_pair.contains_key(&(ti, tj)))
            || (is_center[j] && layout.blocks_by_pair.contains_key(&(tj, ti)))
    };

    // the pair (i, j) is computed by i if i < j or j is not a centre
    let tasks: Vec<(usize, Vec<usize>)> = (0..n_atoms)
        .filter(|&i| is_center[i])
        .map(|i| {
            let rows = (0..n_atoms)
                .filter(|&j| j != i && (j > i || !is_center[j]) && needs_pair(i, j))
                .collect();
            (i, rows)
        })
        .filter(|(_, rows): &(usize, Vec<usize>)| !rows.is_empty())
        .collect();

    let phases = DensePhases::new(phases, kvectors);
    let gradient_columns = &tables.positions.as_ref().expect("positions tables").columns;
    let columns = [0, 1].map(|p| gradient_columns.len(p));
    tasks
        .par_iter()
        .for_each_init(PositionsScratch::default, |scratch, (i, rows)| {
            let i = *i;
            kspace_positions_gradients(tables, &phases, i, rows, scratch);
            let PositionsScratch {
                gradients,
                transformed,
                ..
            } = scratch;
            let max_angular = gradient_columns.max_angular();
            transformed.resize(channel_rows(max_angular, n_radial).end, 0.0);
            for (r, &j) in rows.iter().enumerate() {
                let (ti, tj) = (system.types[i], system.types[j]);
                let forward = if is_center[i] {
                    layout.blocks_by_pair.get(&(ti, tj))
                } else {
                    None
                };
                let backward = if is_center[j] {
                    layout.blocks_by_pair.get(&(tj, ti))
                } else {
                    None
                };
                // the rows (α, m, n) of every l, recombined once for both outputs
                for (l, terms) in gradient_columns.terms.iter().enumerate() {
                    let parity = l % 2;
                    let gradient =
                        &gradients[parity][r * columns[parity]..(r + 1) * columns[parity]];
                    let row = &mut transformed[channel_rows(l, n_radial)];
                    row.iter_mut().for_each(|v| *v = 0.0);
                    for &(target, column, coefficient) in terms {
                        let source = &gradient[column..column + n_radial];
                        for (o, &g) in row[target..target + n_radial].iter_mut().zip(source) {
                            *o += coefficient * g;
                        }
                    }
                }
                for (blocks, center, neighbor, neighbor_type, backwards) in
                    [(forward, i, j, tj, false), (backward, j, i, ti, true)]
                {
                    for &(b, l) in blocks.into_iter().flatten() {
                        let Some(row) = layout.row(system, b, neighbor_type, center, neighbor)
                        else {
                            continue;
                        };
                        let sign = if backwards { swapped_pair_sign(l) } else { 1.0 };
                        let source = &transformed[channel_rows(l, n_radial)];
                        let output = outputs[b].as_ref().expect("block has positions gradients");
                        // SAFETY: (block, centre, neighbour) rows are written by exactly one task,
                        // before any other part of the calculation adds to them
                        let out = unsafe { output.row(row) };
                        for (o, &g) in out.iter_mut().zip(source) {
                            *o = sign * g;
                        }
                    }
                }
            }
        });
}

/// cos k·rⱼ and sin k·rⱼ of every atom for every k-vector, (atom, k) row-major: the phase
/// matrices of all pairs are built from these rows
pub(crate) struct DensePhases {
    n_k: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl DensePhases {
    pub fn new(phases: &[AtomPhases], kvectors: &KVectors) -> DensePhases {
        let n_k = kvectors.indices.len();
        let mut cos = vec![0.0; phases.len() * n_k];
        let mut sin = vec![0.0; phases.len() * n_k];
        cos.par_chunks_mut(n_k.max(1))
            .zip(sin.par_chunks_mut(n_k.max(1)))
            .zip(phases)
            .for_each(|((cos, sin), phase)| phase.fill(&kvectors.indices, cos, sin));
        DensePhases { n_k, cos, sin }
    }

    fn row(&self, atom: usize, start: usize, count: usize) -> (&[f64], &[f64]) {
        let range = atom * self.n_k + start..atom * self.n_k + start + count;
        (&self.cos[range.clone()], &self.sin[range])
    }
}

/// ∂⟨a n l m|Vᵢ⟩/∂rⱼ for one centre i and the atoms j in `rows`, before the recombination of
/// `GradientColumns`: per parity, a (rows.len(), table columns) row-major array in `scratch`.
pub(crate) fn kspace_positions_gradients(
    tables: &KTables,
    phases: &DensePhases,
    center: usize,
    rows: &[usize],
    scratch: &mut PositionsScratch,
) {
    let n_k = tables.n_k;
    let n_rows = rows.len();
    let positions = tables.positions.as_ref().expect("positions tables");
    let columns = [0, 1].map(|p| positions.columns.len(p));
    // chunks of equal length, at most K_CHUNK
    let chunk = n_k.div_ceil(n_k.div_ceil(K_CHUNK).max(1)).max(1);
    scratch.resize(n_rows, chunk, columns);
    for p in 0..2 {
        scratch.gradients[p].iter_mut().for_each(|v| *v = 0.0);
    }

    for k_start in (0..n_k).step_by(chunk) {
        let kc = chunk.min(n_k - k_start);
        let (ci, si) = phases.row(center, k_start, kc);
        for (r, &j) in rows.iter().enumerate() {
            let (cj, sj) = phases.row(j, k_start, kc);
            // sin(k·(rᵢ - rⱼ)) and -cos(k·(rᵢ - rⱼ))
            let sin_row = &mut scratch.sin[r * kc..(r + 1) * kc];
            for (((out, (ci, si)), cj), sj) in
                sin_row.iter_mut().zip(ci.iter().zip(si)).zip(cj).zip(sj)
            {
                *out = si * cj - ci * sj;
            }
            let minus_cos_row = &mut scratch.minus_cos[r * kc..(r + 1) * kc];
            for (((out, (ci, si)), cj), sj) in minus_cos_row
                .iter_mut()
                .zip(ci.iter().zip(si))
                .zip(cj)
                .zip(sj)
            {
                *out = -(ci * cj + si * sj);
            }
        }
        for (parity, phase_matrix) in [&scratch.sin, &scratch.minus_cos].into_iter().enumerate() {
            if columns[parity] == 0 {
                continue;
            }
            let table = &positions.tables[parity];
            accumulate_product(
                &mut scratch.gradients[parity],
                phase_matrix,
                table,
                n_rows,
                k_start,
                kc,
            );
        }
    }
}

/// Per-thread buffers for `kspace_positions_gradients`
#[derive(Default)]
pub(crate) struct PositionsScratch {
    sin: Vec<f64>,
    minus_cos: Vec<f64>,
    /// (n_atoms, table columns) per parity
    pub gradients: [Vec<f64>; 2],
    /// the gradient rows of one pair, by `positions::channel_rows`
    pub transformed: Vec<f64>,
}

impl PositionsScratch {
    fn resize(&mut self, n_atoms: usize, chunk: usize, columns: [usize; 2]) {
        self.sin.resize(n_atoms * chunk, 0.0);
        self.minus_cos.resize(n_atoms * chunk, 0.0);
        for (gradients, columns) in self.gradients.iter_mut().zip(columns) {
            gradients.resize(n_atoms * columns, 0.0);
        }
    }
}
