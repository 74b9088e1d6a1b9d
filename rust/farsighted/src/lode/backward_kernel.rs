//! The k-space kernel of the backward product, for one block of k-vectors.
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

use super::periodic::{AtomPhases, KTables};
use super::KVectors;

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
