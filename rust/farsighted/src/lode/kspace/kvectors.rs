//! Reciprocal lattice vectors inside a sphere. Only one of each ±k pair is kept: the sums of
//! real features over k and -k are twice the real part of the sum over one of them.

use crate::System;

#[derive(Debug, Clone)]
pub struct KVectors {
    /// integer coordinates (n₁, n₂, n₃) with k = Σ nᵢ bᵢ
    pub indices: Vec<[i32; 3]>,
    /// Cartesian k-vectors
    pub vectors: Vec<[f64; 3]>,
    /// largest |nᵢ| along each reciprocal vector
    pub max_index: [i32; 3],
}

/// Upper bound on |nᵢ| for |k| < k_cutoff: nᵢ = k·aᵢ / 2π, so |nᵢ| ≤ k_cutoff |aᵢ| / 2π
pub fn max_indices(system: &System, k_cutoff: f64) -> [i32; 3] {
    let mut max = [0; 3];
    for (i, a) in system.cell.iter().enumerate() {
        let length = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
        max[i] = (k_cutoff * length / (2.0 * std::f64::consts::PI)).floor() as i32;
    }
    max
}

/// An estimate of the number of half-space k-vectors, to check memory before allocating
pub fn estimated_count(system: &System, k_cutoff: f64) -> f64 {
    let sphere = 4.0 / 3.0 * std::f64::consts::PI * k_cutoff.powi(3);
    let cell = (2.0 * std::f64::consts::PI).powi(3) / system.volume();
    0.5 * sphere / cell + 100.0
}

/// All k with 0 < |k| < k_cutoff, one of each ±k pair
pub fn half_space_k_vectors(system: &System, k_cutoff: f64) -> KVectors {
    let b = system.reciprocal_cell();
    let max = max_indices(system, k_cutoff);
    let cutoff2 = k_cutoff * k_cutoff;
    let capacity = estimated_count(system, k_cutoff) as usize;
    let mut indices = Vec::with_capacity(capacity);
    let mut vectors = Vec::with_capacity(capacity);
    for n1 in 0..=max[0] {
        let n2_start = if n1 == 0 { 0 } else { -max[1] };
        for n2 in n2_start..=max[1] {
            let n3_start = if n1 == 0 && n2 == 0 { 1 } else { -max[2] };
            for n3 in n3_start..=max[2] {
                let k = [0, 1, 2]
                    .map(|d| n1 as f64 * b[0][d] + n2 as f64 * b[1][d] + n3 as f64 * b[2][d]);
                if k[0] * k[0] + k[1] * k[1] + k[2] * k[2] < cutoff2 {
                    indices.push([n1, n2, n3]);
                    vectors.push(k);
                }
            }
        }
    }
    KVectors {
        indices,
        vectors,
        max_index: max,
    }
}
