//! The LODE radial integrals in k-space, Iₗₙ(k) = ∫ r² Rₙ(r) jₗ(k r) dr, and their derivatives,
//! by quadrature on the radial basis (lode/radial.rs); tabulated with Hermite splines or
//! evaluated exactly.

use crate::lode::radial::{RadialFunctions, RadialProjector};
use crate::math::spline::HermiteSplines;
use crate::Error;

/// Iₗₙ(k) on [0, k_max], splined or exact
#[derive(Debug, Clone)]
pub struct KSpaceRadialIntegral {
    projector: RadialProjector,
    spline: Option<HermiteSplines>,
}

impl KSpaceRadialIntegral {
    pub fn new(
        projector: RadialProjector,
        k_max: f64,
        accuracy: Option<f64>,
    ) -> Result<Self, Error> {
        let spline = match accuracy {
            None => None,
            Some(accuracy) => Some(HermiteSplines::new(
                k_max,
                projector.n_functions(),
                accuracy,
                |k, v, d| projector.bessel_transform(k, v, d),
            )?),
        };
        Ok(KSpaceRadialIntegral { projector, spline })
    }

    /// The spline table, when the integrals are splined
    pub fn spline(&self) -> Option<&HermiteSplines> {
        self.spline.as_ref()
    }

    /// Iₗₙ(k) and dIₗₙ/dk, with index l * size + n
    pub fn compute(&self, k: f64, values: &mut [f64], derivatives: &mut [f64]) {
        match &self.spline {
            Some(spline) if k <= spline.x_max() => spline.evaluate(k, values, derivatives),
            _ => self.projector.bessel_transform(k, values, derivatives),
        }
    }
}

impl RadialFunctions for KSpaceRadialIntegral {
    fn n_functions(&self) -> usize {
        self.projector.n_functions()
    }

    fn compute(&self, k: f64, values: &mut [f64], derivatives: &mut [f64]) {
        KSpaceRadialIntegral::compute(self, k, values, derivatives);
    }
}
