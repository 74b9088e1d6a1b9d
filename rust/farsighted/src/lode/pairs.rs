//! Sum of pair projections Fₗₙ(|d|) Yₗₘ(d̂) over the neighbours of one centre, shared by open
//! systems (all other atoms) and the real-space remainder of the Ewald split (periodic images
//! within a cutoff). Values go to a (type, feature) row, strain to the virial
//! Σ d_α ∂/∂d_β, and positions gradients ∂/∂rⱼ are accumulated into the gradient rows of the
//! centre's samples (a neighbour seen with several shifts sums its terms).

use std::collections::BTreeMap;

use super::pair_projection::PairProjection;
use super::pair_radial::PairRadialIntegral;
use super::positions::{PositionsLayout, SharedRows};
use crate::System;

/// What is shared by all centres of one system
pub(crate) struct PairSum<'a> {
    pub radial: &'a PairRadialIntegral,
    pub system: &'a System,
    pub type_index: &'a BTreeMap<i32, usize>,
    pub max_angular: usize,
    pub n_radial: usize,
    pub strain: bool,
    pub layout: Option<&'a PositionsLayout>,
    pub outputs: &'a [Option<SharedRows>],
}

/// Per-thread scratch
pub(crate) struct PairScratch {
    projection: PairProjection,
    /// (xyz, feature)
    gradient: Vec<f64>,
}

impl PairSum<'_> {
    pub fn n_features(&self) -> usize {
        (self.max_angular + 1).pow(2) * self.n_radial
    }

    pub fn scratch(&self) -> PairScratch {
        PairScratch {
            projection: PairProjection::new(self.max_angular, self.n_radial),
            gradient: vec![0.0; 3 * self.n_features()],
        }
    }

    /// Add the pairs (j, d = rⱼ + T - rᵢ, whether the pair enters the positions gradient) of
    /// centre i to `values` (type, feature) and `strain` (type, αβ, feature).
    ///
    /// Only the task of centre i may call this for i: it writes the gradient rows of i's samples.
    pub fn add_center(
        &self,
        i: usize,
        neighbors: impl Iterator<Item = (usize, [f64; 3], bool)>,
        scratch: &mut PairScratch,
        values: &mut [f64],
        strain: &mut [f64],
    ) {
        let n_features = self.n_features();
        let ti = self.system.types[i];
        let PairScratch {
            projection,
            gradient,
        } = scratch;
        for (j, d, moves) in neighbors {
            let tj = self.system.types[j];
            let Some(&t) = self.type_index.get(&tj) else {
                continue;
            };
            let positions_blocks = match self.layout {
                Some(layout) if moves => layout.blocks(ti, tj),
                _ => &[],
            };
            projection.prepare(d, |distance, f, df| self.radial.compute(distance, f, df));
            projection.add_values(&mut values[t * n_features..(t + 1) * n_features]);
            if self.strain {
                projection.for_each_prepared(|feature, _, g| {
                    for a in 0..3 {
                        gradient[a * n_features + feature] = g[a];
                    }
                });
                let out = &mut strain[t * 9 * n_features..(t + 1) * 9 * n_features];
                for a in 0..3 {
                    for b in 0..3 {
                        let source = &gradient[b * n_features..(b + 1) * n_features];
                        let target =
                            &mut out[(3 * a + b) * n_features..(3 * a + b + 1) * n_features];
                        for (o, g) in target.iter_mut().zip(source) {
                            *o += d[a] * g;
                        }
                    }
                }
            }
            let Some(layout) = self.layout else {
                continue;
            };
            for &(b, l) in positions_blocks {
                let Some(out_row) = layout.row(self.system, b, tj, i, j) else {
                    continue;
                };
                let output = self.outputs[b]
                    .as_ref()
                    .expect("block has positions gradients");
                // SAFETY: the rows of the samples of centre i are written by this task only
                projection.add_gradient(l, unsafe { output.row(out_row) });
            }
        }
    }
}
