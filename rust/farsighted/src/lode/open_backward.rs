//! Backward product of open systems: the pair sums of `open` (all j ≠ i, no image) through
//! [`pair_backward`]. The cell is ignored, so ∂L/∂cell = 0 and the strain derivative is the
//! virial Ξ = Rᵀ ∂L/∂R; the centre's own density is constant.

use rayon::prelude::*;

use super::backward::{BackwardGradients, SystemInput};
use super::pair_backward::{pair_backward, PairGradients};
use super::pair_projection::PairProjection;
use super::pair_radial::PairRadialIntegral;
use super::periodic::ParityFeatures;
use super::LodeSphericalExpansion;
use crate::System;

impl LodeSphericalExpansion {
    pub(super) fn backward_open_system(
        &self,
        pair: &PairRadialIntegral,
        system: &System,
        input: &SystemInput,
    ) -> BackwardGradients {
        let n_atoms = system.size();
        let max_angular = self.parameters.max_angular;
        let n_radial = self.n_radial();
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let n_types = input.neighbor_types.len();

        // G as (centre × neighbour type, feature lm_index(l, m) * n_radial + n) rows
        let n_rows = input.centers.len() * n_types;
        let mut g = vec![0.0; n_rows * n_features];
        for (parity, odd) in [false, true].into_iter().enumerate() {
            let features = ParityFeatures::new(max_angular, n_radial, odd);
            let n_local = features.len();
            for row in 0..n_rows {
                let source = &input.g[parity][row * n_local..(row + 1) * n_local];
                for (&global, &value) in features.global.iter().zip(source) {
                    g[row * n_features + global] = value;
                }
            }
        }
        let nonzero: Vec<bool> = g
            .chunks(n_features)
            .map(|row| row.iter().any(|&v| v != 0.0))
            .collect();
        let atom_type: Vec<Option<usize>> = system
            .types
            .iter()
            .map(|t| input.neighbor_types.binary_search(t).ok())
            .collect();

        // at most ~4 accumulators of N vectors per thread
        let min_len = input.centers.len() / (4 * rayon::current_num_threads()).max(1);
        let total = input
            .centers
            .par_iter()
            .enumerate()
            .with_min_len(min_len.max(1))
            .fold(
                || {
                    (
                        PairGradients::new(n_atoms),
                        PairProjection::new(max_angular, n_radial),
                    )
                },
                |(mut output, mut projection), (c, &i)| {
                    let ri = system.positions[i];
                    let row = |j: usize| {
                        let r = c * n_types + atom_type[j]?;
                        nonzero[r].then(|| &g[r * n_features..(r + 1) * n_features])
                    };
                    let pairs = (0..n_atoms)
                        .filter(|&j| j != i && row(j).is_some())
                        .map(|j| (j, [0, 1, 2].map(|a| system.positions[j][a] - ri[a])));
                    pair_backward(
                        &mut projection,
                        |r, f, df| pair.compute(r, f, df),
                        i,
                        pairs,
                        row,
                        &mut output,
                    );
                    (output, projection)
                },
            )
            .map(|(output, _)| output)
            .reduce(|| PairGradients::new(n_atoms), PairGradients::add);

        BackwardGradients {
            positions: total.positions,
            cell: [[0.0; 3]; 3],
            strain: total.strain,
        }
    }
}
