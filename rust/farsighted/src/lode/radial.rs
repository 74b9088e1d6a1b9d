//! The LODE radial integrals in k-space, Iₗₙ(k) = ∫ r² Rₙ(r) jₗ(k r) dr, and their derivatives,
//! by quadrature on the radial basis; tabulated with Hermite splines or evaluated exactly.

use crate::basis::GtoBasis;
use crate::math::bessel::spherical_bessel_sequence;
use crate::math::quadrature::RadialQuadrature;
use crate::math::spline::HermiteSplines;
use crate::Error;

/// Quadrature data: for each node, weight × r² × Rₙ(r) for all n
#[derive(Debug, Clone)]
pub struct RadialProjector {
    pub max_angular: usize,
    pub size: usize,
    nodes: Vec<f64>,
    /// (n_nodes, size): wᵩ rᵩ² Rₙ(rᵩ)
    weighted_basis: Vec<f64>,
}

impl RadialProjector {
    /// Nodes fine enough to integrate the basis against jₗ(kr) for k ≤ `k_max` and against a
    /// density of width `smearing`.
    pub fn new(basis: &GtoBasis, max_angular: usize, k_max: f64, smearing: f64) -> RadialProjector {
        let panel = f64::min(2.0 / k_max.max(1e-3), basis.min_width().min(smearing));
        let quadrature = RadialQuadrature::new(basis.support(), panel);
        let size = basis.size();
        let mut weighted_basis = vec![0.0; quadrature.nodes.len() * size];
        for (q, (&r, &w)) in quadrature.nodes.iter().zip(&quadrature.weights).enumerate() {
            let row = &mut weighted_basis[q * size..(q + 1) * size];
            basis.evaluate(r, row);
            for v in row.iter_mut() {
                *v *= w * r * r;
            }
        }
        RadialProjector {
            max_angular,
            size,
            nodes: quadrature.nodes,
            weighted_basis,
        }
    }

    /// ∫ r² Rₙ(r) f(r) dr for all n
    pub fn project(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut result = vec![0.0; self.size];
        for (q, &r) in self.nodes.iter().enumerate() {
            let value = f(r);
            let basis = &self.weighted_basis[q * self.size..(q + 1) * self.size];
            for (out, b) in result.iter_mut().zip(basis) {
                *out += value * b;
            }
        }
        result
    }

    /// Number of (l, n) functions, stored as l * size + n
    pub fn n_functions(&self) -> usize {
        (self.max_angular + 1) * self.size
    }

    /// Iₗₙ(k) and dIₗₙ/dk, with index l * size + n
    pub fn bessel_transform(&self, k: f64, values: &mut [f64], derivatives: &mut [f64]) {
        let lmax = self.max_angular;
        values.iter_mut().for_each(|v| *v = 0.0);
        derivatives.iter_mut().for_each(|v| *v = 0.0);
        let mut j = vec![0.0; lmax + 2];
        for (q, &r) in self.nodes.iter().enumerate() {
            let x = k * r;
            spherical_bessel_sequence(x, &mut j);
            let basis = &self.weighted_basis[q * self.size..(q + 1) * self.size];
            for l in 0..=lmax {
                // jₗ' = (l jₗ₋₁ - (l+1) jₗ₊₁) / (2l+1), j₀' = -j₁
                let dj = if l == 0 {
                    -j[1]
                } else {
                    (l as f64 * j[l - 1] - (l + 1) as f64 * j[l + 1]) / (2 * l + 1) as f64
                };
                let (jl, rdj) = (j[l], r * dj);
                let out = &mut values[l * self.size..(l + 1) * self.size];
                let dout = &mut derivatives[l * self.size..(l + 1) * self.size];
                for n in 0..self.size {
                    out[n] += jl * basis[n];
                    dout[n] += rdj * basis[n];
                }
            }
        }
    }
}

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
