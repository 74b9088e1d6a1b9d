//! Thin wrappers around the cephes special functions (crate `spec_math`) giving the functions
//! the physics needs, for real arguments, with the edge cases handled in one place.

/// The Gamma function Γ(x).
pub fn gamma(x: f64) -> f64 {
    spec_math::cephes64::gamma(x)
}

/// The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a), for a > 0.
pub fn regularized_lower_gamma(a: f64, x: f64) -> f64 {
    debug_assert!(a > 0.0);
    if x <= 0.0 {
        return 0.0;
    }
    spec_math::cephes64::igam(a, x)
}

/// The exponential integral E₁(x) = Γ(0, x), for x > 0.
pub fn exp_integral_e1(x: f64) -> f64 {
    spec_math::cephes64::expn(1, x)
}

/// The upper incomplete gamma function Γ(s, x) = ∫ₓ^∞ t^{s-1} e^{-t} dt for any real `s` and
/// x > 0: cephes for s > 1/2; math/incomplete_gamma.rs below, as cephes does not cover s ≤ 0
/// and loses accuracy as s → 0⁺.
pub fn upper_gamma(s: f64, x: f64) -> f64 {
    debug_assert!(x > 0.0);
    if s > 0.5 {
        return spec_math::cephes64::igamc(s, x) * gamma(s);
    }
    super::incomplete_gamma::upper_gamma_below_half(s, x)
}

/// The complementary error function erfc(x) = 1 - erf(x).
pub fn erfc(x: f64) -> f64 {
    spec_math::cephes64::erfc(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn upper_gamma_closed_forms() {
        let sqrt_pi = std::f64::consts::PI.sqrt();
        for &x in &[1e-3, 0.1, 0.5, 1.0, 3.0, 7.0] {
            let sx: f64 = f64::sqrt(x);
            // Γ(1, x) = e^-x
            assert!(rel(upper_gamma(1.0, x), (-x).exp()) < 1e-14);
            // Γ(1/2, x) = √π erfc(√x)
            assert!(rel(upper_gamma(0.5, x), sqrt_pi * spec_math::cephes64::erfc(sx)) < 1e-13);
            // Γ(-1/2, x) = 2 x^{-1/2} e^{-x} - 2√π erfc(√x)
            let expected = 2.0 * (-x).exp() / sx - 2.0 * sqrt_pi * spec_math::cephes64::erfc(sx);
            assert!(rel(upper_gamma(-0.5, x), expected) < 1e-12);
            // Γ(-1, x) = E1(x)·(-1) + e^-x / x
            let expected = (-x).exp() / x - exp_integral_e1(x);
            assert!(rel(upper_gamma(-1.0, x), expected) < 1e-12);
        }
        // E1 at a tabulated point (Abramowitz & Stegun 5.1): E1(1) = 0.219383934395520
        assert!(rel(exp_integral_e1(1.0), 0.219_383_934_395_520) < 1e-14);
    }
}
