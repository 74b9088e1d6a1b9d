//! Backward product of the k-space sum: given G = ∂L/∂features, ∂L/∂positions and the strain
//! derivative Ξ without forming the N² Jacobian.
//!
//! The features are matrix products of phase matrices with the table W (lode/kspace/mod.rs),
//! so L = Σ_k Σ_{i,a} [H⁰ᵢₐ(k) Re Sᵢₐ(k) + H¹ᵢₐ(k) Im Sᵢₐ(k)] (+ the k = 0 term) with
//! Hᵢₐ(k) = Σ_f Gᵢₐf W_f(k) (one matrix product per parity). Its derivatives with respect to
//! the positions are structure-factor-like sums over atoms for each k (the kernel below),
//! and with respect to the strain they contract Mf(k) = Σᵢₐ Gᵢₐf Sᵢₐ(k) (a second matrix
//! product) with the strain table ∂W/∂ε.
//!
//! The kernel, for one block of k-vectors:
//!
//! With cⱼ, sⱼ = cos, sin(k·rⱼ), the structure sums Cₐ = Σ_{j∈a} cⱼ, Sₐ = Σ_{j∈a} sⱼ and
//! Hᵖᵢₐ = Σ_f Gᵢₐf W_f (p the parity of l), the k-term of L is
//!
//!   Σᵢₐ H⁰ᵢₐ (cᵢ Cₐ + sᵢ Sₐ) + H¹ᵢₐ (sᵢ Cₐ − cᵢ Sₐ)
//!
//! and its gradient with respect to rₘ is k times
//!
//!   Σₐ H⁰ₘₐ (cₘ Sₐ − sₘ Cₐ) + H¹ₘₐ (cₘ Cₐ + sₘ Sₐ)     (m as the centre)
//!   + cₘ B_{aₘ} − sₘ A_{aₘ}                              (m as a neighbour of type aₘ)
//!
//! with Aₐ = Σᵢ H⁰ᵢₐ cᵢ + H¹ᵢₐ sᵢ and Bₐ = Σᵢ H⁰ᵢₐ sᵢ − H¹ᵢₐ cᵢ: O(N) per k once H is known.
//! The strain part contracts M_f = Σᵢₐ Gᵢₐf {Re, Im} Sᵢₐ with the strain table.

use faer::{Accum, MatMut, MatRef, Par};

use rayon::prelude::*;

use super::{AtomPhases, KSpace, KTables, KVectors, K_CHUNK};
use crate::lode::backward::{BackwardGradients, SystemInput};
use crate::lode::plan::Geometry;
use crate::lode::KSpaceRadialIntegral;
use crate::{Error, System};

/// What every block of k-vectors of one system reads
pub(crate) struct ChunkInput<'a> {
    pub phases: &'a [AtomPhases],
    /// centres with a G row, sorted
    pub centers: &'a [usize],
    /// index of each atom's type among the neighbour types, if it is one
    pub atom_type_index: &'a [Option<usize>],
    pub n_types: usize,
    /// G per parity: (centre × type, feature of the parity) row-major
    pub g: &'a [Vec<f64>; 2],
    /// whether G has non-zero entries of each parity
    pub active: [bool; 2],
}

/// Sums over k-vectors of one system
pub(crate) struct Accumulator {
    /// ∂L/∂rⱼ
    pub positions: Vec<[f64; 3]>,
    /// Σ_k Σ_f M_f(k) ∂W_f/∂ε_αβ(k), at 3α + β
    pub strain: [f64; 9],
    /// Σ_k Σ_f M_f(k) W_f(k): Σ G X over the k-sum
    pub lattice: f64,
}

impl Accumulator {
    pub fn new(n_atoms: usize) -> Accumulator {
        Accumulator {
            positions: vec![[0.0; 3]; n_atoms],
            strain: [0.0; 9],
            lattice: 0.0,
        }
    }

    pub fn add(mut self, other: Accumulator) -> Accumulator {
        for (a, b) in self.positions.iter_mut().zip(&other.positions) {
            for alpha in 0..3 {
                a[alpha] += b[alpha];
            }
        }
        for (a, b) in self.strain.iter_mut().zip(other.strain) {
            *a += b;
        }
        self.lattice += other.lattice;
        self
    }
}

impl KSpace {
    /// ∂L/∂positions and Ξ of one system of this geometry (the cell gradient is left to the
    /// plan)
    pub fn backward(
        &self,
        geometry: Geometry,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<BackwardGradients, Error> {
        match geometry {
            Geometry::Bulk => self.bulk_backward(s, system, input),
            Geometry::Slab => self.slab_backward(system, input),
            Geometry::Open => Err(Error::InvalidSystem(format!(
                "internal error: system {s} is open, it has no k-space sum"
            ))),
        }
    }

    /// A 3D-periodic system: the k-sum and the k = 0 term
    fn bulk_backward(
        &self,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<BackwardGradients, Error> {
        if input.centers.is_empty() {
            return Ok(BackwardGradients::zero(system.size()));
        }
        let kvectors = self.bulk_k_vectors(s, system)?;
        let total = self.backward_sum(self.radial()?, system, input, &kvectors);

        // Σ G X over the lattice part of the features: the k-sum and the k = 0 term
        let mut lattice = total.lattice;
        if let Some(g0) = self.density.fourier_at_zero() {
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
        Ok(total.into_gradients(lattice))
    }

    /// The backward product of the k-sum over `kvectors` of one system
    pub fn backward_sum(
        &self,
        radial: &KSpaceRadialIntegral,
        system: &System,
        input: &SystemInput,
        kvectors: &KVectors,
    ) -> Accumulator {
        let n_atoms = system.size();
        let reciprocal = system.reciprocal_cell();
        let phases: Vec<AtomPhases> = system
            .positions
            .par_iter()
            .map(|&r| AtomPhases::new(r, &reciprocal, kvectors.max_index))
            .collect();
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
        chunk_starts
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
            .reduce(|| Accumulator::new(n_atoms), Accumulator::add)
    }
}

impl Accumulator {
    /// ∂L/∂positions and Ξ, with the volume factor 1/V of `lattice` = Σ G X over the
    /// features it multiplies: -δ_αβ times it (the cell gradient is left to the plan)
    pub fn into_gradients(self, lattice: f64) -> BackwardGradients {
        let strain = std::array::from_fn(|alpha| {
            std::array::from_fn(|beta| {
                let volume = if alpha == beta { lattice } else { 0.0 };
                self.strain[3 * alpha + beta] - volume
            })
        });
        BackwardGradients {
            positions: self.positions,
            cell: [[0.0; 3]; 3],
            strain,
        }
    }
}

/// Per-thread buffers, resized for each block of k-vectors
#[derive(Default)]
pub(crate) struct ChunkScratch {
    /// (atom, k)
    cos: Vec<f64>,
    sin: Vec<f64>,
    weights: Vec<f64>,
    /// (type, k)
    structure_cos: Vec<f64>,
    structure_sin: Vec<f64>,
    sum_a: Vec<f64>,
    sum_b: Vec<f64>,
    /// (centre × type, k): Re S and Im S, then H per parity
    phase: [Vec<f64>; 2],
    h: [Vec<f64>; 2],
    /// (k, feature of one parity)
    m: Vec<f64>,
}

/// Add the contribution of the k-vectors of `chunk` (whose tables are `tables`, with the
/// strain columns) to `accumulator`
pub(crate) fn backward_chunk(
    tables: &KTables,
    chunk: &KVectors,
    input: &ChunkInput,
    scratch: &mut ChunkScratch,
    accumulator: &mut Accumulator,
) {
    let kc = chunk.vectors.len();
    let n_atoms = input.phases.len();
    let n_types = input.n_types;
    let rows = input.centers.len() * n_types;
    let max_features = tables.parities[0].len().max(tables.parities[1].len());
    let ChunkScratch {
        cos,
        sin,
        weights,
        structure_cos,
        structure_sin,
        sum_a,
        sum_b,
        phase,
        h,
        m,
    } = scratch;
    // buffers that are accumulated into start at zero, the others are overwritten
    for (buffer, size) in [
        (&mut *weights, n_atoms * kc),
        (&mut *structure_cos, n_types * kc),
        (&mut *structure_sin, n_types * kc),
        (&mut *sum_a, n_types * kc),
        (&mut *sum_b, n_types * kc),
    ] {
        buffer.clear();
        buffer.resize(size, 0.0);
    }
    cos.resize(n_atoms * kc, 0.0);
    sin.resize(n_atoms * kc, 0.0);
    m.resize(kc * max_features, 0.0);
    for parity in 0..2 {
        phase[parity].resize(rows * kc, 0.0);
        h[parity].resize(rows * kc, 0.0);
        if !input.active[parity] {
            h[parity].iter_mut().for_each(|v| *v = 0.0);
        }
    }

    for (j, atom) in input.phases.iter().enumerate() {
        atom.fill(
            &chunk.indices,
            &mut cos[j * kc..(j + 1) * kc],
            &mut sin[j * kc..(j + 1) * kc],
        );
        if let Some(t) = input.atom_type_index[j] {
            for ik in 0..kc {
                structure_cos[t * kc + ik] += cos[j * kc + ik];
                structure_sin[t * kc + ik] += sin[j * kc + ik];
            }
        }
    }
    for (c, &center) in input.centers.iter().enumerate() {
        let ci = &cos[center * kc..(center + 1) * kc];
        let si = &sin[center * kc..(center + 1) * kc];
        for t in 0..n_types {
            let row = c * n_types + t;
            let ct = &structure_cos[t * kc..(t + 1) * kc];
            let st = &structure_sin[t * kc..(t + 1) * kc];
            // Re and Im of e^{ik·rᵢ} Σⱼ e^{-ik·rⱼ}, as in the forward pass
            for ik in 0..kc {
                phase[0][row * kc + ik] = ci[ik] * ct[ik] + si[ik] * st[ik];
                phase[1][row * kc + ik] = si[ik] * ct[ik] - ci[ik] * st[ik];
            }
        }
    }

    for parity in 0..2 {
        if !input.active[parity] || rows == 0 {
            continue;
        }
        let n_features = tables.parities[parity].len();
        let columns = tables.values_columns[parity];
        let table = &tables.values[parity];
        let g = MatRef::from_row_major_slice(&input.g[parity], rows, n_features);
        let w = MatRef::from_row_major_slice_with_stride(table, kc, n_features, columns);
        // M = Sᵀ G (k, features) and H = G Wᵀ (rows, k)
        faer::linalg::matmul::matmul(
            MatMut::from_row_major_slice_mut(&mut m[..kc * n_features], kc, n_features),
            Accum::Replace,
            MatRef::from_row_major_slice(&phase[parity], rows, kc).transpose(),
            g,
            1.0,
            Par::Seq,
        );
        faer::linalg::matmul::matmul(
            MatMut::from_row_major_slice_mut(&mut h[parity], rows, kc),
            Accum::Replace,
            g,
            w.transpose(),
            1.0,
            Par::Seq,
        );
        // the table holds [W | D_αβ for αβ = 00, 01, ... 22] for each k with
        // D_αβ = -k_β ∂W/∂k_α: three columns D_αβ* with the largest |k_β*| give all nine
        for (ik, k) in chunk.vectors.iter().enumerate() {
            let m = &m[ik * n_features..(ik + 1) * n_features];
            let row = &table[ik * columns..(ik + 1) * columns];
            let dot = |block: usize| -> f64 {
                m.iter()
                    .zip(&row[block * n_features..(block + 1) * n_features])
                    .map(|(a, b)| a * b)
                    .sum()
            };
            accumulator.lattice += dot(0);
            let largest = (0..3)
                .max_by(|&a, &b| k[a].abs().total_cmp(&k[b].abs()))
                .expect("three components");
            for alpha in 0..3 {
                // Σ_f M_f ∂W_f/∂k_α
                let derivative = -dot(1 + 3 * alpha + largest) / k[largest];
                for (beta, k_beta) in k.iter().enumerate() {
                    accumulator.strain[3 * alpha + beta] -= k_beta * derivative;
                }
            }
        }
    }

    // weights uₘ(k) of ∂L/∂rₘ = Σ_k k uₘ(k)
    for (c, &i) in input.centers.iter().enumerate() {
        let ci = &cos[i * kc..(i + 1) * kc];
        let si = &sin[i * kc..(i + 1) * kc];
        let wi = &mut weights[i * kc..(i + 1) * kc];
        for t in 0..n_types {
            let row = c * n_types + t;
            let h0 = &h[0][row * kc..(row + 1) * kc];
            let h1 = &h[1][row * kc..(row + 1) * kc];
            let ct = &structure_cos[t * kc..(t + 1) * kc];
            let st = &structure_sin[t * kc..(t + 1) * kc];
            let a = &mut sum_a[t * kc..(t + 1) * kc];
            let b = &mut sum_b[t * kc..(t + 1) * kc];
            for ik in 0..kc {
                wi[ik] += h0[ik] * (ci[ik] * st[ik] - si[ik] * ct[ik])
                    + h1[ik] * (ci[ik] * ct[ik] + si[ik] * st[ik]);
                a[ik] += h0[ik] * ci[ik] + h1[ik] * si[ik];
                b[ik] += h0[ik] * si[ik] - h1[ik] * ci[ik];
            }
        }
    }
    for (j, t) in input.atom_type_index.iter().enumerate() {
        let wj = &mut weights[j * kc..(j + 1) * kc];
        if let Some(t) = *t {
            let a = &sum_a[t * kc..(t + 1) * kc];
            let b = &sum_b[t * kc..(t + 1) * kc];
            for ik in 0..kc {
                wj[ik] += cos[j * kc + ik] * b[ik] - sin[j * kc + ik] * a[ik];
            }
        }
        let gradient = &mut accumulator.positions[j];
        for (ik, k) in chunk.vectors.iter().enumerate() {
            for alpha in 0..3 {
                gradient[alpha] += k[alpha] * wj[ik];
            }
        }
    }
}
