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

use super::{k_blocks, AtomPhases, KSpace, KTables, KVectors, StructureFactors, K_CHUNK};
use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::mesh::MeshSize;
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

impl KSpace {
    /// ∂L/∂positions and Ξ of one system of this geometry, over k-vectors or on a mesh
    /// (lode/mesh/, with G by feature, `SystemInput::by_feature`)
    pub fn backward(
        &self,
        geometry: Geometry,
        mesh: Option<MeshSize>,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        match geometry {
            Geometry::Bulk => self.bulk_backward(mesh, s, system, input),
            Geometry::Slab => self.slab_backward(mesh, system, input),
            Geometry::Open => Err(Error::InvalidSystem(format!(
                "internal error: system {s} is open, it has no k-space sum"
            ))),
        }
    }

    /// A 3D-periodic system: the k-sum and the k = 0 term
    fn bulk_backward(
        &self,
        mesh: Option<MeshSize>,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        if input.centers.is_empty() {
            return Ok(Accumulator::new(system.size()));
        }
        let (total, mut lattice) = match mesh {
            Some(size) => self.mesh_backward_sum(Geometry::Bulk, size, system, input)?,
            None => {
                let kvectors = self.bulk_k_vectors(s, system)?;
                self.backward_sum(self.radial()?, system, input, &kvectors)
            }
        };

        // Σ G X over the lattice part of the features: the k-sum and the k = 0 term
        lattice += self.zero_term_lattice(system, input);
        Ok(total.with_volume_factor(lattice))
    }

    /// Σ G X over the k = 0 term of a 3D-periodic sum where ĝ(0) is finite (p = 0 and p > 3),
    /// whose strain derivative is -δ_αβ times it (the volume factor 1/V)
    pub fn zero_term_lattice(&self, system: &System, input: &SystemInput) -> f64 {
        let Some(g0) = self.density.fourier_at_zero() else {
            return 0.0;
        };
        let factor = g0 * (4.0 * std::f64::consts::PI).sqrt() / system.volume();
        let n_types = input.neighbor_types.len();
        let mut lattice = 0.0;
        for (t, &a) in input.neighbor_types.iter().enumerate() {
            let count = system.types.iter().filter(|&&x| x == a).count() as f64;
            for c in 0..input.centers.len() {
                let row = input.l0_row(c * n_types + t, self.n_radial);
                for (g, radial) in row.iter().zip(&self.radial_at_zero) {
                    lattice += g * count * factor * radial;
                }
            }
        }
        lattice
    }

    /// The backward product of the k-sum over `kvectors` of one system, and Σ G X over it
    /// (whose strain derivative is -δ_αβ times itself, the volume factor 1/V)
    pub fn backward_sum(
        &self,
        radial: &KSpaceRadialIntegral,
        system: &System,
        input: &SystemInput,
        kvectors: &KVectors,
    ) -> (Accumulator, f64) {
        let n_atoms = system.size();
        let phases = AtomPhases::of_system(system, kvectors.max_index);
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
        let (chunk_starts, min_len) = k_blocks(n_k);
        chunk_starts
            .par_iter()
            .with_min_len(min_len)
            .fold(
                || (Accumulator::new(n_atoms), 0.0, ChunkScratch::default()),
                |(mut accumulator, mut lattice, mut scratch), &start| {
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
                        &mut lattice,
                    );
                    (accumulator, lattice, scratch)
                },
            )
            .map(|(accumulator, lattice, _)| (accumulator, lattice))
            .reduce(
                || (Accumulator::new(n_atoms), 0.0),
                |(a, la), (b, lb)| (a.add(b), la + lb),
            )
    }
}

impl Accumulator {
    /// Ξ with the volume factor 1/V of `lattice` = Σ G X over the features it multiplies:
    /// -δ_αβ times it
    pub fn with_volume_factor(mut self, lattice: f64) -> Accumulator {
        for alpha in 0..3 {
            self.strain[alpha][alpha] -= lattice;
        }
        self
    }
}

/// Per-thread buffers, resized for each block of k-vectors
#[derive(Default)]
pub(crate) struct ChunkScratch {
    structure: StructureFactors,
    /// (atom, k)
    weights: Vec<f64>,
    /// (type, k)
    sum_a: Vec<f64>,
    sum_b: Vec<f64>,
    /// (centre × type, k): H per parity
    h: [Vec<f64>; 2],
    /// (k, feature of one parity)
    m: Vec<f64>,
}

/// Add the contribution of the k-vectors of `chunk` (whose tables are `tables`, with the
/// strain columns) to `accumulator`, and Σ_k Σ_f M_f(k) W_f(k) (Σ G X over the k-sum) to
/// `lattice`
pub(crate) fn backward_chunk(
    tables: &KTables,
    chunk: &KVectors,
    input: &ChunkInput,
    scratch: &mut ChunkScratch,
    accumulator: &mut Accumulator,
    lattice: &mut f64,
) {
    let kc = chunk.vectors.len();
    let n_atoms = input.phases.len();
    let n_types = input.n_types;
    let rows = input.centers.len() * n_types;
    let max_features = tables.parities[0].len().max(tables.parities[1].len());
    let ChunkScratch {
        structure,
        weights,
        sum_a,
        sum_b,
        h,
        m,
    } = scratch;
    // buffers that are accumulated into start at zero, the others are overwritten
    for (buffer, size) in [
        (&mut *weights, n_atoms * kc),
        (&mut *sum_a, n_types * kc),
        (&mut *sum_b, n_types * kc),
    ] {
        buffer.clear();
        buffer.resize(size, 0.0);
    }
    m.resize(kc * max_features, 0.0);
    for (h, active) in h.iter_mut().zip(input.active) {
        h.resize(rows * kc, 0.0);
        if !active {
            h.iter_mut().for_each(|v| *v = 0.0);
        }
    }

    // Re and Im of e^{ik·rᵢ} Σⱼ e^{-ik·rⱼ}, as in the forward pass
    structure.compute(
        input.phases,
        &chunk.indices,
        input.atom_type_index,
        input.centers,
        n_types,
    );
    let StructureFactors {
        cos,
        sin,
        structure_cos,
        structure_sin,
        phase,
    } = &*structure;

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
            *lattice += dot(0);
            let largest = (0..3)
                .max_by(|&a, &b| k[a].abs().total_cmp(&k[b].abs()))
                .expect("three components");
            for alpha in 0..3 {
                // Σ_f M_f ∂W_f/∂k_α
                let derivative = -dot(1 + 3 * alpha + largest) / k[largest];
                for (beta, k_beta) in k.iter().enumerate() {
                    accumulator.strain[alpha][beta] -= k_beta * derivative;
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
