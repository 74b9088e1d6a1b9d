//! Composite Gauss–Legendre quadrature on [0, r_max], with panels narrow enough to resolve the
//! oscillations of jₗ(k r) up to a given k and the finest Gaussian of the radial basis.

use gauss_quad::GaussLegendre;

/// Nodes per panel. A 24-point rule integrates smooth functions over a panel spanning at most
/// two radians of oscillation to machine precision.
const NODES_PER_PANEL: usize = 24;

/// Quadrature nodes and weights on [0, r_max].
#[derive(Debug, Clone)]
pub struct RadialQuadrature {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

impl RadialQuadrature {
    /// Panels of width at most `max_panel_width` covering [0, r_max].
    pub fn new(r_max: f64, max_panel_width: f64) -> RadialQuadrature {
        let n_panels = (r_max / max_panel_width).ceil().max(1.0) as usize;
        let width = r_max / n_panels as f64;
        let rule = GaussLegendre::new(NODES_PER_PANEL.try_into().expect("non zero"));
        let mut nodes = Vec::with_capacity(n_panels * NODES_PER_PANEL);
        let mut weights = Vec::with_capacity(n_panels * NODES_PER_PANEL);
        for panel in 0..n_panels {
            let start = panel as f64 * width;
            for &(x, w) in rule.as_node_weight_pairs() {
                nodes.push(start + 0.5 * width * (x + 1.0));
                weights.push(0.5 * width * w);
            }
        }
        RadialQuadrature { nodes, weights }
    }

    pub fn integrate(&self, mut f: impl FnMut(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&r, &w)| w * f(r))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_moments() {
        // ∫₀^∞ r^4 e^{-r²/2} dr = 3 √(π/2)
        let q = RadialQuadrature::new(12.0, 0.5);
        let value = q.integrate(|r| r.powi(4) * (-0.5 * r * r).exp());
        let expected = 3.0 * (std::f64::consts::PI / 2.0).sqrt();
        assert!((value - expected).abs() < 1e-14 * expected);
    }

    #[test]
    fn oscillating_integrand() {
        // ∫₀^∞ e^{-r²/2} cos(k r) dr = √(π/2) e^{-k²/2}
        let k = 7.0;
        let q = RadialQuadrature::new(12.0, 1.0 / k);
        let value = q.integrate(|r| (-0.5 * r * r).exp() * (k * r).cos());
        let expected = (std::f64::consts::PI / 2.0).sqrt() * (-0.5 * k * k).exp();
        assert!((value - expected).abs() < 1e-15);
    }
}
