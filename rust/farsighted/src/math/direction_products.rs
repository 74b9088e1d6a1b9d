//! The products r̂_α Yₗₘ(r̂) written in the harmonics of degree l ± 1:
//!
//!   r̂_α Yₗₘ(r̂) = Σ_{L = l±1, M} C^{lmα}_{LM} Y_LM(r̂),  C^{lmα}_{LM} = ∫ r̂_α Yₗₘ Y_LM dΩ,
//!
//! exact because r̂_α rˡ Yₗₘ is a homogeneous polynomial of degree l + 1, the sum of a harmonic
//! one (L = l + 1) and r² times one of degree l - 1. The k-space gradients use it to multiply
//! 4l + 2 functions of k̂ instead of the 3 (2l + 1) products k̂_α Yₗₘ.

use super::harmonics::{lm_index, SolidHarmonics};

/// Coefficients smaller than this (rounding of zeros) are dropped
const ZERO: f64 = 1e-12;

/// One term C Y_LM(r̂) of r̂_α Yₗₘ(r̂)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DirectionTerm {
    pub alpha: usize,
    pub m: isize,
    /// L = l - 1 or l + 1
    pub big_l: usize,
    pub big_m: isize,
    pub coefficient: f64,
}

/// The non-zero terms of r̂_α Yₗₘ(r̂) for α = x, y, z and all m of one l, by quadrature on
/// the sphere: Gauss–Legendre in cos θ times a uniform grid in φ, exact for the polynomials of
/// degree 2l + 2 integrated here.
pub fn direction_products(l: usize) -> Vec<DirectionTerm> {
    let n_theta = l + 3;
    let n_phi = 2 * l + 6;
    let rule = gauss_quad::GaussLegendre::new(n_theta.try_into().expect("non zero"));
    let mut harmonics = SolidHarmonics::new(l + 1);
    let size = (l + 2) * (l + 2);
    // integrals[(α, m + l, lm_index(L, M))]
    let mut integrals = vec![0.0; 3 * (2 * l + 1) * size];
    for &(t, w) in rule.as_node_weight_pairs() {
        let s = (1.0 - t * t).sqrt();
        for k in 0..n_phi {
            let phi = 2.0 * std::f64::consts::PI * k as f64 / n_phi as f64;
            let direction = [s * phi.cos(), s * phi.sin(), t];
            harmonics.compute(direction);
            let weight = w * 2.0 * std::f64::consts::PI / n_phi as f64;
            for (alpha, &x) in direction.iter().enumerate() {
                for m in 0..2 * l + 1 {
                    let product = weight * x * harmonics.values[l * l + m];
                    let row = &mut integrals[(alpha * (2 * l + 1) + m) * size..][..size];
                    for (integral, y) in row.iter_mut().zip(&harmonics.values) {
                        *integral += product * y;
                    }
                }
            }
        }
    }
    let mut terms = Vec::new();
    for alpha in 0..3 {
        for m in -(l as isize)..=(l as isize) {
            let row = &integrals[(alpha * (2 * l + 1) + (m + l as isize) as usize) * size..];
            for big_l in [l.wrapping_sub(1), l + 1]
                .into_iter()
                .filter(|&x| x <= l + 1)
            {
                for big_m in -(big_l as isize)..=(big_l as isize) {
                    let coefficient = row[lm_index(big_l, big_m)];
                    if coefficient.abs() > ZERO {
                        terms.push(DirectionTerm {
                            alpha,
                            m,
                            big_l,
                            big_m,
                            coefficient,
                        });
                    }
                }
            }
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of r̂_α Yₗₘ = Σ C Y_LM at directions that are not quadrature nodes
    #[test]
    fn products_are_exact_at_random_directions() {
        let lmax = 7;
        let mut harmonics = SolidHarmonics::new(lmax + 1);
        for direction in [[0.3, -0.5, 0.8], [-0.9, 0.1, 0.2], [0.05, 0.7, -0.6]] {
            let norm = direction.iter().map(|x| x * x).sum::<f64>().sqrt();
            let direction = direction.map(|x| x / norm);
            harmonics.compute(direction);
            for l in 0..=lmax {
                let mut sums = vec![0.0; 3 * (2 * l + 1)];
                for term in direction_products(l) {
                    sums[term.alpha * (2 * l + 1) + (term.m + l as isize) as usize] +=
                        term.coefficient * harmonics.values[lm_index(term.big_l, term.big_m)];
                }
                for alpha in 0..3 {
                    for m in -(l as isize)..=(l as isize) {
                        let expected = direction[alpha] * harmonics.values[lm_index(l, m)];
                        let sum = sums[alpha * (2 * l + 1) + (m + l as isize) as usize];
                        assert!((sum - expected).abs() < 1e-14, "l={l} m={m} α={alpha}");
                    }
                }
            }
        }
    }

    /// ẑ Y₀₀ = Y₁₀ / √3 and each r̂_α Yₗₘ has at most 4 terms (2 for z)
    #[test]
    fn known_coefficients_and_sparsity() {
        let terms = direction_products(0);
        let z: Vec<_> = terms.iter().filter(|t| t.alpha == 2).collect();
        assert_eq!(z.len(), 1);
        assert_eq!((z[0].big_l, z[0].big_m), (1, 0));
        assert!((z[0].coefficient - 1.0 / 3.0_f64.sqrt()).abs() < 1e-15);
        for l in 0..6 {
            let terms = direction_products(l);
            for alpha in 0..3 {
                for m in -(l as isize)..=(l as isize) {
                    let count = terms
                        .iter()
                        .filter(|t| t.alpha == alpha && t.m == m)
                        .count();
                    assert!(count <= if alpha == 2 { 2 } else { 4 }, "l={l} m={m}");
                }
            }
        }
    }
}
