//! Radial functions: the shape they share ([`RadialFunctions`]: n_functions functions with
//! index l · size + n, values and derivatives at one argument), and the one quadrature of
//! spherical Bessel functions they are computed by ([`BesselQuadrature`]).
//!
//! [`RadialProjector`] projects on the radial basis: ∫ r² Rₙ(r) f(r) dr, and the LODE radial
//! integrals in k-space Iₗₙ(k) = ∫ r² Rₙ(r) jₗ(k r) dr with their derivatives (splined in
//! lode/kspace/radial.rs). The pair functions of open systems (lode/pairs/radial.rs) are the
//! same quadrature over k.

use crate::basis::GtoBasis;
use crate::math::bessel::spherical_bessel_sequence;
use crate::math::quadrature::RadialQuadrature;

/// n_functions radial functions, index l · size + n, evaluated with their derivatives: the
/// k-space integrals Iₗₙ(k), the pair functions Fₗₙ(d) and the planar projections Pₗₙ(z)
pub trait RadialFunctions: Sync {
    /// Number of functions, (max_angular + 1) × size
    fn n_functions(&self) -> usize;
    /// The values and derivatives of every function at `x`
    fn compute(&self, x: f64, values: &mut [f64], derivatives: &mut [f64]);
    /// The values of every function at `x` (`scratch`: room for the derivatives, where an
    /// implementation computes them together)
    fn compute_values(&self, x: f64, values: &mut [f64], scratch: &mut [f64]) {
        self.compute(x, values, scratch);
    }
}

/// Σ_q w_{q,f} jₗ(x_q y) and its derivative Σ_q w_{q,f} x_q jₗ'(x_q y) with respect to y, for
/// every function f = l · size + n: the weights of a node are the same for every l (a row of
/// `size`) or per l (a row of (max_angular + 1) · size)
#[derive(Debug, Clone)]
pub(crate) struct BesselQuadrature {
    pub max_angular: usize,
    pub size: usize,
    /// x_q
    pub nodes: Vec<f64>,
    /// (n_nodes, size) or (n_nodes, (max_angular + 1) size)
    pub weights: Vec<f64>,
    /// whether the weights depend on l
    pub per_l: bool,
}

impl BesselQuadrature {
    fn row_length(&self) -> usize {
        if self.per_l {
            (self.max_angular + 1) * self.size
        } else {
            self.size
        }
    }

    /// The sums and their derivatives at y, with index l · size + n
    pub fn transform(&self, y: f64, values: &mut [f64], derivatives: &mut [f64]) {
        let lmax = self.max_angular;
        let size = self.size;
        let row_length = self.row_length();
        values.iter_mut().for_each(|v| *v = 0.0);
        derivatives.iter_mut().for_each(|v| *v = 0.0);
        let mut j = vec![0.0; lmax + 2];
        for (q, &x) in self.nodes.iter().enumerate() {
            spherical_bessel_sequence(x * y, &mut j);
            let row = &self.weights[q * row_length..(q + 1) * row_length];
            for l in 0..=lmax {
                // jₗ' = (l jₗ₋₁ - (l+1) jₗ₊₁) / (2l+1), j₀' = -j₁
                let dj = if l == 0 {
                    -j[1]
                } else {
                    (l as f64 * j[l - 1] - (l + 1) as f64 * j[l + 1]) / (2 * l + 1) as f64
                };
                let (jl, xdj) = (j[l], x * dj);
                let weights = if self.per_l {
                    &row[l * size..(l + 1) * size]
                } else {
                    row
                };
                let range = l * size..(l + 1) * size;
                for ((v, d), w) in values[range.clone()]
                    .iter_mut()
                    .zip(&mut derivatives[range])
                    .zip(weights)
                {
                    *v += jl * w;
                    *d += xdj * w;
                }
            }
        }
    }
}

/// Quadrature data: for each node, weight × r² × Rₙ(r) for all n
#[derive(Debug, Clone)]
pub struct RadialProjector {
    pub max_angular: usize,
    pub size: usize,
    /// nodes r, weights wᵩ rᵩ² Rₙ(rᵩ), (n_nodes, size)
    quadrature: BesselQuadrature,
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
            quadrature: BesselQuadrature {
                max_angular,
                size,
                nodes: quadrature.nodes,
                weights: weighted_basis,
                per_l: false,
            },
        }
    }

    /// ∫ r² Rₙ(r) f(r) dr for all n
    pub fn project(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut result = vec![0.0; self.size];
        let quadrature = &self.quadrature;
        for (q, &r) in quadrature.nodes.iter().enumerate() {
            let value = f(r);
            let basis = &quadrature.weights[q * self.size..(q + 1) * self.size];
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
        self.quadrature.transform(k, values, derivatives);
    }
}

impl RadialFunctions for RadialProjector {
    fn n_functions(&self) -> usize {
        RadialProjector::n_functions(self)
    }

    fn compute(&self, k: f64, values: &mut [f64], derivatives: &mut [f64]) {
        self.bessel_transform(k, values, derivatives);
    }
}
