//! Where the positions gradients of every method go: the rows of (centre, neighbour) in the
//! blocks, written directly by the systems' tasks (each row by one task, `SharedRows`), so
//! that no other allocation grows as N². The gradient with respect to the centre's own
//! position is minus the sum of the others (translation invariance), filled in a last pass.
//! The methods' own kernels: lode/kspace/positions.rs, lode/pairs/mod.rs, lode/slab/mod.rs.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::math::harmonics::parity;
use crate::output::BlockData;
use crate::System;

/// The gradient rows (α, m, n) of angular channel l in a buffer holding those of every l in
/// turn: 3 (2l + 1) n_radial values from 3 l² n_radial
pub(crate) fn channel_rows(l: usize, n_radial: usize) -> std::ops::Range<usize> {
    3 * l * l * n_radial..3 * (l + 1) * (l + 1) * n_radial
}

/// ∂Vⱼ/∂rᵢ = (-1)^{l+1} ∂Vᵢ/∂rⱼ for the terms of channel l that depend on rⱼ - rᵢ only
/// (the harmonics have parity (-1)ˡ, the gradient adds a sign)
pub(crate) fn swapped_pair_sign(l: usize) -> f64 {
    -parity(l)
}

/// A gradient array shared between tasks that write disjoint rows
pub(crate) struct SharedRows {
    pointer: *mut f64,
    len: usize,
    /// 3 × (2l + 1) × n_radial
    row_size: usize,
}

// SAFETY: tasks only write rows that no other task writes (see `PositionsLayout`), and the
// owning Vec is neither read nor reallocated while the tasks run.
unsafe impl Sync for SharedRows {}
unsafe impl Send for SharedRows {}

impl SharedRows {
    pub fn new(values: &mut [f64], row_size: usize) -> SharedRows {
        SharedRows {
            pointer: values.as_mut_ptr(),
            len: values.len(),
            row_size,
        }
    }

    /// # Safety
    /// No other thread may access `row` at the same time.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn row(&self, row: usize) -> &mut [f64] {
        assert!(
            (row + 1) * self.row_size <= self.len,
            "gradient row out of bounds"
        );
        std::slice::from_raw_parts_mut(self.pointer.add(row * self.row_size), self.row_size)
    }
}

/// Where the gradient rows of one system go
pub(crate) struct PositionsLayout {
    /// blocks with positions gradients for each (center_type, neighbor_type)
    pub(crate) blocks_by_pair: BTreeMap<(i32, i32), Vec<(usize, usize)>>,
    /// for each block, first gradient row of each atom's sample in this system (if a sample)
    sample_start: Vec<Vec<Option<usize>>>,
    /// number of atoms of the block's neighbour type before each atom
    rank: Vec<Vec<usize>>,
}

impl PositionsLayout {
    pub fn new(system_index: usize, system: &System, blocks: &[BlockData]) -> PositionsLayout {
        let n_atoms = system.size();
        let mut blocks_by_pair: BTreeMap<(i32, i32), Vec<(usize, usize)>> = BTreeMap::new();
        let mut sample_start = Vec::with_capacity(blocks.len());
        let mut rank = Vec::with_capacity(blocks.len());
        for (b, block) in blocks.iter().enumerate() {
            let mut starts = vec![None; n_atoms];
            let mut ranks = vec![0; n_atoms];
            if let Some(positions) = &block.positions {
                let [l, _, center_type, neighbor_type] = block.key;
                blocks_by_pair
                    .entry((center_type, neighbor_type))
                    .or_default()
                    .push((b, l as usize));
                let mut count = 0;
                for (j, &t) in system.types.iter().enumerate() {
                    ranks[j] = count;
                    if t == neighbor_type {
                        count += 1;
                    }
                }
                // gradient samples are grouped by sample, in sample order
                let mut previous = None;
                for (row, chunk) in positions.samples.chunks(3).enumerate() {
                    let sample = chunk[0] as usize;
                    if Some(sample) != previous {
                        let [s, i] = block.samples[sample];
                        if s as usize == system_index {
                            starts[i as usize] = Some(row);
                        }
                        previous = Some(sample);
                    }
                }
            }
            sample_start.push(starts);
            rank.push(ranks);
        }
        PositionsLayout {
            blocks_by_pair,
            sample_start,
            rank,
        }
    }

    /// Blocks (index, l) with positions gradients for this pair of types
    pub(crate) fn blocks(&self, center_type: i32, neighbor_type: i32) -> &[(usize, usize)] {
        self.blocks_by_pair
            .get(&(center_type, neighbor_type))
            .map_or(&[], Vec::as_slice)
    }

    /// Gradient row of atom j in the sample of centre i in block b
    pub(crate) fn row(
        &self,
        system: &System,
        b: usize,
        neighbor_type: i32,
        i: usize,
        j: usize,
    ) -> Option<usize> {
        let start = self.sample_start[b][i]?;
        let shift = usize::from(system.types[i] != neighbor_type && i < j);
        Some(start + self.rank[b][j] + shift)
    }

    pub(crate) fn is_center(&self, i: usize) -> bool {
        self.sample_start.iter().any(|starts| starts[i].is_some())
    }
}

/// Fill the row of each centre with minus the sum of the other rows of its sample
pub(crate) fn fill_self_gradients(blocks: &mut [BlockData]) {
    blocks.par_iter_mut().for_each(|block| {
        let Some(positions) = &mut block.positions else {
            return;
        };
        let size = 3 * block.n_components * block.n_properties;
        let n_rows = positions.samples.len() / 3;
        let mut start = 0;
        while start < n_rows {
            let sample = positions.samples[3 * start];
            let mut end = start;
            while end < n_rows && positions.samples[3 * end] == sample {
                end += 1;
            }
            let center = block.samples[sample as usize][1];
            let mut sum = vec![0.0; size];
            let mut self_row = None;
            for row in start..end {
                if positions.samples[3 * row + 2] == center {
                    self_row = Some(row);
                    continue;
                }
                for (s, v) in sum
                    .iter_mut()
                    .zip(&positions.values[row * size..(row + 1) * size])
                {
                    *s -= v;
                }
            }
            let row = self_row.expect("the centre is one of its gradient samples");
            positions.values[row * size..(row + 1) * size].copy_from_slice(&sum);
            start = end;
        }
    });
}
