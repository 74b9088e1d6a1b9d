//! Cardinal B-splines Mₚ of even order p, the assignment functions of smooth PME: an atom at
//! mesh coordinate u touches the p points g = ⌊u⌋ - q, q = 0..p, with weights Mₚ(u - g).
//! With them e^{2πimu/K} ≈ b(m) Σ_g Mₚ(u - g) e^{2πimg/K} (Essmann et al., J. Chem. Phys.
//! 103, 8577 (1995)), and |b(m)|² = 1 / |Σ_{q=0}^{p-2} Mₚ(q+1) e^{2πimq/K}|².

/// The weights Mₚ(u - ⌊u⌋ + q) and their derivatives with respect to u, q = 0..p
pub(crate) fn weights(order: usize, u: f64, values: &mut [f64], derivatives: &mut [f64]) {
    debug_assert!(order >= 2 && values.len() == order && derivatives.len() == order);
    let x = u - u.floor();
    // M₂(x + q) for q = 0, 1
    values.fill(0.0);
    values[0] = x;
    values[1] = 1.0 - x;
    for n in 3..=order {
        if n == order {
            // Mₙ' (x) = Mₙ₋₁(x) - Mₙ₋₁(x - 1)
            derivatives[0] = values[0];
            for q in 1..n {
                derivatives[q] = values[q] - values[q - 1];
            }
        }
        // Mₙ(y) = [y Mₙ₋₁(y) + (n - y) Mₙ₋₁(y - 1)] / (n - 1), y = x + q, downwards in q
        let scale = 1.0 / (n - 1) as f64;
        for q in (0..n).rev() {
            let y = x + q as f64;
            let previous = if q > 0 { values[q - 1] } else { 0.0 };
            values[q] = scale * (y * values[q] + (n as f64 - y) * previous);
        }
    }
    if order == 2 {
        derivatives[0] = 1.0;
        derivatives[1] = -1.0;
    }
}

/// |b(m)|² for m = 0..size (indices above size/2 stand for m - size); zero where the
/// denominator vanishes (only at m = size/2 for odd orders, which are not used)
pub(crate) fn euler_factors(order: usize, size: usize) -> Vec<f64> {
    let mut at_integers = vec![0.0; order];
    let mut unused = vec![0.0; order];
    // Mₚ(q + 1) for q = 0..p-1 are the weights of u = 1 (x = 0 after the floor, q + 1 ≥ 1)
    weights(order, 0.0, &mut at_integers, &mut unused);
    (0..size)
        .map(|m| {
            let (mut re, mut im) = (0.0, 0.0);
            for q in 0..order - 1 {
                // Mₚ(q + 1): the weight of x = 0 at index q + 1
                let w = at_integers[q + 1];
                let angle = 2.0 * std::f64::consts::PI * (m * q) as f64 / size as f64;
                re += w * angle.cos();
                im += w * angle.sin();
            }
            let norm = re * re + im * im;
            if norm < 1e-30 {
                0.0
            } else {
                1.0 / norm
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mₚ from its explicit definition: (1/(p-1)!) Σ_k (-1)^k C(p, k) (x - k)₊^{p-1} (its
    /// alternating sum loses ~1e-13 at p = 8)
    fn explicit(order: usize, x: f64) -> f64 {
        let mut factorial = 1.0;
        for i in 1..order {
            factorial *= i as f64;
        }
        let mut binomial = 1.0;
        let mut sum = 0.0;
        for k in 0..=order {
            let t = x - k as f64;
            if t > 0.0 {
                sum += if k % 2 == 0 { 1.0 } else { -1.0 } * binomial * t.powi(order as i32 - 1);
            }
            binomial *= (order - k) as f64 / (k + 1) as f64;
        }
        sum / factorial
    }

    #[test]
    fn weights_are_the_cardinal_b_splines() {
        for order in [2, 4, 6, 8] {
            let (mut v, mut d) = (vec![0.0; order], vec![0.0; order]);
            for u in [3.0, 3.2, 7.71, 0.999] {
                // M₂ has a kink at the integers: no derivative there
                let smooth = order > 2 || u != 3.0;
                weights(order, u, &mut v, &mut d);
                let x = u - u.floor();
                assert!(
                    (v.iter().sum::<f64>() - 1.0).abs() < 1e-14,
                    "partition of unity"
                );
                for q in 0..order {
                    let exact = explicit(order, x + q as f64);
                    assert!(
                        (v[q] - exact).abs() < 1e-11,
                        "p={order} q={q}: {} {exact}",
                        v[q]
                    );
                    let h = 1e-4;
                    let fd = (explicit(order, x + q as f64 + h)
                        - explicit(order, x + q as f64 - h))
                        / (2.0 * h);
                    if smooth {
                        assert!((d[q] - fd).abs() < 1e-6, "p={order} q={q}: {} {fd}", d[q]);
                    }
                }
            }
        }
    }

    #[test]
    fn euler_factors_interpolate_plane_waves() {
        // e^{2πimu/K} against b(m) Σ_g Mₚ(u - g) e^{2πimg/K}: |b| from euler_factors, the
        // phase of b cancels in |.|; the aliases m + qK add relative errors ≈ (m/(m + qK))^p
        let (order, size) = (8, 32);
        let factors = euler_factors(order, size);
        let (mut v, mut d) = (vec![0.0; order], vec![0.0; order]);
        for m in [1usize, 3, 6] {
            let u = 5.37;
            weights(order, u, &mut v, &mut d);
            let (mut re, mut im) = (0.0, 0.0);
            for (q, w) in v.iter().enumerate() {
                let g = u.floor() - q as f64;
                let angle = 2.0 * std::f64::consts::PI * m as f64 * g / size as f64;
                re += w * angle.cos();
                im += w * angle.sin();
            }
            let modulus = ((re * re + im * im) * factors[m]).sqrt();
            let bound = 4.0 * (m as f64 / (size - m) as f64).powi(order as i32);
            assert!(
                (modulus - 1.0).abs() < bound,
                "m={m}: |interpolated| = {modulus}"
            );
        }
    }
}
