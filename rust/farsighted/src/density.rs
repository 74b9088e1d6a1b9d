//! The smeared power-law density g_p(r) = γ(p/2, r²/2σ²) / (Γ(p/2) rᵖ) carried by every atom
//! (p = 0: the normalised Gaussian exp(-r²/2σ²) / (πσ²)^{3/4}), and its Fourier transform
//!
//!   ĝ(k) = π^{3/2} 2^{3-p} k^{p-3} Γ((3-p)/2, k²σ²/2) / Γ(p/2),  ĝ₀(k) = (4πσ²)^{3/4} e^{-k²σ²/2}
//!
//! (p = 1 gives 4π e^{-k²σ²/2} / k², the potential of a Gaussian charge).
//!
//! Both hold for every real p ≥ 0. For p > 3, s = (3-p)/2 is negative and Γ(s, x) is the
//! continuation of the upper incomplete gamma function (math/incomplete_gamma.rs); ĝ stays
//! finite at k = 0. At p = 3, Γ(0, x) = E₁(x) and ĝ diverges like log k; for 0 < p < 3 like
//! k^{p-3}. p = 0 is a separate density (the limit p → 0⁺ of g_p is the constant 1).

use crate::math::special::{gamma, regularized_lower_gamma, upper_gamma};

#[derive(Debug, Clone, Copy)]
pub struct SmearedPowerLaw {
    pub smearing: f64,
    pub exponent: f64,
}

impl SmearedPowerLaw {
    /// g_p(r)
    pub fn real_space(&self, r: f64) -> f64 {
        let (p, s2) = (self.exponent, self.smearing * self.smearing);
        if p == 0.0 {
            return (-0.5 * r * r / s2).exp() / (std::f64::consts::PI * s2).powf(0.75);
        }
        let x = 0.5 * r * r / s2;
        if x < 1e-8 {
            // γ(a, x) ≈ xᵃ/a (1 - a x/(a+1)), so g(r) → (2σ²)^{-p/2} / (p/2 Γ(p/2))
            let a = 0.5 * p;
            return (2.0 * s2).powf(-a) / (a * gamma(a)) * (1.0 - a * x / (a + 1.0));
        }
        regularized_lower_gamma(0.5 * p, x) / r.powf(p)
    }

    /// ĝ(k) and dĝ/dk, for k > 0
    pub fn fourier(&self, k: f64) -> (f64, f64) {
        let (p, s2) = (self.exponent, self.smearing * self.smearing);
        let x = 0.5 * k * k * s2;
        if p == 0.0 {
            let value = (4.0 * std::f64::consts::PI * s2).powf(0.75) * (-x).exp();
            return (value, -k * s2 * value);
        }
        let prefactor = std::f64::consts::PI.powf(1.5) * 2.0_f64.powf(3.0 - p) / gamma(0.5 * p);
        let s = 0.5 * (3.0 - p);
        let power = k.powf(p - 3.0);
        let value = prefactor * power * upper_gamma(s, x);
        // d/dk Γ(s, x) = -x^{s-1} e^{-x} dx/dk, dx/dk = kσ²
        let derivative =
            (p - 3.0) / k * value - prefactor * power * x.powf(s - 1.0) * (-x).exp() * k * s2;
        (value, derivative)
    }

    /// lim_{k→0} ĝ(k), finite for p = 0 and p > 3 only (None otherwise): the k = 0 term of
    /// periodic sums. For 0 < p ≤ 3 the term diverges and is dropped, which amounts to a
    /// neutralising background.
    pub fn fourier_at_zero(&self) -> Option<f64> {
        let (p, s2) = (self.exponent, self.smearing * self.smearing);
        if p == 0.0 {
            Some((4.0 * std::f64::consts::PI * s2).powf(0.75))
        } else if p > 3.0 {
            // k^{p-3} Γ(s, x) → -k^{p-3} xˢ / s with s = (3-p)/2 < 0
            let s = 0.5 * (3.0 - p);
            let prefactor = std::f64::consts::PI.powf(1.5) * 2.0_f64.powf(3.0 - p) / gamma(0.5 * p);
            Some(prefactor * (0.5 * s2).powf(s) / (-s))
        } else {
            None
        }
    }
}

impl SmearedPowerLaw {
    /// ĝ_σ(k) - ĝ_σw(k) for the same exponent and a wider smearing σw: the Fourier transform of
    /// the short-ranged remainder of an Ewald split, an entire function of k. For 0 < p < 3 it
    /// is computed as C k^{p-3} (γ(s, k²σw²/2) - γ(s, k²σ²/2)), free of the cancellation of the
    /// two k^{p-3} divergences.
    pub fn fourier_difference(&self, wide: f64, k: f64) -> f64 {
        let p = self.exponent;
        let wide_density = SmearedPowerLaw {
            smearing: wide,
            exponent: p,
        };
        if p == 0.0 || p >= 3.0 || k == 0.0 {
            if k == 0.0 {
                return self.fourier_difference_at_zero(wide);
            }
            return self.fourier(k).0 - wide_density.fourier(k).0;
        }
        let s = 0.5 * (3.0 - p);
        let prefactor = std::f64::consts::PI.powf(1.5) * 2.0_f64.powf(3.0 - p) / gamma(0.5 * p);
        let (x, xw) = (0.5 * (k * self.smearing).powi(2), 0.5 * (k * wide).powi(2));
        prefactor
            * k.powf(p - 3.0)
            * gamma(s)
            * (regularized_lower_gamma(s, xw) - regularized_lower_gamma(s, x))
    }

    /// lim_{k→0} (ĝ_σ(k) - ĝ_σw(k)) = f(σ) - f(σw), with the finite part of ĝ at k = 0
    /// f(σ) = C (σ²/2)ˢ / (-s), s = (3-p)/2, C = π^{3/2} 2^{3-p} / Γ(p/2), and for p = 3
    /// f(σ) = -C ln(σ²/2) (from Γ(s, x) = Γ(s) - xˢ/s + O(x^{s+1}) and E₁(x) = -γ - ln x + O(x))
    pub fn fourier_difference_at_zero(&self, wide: f64) -> f64 {
        let p = self.exponent;
        if p == 0.0 {
            let wide_density = SmearedPowerLaw {
                smearing: wide,
                exponent: p,
            };
            return self.fourier_at_zero().unwrap_or(0.0)
                - wide_density.fourier_at_zero().unwrap_or(0.0);
        }
        let prefactor = std::f64::consts::PI.powf(1.5) * 2.0_f64.powf(3.0 - p) / gamma(0.5 * p);
        let s = 0.5 * (3.0 - p);
        let finite = |sigma: f64| {
            let x = 0.5 * sigma * sigma;
            if s == 0.0 {
                -prefactor * x.ln()
            } else {
                prefactor * x.powf(s) / (-s)
            }
        };
        finite(self.smearing) - finite(wide)
    }

    /// K = 2π ∫₀^∞ r (g_σ(r) - g_σw(r)) dr for 0 < p ≤ 2: the planar average of the remainder
    /// g_σ - g_σw at its own sheet, which the slab convention φ(0) = 0 sets apart. With
    /// ∫₀^R r g_σ dr = (2σ²)^{1-a} / (2Γ(a)) [G(R²/2σ²) - G(0)], G(u) = (u^{1-a} γ(a, u) + e^{-u})/(1-a),
    /// a = p/2, the R-dependent parts cancel: K = π ((2σw²)^{1-a} - (2σ²)^{1-a}) / ((1-a) Γ(a)),
    /// and K = π ln(σw²/σ²) at p = 2.
    pub fn planar_difference_at_zero(&self, wide: f64) -> f64 {
        let a = 0.5 * self.exponent;
        let (s2, w2) = (self.smearing * self.smearing, wide * wide);
        if a == 1.0 {
            std::f64::consts::PI * (w2 / s2).ln()
        } else {
            std::f64::consts::PI * ((2.0 * w2).powf(1.0 - a) - (2.0 * s2).powf(1.0 - a))
                / ((1.0 - a) * gamma(a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::bessel::spherical_bessel_sequence;
    use crate::math::quadrature::RadialQuadrature;
    use crate::math::special::exp_integral_e1;

    /// K = 2π ∫ r (g_σ - g_σw) dr against quadrature
    #[test]
    fn planar_difference_by_quadrature() {
        for &p in &[0.5, 1.0, 1.5, 2.0] {
            let density = SmearedPowerLaw {
                smearing: 0.4,
                exponent: p,
            };
            let wide = SmearedPowerLaw {
                smearing: 1.3,
                exponent: p,
            };
            let q = RadialQuadrature::new(40.0, 0.02);
            let value = 2.0
                * std::f64::consts::PI
                * q.integrate(|r| r * (density.real_space(r) - wide.real_space(r)));
            let expected = density.planar_difference_at_zero(1.3);
            assert!(
                (value - expected).abs() < 1e-9 * expected.abs(),
                "p={p}: {value} vs {expected}"
            );
        }
    }

    /// ĝ(k) = 4π ∫ r² g(r) j₀(kr) dr where the integral converges (p > 3 or p = 0), by quadrature
    #[test]
    fn fourier_transform_by_quadrature() {
        for &p in &[0.0, 4.0, 5.0, 6.0, 9.0] {
            let density = SmearedPowerLaw {
                smearing: 0.8,
                exponent: p,
            };
            for &k in &[0.3, 1.0, 2.5] {
                let q = RadialQuadrature::new(400.0, 0.05);
                let mut j = [0.0];
                let value = 4.0
                    * std::f64::consts::PI
                    * q.integrate(|r| {
                        spherical_bessel_sequence(k * r, &mut j);
                        r * r * density.real_space(r) * j[0]
                    });
                let (expected, _) = density.fourier(k);
                // the 1/r^p tail beyond 400 Å contributes ~ 400^{3-p}/k
                assert!(
                    (value - expected).abs() < 1e-6 * expected.abs(),
                    "p={p} k={k}: {value} vs {expected}"
                );
            }
        }
    }

    /// ∫ᵣ^∞ r^{1-p} sin(k r) dr by repeated integration by parts (the 1/rᵖ tail of
    /// ∫ r² g(r) j₀(kr) dr, times k), accurate when p ≪ k R
    fn power_tail(p: f64, k: f64, r: f64) -> f64 {
        // I(f) = f(R) cos(kR)/k - f'(R) sin(kR)/k² - I(f'')/k², with f⁽ʲ⁾ ∝ R^{1-p-j}
        let (cos, sin) = ((k * r).cos(), (k * r).sin());
        let (mut sum, mut factor) = (0.0, 1.0);
        // f = f⁽²ᵐ⁾(R) = c R^order
        let (mut f, mut order) = (r.powf(1.0 - p), 1.0 - p);
        for _ in 0..8 {
            let f1 = order * f / r;
            sum += factor * (f * cos / k - f1 * sin / (k * k));
            f = f1 * (order - 1.0) / r;
            order -= 2.0;
            factor /= -k * k;
        }
        sum
    }

    /// ĝ(k) for real p > 3 against 4π ∫ r² g(r) j₀(kr) dr: quadrature to 400 Å, then the
    /// 1/rᵖ tail by integration by parts
    #[test]
    fn real_exponents_above_three_by_quadrature() {
        let q = RadialQuadrature::new(400.0, 0.05);
        for &p in &[3.2, 4.3, 5.5, 7.5, 9.0] {
            let density = SmearedPowerLaw {
                smearing: 0.8,
                exponent: p,
            };
            for &k in &[0.3, 1.0, 2.5, 5.0] {
                let mut j = [0.0];
                let inner = q.integrate(|r| {
                    spherical_bessel_sequence(k * r, &mut j);
                    r * r * density.real_space(r) * j[0]
                });
                let value = 4.0 * std::f64::consts::PI * (inner + power_tail(p, k, 400.0) / k);
                let (expected, _) = density.fourier(k);
                let error = (value - expected).abs() / expected.abs();
                println!("p={p} k={k}: relative error {error:e}");
                assert!(
                    error < 1e-11,
                    "p={p} k={k}: {value} vs {expected} ({error:e})"
                );
            }
            // ĝ(0) = 4π ∫ r² g(r) dr, with ∫_R^∞ r^{2-p} dr = R^{3-p} / (p - 3)
            let value = 4.0
                * std::f64::consts::PI
                * (q.integrate(|r| r * r * density.real_space(r))
                    + 400.0_f64.powf(3.0 - p) / (p - 3.0));
            let expected = density.fourier_at_zero().unwrap();
            assert!((value - expected).abs() < 1e-11 * expected, "p={p} k=0");
        }
    }

    /// For 0 < p < 3, g_p = r⁻ᵖ - h(r) with h(r) = Q(p/2, r²/2σ²) / rᵖ short-ranged, so
    /// ĝ(k) = π^{3/2} 2^{3-p} Γ((3-p)/2) / Γ(p/2) k^{p-3} (the transform of r⁻ᵖ) minus
    /// 4π ∫ r² h(r) j₀(kr) dr, by quadrature in u = √r (smooth integrand); p = 3 against
    /// the closed form 2π E₁(k²σ²/2).
    #[test]
    fn real_exponents_below_three_by_quadrature() {
        let sigma: f64 = 0.8;
        let q = RadialQuadrature::new((14.0 * sigma).sqrt(), 0.01);
        for &p in &[0.5, 1.5, 2.5, 3.0] {
            let density = SmearedPowerLaw {
                smearing: sigma,
                exponent: p,
            };
            for &k in &[0.3, 1.0, 2.5, 5.0] {
                // the reference is a difference of two terms: its accuracy is relative to them
                let (expected, scale) = if p == 3.0 {
                    let e1 = exp_integral_e1(0.5 * k * k * sigma * sigma);
                    (
                        2.0 * std::f64::consts::PI * e1,
                        2.0 * std::f64::consts::PI * e1,
                    )
                } else {
                    let mut j = [0.0];
                    let short = q.integrate(|u| {
                        let r = u * u;
                        spherical_bessel_sequence(k * r, &mut j);
                        let h = spec_math::cephes64::igamc(0.5 * p, 0.5 * r * r / (sigma * sigma));
                        2.0 * u.powf(5.0 - 2.0 * p) * h * j[0]
                    });
                    let power = std::f64::consts::PI.powf(1.5)
                        * 2.0_f64.powf(3.0 - p)
                        * gamma(0.5 * (3.0 - p))
                        / gamma(0.5 * p)
                        * k.powf(p - 3.0);
                    let short = 4.0 * std::f64::consts::PI * short;
                    (power - short, power.abs() + short.abs())
                };
                let (value, _) = density.fourier(k);
                let error = (value - expected).abs() / scale;
                println!("p={p} k={k}: relative error {error:e}");
                assert!(
                    error < 1e-14,
                    "p={p} k={k}: {value} vs {expected} ({error:e})"
                );
            }
        }
    }

    /// p → 3 from either side, and p → 1: ĝ(k) continuous in p at fixed k > 0
    #[test]
    fn continuous_in_the_exponent() {
        for &p in &[1.0, 3.0, 5.0] {
            for &k in &[0.2, 1.0, 3.0] {
                let at = |p: f64| {
                    SmearedPowerLaw {
                        smearing: 0.7,
                        exponent: p,
                    }
                    .fourier(k)
                    .0
                };
                let (below, centre, above) = (at(p - 1e-9), at(p), at(p + 1e-9));
                assert!((below - centre).abs() < 1e-7 * centre.abs(), "p={p}-");
                assert!((above - centre).abs() < 1e-7 * centre.abs(), "p={p}+");
            }
        }
    }

    #[test]
    fn known_transforms_and_derivatives() {
        let sigma: f64 = 0.7;
        for &k in &[0.1, 1.0, 3.0] {
            let density = SmearedPowerLaw {
                smearing: sigma,
                exponent: 1.0,
            };
            let (value, _) = density.fourier(k);
            let expected =
                4.0 * std::f64::consts::PI * (-0.5 * k * k * sigma * sigma).exp() / (k * k);
            assert!((value - expected).abs() < 1e-13 * expected);
        }
        let real = [0.5, 1.5, 2.5, 3.0, 4.3, 5.5, 7.5];
        for p in (0..10).map(f64::from).chain(real) {
            let density = SmearedPowerLaw {
                smearing: sigma,
                exponent: p,
            };
            for &k in &[0.2, 1.3, 4.0] {
                let (_, derivative) = density.fourier(k);
                let h = 1e-5;
                let fd = (density.fourier(k + h).0 - density.fourier(k - h).0) / (2.0 * h);
                assert!(
                    (fd - derivative).abs() < 1e-7 * (1.0 + derivative.abs()),
                    "p={p} k={k}"
                );
            }
            if let Some(zero) = density.fourier_at_zero() {
                let small = density.fourier(1e-6).0;
                assert!((zero - small).abs() < 1e-6 * zero, "p={p}");
            }
        }
    }

    /// ĝ_σ - ĝ_σw = 4π ∫ r² (g_σ(r) - g_σw(r)) j₀(kr) dr by quadrature (the difference decays
    /// like a Gaussian), including k = 0 where it gives the finite parts f(σ) - f(σw)
    #[test]
    fn difference_of_smearings_by_quadrature() {
        let q = RadialQuadrature::new(60.0, 0.05);
        for p in [0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.3, 6.0, 9.0] {
            let narrow = SmearedPowerLaw {
                smearing: 0.4,
                exponent: p,
            };
            let wide = SmearedPowerLaw {
                smearing: 1.3,
                exponent: p,
            };
            for k in [0.0, 1e-4, 0.3, 1.0, 4.0] {
                let mut j = [0.0];
                let expected = 4.0
                    * std::f64::consts::PI
                    * q.integrate(|r| {
                        spherical_bessel_sequence(k * r, &mut j);
                        r * r * (narrow.real_space(r) - wide.real_space(r)) * j[0]
                    });
                let value = narrow.fourier_difference(1.3, k);
                assert!(
                    (value - expected).abs() < 1e-10 * (1.0 + expected.abs()),
                    "p={p} k={k}: {value} vs {expected}"
                );
            }
        }
    }
}
