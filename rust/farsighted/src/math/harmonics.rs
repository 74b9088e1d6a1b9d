//! Real spherical harmonics Yₗₘ with featomic's conventions, and their gradients.
//!
//! Yₗₘ(r̂) = Nₗₘ Qₗ^|m|(z, r²) × {cos-like Aₘ(x, y) for m > 0, 1 for m = 0, sin-like B|m|(x, y)
//! for m < 0} evaluated on the unit sphere, where Aₘ + i Bₘ = (x + i y)ᵐ. The associated Legendre
//! polynomials carry no Condon–Shortley phase, so that Y₁₋₁ ∝ y, Y₁₀ ∝ z, Y₁₁ ∝ x, and
//! ∫ Yₗₘ Yₗ'ₘ' dΩ = δ. Computing the solid harmonics rˡ Yₗₘ as polynomials gives exact gradients
//! by forward-mode differentiation of the recurrences.

/// Values and gradients of the solid harmonics Rₗₘ(r) = rˡ Yₗₘ(r̂), for l ≤ `max_angular`.
pub struct SolidHarmonics {
    max_angular: usize,
    /// √((2l+1)/4π (l-|m|)!/(l+|m|)!) (× √2 for m ≠ 0), indexed by `lm_index`
    normalization: Vec<f64>,
    /// Rₗₘ, indexed by `lm_index(l, m)`
    pub values: Vec<f64>,
    /// ∇Rₗₘ, indexed by `lm_index(l, m)`
    pub gradients: Vec<[f64; 3]>,
    // scratch: Qₗᵐ and gradients, indexed by l * (L+1) + m
    q: Vec<f64>,
    dq: Vec<[f64; 3]>,
}

/// (-1)ˡ, the parity of the harmonics: Yₗₘ(-r̂) = (-1)ˡ Yₗₘ(r̂)
#[inline]
pub fn parity(l: usize) -> f64 {
    if l % 2 == 0 {
        1.0
    } else {
        -1.0
    }
}

/// Position of (l, m) in arrays with all m for l = 0, then all m for l = 1, ...
#[inline]
pub fn lm_index(l: usize, m: isize) -> usize {
    ((l * l + l) as isize + m) as usize
}

impl SolidHarmonics {
    pub fn new(max_angular: usize) -> SolidHarmonics {
        let size = (max_angular + 1) * (max_angular + 1);
        let mut normalization = vec![0.0; size];
        for l in 0..=max_angular {
            for m in -(l as isize)..=(l as isize) {
                let am = m.unsigned_abs();
                // (l - |m|)! / (l + |m|)!
                let mut ratio = 1.0;
                for k in (l - am + 1)..=(l + am) {
                    ratio /= k as f64;
                }
                let mut value = ((2 * l + 1) as f64 / (4.0 * std::f64::consts::PI) * ratio).sqrt();
                if m != 0 {
                    value *= std::f64::consts::SQRT_2;
                }
                normalization[lm_index(l, m)] = value;
            }
        }
        let lp1 = max_angular + 1;
        SolidHarmonics {
            max_angular,
            normalization,
            values: vec![0.0; size],
            gradients: vec![[0.0; 3]; size],
            q: vec![0.0; lp1 * lp1],
            dq: vec![[0.0; 3]; lp1 * lp1],
        }
    }

    /// Compute Rₗₘ(r) and ∇Rₗₘ(r). On the unit sphere Rₗₘ = Yₗₘ.
    pub fn compute(&mut self, r: [f64; 3]) {
        self.compute_with::<true>(r);
    }

    /// Compute Rₗₘ(r) only (`gradients` is left as it was)
    pub fn compute_values(&mut self, r: [f64; 3]) {
        self.compute_with::<false>(r);
    }

    #[inline]
    fn compute_with<const GRADIENTS: bool>(&mut self, r: [f64; 3]) {
        let [x, y, z] = r;
        let r2 = x * x + y * y + z * z;
        let lp1 = self.max_angular + 1;
        let qi = |l: usize, m: usize| l * lp1 + m;

        // Qₗᵐ(z, r²): Qₘᵐ = (2m-1)!!, Qₘ₊₁ᵐ = (2m+1) z Qₘᵐ,
        // Qₗᵐ = ((2l-1) z Qₗ₋₁ᵐ - (l+m-1) r² Qₗ₋₂ᵐ) / (l-m)
        let mut double_factorial = 1.0;
        for m in 0..lp1 {
            if m > 0 {
                double_factorial *= (2 * m - 1) as f64;
            }
            self.q[qi(m, m)] = double_factorial;
            if GRADIENTS {
                self.dq[qi(m, m)] = [0.0; 3];
            }
            if m + 1 < lp1 {
                let c = (2 * m + 1) as f64 * double_factorial;
                self.q[qi(m + 1, m)] = c * z;
                if GRADIENTS {
                    self.dq[qi(m + 1, m)] = [0.0, 0.0, c];
                }
            }
            for l in (m + 2)..lp1 {
                let a = (2 * l - 1) as f64 / (l - m) as f64;
                let b = (l + m - 1) as f64 / (l - m) as f64;
                let q1 = self.q[qi(l - 1, m)];
                let q2 = self.q[qi(l - 2, m)];
                self.q[qi(l, m)] = a * z * q1 - b * r2 * q2;
                if !GRADIENTS {
                    continue;
                }
                let d1 = self.dq[qi(l - 1, m)];
                let d2 = self.dq[qi(l - 2, m)];
                let mut d = [0.0; 3];
                for k in 0..3 {
                    d[k] = a * z * d1[k] - b * (r2 * d2[k] + 2.0 * r[k] * q2);
                }
                d[2] += a * q1;
                self.dq[qi(l, m)] = d;
            }
        }

        // Aₘ + i Bₘ = (x + i y)ᵐ, walked up with m, and Rₗₘ = N Q A (m > 0), N Q (m = 0), N Q B (m < 0)
        let (mut a, mut b) = (1.0, 0.0);
        let (mut da, mut db) = ([0.0; 3], [0.0; 3]);
        for m in 0..lp1 {
            if m > 0 {
                let (a_prev, b_prev, da_prev, db_prev) = (a, b, da, db);
                a = x * a_prev - y * b_prev;
                b = x * b_prev + y * a_prev;
                if GRADIENTS {
                    for k in 0..3 {
                        da[k] = x * da_prev[k] - y * db_prev[k];
                        db[k] = x * db_prev[k] + y * da_prev[k];
                    }
                    da[0] += a_prev;
                    da[1] -= b_prev;
                    db[0] += b_prev;
                    db[1] += a_prev;
                }
            }
            for l in m..lp1 {
                let q = self.q[qi(l, m)];
                let dq = self.dq[qi(l, m)];
                if m == 0 {
                    let i = lm_index(l, 0);
                    let n = self.normalization[i];
                    self.values[i] = n * q;
                    if GRADIENTS {
                        self.gradients[i] = [n * dq[0], n * dq[1], n * dq[2]];
                    }
                } else {
                    for (sign, c, dc) in [(1, a, da), (-1, b, db)] {
                        let i = lm_index(l, sign * m as isize);
                        let n = self.normalization[i];
                        self.values[i] = n * q * c;
                        if !GRADIENTS {
                            continue;
                        }
                        self.gradients[i] = [
                            n * (dq[0] * c + q * dc[0]),
                            n * (dq[1] * c + q * dc[1]),
                            n * (dq[2] * c + q * dc[2]),
                        ];
                    }
                }
            }
        }
    }
}

/// ∇Rₗₘ written with the Rₗ₋₁ₘ': each Cartesian component of the gradient of a harmonic
/// polynomial of degree l is one of degree l - 1, so ∂_α Rₗₘ = Σₘ' c Rₗ₋₁ₘ', with m' = m
/// for z and |m'| = |m| ± 1 for x and y. A sum over many points that holds a table of the Rₗₘ
/// reads their gradients from it (the strain of the mesh's backward product, whose table of
/// gradients would be three times that of the values).
pub struct HarmonicGradients {
    /// per lm and component: up to `GRADIENT_TERMS` (lm' of degree l - 1, c), with c = 0
    /// past the last
    terms: Vec<[[(usize, f64); GRADIENT_TERMS]; 3]>,
}

/// Points and weights on the unit sphere that integrate every polynomial of degree up to
/// 2 `degree` + 1 exactly: Gauss–Legendre in cos θ times a uniform grid in φ
fn sphere_quadrature(degree: usize) -> Vec<([f64; 3], f64)> {
    let n_phi = 2 * degree + 2;
    let rule = gauss_quad::GaussLegendre::new((degree + 1).try_into().expect("non zero"));
    let mut points = Vec::with_capacity((degree + 1) * n_phi);
    for &(t, w) in rule.as_node_weight_pairs() {
        let s = (1.0 - t * t).sqrt();
        for k in 0..n_phi {
            let phi = 2.0 * std::f64::consts::PI * k as f64 / n_phi as f64;
            let weight = w * 2.0 * std::f64::consts::PI / n_phi as f64;
            points.push(([s * phi.cos(), s * phi.sin(), t], weight));
        }
    }
    points
}

/// The most terms of a component of ∇Rₗₘ in the Rₗ₋₁ₘ' (x and y: m' = ±(|m| - 1), ±(|m| + 1))
const GRADIENT_TERMS: usize = 2;

impl HarmonicGradients {
    /// The coefficients are projections of ∇Rₗₘ on the Rₗ₋₁ₘ', orthonormal on the unit
    /// sphere, by Gauss–Legendre in cos θ times a uniform grid in φ, exact for these degrees
    pub fn new(max_angular: usize) -> HarmonicGradients {
        let size = (max_angular + 1) * (max_angular + 1);
        let mut projections = vec![[0.0; 3]; size * size];
        let mut harmonics = SolidHarmonics::new(max_angular);
        for (point, weight) in sphere_quadrature(max_angular) {
            harmonics.compute(point);
            for (i, gradient) in harmonics.gradients.iter().enumerate() {
                for (j, value) in harmonics.values.iter().enumerate() {
                    for alpha in 0..3 {
                        projections[i * size + j][alpha] += weight * gradient[alpha] * value;
                    }
                }
            }
        }
        let mut terms = vec![[[(0, 0.0); GRADIENT_TERMS]; 3]; size];
        for l in 1..=max_angular {
            for i in l * l..(l + 1) * (l + 1) {
                for (alpha, terms) in terms[i].iter_mut().enumerate() {
                    let lower = (l - 1) * (l - 1)..l * l;
                    let found: Vec<(usize, f64)> = lower
                        .map(|j| (j, projections[i * size + j][alpha]))
                        .filter(|(_, c)| c.abs() > 1e-12)
                        .collect();
                    assert!(found.len() <= GRADIENT_TERMS, "∂_{alpha} R of lm = {i}");
                    terms[..found.len()].copy_from_slice(&found);
                }
            }
        }
        HarmonicGradients { terms }
    }

    /// ∇Rₗₘ at the point where the Rₗₘ are `values` (indexed by `lm_index`)
    #[inline]
    pub fn gradient(&self, lm: usize, values: &[f64]) -> [f64; 3] {
        self.terms[lm].map(|terms| terms.iter().map(|&(j, c)| c * values[j]).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_low_orders() {
        let mut sh = SolidHarmonics::new(2);
        let r = [0.3, -0.5, 0.8];
        sh.compute(r);
        let values = sh.values.clone();
        sh.compute_values(r);
        assert_eq!(values, sh.values);
        let [x, y, z] = r;
        let pi = std::f64::consts::PI;
        let c1 = (3.0 / (4.0 * pi)).sqrt();
        let expected = [
            (0, 0, 0.5 / pi.sqrt()),
            (1, -1, c1 * y),
            (1, 0, c1 * z),
            (1, 1, c1 * x),
            (2, -2, 0.5 * (15.0 / pi).sqrt() * x * y),
            (2, -1, 0.5 * (15.0 / pi).sqrt() * y * z),
            (
                2,
                0,
                0.25 * (5.0 / pi).sqrt() * (3.0 * z * z - (x * x + y * y + z * z)),
            ),
            (2, 1, 0.5 * (15.0 / pi).sqrt() * x * z),
            (2, 2, 0.25 * (15.0 / pi).sqrt() * (x * x - y * y)),
        ];
        for (l, m, value) in expected {
            assert!(
                (sh.values[lm_index(l, m)] - value).abs() < 1e-15,
                "l={l} m={m}"
            );
        }
    }

    #[test]
    fn orthonormal_on_the_sphere() {
        // products of degree up to 2 lmax, which the quadrature integrates exactly
        let lmax = 6;
        let mut sh = SolidHarmonics::new(lmax);
        let size = (lmax + 1) * (lmax + 1);
        let mut overlap = vec![0.0; size * size];
        for (point, weight) in sphere_quadrature(lmax) {
            // the values-only path, checked against compute in explicit_low_orders
            sh.compute_values(point);
            for i in 0..size {
                for j in 0..size {
                    overlap[i * size + j] += weight * sh.values[i] * sh.values[j];
                }
            }
        }
        for i in 0..size {
            for j in 0..size {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((overlap[i * size + j] - expected).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn gradients_by_finite_differences() {
        let lmax = 7;
        let mut sh = SolidHarmonics::new(lmax);
        let r = [0.7, -0.2, 1.3];
        sh.compute(r);
        let gradients = sh.gradients.clone();
        let delta = 1e-6;
        for k in 0..3 {
            let mut plus = r;
            plus[k] += delta;
            let mut minus = r;
            minus[k] -= delta;
            sh.compute(plus);
            let values_plus = sh.values.clone();
            sh.compute(minus);
            for i in 0..values_plus.len() {
                let fd = (values_plus[i] - sh.values[i]) / (2.0 * delta);
                assert!(
                    (fd - gradients[i][k]).abs() < 1e-7 * (1.0 + fd.abs()),
                    "i={i} k={k}"
                );
            }
        }
    }

    #[test]
    fn gradients_from_the_lower_degree() {
        let lmax = 6;
        let gradients = HarmonicGradients::new(lmax);
        let mut sh = SolidHarmonics::new(lmax);
        for r in [[0.7, -0.2, 1.3], [-1.1, 0.4, 0.05], [0.0, 0.0, -2.0]] {
            sh.compute(r);
            for (lm, expected) in sh.gradients.iter().enumerate() {
                let gradient = gradients.gradient(lm, &sh.values);
                for alpha in 0..3 {
                    assert!(
                        (gradient[alpha] - expected[alpha]).abs()
                            < 1e-12 * (1.0 + expected[alpha].abs()),
                        "lm={lm} α={alpha}: {} against {}",
                        gradient[alpha],
                        expected[alpha]
                    );
                }
            }
        }
    }
}
