//! One term Fₗₙ(|d|) Yₗₘ(d̂) of a pair sum (open boundaries, real-space parts) and its
//! gradient with respect to d, shared by the values, the explicit gradients and the backward
//! products so that the derivative formulas live in one place.

use crate::math::harmonics::{lm_index, SolidHarmonics};

/// Scratch for the pair terms of all features lm_index(l, m) * n_radial + n
pub(crate) struct PairProjection {
    max_angular: usize,
    n_radial: usize,
    harmonics: SolidHarmonics,
    radial: Vec<f64>,
    dradial: Vec<f64>,
}

impl PairProjection {
    pub fn new(max_angular: usize, n_radial: usize) -> PairProjection {
        PairProjection {
            max_angular,
            n_radial,
            harmonics: SolidHarmonics::new(max_angular),
            radial: vec![0.0; (max_angular + 1) * n_radial],
            dradial: vec![0.0; (max_angular + 1) * n_radial],
        }
    }

    /// Call `each(feature, F Y, ∇_d (F Y))` for every feature, where `radial(|d|, F, dF/dd)`
    /// fills the radial functions with index l * n_radial + n; d must not be zero
    #[inline]
    pub fn for_each(
        &mut self,
        d: [f64; 3],
        radial: impl FnOnce(f64, &mut [f64], &mut [f64]),
        mut each: impl FnMut(usize, f64, [f64; 3]),
    ) {
        let n_radial = self.n_radial;
        let distance = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        let u = d.map(|x| x / distance);
        radial(distance, &mut self.radial, &mut self.dradial);
        self.harmonics.compute(u);
        for l in 0..=self.max_angular {
            for m in -(l as isize)..=(l as isize) {
                let lm = lm_index(l, m);
                let y = self.harmonics.values[lm];
                // ∇_d Yₗₘ(d̂) = (∇Rₗₘ(u) - l Yₗₘ u) / |d|
                let dy = [0, 1, 2]
                    .map(|a| (self.harmonics.gradients[lm][a] - l as f64 * y * u[a]) / distance);
                for n in 0..n_radial {
                    let (f, df) = (
                        self.radial[l * n_radial + n],
                        self.dradial[l * n_radial + n],
                    );
                    let gradient = [0, 1, 2].map(|a| df * y * u[a] + f * dy[a]);
                    each(lm * n_radial + n, f * y, gradient);
                }
            }
        }
    }
}
