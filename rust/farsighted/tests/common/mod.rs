//! Helpers shared by the backward-product tests: random ∂L/∂features, the explicit gradients
//! contracted with them (the independent reference), and relative differences.
#![allow(dead_code)]

use farsighted::{BlockData, Descriptor, System};

/// Deterministic numbers in [-1, 1)
pub fn random_values(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Random G with the metadata of `descriptor`
pub fn random_gradient(descriptor: &Descriptor, seed: u64) -> Vec<BlockData> {
    descriptor
        .blocks
        .iter()
        .enumerate()
        .map(|(b, block)| BlockData {
            values: random_values(seed + b as u64, block.values.len()),
            positions: None,
            strain: None,
            ..block.clone()
        })
        .collect()
}

/// ∂L/∂positions and ∂L/∂strain of one system
pub type Reference = (Vec<[f64; 3]>, [[f64; 3]; 3]);

/// Σ G · ∂X/∂r and Σ G · ∂X/∂ε of each system, from the explicit gradients
pub fn contract(
    descriptor: &Descriptor,
    gradient: &[BlockData],
    systems: &[System],
) -> Vec<Reference> {
    let mut result: Vec<_> = systems
        .iter()
        .map(|s| (vec![[0.0; 3]; s.size()], [[0.0; 3]; 3]))
        .collect();
    for (block, g) in descriptor.blocks.iter().zip(gradient) {
        let size = block.n_components * block.n_properties;
        let positions = block.positions.as_ref().unwrap();
        for (row, chunk) in positions.samples.chunks(3).enumerate() {
            let (sample, s, j) = (chunk[0] as usize, chunk[1] as usize, chunk[2] as usize);
            for alpha in 0..3 {
                for f in 0..size {
                    result[s].0[j][alpha] += g.values[sample * size + f]
                        * positions.values[(row * 3 + alpha) * size + f];
                }
            }
        }
        let strain = block.strain.as_ref().unwrap();
        for (sample, &[s, _]) in block.samples.iter().enumerate() {
            for ab in 0..9 {
                for f in 0..size {
                    result[s as usize].1[ab / 3][ab % 3] +=
                        g.values[sample * size + f] * strain.values[(sample * 9 + ab) * size + f];
                }
            }
        }
    }
    result
}

/// L = Σ G · X, the loss whose derivatives the backward product gives
pub fn loss(descriptor: &Descriptor, gradient: &[BlockData]) -> f64 {
    descriptor
        .blocks
        .iter()
        .zip(gradient)
        .map(|(x, g)| {
            x.values
                .iter()
                .zip(&g.values)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum()
}

/// The numbers of a list of vectors or a matrix, in order
pub fn flat(v: &[[f64; 3]]) -> Vec<f64> {
    v.iter().flatten().copied().collect()
}

/// max |actual - expected| / max |expected| (the absolute error when expected is zero)
pub fn relative_difference(actual: &[f64], expected: &[f64]) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let error = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 {
        error
    } else {
        error / scale
    }
}
