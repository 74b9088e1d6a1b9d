//! Radial functions of the pair projections used for open boundaries.
//!
//! The potential of one atom at d, projected on Rₙ(r) Yₗₘ(r̂), is Fₗₙ(|d|) Yₗₘ(d̂) with
//!
//!   Fₗₙ(d) = (2/π) ∫₀^∞ k² ĝ(k) Iₗₙ(k) jₗ(k d) dk
//!
//! (the plane-wave expansion of e^{-ik·d}, with Iₗₙ(k) = ∫ r² Rₙ(r) jₗ(kr) dr). It is tabulated
//! with Hermite splines on [0, d_max], d_max = basis support + 10σ. Beyond d_max the basis only
//! sees the bare power law |r - d|^{-p} = d^{-p} Σⱼ Cⱼ^{p/2}(r̂·d̂) (r/d)ʲ (Gegenbauer), so that
//!
//!   Fₗₙ(d) = Σ_{j = l, l+2, ...} Aₗⱼ Mₙⱼ / d^{j+p},  Aₗⱼ = 2π ∫₋₁¹ Cⱼ^{p/2}(t) Pₗ(t) dt,
//!   Mₙⱼ = ∫ r^{2+j} Rₙ(r) dr
//!
//! (for p = 1 only j = l remains: 4π/(2l+1) Mₙₗ / d^{l+1}). For p = 0, a Gaussian, F vanishes
//! beyond d_max.

use rayon::prelude::*;

use crate::basis::GtoBasis;
use crate::density::SmearedPowerLaw;
use crate::lode::radial::{BesselQuadrature, RadialFunctions, RadialProjector};
use crate::lode::NEGLIGIBLE_K_SIGMA;
use crate::math::quadrature::RadialQuadrature;
use crate::math::spline::HermiteSplines;
use crate::Error;

/// Levels of geometric refinement of the k quadrature towards k = 0, where k² ĝ(k) is not
/// analytic (∝ k^{p-1} for non-integer p, k^{p-1} ln k for odd p ≥ 3); the remaining
/// [0, h 2⁻⁴⁰] is integrated from the leading power.
const GRADED_LEVELS: i32 = 40;

/// Largest number of terms of the multipole tail (j = l, l + 2, ...)
const MAX_TAIL_TERMS: usize = 80;

#[derive(Debug, Clone)]
pub struct PairRadialIntegral {
    max_angular: usize,
    size: usize,
    exponent: f64,
    d_max: f64,
    /// k nodes of the quadrature and, per node, (2/π) w k² ĝ(k) Iₗₙ(k), index l * size + n
    quadrature: BesselQuadrature,
    /// for each l: (terms, size) Aₗⱼ Mₙⱼ / d_maxʲ with j = l + 2t
    tail: Vec<Vec<f64>>,
    spline: Option<HermiteSplines>,
    /// the absolute accuracy of each function's spline (empty without spline)
    spline_accuracies: Vec<f64>,
    /// the remainder of an Ewald split: the functions of g_σ and of g_σw, whose difference
    /// these are (no quadrature nodes of its own)
    parts: Option<Box<(PairRadialIntegral, PairRadialIntegral)>>,
}

/// Share of a remainder's spline accuracy left to the interpolation of the difference of its
/// parts; each part gets half of the rest
const DIFFERENCE_SHARE: f64 = 0.1;

impl PairRadialIntegral {
    pub fn new(
        basis: &GtoBasis,
        max_angular: usize,
        density: SmearedPowerLaw,
        accuracy: Option<f64>,
    ) -> Result<PairRadialIntegral, Error> {
        let accuracies = accuracy.map(|a| vec![a; max_angular + 1]);
        PairRadialIntegral::with_accuracies(basis, max_angular, density, accuracies.as_deref())
    }

    /// [`PairRadialIntegral::new`] with the absolute spline accuracy of each l
    fn with_accuracies(
        basis: &GtoBasis,
        max_angular: usize,
        density: SmearedPowerLaw,
        accuracies: Option<&[f64]>,
    ) -> Result<PairRadialIntegral, Error> {
        let sigma = density.smearing;
        let p = density.exponent;
        let d_max = basis.support() + 10.0 * sigma;
        let k_max = NEGLIGIBLE_K_SIGMA / sigma;
        let projector = RadialProjector::new(basis, max_angular, k_max, sigma);

        // panels resolving jₗ(k d) for d ≤ d_max, graded towards k = 0;
        // a 24-point panel spanning 4 radians of jₗ(k d_max) is exact to ~1e-30
        let h = (4.0 / d_max).min(k_max);
        let mut k_nodes = Vec::new();
        let mut k_weights = Vec::new();
        let mut add_panel = |a: f64, b: f64| {
            let q = RadialQuadrature::new(b - a, b - a);
            k_nodes.extend(q.nodes.iter().map(|x| a + x));
            k_weights.extend(q.weights);
        };
        let n_panels = ((k_max - h) / h).ceil().max(0.0) as usize;
        let width = (k_max - h) / n_panels.max(1) as f64;
        for i in 0..n_panels {
            add_panel(h + i as f64 * width, h + (i + 1) as f64 * width);
        }
        // for p = 0, 1 and even p, k² ĝ(k) is an entire function of k: one panel is enough
        if p == 0.0 || p == 1.0 || p % 2.0 == 0.0 {
            add_panel(0.0, h);
        } else {
            for level in 0..GRADED_LEVELS {
                add_panel(h * 0.5_f64.powi(level + 1), h * 0.5_f64.powi(level));
            }
            // k² ĝ(k) ~ k^q near 0: ∫₀^ε f = f(ε) ε / (q + 1)
            let epsilon = h * 0.5_f64.powi(GRADED_LEVELS);
            let q = if p < 3.0 { p - 1.0 } else { 2.0 };
            k_nodes.push(epsilon);
            k_weights.push(epsilon / (q + 1.0));
        }

        let tail = if p == 0.0 {
            vec![Vec::new(); max_angular + 1]
        } else {
            multipole_tail(&projector, p, d_max)
        };
        let kernel = |k: f64| density.fourier(k).0;
        let mut integral =
            PairRadialIntegral::from_quadrature(&projector, d_max, k_nodes, &k_weights, kernel);
        integral.exponent = p;
        integral.tail = tail;
        if let Some(accuracies) = accuracies {
            integral.build_spline(accuracies)?;
        }
        Ok(integral)
    }

    /// The remainder of an Ewald split with a wider smearing σw (`wide`),
    ///
    ///   F^rem_ln(d) = F^σ_ln(d) - F^σw_ln(d) = (2/π) ∫ k² (ĝ_σ(k) - ĝ_σw(k)) Iₗₙ(k) jₗ(kd) dk,
    ///
    /// the projection of g_σ - g_σw, a short-ranged function, as the difference of the pair
    /// functions of the two densities, each with its own quadrature and multipole tail. A
    /// quadrature of the difference's kernel would need k-panels resolving jₗ(kd) up to
    /// d ≈ 6σw and reaching k ≈ 10/σ: a cost growing as (σw/σ)², which made splits with
    /// σw ≫ σ (sparse systems in large cells) take minutes; the two parts cost the same for
    /// every σw. Beyond `cutoff` (default: basis support + 10σw, where both tails are the
    /// same power law) the remainder is zero. With `spline_accuracy` (absolute, for each l),
    /// both parts and the difference on [0, cutoff] are splined (the parts to
    /// (1 - DIFFERENCE_SHARE)/2 of it, the difference of their splines to DIFFERENCE_SHARE);
    /// without it every value is computed by quadrature.
    pub fn remainder(
        basis: &GtoBasis,
        max_angular: usize,
        density: SmearedPowerLaw,
        wide: f64,
        cutoff: Option<f64>,
        spline_accuracy: Option<&[f64]>,
    ) -> Result<PairRadialIntegral, Error> {
        let part_accuracies: Option<Vec<f64>> = spline_accuracy.map(|accuracies| {
            accuracies
                .iter()
                .map(|a| 0.5 * (1.0 - DIFFERENCE_SHARE) * a)
                .collect()
        });
        let narrow = PairRadialIntegral::with_accuracies(
            basis,
            max_angular,
            density,
            part_accuracies.as_deref(),
        )?;
        let wide_density = SmearedPowerLaw {
            smearing: wide,
            ..density
        };
        let wide = PairRadialIntegral::with_accuracies(
            basis,
            max_angular,
            wide_density,
            part_accuracies.as_deref(),
        )?;
        let mut integral = PairRadialIntegral {
            max_angular,
            size: basis.size(),
            exponent: density.exponent,
            d_max: cutoff.unwrap_or(wide.d_max).max(1e-3),
            quadrature: BesselQuadrature {
                max_angular,
                size: basis.size(),
                nodes: Vec::new(),
                weights: Vec::new(),
                per_l: true,
            },
            tail: vec![Vec::new(); max_angular + 1],
            spline: None,
            spline_accuracies: Vec::new(),
            parts: Some(Box::new((narrow, wide))),
        };
        if let Some(accuracies) = spline_accuracy {
            let difference: Vec<f64> = accuracies.iter().map(|a| DIFFERENCE_SHARE * a).collect();
            integral.build_spline(&difference)?;
        }
        Ok(integral)
    }

    /// The quadrature weights (2/π) w k² K(k) Iₗₙ(k) of a kernel K, without tail nor spline
    fn from_quadrature(
        projector: &RadialProjector,
        d_max: f64,
        k_nodes: Vec<f64>,
        k_weights: &[f64],
        kernel: impl Fn(f64) -> f64 + Sync,
    ) -> PairRadialIntegral {
        let n_functions = projector.n_functions();
        let mut weights = vec![0.0; k_nodes.len() * n_functions];
        weights
            .par_chunks_mut(n_functions)
            .zip(k_nodes.par_iter().zip(k_weights))
            .for_each(|(row, (&k, &w))| {
                let mut derivatives = vec![0.0; n_functions];
                projector.bessel_transform(k, row, &mut derivatives);
                let factor = 2.0 / std::f64::consts::PI * w * k * k * kernel(k);
                row.iter_mut().for_each(|v| *v *= factor);
            });
        PairRadialIntegral {
            max_angular: projector.max_angular,
            size: projector.size,
            exponent: 0.0,
            d_max,
            quadrature: BesselQuadrature {
                max_angular: projector.max_angular,
                size: projector.size,
                nodes: k_nodes,
                weights,
                per_l: true,
            },
            tail: Vec::new(),
            spline: None,
            spline_accuracies: Vec::new(),
            parts: None,
        }
    }

    /// Tabulate the functions on [0, d_max], those of each l to the absolute accuracy
    /// `accuracies[l]`
    fn build_spline(&mut self, accuracies: &[f64]) -> Result<(), Error> {
        let per_function: Vec<f64> = accuracies
            .iter()
            .flat_map(|&a| std::iter::repeat_n(a, self.size))
            .collect();
        // a remainder is sharp (on the scale σ) only where the narrow part is not its tail:
        // beyond, the difference of the parts is evaluated, as a uniform grid over d_c ~ 6σw
        // resolving σ would need millions of points for σw ~ 1000σ
        let range = match &self.parts {
            Some(parts) => self.d_max.min(parts.0.d_max),
            None => self.d_max,
        };
        let spline =
            HermiteSplines::with_accuracies(range, &per_function, |d, v, g| self.exact(d, v, g))?;
        self.spline = Some(spline);
        self.spline_accuracies = per_function;
        Ok(())
    }

    /// Where the spline of a remainder ends before its cutoff d_max (beyond it, `compute`
    /// evaluates the difference of the parts, smooth on the scale of σw): the start of that
    /// range, and a spline of the shifted functions x ↦ F(start + x) on [0, d_max - start] to
    /// the same accuracies, for the TorchScript module (lode/tables.rs); None where the
    /// spline reaches d_max or there is none
    pub fn far_spline(&self) -> Result<Option<(f64, HermiteSplines)>, Error> {
        let Some(start) = self.spline.as_ref().map(HermiteSplines::x_max) else {
            return Ok(None);
        };
        if self.parts.is_none() || start >= self.d_max {
            return Ok(None);
        }
        let spline = HermiteSplines::with_accuracies(
            self.d_max - start,
            &self.spline_accuracies,
            |x, v, g| self.exact(start + x, v, g),
        )?;
        Ok(Some((start, spline)))
    }

    /// Number of (l, n) functions, stored as l * size + n
    pub fn n_functions(&self) -> usize {
        (self.max_angular + 1) * self.size
    }

    /// Beyond this distance the multipole tail is used
    pub fn d_max(&self) -> f64 {
        self.d_max
    }

    /// The spline table on [0, d_max], when the functions are splined
    pub fn spline(&self) -> Option<&HermiteSplines> {
        self.spline.as_ref()
    }

    /// The exponent p of the multipole tail d^{-(j + p)}
    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// For each l, the (terms, size) coefficients Aₗⱼ Mₙⱼ / d_maxʲ of the multipole tail,
    /// j = l + 2t (empty for the remainders of the Ewald split and for p = 0)
    pub fn tail_terms(&self) -> &[Vec<f64>] {
        &self.tail
    }

    /// Fₗₙ(d) and dFₗₙ/dd, with index l * size + n
    pub fn compute(&self, d: f64, values: &mut [f64], derivatives: &mut [f64]) {
        if d > self.d_max {
            self.tail(d, values, derivatives);
        } else if let Some(spline) = self.spline.as_ref().filter(|s| d <= s.x_max()) {
            spline.evaluate(d, values, derivatives);
        } else {
            self.exact(d, values, derivatives);
        }
    }

    /// Fₗₙ(d) by quadrature of the k integral, for d ≤ d_max (for a remainder: the
    /// difference of its parts, each by quadrature or its tail)
    pub fn exact(&self, d: f64, values: &mut [f64], derivatives: &mut [f64]) {
        if let Some(parts) = &self.parts {
            let (narrow, wide) = &**parts;
            let n = self.n_functions();
            thread_local! {
                static SCRATCH: std::cell::RefCell<Vec<f64>> = const {
                    std::cell::RefCell::new(Vec::new())
                };
            }
            SCRATCH.with_borrow_mut(|scratch| {
                scratch.resize(2 * n, 0.0);
                let (wide_values, wide_derivatives) = scratch.split_at_mut(n);
                narrow.compute(d, values, derivatives);
                wide.compute(d, wide_values, wide_derivatives);
                for (v, w) in values.iter_mut().zip(wide_values.iter()) {
                    *v -= w;
                }
                for (g, w) in derivatives.iter_mut().zip(wide_derivatives.iter()) {
                    *g -= w;
                }
            });
            return;
        }
        self.quadrature.transform(d, values, derivatives);
    }

    /// Fₗₙ(d) from the multipole expansion, for d ≥ d_max
    pub fn tail(&self, d: f64, values: &mut [f64], derivatives: &mut [f64]) {
        values.iter_mut().for_each(|v| *v = 0.0);
        derivatives.iter_mut().for_each(|v| *v = 0.0);
        let ratio = self.d_max / d;
        let power = d.powf(-self.exponent);
        for (l, terms) in self.tail.iter().enumerate() {
            let mut scale = ratio.powi(l as i32) * power;
            for (t, term) in terms.chunks(self.size).enumerate() {
                let j = (l + 2 * t) as f64;
                let dscale = -(j + self.exponent) / d * scale;
                for n in 0..self.size {
                    values[l * self.size + n] += term[n] * scale;
                    derivatives[l * self.size + n] += term[n] * dscale;
                }
                scale *= ratio * ratio;
            }
        }
    }
}

/// For each l, the (terms, size) table Aₗⱼ Mₙⱼ / d_maxʲ (j = l + 2t), without the terms that are
/// negligible at d_max
fn multipole_tail(projector: &RadialProjector, p: f64, d_max: f64) -> Vec<Vec<f64>> {
    let lmax = projector.max_angular;
    let size = projector.size;
    let j_max = lmax + 2 * MAX_TAIL_TERMS;
    // scaled moments ∫ r² Rₙ (r/d_max)ʲ dr
    let moments: Vec<Vec<f64>> = (0..=j_max)
        .map(|j| projector.project(|r| (r / d_max).powi(j as i32)))
        .collect();

    // Aₗⱼ by Gauss–Legendre, exact for the polynomial Cⱼ Pₗ of degree j + l
    let n_nodes = (j_max + lmax) / 2 + 2;
    let rule = gauss_quad::GaussLegendre::new(n_nodes.try_into().expect("non zero"));
    let alpha = 0.5 * p;
    let mut coefficients = vec![vec![0.0; j_max + 1]; lmax + 1];
    let mut gegenbauer = vec![0.0; j_max + 1];
    let mut legendre = vec![0.0; lmax + 1];
    for &(t, w) in rule.as_node_weight_pairs() {
        gegenbauer[0] = 1.0;
        if j_max > 0 {
            gegenbauer[1] = 2.0 * alpha * t;
        }
        for j in 2..=j_max {
            let jf = j as f64;
            gegenbauer[j] = (2.0 * t * (jf + alpha - 1.0) * gegenbauer[j - 1]
                - (jf + 2.0 * alpha - 2.0) * gegenbauer[j - 2])
                / jf;
        }
        legendre[0] = 1.0;
        if lmax > 0 {
            legendre[1] = t;
        }
        for l in 2..=lmax {
            let lf = l as f64;
            legendre[l] =
                ((2.0 * lf - 1.0) * t * legendre[l - 1] - (lf - 1.0) * legendre[l - 2]) / lf;
        }
        for l in 0..=lmax {
            for j in (l..=j_max).step_by(2) {
                coefficients[l][j] += 2.0 * std::f64::consts::PI * w * gegenbauer[j] * legendre[l];
            }
        }
    }

    (0..=lmax)
        .map(|l| {
            let mut terms: Vec<f64> = Vec::new();
            for j in (l..=j_max).step_by(2) {
                terms.extend(moments[j].iter().map(|m| coefficients[l][j] * m));
            }
            let largest = terms.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
            let keep = terms
                .chunks(size)
                .rposition(|c| c.iter().any(|v| v.abs() > 1e-20 * largest))
                .map_or(0, |t| t + 1);
            terms.truncate(keep * size);
            terms
        })
        .collect()
}

impl RadialFunctions for PairRadialIntegral {
    fn n_functions(&self) -> usize {
        PairRadialIntegral::n_functions(self)
    }

    fn compute(&self, d: f64, values: &mut [f64], derivatives: &mut [f64]) {
        PairRadialIntegral::compute(self, d, values, derivatives);
    }

    fn compute_values(&self, d: f64, values: &mut [f64], scratch: &mut [f64]) {
        match self.spline.as_ref() {
            Some(spline) if d <= self.d_max && d <= spline.x_max() => {
                spline.evaluate_values(d, values)
            }
            _ => PairRadialIntegral::compute(self, d, values, scratch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integral(p: f64, accuracy: Option<f64>) -> PairRadialIntegral {
        let basis = GtoBasis::new(4, 3.5).unwrap();
        let density = SmearedPowerLaw {
            smearing: 0.7,
            exponent: p,
        };
        PairRadialIntegral::new(&basis, 4, density, accuracy).unwrap()
    }

    /// Independent reference in real space: Fₗₙ(d) = 2π ∫ r² Rₙ(r) ∫₋₁¹ g(|r - d|) Pₗ(t) dt dr,
    /// by composite Gauss–Legendre in t and in r; (l, n) indexed as l * size + n
    fn real_space(p: f64, d: f64, lmax: usize) -> Vec<f64> {
        let basis = GtoBasis::new(4, 3.5).unwrap();
        let density = SmearedPowerLaw {
            smearing: 0.7,
            exponent: p,
        };
        let size = basis.size();
        let radial = RadialQuadrature::new(basis.support(), 0.1);
        let angular = RadialQuadrature::new(2.0, 0.05);
        let mut result = vec![0.0; (lmax + 1) * size];
        let mut rn = vec![0.0; size];
        let mut legendre = vec![0.0; lmax + 1];
        let mut inner = vec![0.0; lmax + 1];
        for (&r, &wr) in radial.nodes.iter().zip(&radial.weights) {
            inner.iter_mut().for_each(|v| *v = 0.0);
            for (&x, &wt) in angular.nodes.iter().zip(&angular.weights) {
                let t = x - 1.0;
                legendre[0] = 1.0;
                legendre[1] = t;
                for k in 2..=lmax {
                    let kf = k as f64;
                    legendre[k] = ((2.0 * kf - 1.0) * t * legendre[k - 1]
                        - (kf - 1.0) * legendre[k - 2])
                        / kf;
                }
                let s = (r * r + d * d - 2.0 * r * d * t).max(0.0).sqrt();
                let g = density.real_space(s);
                for l in 0..=lmax {
                    inner[l] += wt * g * legendre[l];
                }
            }
            basis.evaluate(r, &mut rn);
            for l in 0..=lmax {
                for n in 0..size {
                    result[l * size + n] +=
                        2.0 * std::f64::consts::PI * wr * r * r * rn[n] * inner[l];
                }
            }
        }
        result
    }

    #[test]
    fn k_space_against_real_space() {
        for p in [0.0, 0.5, 1.0, 2.0, 3.0, 6.0] {
            let integral = integral(p, None);
            let mut values = vec![0.0; integral.n_functions()];
            let mut derivatives = vec![0.0; integral.n_functions()];
            for d in [0.0, 0.4, 1.7, 4.0] {
                integral.exact(d, &mut values, &mut derivatives);
                let expected = real_space(p, d, 4);
                let scale = expected.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
                for f in 0..values.len() {
                    assert!(
                        (values[f] - expected[f]).abs() < 1e-10 * scale,
                        "p={p} d={d} f={f}: {} vs {}",
                        values[f],
                        expected[f]
                    );
                }
            }
        }
    }

    #[test]
    fn tail_continues_the_k_integral() {
        for p in [1.0, 2.0, 3.0, 6.0, 9.0, 0.5] {
            let integral = integral(p, None);
            let d = integral.d_max();
            let n = integral.n_functions();
            let (mut v1, mut g1, mut v2, mut g2) =
                (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            integral.exact(d, &mut v1, &mut g1);
            integral.tail(d, &mut v2, &mut g2);
            for f in 0..n {
                let scale = v1[f].abs().max(1e-300);
                assert!(
                    (v1[f] - v2[f]).abs() < 1e-8 * scale + 1e-14,
                    "p={p} f={f}: {} vs {}",
                    v1[f],
                    v2[f]
                );
                assert!(
                    (g1[f] - g2[f]).abs() < 1e-8 * g1[f].abs() + 1e-14,
                    "p={p} f={f}: {} vs {}",
                    g1[f],
                    g2[f]
                );
            }
        }
    }

    #[test]
    fn remainder_is_the_difference_kernel() {
        // F^σ - F^σw against one quadrature of the kernel ĝ_σ - ĝ_σw (the previous way)
        let basis = GtoBasis::new(4, 3.5).unwrap();
        for p in [0.0, 1.0, 0.5, 6.0] {
            let density = SmearedPowerLaw {
                smearing: 0.7,
                exponent: p,
            };
            let wide = 2.1;
            let remainder =
                PairRadialIntegral::remainder(&basis, 4, density, wide, None, None).unwrap();
            let splined =
                PairRadialIntegral::remainder(&basis, 4, density, wide, None, Some(&[1e-9; 5]))
                    .unwrap();
            let d_max = basis.support() + 10.0 * wide;
            let k_max = NEGLIGIBLE_K_SIGMA / 0.7;
            let projector = RadialProjector::new(&basis, 4, k_max, 0.7);
            let quadrature = RadialQuadrature::new(k_max, 4.0 / d_max);
            let reference = PairRadialIntegral::from_quadrature(
                &projector,
                d_max,
                quadrature.nodes,
                &quadrature.weights,
                |k| density.fourier_difference(wide, k),
            );
            let n = remainder.n_functions();
            let (mut v, mut g, mut ve, mut ge, mut vs, mut gs) = (
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
            );
            reference.exact(0.0, &mut ve, &mut ge);
            let scale = ve.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            for d in [0.0, 0.3, 2.2, 7.5, 16.0, 30.0] {
                remainder.compute(d, &mut v, &mut g);
                reference.exact(d, &mut ve, &mut ge);
                splined.compute(d, &mut vs, &mut gs);
                for f in 0..n {
                    assert!((v[f] - ve[f]).abs() < 1e-12 * scale, "p={p} d={d} f={f}");
                    assert!((g[f] - ge[f]).abs() < 1e-11 * scale, "p={p} d={d} f={f}");
                    assert!((vs[f] - ve[f]).abs() < 1e-9, "p={p} d={d} f={f}");
                }
            }
        }
    }

    #[test]
    fn derivatives_and_spline() {
        for p in [0.0, 1.0, 6.0] {
            let exact = integral(p, None);
            let splined = integral(p, Some(1e-9));
            let n = exact.n_functions();
            let (mut v, mut g, mut vp, mut gp, mut vm, mut gm) = (
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n],
            );
            let h = 1e-5;
            for d in [0.3, 2.2, 7.5, 30.0, 60.0] {
                exact.compute(d, &mut v, &mut g);
                exact.compute(d + h, &mut vp, &mut gp);
                exact.compute(d - h, &mut vm, &mut gm);
                for f in 0..n {
                    let fd = (vp[f] - vm[f]) / (2.0 * h);
                    assert!((fd - g[f]).abs() < 1e-8, "p={p} d={d} f={f}");
                }
                splined.compute(d, &mut vp, &mut gp);
                for f in 0..n {
                    assert!((vp[f] - v[f]).abs() < 2e-9, "p={p} d={d} f={f}");
                }
            }
        }
    }
}
