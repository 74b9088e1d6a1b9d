//! Gaussian-type orbital (GTO) radial basis, orthonormalised with Löwdin's S^{-1/2}, with the
//! widths and normalisation of featomic: σₙ = radius · max(√n, 1) / (max_radial + 1),
//! φₙ(r) = Nₙ rⁿ exp(-r² / 2σₙ²) with ∫ r² φₙ² dr = 1, and Rₙ = Σₘ (S^{-1/2})ₙₘ φₘ.

use crate::math::special::gamma;
use crate::Error;

#[derive(Debug, Clone)]
pub struct GtoBasis {
    widths: Vec<f64>,
    normalization: Vec<f64>,
    /// S^{-1/2}, row-major (size × size)
    orthonormalization: Vec<f64>,
}

impl GtoBasis {
    pub fn new(max_radial: usize, radius: f64) -> Result<GtoBasis, Error> {
        if !(radius.is_finite() && radius > 0.0) {
            return Err(Error::InvalidParameter(format!(
                "basis.radial.radius must be a positive finite number, got {radius}"
            )));
        }
        if max_radial > crate::parameters::MAX_RADIAL_LIMIT {
            return Err(Error::InvalidParameter(format!(
                "basis.radial.max_radial={max_radial} is too large (at most {})",
                crate::parameters::MAX_RADIAL_LIMIT
            )));
        }
        let size = max_radial + 1;
        let widths: Vec<f64> = (0..size)
            .map(|n| radius * f64::max((n as f64).sqrt(), 1.0) / size as f64)
            .collect();
        let normalization: Vec<f64> = (0..size)
            .map(|n| (2.0 / (widths[n].powi(2 * n as i32 + 3) * gamma(n as f64 + 1.5))).sqrt())
            .collect();

        // overlap of the normalised GTOs, from ∫ r^{2+a+b} e^{-α r²} dr = Γ((3+a+b)/2) / 2α^{(3+a+b)/2}
        let overlap = faer::Mat::<f64>::from_fn(size, size, |a, b| {
            let alpha = 0.5 / (widths[a] * widths[a]) + 0.5 / (widths[b] * widths[b]);
            let s = 0.5 * (3 + a + b) as f64;
            normalization[a] * normalization[b] * gamma(s) / (2.0 * alpha.powf(s))
        });

        let eigen = overlap.self_adjoint_eigen(faer::Side::Lower).map_err(|e| {
            Error::Numerical(format!(
                "eigen-decomposition of the GTO overlap failed: {e:?}"
            ))
        })?;
        let u = eigen.U();
        let s = eigen.S();
        let smallest = (0..size).map(|i| s[i]).fold(f64::INFINITY, f64::min);
        if smallest <= 1e3 * f64::EPSILON {
            return Err(Error::InvalidParameter(format!(
                "the GTO radial basis with max_radial={max_radial} is numerically linearly \
                 dependent (smallest overlap eigenvalue {smallest:e}); use a smaller basis.radial.max_radial"
            )));
        }
        let mut orthonormalization = vec![0.0; size * size];
        for a in 0..size {
            for b in 0..size {
                orthonormalization[a * size + b] =
                    (0..size).map(|k| u[(a, k)] * u[(b, k)] / s[k].sqrt()).sum();
            }
        }

        Ok(GtoBasis {
            widths,
            normalization,
            orthonormalization,
        })
    }

    pub fn size(&self) -> usize {
        self.widths.len()
    }

    /// A radius beyond which every r² Rₙ(r) is below 1e-16 of its maximum
    pub fn support(&self) -> f64 {
        // rⁿ⁺² e^{-r²/2σ²} peaks at σ√(n+2); 9σ further the Gaussian factor is e^{-40}
        self.widths
            .iter()
            .enumerate()
            .map(|(n, &s)| s * (((n + 2) as f64).sqrt() + 9.0))
            .fold(0.0, f64::max)
    }

    /// The narrowest Gaussian width, which sets the quadrature resolution
    pub fn min_width(&self) -> f64 {
        self.widths.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Rₙ(r) for all n
    pub fn evaluate(&self, r: f64, values: &mut [f64]) {
        let size = self.size();
        let mut primitive = [0.0; crate::parameters::MAX_RADIAL_LIMIT + 1];
        for (m, p) in primitive.iter_mut().enumerate().take(size) {
            let s = self.widths[m];
            *p = self.normalization[m] * r.powi(m as i32) * (-0.5 * r * r / (s * s)).exp();
        }
        for (n, value) in values.iter_mut().enumerate().take(size) {
            let row = &self.orthonormalization[n * size..(n + 1) * size];
            *value = row.iter().zip(&primitive).map(|(o, p)| o * p).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::quadrature::RadialQuadrature;

    #[test]
    fn orthonormal() {
        for (max_radial, radius) in [(0, 3.0), (5, 4.0), (9, 6.0)] {
            let basis = GtoBasis::new(max_radial, radius).unwrap();
            let size = basis.size();
            let q = RadialQuadrature::new(basis.support(), 0.2 * basis.min_width());
            let mut overlap = vec![0.0; size * size];
            let mut values = vec![0.0; size];
            for (&r, &w) in q.nodes.iter().zip(&q.weights) {
                basis.evaluate(r, &mut values);
                for a in 0..size {
                    for b in 0..size {
                        overlap[a * size + b] += w * r * r * values[a] * values[b];
                    }
                }
            }
            for a in 0..size {
                for b in 0..size {
                    let expected = if a == b { 1.0 } else { 0.0 };
                    // S^{-1/2} amplifies rounding by the overlap's condition number (~1e5 at n=9)
                    assert!(
                        (overlap[a * size + b] - expected).abs() < 1e-10,
                        "{a} {b}: {}",
                        overlap[a * size + b]
                    );
                }
            }
        }
    }

    #[test]
    fn bad_radius() {
        assert!(GtoBasis::new(3, -1.0).is_err());
        assert!(GtoBasis::new(3, f64::NAN).is_err());
    }
}
