//! Spherical Bessel functions of the first kind, jₗ(x) for l = 0..=L at once.
//!
//! For x > L the upward recurrence from j₀ and j₁ is stable. Below, jₗ is the minimal
//! solution of the recurrence and Miller's downward recurrence, normalised with j₀ = sin(x)/x
//! or j₁, is used instead. A series covers x → 0.

/// Fill `out[l]` with jₗ(x) for l in 0..out.len(), for x ≥ 0.
pub fn spherical_bessel_sequence(x: f64, out: &mut [f64]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    let lmax = n - 1;
    if x < 1e-3 {
        series(x, out);
        return;
    }

    let (sin, cos) = x.sin_cos();
    let j0 = sin / x;
    if x > lmax as f64 {
        out[0] = j0;
        if n > 1 {
            out[1] = sin / (x * x) - cos / x;
        }
        for l in 1..lmax {
            out[l + 1] = (2 * l + 1) as f64 / x * out[l] - out[l - 1];
        }
        return;
    }

    // Miller: start well above max(L, x) where jₗ is negligible, recur downwards.
    let start = lmax + 20 + (10.0 * (lmax as f64 + x).sqrt()) as usize;
    let mut above = 0.0_f64;
    let mut current = 1e-300_f64;
    for v in out.iter_mut() {
        *v = 0.0;
    }
    for l in (1..=start).rev() {
        let below = (2 * l + 1) as f64 / x * current - above;
        above = current;
        current = below;
        if l - 1 <= lmax {
            out[l - 1] = current;
        }
        if current.abs() > 1e250 {
            // rescale everything computed so far to avoid overflow
            current *= 1e-250;
            above *= 1e-250;
            for v in out.iter_mut() {
                *v *= 1e-250;
            }
        }
    }
    // normalise with whichever of j₀, j₁ is further from one of its zeros (they interlace)
    let j1 = sin / (x * x) - cos / x;
    let norm = if n == 1 || j0.abs() >= j1.abs() {
        j0 / out[0]
    } else {
        j1 / out[1]
    };
    for v in out.iter_mut() {
        *v *= norm;
    }
}

/// Two terms of the power series jₗ(x) = xˡ/(2l+1)!! (1 - x²/(2(2l+3)) + x⁴/(8(2l+3)(2l+5))).
fn series(x: f64, out: &mut [f64]) {
    let x2 = x * x;
    let mut prefactor = 1.0; // x^l / (2l+1)!!
    for (l, v) in out.iter_mut().enumerate() {
        if l > 0 {
            prefactor *= x / (2 * l + 1) as f64;
        }
        let a = (2 * l + 3) as f64;
        let b = (2 * l + 5) as f64;
        *v = prefactor * (1.0 - x2 / (2.0 * a) + x2 * x2 / (8.0 * a * b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: cephes' Bessel function of real order, jₗ(x) = √(π/2x) J_{l+1/2}(x)
    fn reference(l: usize, x: f64) -> f64 {
        (std::f64::consts::PI / (2.0 * x)).sqrt() * spec_math::cephes64::jv(l as f64 + 0.5, x)
    }

    #[test]
    fn against_cephes() {
        let mut out = vec![0.0; 21];
        for &x in &[
            2e-3,
            0.01,
            0.3,
            1.0,
            2.5,
            std::f64::consts::PI,
            std::f64::consts::TAU,
            7.3,
            15.0,
            19.9,
            20.1,
            33.0,
            120.0,
        ] {
            spherical_bessel_sequence(x, &mut out);
            for (l, &value) in out.iter().enumerate() {
                let expected = reference(l, x);
                let tolerance = 1e-13 * expected.abs().max(1e-300) + 1e-15 * (1.0 / x).min(1.0);
                assert!(
                    (value - expected).abs() <= tolerance.max(1e-14 * expected.abs()),
                    "j_{l}({x}) = {value}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn small_arguments() {
        let mut out = vec![0.0; 6];
        spherical_bessel_sequence(0.0, &mut out);
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        spherical_bessel_sequence(5e-4, &mut out);
        for (l, &value) in out.iter().enumerate() {
            let expected = reference(l, 5e-4);
            assert!((value - expected).abs() <= 1e-14 * expected.abs(), "l={l}");
        }
    }
}
