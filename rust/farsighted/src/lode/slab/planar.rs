//! The k∥ = 0 part of slab sums: the planar average of one atom's potential over the plane
//! through it,
//!
//!   φ(z) = ∫ d²ρ g(√(ρ² + z²)) = 2π ∫_{|z|}^∞ r g(r) dr,
//!
//! and its projection on the basis around a point at height z above that plane. With
//! u = z²/2σ², a = p/2 and G(u) = [u^{1-a} γ(a, u) + e^{-u}] / (1 - a):
//!
//!   p > 2:      φ(z) = -2πσ² (2σ²)^{-a} G(u) / Γ(a)
//!   0 < p < 2:  φ(z) = -2πσ² (2σ²)^{-a} [G(u) - G(0)] / Γ(a)   (the integral diverges; we take
//!               the convention φ(0) = 0, i.e. φ(z) = -2π ∫₀^{|z|} r g(r) dr)
//!   p = 2:      φ(z) = -π Ein(u)   (same convention)
//!   p = 0:      φ(z) = 2πσ² e^{-u} / (πσ²)^{3/4}
//!
//! and in every case φ'(z) = -2π z g(|z|). By Funk–Hecke the projection of f(n̂·r) on
//! Rₙ(r) Yₗₘ(r̂) is Yₗₘ(n̂) Pₗₙ(z) with
//!
//!   Pₗₙ(z) = 2π ∫ r² Rₙ(r) ∫₋₁¹ Pₗ(t) φ(z + r t) dt dr = 2π ∫ φ(z + x) Kₗₙ(x) dx,
//!   Kₗₙ(x) = ∫_{|x|}^∞ r Rₙ(r) Pₗ(x/r) dr,  Kₗₙ(-x) = (-1)ˡ Kₗₙ(x)
//!
//! (x = r t). K does not depend on the density nor on z: it is computed once by quadrature,
//! graded towards x = 0 where it is not smooth, and Pₗₙ is tabulated with Hermite splines.
//!
//! The spline's grid is fixed once per calculator: its step is the one that reaches the
//! accuracy on [0, 4 max(σ, w)] (w the narrowest Gaussian of the basis), where Pₗₙ has its
//! sharpest features (φ's smoothed kink and the non-smooth Kₗₙ meet at z = 0), and the table
//! grows on that grid as thicker slabs need it. (For σ far wider than the basis that range
//! is halved, down to 4 times the basis support, until the values on it can be represented
//! to the accuracy: `step_range`.) The interpolant, and so the features, are then
//! a function of the heights alone, not of the range a system needs, and derivatives of the
//! interpolant are those of the values. (With σ = 0.8 Å, a GTO basis of radius 3 Å and
//! accuracy 1e-8, the step set on [0, 3.2 Å] keeps the error below 5e-10 out to 30 Å, p = 1
//! and 6.)

use std::sync::{Arc, Mutex};

use gauss_quad::GaussLegendre;
use rayon::prelude::*;

use crate::basis::GtoBasis;
use crate::density::SmearedPowerLaw;
use crate::lode::radial::RadialFunctions;
use crate::math::harmonics::parity;
use crate::math::special::{exp_integral_e1, gamma, regularized_lower_gamma};
use crate::math::spline::HermiteSplines;
use crate::Error;

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Number of geometric refinements of the panels towards the non-smooth points of the
/// integrands (x = 0 for K, r = |x| for the integral defining K)
const GRADED_LEVELS: i32 = 30;

/// Nodes per Gauss–Legendre panel
const NODES_PER_PANEL: usize = 24;

/// Exponents this close to 2 (but not 2) lose digits to cancellation in the closed form
const CLOSE_TO_TWO: f64 = 1e-6;

/// The spline's step is set on [0, INITIAL_RANGE_WIDTHS max(σ, w)]
const INITIAL_RANGE_WIDTHS: f64 = 4.0;

/// The largest table of Pₗₙ (values and derivatives); heights beyond it, slabs thicker than
/// thousands of Å, are computed exactly
const MAX_TABLE_BYTES: usize = 64 << 20;

/// φ(z) and φ'(z) of a smeared power-law density
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanarPotential {
    density: SmearedPowerLaw,
}

impl PlanarPotential {
    pub fn new(density: SmearedPowerLaw) -> Result<PlanarPotential, Error> {
        let p = density.exponent;
        if p != 2.0 && (p - 2.0).abs() < CLOSE_TO_TWO {
            return Err(Error::InvalidParameter(format!(
                "slabs: density.exponent={p} is too close to 2 for the planar potential to be \
                 computed accurately; use exactly 2 or a value at least {CLOSE_TO_TWO} away"
            )));
        }
        Ok(PlanarPotential { density })
    }

    /// φ(z)
    pub fn value(&self, z: f64) -> f64 {
        let (p, s2) = (self.density.exponent, self.density.smearing.powi(2));
        let pi = std::f64::consts::PI;
        let u = 0.5 * z * z / s2;
        if p == 0.0 {
            return 2.0 * pi * s2 * (-u).exp() / (pi * s2).powf(0.75);
        }
        if p == 2.0 {
            return -pi * ein(u);
        }
        let a = 0.5 * p;
        let prefactor = -2.0 * pi * s2 * (2.0 * s2).powf(-a) / (1.0 - a);
        // u^{1-a} γ(a, u) / Γ(a), → u / (a Γ(a)) as u → 0
        let lower = if u < 1e-10 {
            u / (a * gamma(a))
        } else {
            u.powf(1.0 - a) * regularized_lower_gamma(a, u)
        };
        let bracket = if a > 1.0 {
            lower + (-u).exp() / gamma(a)
        } else {
            lower + (-u).exp_m1() / gamma(a)
        };
        prefactor * bracket
    }

    /// φ'(z) = -2π z g(|z|)
    pub fn derivative(&self, z: f64) -> f64 {
        -2.0 * std::f64::consts::PI * z * self.density.real_space(z.abs())
    }
}

/// Ein(u) = ∫₀ᵘ (1 - e^{-t}) / t dt = E₁(u) + ln u + γ
fn ein(u: f64) -> f64 {
    if u < 1.0 {
        // Σ (-1)^{k+1} uᵏ / (k k!)
        let (mut sum, mut term) = (0.0, 1.0);
        for k in 1..40 {
            term *= -u / k as f64;
            sum -= term / k as f64;
        }
        sum
    } else {
        exp_integral_e1(u) + u.ln() + EULER_GAMMA
    }
}

/// Pₗ(t) for l = 0..out.len()
fn legendre(t: f64, out: &mut [f64]) {
    for l in 0..out.len() {
        out[l] = match l {
            0 => 1.0,
            1 => t,
            _ => ((2 * l - 1) as f64 * t * out[l - 1] - (l - 1) as f64 * out[l - 2]) / l as f64,
        };
    }
}

/// Gauss–Legendre nodes and weights on [start, end], with panels growing geometrically from
/// `first` (towards a non-smooth point at `start`) up to `width`
fn graded_quadrature(
    rule: &GaussLegendre,
    start: f64,
    end: f64,
    first: f64,
    width: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut nodes, mut weights) = (Vec::new(), Vec::new());
    let (mut position, mut step) = (start, first.min(width));
    while position < end {
        let stop = (position + step).min(end);
        for &(x, w) in rule.as_node_weight_pairs() {
            nodes.push(position + 0.5 * (stop - position) * (x + 1.0));
            weights.push(0.5 * (stop - position) * w);
        }
        position = stop;
        step = (2.0 * step).min(width);
    }
    (nodes, weights)
}

/// Pₗₙ(z), with index l * size + n
#[derive(Debug)]
pub(crate) struct PlanarProjection {
    size: usize,
    max_angular: usize,
    potential: PlanarPotential,
    /// x > 0 nodes of the quadrature over x
    nodes: Vec<f64>,
    /// (n_nodes, n_functions): 2π w Kₗₙ(x)
    kernel: Vec<f64>,
    /// the splines on their fixed grid, as far as they were needed (None: exact)
    spline: Option<Mutex<Arc<HermiteSplines>>>,
}

/// Pₗₙ(z) for the heights of one system: a snapshot of the splines covering them
pub(crate) struct PlanarTable<'a> {
    projection: &'a PlanarProjection,
    spline: Option<Arc<HermiteSplines>>,
}

impl PlanarProjection {
    /// Pₗₙ from splines with the given accuracy (or exact if None), on a grid fixed here
    pub fn new(
        basis: &GtoBasis,
        max_angular: usize,
        density: SmearedPowerLaw,
        accuracy: Option<f64>,
    ) -> Result<PlanarProjection, Error> {
        let potential = PlanarPotential::new(density)?;
        let size = basis.size();
        let n_functions = (max_angular + 1) * size;
        let support = basis.support();
        // φ varies on the scale σ, the basis on its narrowest width
        let width = basis.min_width().min(density.smearing);
        let rule = GaussLegendre::new(NODES_PER_PANEL.try_into().expect("non zero"));
        let (nodes, weights) = graded_quadrature(
            &rule,
            0.0,
            support,
            width * 0.5_f64.powi(GRADED_LEVELS),
            width,
        );
        let two_pi = 2.0 * std::f64::consts::PI;
        let kernel: Vec<f64> = nodes
            .par_iter()
            .zip(&weights)
            .flat_map_iter(|(&x, &w)| {
                let mut out = vec![0.0; n_functions];
                let (r_nodes, r_weights) = graded_quadrature(&rule, x, support.max(x), x, width);
                let mut radial = vec![0.0; size];
                let mut p = vec![0.0; max_angular + 1];
                for (&r, &wr) in r_nodes.iter().zip(&r_weights) {
                    basis.evaluate(r, &mut radial);
                    legendre(x / r, &mut p);
                    for l in 0..=max_angular {
                        for n in 0..size {
                            out[l * size + n] += two_pi * w * wr * r * radial[n] * p[l];
                        }
                    }
                }
                out
            })
            .collect();
        let mut projection = PlanarProjection {
            size,
            max_angular,
            potential,
            nodes,
            kernel,
            spline: None,
        };
        if let Some(accuracy) = accuracy {
            let spline = HermiteSplines::new(
                projection.step_range(basis, accuracy),
                n_functions,
                accuracy,
                |z, v, d| projection.exact(z, v, d),
            )?;
            projection.spline = Some(Mutex::new(Arc::new(spline)));
        }
        Ok(projection)
    }

    pub fn n_functions(&self) -> usize {
        (self.max_angular + 1) * self.size
    }

    /// The range [0, z] on which the spline's step is set: 4 max(σ, w), halved (not below
    /// 4 max(w, basis support)) while the largest |Pₗₙ(z)| exceeds 1e10 times the
    /// accuracy. For p ≤ 2, Pₗₙ grows with z (as z²/σ for p = 1): on 4σ with σ = 1e5 Å it
    /// reaches 1e8, whose rounding alone exceeds an accuracy of 1e-8, while the heights of any
    /// slab lie far inside the range; there φ varies on the scale σ, far slower than over the
    /// basis support, so the shorter range needs no finer step.
    fn step_range(&self, basis: &GtoBasis, accuracy: f64) -> f64 {
        /// Values up to this multiple of the accuracy keep their rounding (1e-16 of them)
        /// a million times below it
        const REPRESENTABLE: f64 = 1e10;
        let width = basis.min_width();
        let floor = INITIAL_RANGE_WIDTHS * width.max(basis.support());
        let mut range = INITIAL_RANGE_WIDTHS * width.max(self.potential.density.smearing);
        let n_functions = self.n_functions();
        let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        while range > floor {
            self.exact(range, &mut values, &mut derivatives);
            let largest = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            if largest <= REPRESENTABLE * accuracy {
                break;
            }
            range = (0.5 * range).max(floor);
        }
        range
    }

    /// Pₗₙ(z) for |z| ≤ `z_max`: the splines, extended on their grid if needed (up to
    /// `MAX_TABLE_BYTES`; exact beyond)
    pub fn covering(&self, z_max: f64) -> PlanarTable<'_> {
        let spline = self.spline.as_ref().map(|cell| {
            let current = Arc::clone(&cell.lock().expect("no panic while holding the lock"));
            let n_functions = self.n_functions();
            let n_points = |spline: &HermiteSplines| spline.values().len() / n_functions;
            if current.x_max() >= z_max {
                return current;
            }
            let limit = MAX_TABLE_BYTES / (16 * n_functions);
            let needed = (z_max / current.step()).ceil() as usize + 2;
            // grow by half at least, so that a few extensions cover any thickness
            let wanted = needed.max(n_points(&current) * 3 / 2).min(limit);
            if wanted <= n_points(&current) {
                return current;
            }
            // extended outside the lock: its evaluations run in parallel, and the tasks they
            // wait for may ask for the table too
            let extended = Arc::new(current.extended(wanted, |z, v, d| self.exact(z, v, d)));
            let mut stored = cell.lock().expect("no panic while holding the lock");
            if n_points(&stored) < wanted {
                *stored = Arc::clone(&extended);
            }
            // the same grid and points: the longer one is the same interpolant, further
            if n_points(&stored) > wanted {
                Arc::clone(&stored)
            } else {
                extended
            }
        });
        PlanarTable {
            projection: self,
            spline,
        }
    }

    /// Pₗₙ(z) and Pₗₙ'(z) by quadrature
    pub fn exact(&self, z: f64, values: &mut [f64], derivatives: &mut [f64]) {
        values.iter_mut().for_each(|v| *v = 0.0);
        derivatives.iter_mut().for_each(|v| *v = 0.0);
        let n_functions = self.n_functions();
        for (q, &x) in self.nodes.iter().enumerate() {
            let (plus, minus) = (self.potential.value(z + x), self.potential.value(z - x));
            let (dplus, dminus) = (
                self.potential.derivative(z + x),
                self.potential.derivative(z - x),
            );
            let kernel = &self.kernel[q * n_functions..(q + 1) * n_functions];
            for l in 0..=self.max_angular {
                // K(-x) = (-1)ˡ K(x)
                let (v, d) = if l % 2 == 0 {
                    (plus + minus, dplus + dminus)
                } else {
                    (plus - minus, dplus - dminus)
                };
                for f in l * self.size..(l + 1) * self.size {
                    values[f] += kernel[f] * v;
                    derivatives[f] += kernel[f] * d;
                }
            }
        }
    }
}

impl PlanarTable<'_> {
    /// The spline of Pₗₙ on [0, x_max] (x_max ≥ the thickness asked for), when it is splined
    pub fn spline(&self) -> Option<&HermiteSplines> {
        self.spline.as_deref()
    }

    pub fn n_functions(&self) -> usize {
        self.projection.n_functions()
    }

    /// Pₗₙ(z) and Pₗₙ'(z), using Pₗₙ(-z) = (-1)ˡ Pₗₙ(z)
    pub fn compute(&self, z: f64, values: &mut [f64], derivatives: &mut [f64]) {
        let max_angular = self.projection.max_angular;
        let size = self.projection.size;
        match &self.spline {
            Some(spline) if z.abs() <= spline.x_max() => {
                spline.evaluate(z.abs(), values, derivatives);
                if z < 0.0 {
                    for l in 0..=max_angular {
                        // P(-z) = (-1)ˡ P(z), P'(-z) = (-1)^{l+1} P'(z)
                        let sign = parity(l);
                        for f in l * size..(l + 1) * size {
                            values[f] *= sign;
                            derivatives[f] *= -sign;
                        }
                    }
                }
            }
            _ => self.projection.exact(z, values, derivatives),
        }
    }
}

impl RadialFunctions for PlanarTable<'_> {
    fn n_functions(&self) -> usize {
        PlanarTable::n_functions(self)
    }

    fn compute(&self, z: f64, values: &mut [f64], derivatives: &mut [f64]) {
        PlanarTable::compute(self, z, values, derivatives);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::quadrature::RadialQuadrature;

    fn density(p: f64) -> SmearedPowerLaw {
        SmearedPowerLaw {
            smearing: 0.7,
            exponent: p,
        }
    }

    /// φ(z) against 2π ∫_{|z|}^R r g dr + 2π R^{2-p}/(p-2) (p > 2), -2π ∫₀^{|z|} r g dr
    /// (0 < p ≤ 2), by quadrature of g
    #[test]
    fn planar_potential_by_quadrature() {
        for p in [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.3, 6.0] {
            let g = density(p);
            let phi = PlanarPotential::new(g).unwrap();
            for z in [0.0, 1e-3, 0.3, 1.1, 2.5, 6.0] {
                let expected = if p == 0.0 || p > 2.0 {
                    let far = 400.0;
                    let q = RadialQuadrature::new(far - z, 0.02);
                    let body = q.integrate(|s| (z + s) * g.real_space(z + s));
                    let tail = if p > 2.0 {
                        far.powf(2.0 - p) / (p - 2.0)
                    } else {
                        0.0
                    };
                    2.0 * std::f64::consts::PI * (body + tail)
                } else {
                    let q = RadialQuadrature::new(z.max(1e-300), 0.02);
                    -2.0 * std::f64::consts::PI * q.integrate(|r| r * g.real_space(r))
                };
                let value = phi.value(z);
                assert!(
                    (value - expected).abs() < 1e-11 * (1.0 + expected.abs()),
                    "p={p} z={z}: {value} vs {expected}"
                );
                assert_eq!(value, phi.value(-z));
                // φ' by central differences
                let h = 1e-4;
                let fd = (phi.value(z + h) - phi.value(z - h)) / (2.0 * h);
                assert!(
                    (phi.derivative(z) - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                    "p={p} z={z}: {} vs {fd}",
                    phi.derivative(z)
                );
            }
        }
        assert!(PlanarPotential::new(density(2.0 + 1e-8)).is_err());
    }

    /// Pₗₙ(z) against the double integral 2π ∫ r² Rₙ(r) ∫ Pₗ(t) φ(z + r t) dt dr by plain
    /// composite Gauss–Legendre in r and t
    #[test]
    fn projection_by_double_quadrature() {
        let basis = GtoBasis::new(3, 3.0).unwrap();
        let max_angular = 3;
        for p in [0.0, 1.0, 4.3] {
            let g = density(p);
            let phi = PlanarPotential::new(g).unwrap();
            let splined = PlanarProjection::new(&basis, max_angular, g, Some(1e-11)).unwrap();
            let projection = splined.covering(4.0);
            let size = basis.size();
            let rq = RadialQuadrature::new(basis.support(), 0.25);
            let tq = RadialQuadrature::new(2.0, 0.05);
            let (mut v, mut d) = (vec![0.0; 16], vec![0.0; 16]);
            let (mut ve, mut de) = (vec![0.0; 16], vec![0.0; 16]);
            for z in [-3.0, 0.0, 0.9, 7.0] {
                projection.compute(z, &mut v, &mut d);
                splined.exact(z, &mut ve, &mut de);
                let mut expected = [0.0; 16];
                let mut radial = vec![0.0; size];
                let mut pl = vec![0.0; max_angular + 1];
                for (&r, &wr) in rq.nodes.iter().zip(&rq.weights) {
                    basis.evaluate(r, &mut radial);
                    for (&t1, &wt) in tq.nodes.iter().zip(&tq.weights) {
                        let t = t1 - 1.0;
                        legendre(t, &mut pl);
                        let f = phi.value(z + r * t);
                        for l in 0..=max_angular {
                            for n in 0..size {
                                expected[l * size + n] += 2.0
                                    * std::f64::consts::PI
                                    * wr
                                    * wt
                                    * r
                                    * r
                                    * radial[n]
                                    * pl[l]
                                    * f;
                            }
                        }
                    }
                }
                for f in 0..16 {
                    let scale = 1.0 + expected[f].abs();
                    assert!(
                        (ve[f] - expected[f]).abs() < 1e-10 * scale,
                        "p={p} z={z} f={f}: {} vs {}",
                        ve[f],
                        expected[f]
                    );
                    assert!((v[f] - ve[f]).abs() < 1e-10 * scale);
                    assert!((d[f] - de[f]).abs() < 1e-5 * (1.0 + de[f].abs()));
                }
                // P' by central differences of the exact values
                let h = 1e-4;
                splined.exact(z + h, &mut v, &mut d);
                let plus = v.clone();
                splined.exact(z - h, &mut v, &mut d);
                for f in 0..16 {
                    let fd = (plus[f] - v[f]) / (2.0 * h);
                    assert!(
                        (de[f] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                        "p={p} z={z} f={f}"
                    );
                }
            }
        }
    }

    /// The splined Pₗₙ do not depend on the range a system asked for, nor on the ranges asked
    /// before: one grid, grown as needed; accurate beyond the range that set its step
    #[test]
    fn splines_do_not_depend_on_the_range() {
        let basis = GtoBasis::new(3, 3.0).unwrap();
        let g = density(1.0);
        let grown = PlanarProjection::new(&basis, 2, g, Some(1e-8)).unwrap();
        let thin = grown.covering(1.0);
        let thick = grown.covering(30.0);
        let fresh = PlanarProjection::new(&basis, 2, g, Some(1e-8)).unwrap();
        let direct = fresh.covering(30.0);
        let n = grown.n_functions();
        let mut results = vec![vec![0.0; n]; 8];
        for i in 0..=300 {
            let z = -30.0 + 0.2 * i as f64 + 0.0137;
            let [a, da, b, db, c, dc, e, de] = &mut results[..] else {
                unreachable!()
            };
            thick.compute(z, a, da);
            direct.compute(z, b, db);
            grown.exact(z, e, de);
            assert_eq!((&a, &da), (&b, &db));
            for f in 0..n {
                assert!((a[f] - e[f]).abs() < 1e-8, "z={z}: {} vs {}", a[f], e[f]);
            }
            if z.abs() <= 1.0 {
                thin.compute(z, c, dc);
                assert_eq!((&a, &da), (&c, &dc));
            }
        }
    }
}
