//! One term Fₗₙ(|d|) Yₗₘ(d̂) of a pair sum (open boundaries, real-space parts) and its
//! gradient with respect to d, shared by the values, the explicit gradients and the backward
//! products so that the derivative formulas live in one place:
//!
//!   ∇_d (Fₗₙ Yₗₘ) = F'ₗₙ Yₗₘ d̂ + Fₗₙ ∇_d Yₗₘ,  ∇_d Yₗₘ(d̂) = (∇Rₗₘ(d̂) - l Yₗₘ d̂) / |d|.
//!
//! [`PairProjection::prepare`] evaluates the radial functions and harmonics of one d; the
//! accumulation methods then work on flat rows of all features, or on whole (l, m) rows of
//! n_radial features, which the compiler vectorises.

use crate::math::harmonics::{lm_index, parity, SolidHarmonics};

/// Scratch for the pair terms of all features lm_index(l, m) * n_radial + n
pub(crate) struct PairProjection {
    max_angular: usize,
    n_radial: usize,
    harmonics: SolidHarmonics,
    /// Fₗₙ and F'ₗₙ, index l * n_radial + n
    radial: Vec<f64>,
    dradial: Vec<f64>,
    /// Yₗₘ d̂ and ∇_d Yₗₘ, by lm_index
    y_direction: Vec<[f64; 3]>,
    dy: Vec<[f64; 3]>,
    /// the terms Fₗₙ Yₗₘ of all features, and (-1)ˡ of each: `add_values` adds them to a
    /// row (and to the mirrored one) as one long vectorised loop instead of (l, m) rows of
    /// n_radial
    terms: Vec<f64>,
    parities: Vec<f64>,
}

impl PairProjection {
    pub fn new(max_angular: usize, n_radial: usize) -> PairProjection {
        let n_lm = (max_angular + 1).pow(2);
        PairProjection {
            max_angular,
            n_radial,
            harmonics: SolidHarmonics::new(max_angular),
            radial: vec![0.0; (max_angular + 1) * n_radial],
            dradial: vec![0.0; (max_angular + 1) * n_radial],
            y_direction: vec![[0.0; 3]; n_lm],
            dy: vec![[0.0; 3]; n_lm],
            terms: vec![0.0; n_lm * n_radial],
            parities: (0..=max_angular)
                .flat_map(|l| std::iter::repeat_n(parity(l), (2 * l + 1) * n_radial))
                .collect(),
        }
    }

    /// The terms Fₗₙ Yₗₘ, after the harmonics and radial functions are computed
    #[inline]
    fn compute_terms(&mut self) {
        let n_radial = self.n_radial;
        for l in 0..=self.max_angular {
            let f = &self.radial[l * n_radial..(l + 1) * n_radial];
            for m in -(l as isize)..=(l as isize) {
                let lm = lm_index(l, m);
                let y = self.harmonics.values[lm];
                let out = &mut self.terms[lm * n_radial..(lm + 1) * n_radial];
                for (o, f) in out.iter_mut().zip(f) {
                    *o = f * y;
                }
            }
        }
    }

    /// Evaluate the terms of d for the accumulation methods; `radial(|d|, F, dF/dd)` fills the
    /// radial functions with index l * n_radial + n; d must not be zero
    #[inline]
    pub fn prepare(&mut self, d: [f64; 3], radial: impl FnOnce(f64, &mut [f64], &mut [f64])) {
        self.prepare_gradients(d, radial);
        self.compute_terms();
    }

    /// `prepare` without the terms of `add_values`: for the gradient methods only (the
    /// backward products)
    #[inline]
    pub fn prepare_gradients(
        &mut self,
        d: [f64; 3],
        radial: impl FnOnce(f64, &mut [f64], &mut [f64]),
    ) {
        let distance = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        let u = d.map(|x| x / distance);
        radial(distance, &mut self.radial, &mut self.dradial);
        self.harmonics.compute(u);
        for l in 0..=self.max_angular {
            for m in -(l as isize)..=(l as isize) {
                let lm = lm_index(l, m);
                let y = self.harmonics.values[lm];
                let gradient = self.harmonics.gradients[lm];
                self.y_direction[lm] = u.map(|x| y * x);
                self.dy[lm] = [0, 1, 2].map(|a| (gradient[a] - l as f64 * y * u[a]) / distance);
            }
        }
    }

    /// Evaluate the terms of d for `add_values` only (no gradients); `radial(|d|, F, scratch)`
    /// fills the radial functions
    #[inline]
    pub fn prepare_values(
        &mut self,
        d: [f64; 3],
        radial: impl FnOnce(f64, &mut [f64], &mut [f64]),
    ) {
        let distance = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        radial(distance, &mut self.radial, &mut self.dradial);
        self.harmonics.compute_values(d.map(|x| x / distance));
        self.compute_terms();
    }

    /// values[lm_index(l, m) * n_radial + n] += Fₗₙ Yₗₘ, after `prepare` or `prepare_values`;
    /// `mirrored`: the term of -d, (-1)ˡ Fₗₙ Yₗₘ
    #[inline]
    pub fn add_values(&self, values: &mut [f64], mirrored: bool) {
        self.add_row(values, 1.0, &self.terms, mirrored);
    }

    /// out += scale · row over a row of all features lm_index(l, m) * n_radial + n;
    /// `mirrored`: each feature times (-1)ˡ, the parity of Yₗₘ under d → -d
    #[inline]
    pub fn add_row(&self, out: &mut [f64], scale: f64, row: &[f64], mirrored: bool) {
        let out = &mut out[..row.len()];
        if mirrored {
            for ((o, x), p) in out.iter_mut().zip(row).zip(&self.parities) {
                *o += p * scale * x;
            }
        } else {
            for (o, x) in out.iter_mut().zip(row) {
                *o += scale * x;
            }
        }
    }

    /// gradient[(α, m + l, n)] += ∂(Fₗₙ Yₗₘ)/∂d_α for one l, a row of 3 (2l + 1) n_radial
    /// values, after `prepare`
    #[inline]
    pub fn add_gradient(&self, l: usize, gradient: &mut [f64]) {
        let n_radial = self.n_radial;
        let size = (2 * l + 1) * n_radial;
        let f = &self.radial[l * n_radial..(l + 1) * n_radial];
        let df = &self.dradial[l * n_radial..(l + 1) * n_radial];
        let first = lm_index(l, -(l as isize));
        let yu = &self.y_direction[first..first + 2 * l + 1];
        let dy = &self.dy[first..first + 2 * l + 1];
        for (a, rows) in gradient[..3 * size].chunks_exact_mut(size).enumerate() {
            for ((out, yu), dy) in rows.chunks_exact_mut(n_radial).zip(yu).zip(dy) {
                let (yu, dy) = (yu[a], dy[a]);
                for ((o, f), df) in out.iter_mut().zip(f).zip(df) {
                    *o += df * yu + f * dy;
                }
            }
        }
    }

    /// Call `each(feature, F Y, ∇_d (F Y))` for every feature, after `prepare`
    #[inline]
    pub fn for_each_prepared(&self, mut each: impl FnMut(usize, f64, [f64; 3])) {
        let n_radial = self.n_radial;
        for l in 0..=self.max_angular {
            for m in -(l as isize)..=(l as isize) {
                let lm = lm_index(l, m);
                let y = self.harmonics.values[lm];
                let (yu, dy) = (self.y_direction[lm], self.dy[lm]);
                for n in 0..n_radial {
                    let (f, df) = (
                        self.radial[l * n_radial + n],
                        self.dradial[l * n_radial + n],
                    );
                    let gradient = [0, 1, 2].map(|a| df * yu[a] + f * dy[a]);
                    each(lm * n_radial + n, f * y, gradient);
                }
            }
        }
    }

    /// The weights of a pair of two centres seen from both: `both` = forward + (-1)ˡ mirrored,
    /// forward (None: zero) the row of G of the centre, mirrored the row of the other one
    #[inline]
    pub fn pair_weights(&self, forward: Option<&[f64]>, mirrored: &[f64], both: &mut [f64]) {
        let mirrored = mirrored.iter().zip(&self.parities).map(|(m, p)| p * m);
        match forward {
            Some(forward) => {
                for ((w, f), m) in both.iter_mut().zip(forward).zip(mirrored) {
                    *w = f + m;
                }
            }
            None => both.iter_mut().zip(mirrored).for_each(|(w, m)| *w = m),
        }
    }

    /// Σ_f w_f ∇_d (F Y)_f over all features f = lm_index(l, m) * n_radial + n, after
    /// `prepare` or `prepare_gradients`: per (l, m), Yₗₘ d̂ Σₙ wₙ F'ₗₙ + ∇_d Yₗₘ Σₙ wₙ Fₗₙ
    #[inline]
    pub fn contract_gradient(&self, weights: &[f64]) -> [f64; 3] {
        let n_radial = self.n_radial;
        let mut v = [0.0; 3];
        for l in 0..=self.max_angular {
            let f = &self.radial[l * n_radial..(l + 1) * n_radial];
            let df = &self.dradial[l * n_radial..(l + 1) * n_radial];
            for m in -(l as isize)..=(l as isize) {
                let lm = lm_index(l, m);
                let w = &weights[lm * n_radial..(lm + 1) * n_radial];
                let (mut wf, mut wdf) = (0.0, 0.0);
                for ((w, f), df) in w.iter().zip(f).zip(df) {
                    wf += w * f;
                    wdf += w * df;
                }
                let (yu, dy) = (self.y_direction[lm], self.dy[lm]);
                for a in 0..3 {
                    v[a] += wdf * yu[a] + wf * dy[a];
                }
            }
        }
        v
    }
}
