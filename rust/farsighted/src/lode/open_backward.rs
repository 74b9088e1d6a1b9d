//! Backward product of open systems: the pair sums of `open` (all j ≠ i, no image) through
//! [`pair_sums_backward`]. The cell is ignored, so ∂L/∂cell = 0 and the strain derivative is
//! the virial Ξ = Rᵀ ∂L/∂R; the centre's own density is constant.

use super::backward::{BackwardGradients, SystemInput};
use super::pair_backward::{feature_rows, pair_sums_backward};
use super::pair_radial::PairRadialIntegral;
use super::LodeSphericalExpansion;
use crate::System;

impl LodeSphericalExpansion {
    pub(super) fn backward_open_system(
        &self,
        pair: &PairRadialIntegral,
        system: &System,
        input: &SystemInput,
    ) -> BackwardGradients {
        let sizes = (self.parameters.max_angular, self.n_radial());
        let g = feature_rows(input, sizes.0, sizes.1);
        let positions = &system.positions;
        let total = pair_sums_backward(pair, system, input, &g, sizes, |_, i| {
            (0..positions.len())
                .filter(move |&j| j != i)
                .map(move |j| (j, [0, 1, 2].map(|a| positions[j][a] - positions[i][a])))
        });
        BackwardGradients {
            positions: total.positions,
            cell: [[0.0; 3]; 3],
            strain: total.strain,
        }
    }
}
