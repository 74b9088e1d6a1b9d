//! Cubic Hermite splines of many functions sharing a uniform grid on [0, x_max], built from
//! exact values and derivatives, refined until the interpolation error at interval midpoints
//! is below a requested absolute accuracy.

use crate::Error;

/// The largest grid this module builds; past it the accuracy is reported as unreachable.
const MAX_POINTS: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct HermiteSplines {
    n_functions: usize,
    step: f64,
    n_points: usize,
    /// (n_points, n_functions)
    values: Vec<f64>,
    /// (n_points, n_functions)
    derivatives: Vec<f64>,
}

impl HermiteSplines {
    /// Tabulate `n_functions` functions on [0, x_max]. `f(x, values, derivatives)` fills the
    /// values and derivatives of all functions at x.
    pub fn new(
        x_max: f64,
        n_functions: usize,
        accuracy: f64,
        f: impl Fn(f64, &mut [f64], &mut [f64]) + Sync,
    ) -> Result<HermiteSplines, Error> {
        HermiteSplines::with_accuracies(x_max, &vec![accuracy; n_functions], f)
    }

    /// Like [`HermiteSplines::new`], with one absolute accuracy per function: functions of
    /// very different sizes then share a grid fine enough for each, not for the smallest
    /// accuracy applied to all.
    pub fn with_accuracies(
        x_max: f64,
        accuracies: &[f64],
        f: impl Fn(f64, &mut [f64], &mut [f64]) + Sync,
    ) -> Result<HermiteSplines, Error> {
        use rayon::prelude::*;
        let n_functions = accuracies.len();
        // values and derivatives of all functions at `points`, (points, functions) row-major
        let evaluate = |points: &[f64]| {
            let mut values = vec![0.0; points.len() * n_functions];
            let mut derivatives = vec![0.0; points.len() * n_functions];
            values
                .par_chunks_mut(n_functions)
                .zip(derivatives.par_chunks_mut(n_functions))
                .zip(points.par_iter())
                .for_each(|((v, d), &x)| f(x, v, d));
            (values, derivatives)
        };

        let n_points = 33;
        let step = x_max / (n_points - 1) as f64;
        let grid: Vec<f64> = (0..n_points).map(|i| i as f64 * step).collect();
        let (values, derivatives) = evaluate(&grid);
        let mut spline = HermiteSplines {
            n_functions,
            step,
            n_points,
            values,
            derivatives,
        };
        // the worst error relative to its function's accuracy at each refinement
        let mut history: Vec<f64> = Vec::new();
        loop {
            let n_points = 2 * spline.n_points - 1;
            if n_points > MAX_POINTS {
                return Err(Error::Numerical(format!(
                    "could not reach spline_accuracy={:e} with {MAX_POINTS} points (the error \
                     is still {:.1} times larger); use a larger spline_accuracy",
                    accuracies.iter().copied().fold(f64::INFINITY, f64::min),
                    history.last().copied().unwrap_or(f64::INFINITY),
                )));
            }
            check_memory(n_points, n_functions)?;
            // the midpoints of the current grid are the odd points of the next one: only
            // they are new
            let midpoints: Vec<f64> = (0..spline.n_points - 1)
                .map(|i| (i as f64 + 0.5) * spline.step)
                .collect();
            let (mid_values, mid_derivatives) = evaluate(&midpoints);

            let mut interpolated = vec![0.0; n_functions];
            let mut scratch = vec![0.0; n_functions];
            // the worst error relative to its function's accuracy, that function's error and
            // its largest value
            let (mut worst, mut function) = (0.0_f64, 0);
            for (i, &x) in midpoints.iter().enumerate() {
                spline.evaluate(x, &mut interpolated, &mut scratch);
                let exact = &mid_values[i * n_functions..(i + 1) * n_functions];
                for (f, ((a, b), accuracy)) in
                    interpolated.iter().zip(exact).zip(accuracies).enumerate()
                {
                    let ratio = (a - b).abs() / accuracy;
                    // NaN (an exact function that is not finite) is never accurate
                    if ratio > worst || ratio.is_nan() {
                        (worst, function) = (ratio, f);
                    }
                }
            }
            let refined = spline.interleave(&mid_values, &mid_derivatives);
            if worst <= 1.0 {
                return Ok(refined);
            }
            if worst.is_nan() {
                return Err(Error::Numerical(
                    "the functions to spline are not finite: the hyper-parameters are out of \
                     the range this calculator can represent"
                        .into(),
                ));
            }
            history.push(worst);
            if let Some(floor) = stalled(&history, &refined, function, accuracies[function]) {
                return Err(Error::Numerical(format!(
                    "spline_accuracy={:e} is out of reach in double precision for these \
                     functions: their interpolation error stopped decreasing at {floor:.1e} \
                     (rounding), with {n_points} points; use a larger spline_accuracy (or a \
                     larger `accuracy`)",
                    accuracies[function]
                )));
            }
            spline = refined;
        }
    }

    /// The spline on the grid with the midpoints of this one's intervals added
    fn interleave(&self, mid_values: &[f64], mid_derivatives: &[f64]) -> HermiteSplines {
        let n = self.n_functions;
        let n_points = 2 * self.n_points - 1;
        let mut values = Vec::with_capacity(n_points * n);
        let mut derivatives = Vec::with_capacity(n_points * n);
        for i in 0..self.n_points {
            values.extend_from_slice(&self.values[i * n..(i + 1) * n]);
            derivatives.extend_from_slice(&self.derivatives[i * n..(i + 1) * n]);
            if i + 1 < self.n_points {
                values.extend_from_slice(&mid_values[i * n..(i + 1) * n]);
                derivatives.extend_from_slice(&mid_derivatives[i * n..(i + 1) * n]);
            }
        }
        HermiteSplines {
            n_functions: n,
            step: 0.5 * self.step,
            n_points,
            values,
            derivatives,
        }
    }

    /// The splines through the exact values and derivatives at `n_points` points x = i `step`,
    /// without refinement
    pub fn on_grid(
        step: f64,
        n_points: usize,
        n_functions: usize,
        f: impl Fn(f64, &mut [f64], &mut [f64]) + Sync,
    ) -> HermiteSplines {
        HermiteSplines::empty(step, n_functions).extended(n_points, f)
    }

    fn empty(step: f64, n_functions: usize) -> HermiteSplines {
        HermiteSplines {
            n_functions,
            step,
            n_points: 0,
            values: Vec::new(),
            derivatives: Vec::new(),
        }
    }

    /// The same splines on `n_points` (≥ the current number) points of the same grid: the new
    /// points from `f`, the interpolant unchanged where it was defined
    pub fn extended(
        &self,
        n_points: usize,
        f: impl Fn(f64, &mut [f64], &mut [f64]) + Sync,
    ) -> HermiteSplines {
        use rayon::prelude::*;
        let n_functions = self.n_functions;
        let start = self.n_points.min(n_points);
        let mut values = self.values[..start * n_functions].to_vec();
        let mut derivatives = self.derivatives[..start * n_functions].to_vec();
        values.resize(n_points * n_functions, 0.0);
        derivatives.resize(n_points * n_functions, 0.0);
        values[start * n_functions..]
            .par_chunks_mut(n_functions)
            .zip(derivatives[start * n_functions..].par_chunks_mut(n_functions))
            .enumerate()
            .for_each(|(i, (v, d))| f((start + i) as f64 * self.step, v, d));
        HermiteSplines {
            n_functions,
            step: self.step,
            n_points,
            values,
            derivatives,
        }
    }

    pub fn x_max(&self) -> f64 {
        self.step * (self.n_points - 1) as f64
    }

    /// Grid spacing
    pub fn step(&self) -> f64 {
        self.step
    }

    /// Number of functions tabulated together
    pub fn n_functions(&self) -> usize {
        self.n_functions
    }

    /// Values at the grid points, (n_points, n_functions) row-major
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Derivatives at the grid points, (n_points, n_functions) row-major
    pub fn derivatives(&self) -> &[f64] {
        &self.derivatives
    }

    /// Values and derivatives of all functions at x ∈ [0, x_max].
    #[inline]
    pub fn evaluate(&self, x: f64, values: &mut [f64], derivatives: &mut [f64]) {
        self.evaluate_with::<true>(x, values, derivatives);
    }

    /// Values of all functions at x ∈ [0, x_max]
    #[inline]
    pub fn evaluate_values(&self, x: f64, values: &mut [f64]) {
        self.evaluate_with::<false>(x, values, &mut []);
    }

    #[inline]
    fn evaluate_with<const DERIVATIVES: bool>(
        &self,
        x: f64,
        values: &mut [f64],
        derivatives: &mut [f64],
    ) {
        debug_assert!(x >= 0.0 && x <= self.x_max() * (1.0 + 1e-12));
        let position = x / self.step;
        let i = (position as usize).min(self.n_points - 2);
        let t = position - i as f64;
        let h = self.step;

        // Hermite basis and derivatives
        let t2 = t * t;
        let t3 = t2 * t;
        let h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
        let h10 = t3 - 2.0 * t2 + t;
        let h01 = -2.0 * t3 + 3.0 * t2;
        let h11 = t3 - t2;

        let n = self.n_functions;
        let v0 = &self.values[i * n..(i + 1) * n];
        let v1 = &self.values[(i + 1) * n..(i + 2) * n];
        let g0 = &self.derivatives[i * n..(i + 1) * n];
        let g1 = &self.derivatives[(i + 1) * n..(i + 2) * n];
        for f in 0..n {
            values[f] = h00 * v0[f] + h * h10 * g0[f] + h01 * v1[f] + h * h11 * g1[f];
        }
        if DERIVATIVES {
            let d00 = (6.0 * t2 - 6.0 * t) / h;
            let d10 = 3.0 * t2 - 4.0 * t + 1.0;
            let d01 = (-6.0 * t2 + 6.0 * t) / h;
            let d11 = 3.0 * t2 - 2.0 * t;
            for f in 0..n {
                derivatives[f] = d00 * v0[f] + d10 * g0[f] + d01 * v1[f] + d11 * g1[f];
            }
        }
    }
}

/// The error of a cubic Hermite spline falls 16× per halving of the step once the functions
/// are resolved; when it falls less than 4× while it is already below `RESOLVED` of the
/// function's size, the error is rounding (of the functions themselves, quadratures accurate
/// to ~3e-14, or of the interpolation) and more points would not help: Some(the error
/// reached). Measured on the k-space and pair tables: the error stalls at 3e-14 to 8e-14 of
/// the functions' size, so that 1e-14 ran to 131073 points (25 s) with a two-step test.
fn stalled(
    history: &[f64],
    spline: &HermiteSplines,
    function: usize,
    accuracy: f64,
) -> Option<f64> {
    /// Errors below this fraction of a function's largest value are past its resolution
    const RESOLVED: f64 = 1e-9;
    let [.., b, c] = history else {
        return None;
    };
    let size = spline
        .values
        .iter()
        .skip(function)
        .step_by(spline.n_functions)
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    let error = c * accuracy;
    (c > &(0.25 * b) && error < RESOLVED * size).then_some(error)
}

/// Refuse spline grids that would not fit in memory: the grid, the refined grid and the new
/// midpoints, values and derivatives
fn check_memory(n_points: usize, n_functions: usize) -> Result<(), Error> {
    let bytes = 16.0 * 2.5 * n_points as f64 * n_functions as f64;
    match crate::available_memory() {
        Some(available) if bytes > available as f64 => Err(Error::OutOfMemory(format!(
            "the spline tables of {n_functions} radial functions on {n_points} points need \
             about {} but only {} can be allocated; use a larger spline_accuracy or a smaller \
             basis",
            crate::memory::gib(bytes),
            crate::memory::gib(available as f64)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_requested_accuracy() {
        let f = |x: f64, v: &mut [f64], d: &mut [f64]| {
            v[0] = (3.0 * x).sin();
            d[0] = 3.0 * (3.0 * x).cos();
            v[1] = (-x * x).exp();
            d[1] = -2.0 * x * (-x * x).exp();
        };
        for accuracy in [1e-6, 1e-10] {
            let spline = HermiteSplines::new(4.0, 2, accuracy, f).unwrap();
            let (mut v, mut d) = ([0.0; 2], [0.0; 2]);
            let (mut ve, mut de) = ([0.0; 2], [0.0; 2]);
            for i in 0..1000 {
                let x = 4.0 * i as f64 / 999.0;
                spline.evaluate(x, &mut v, &mut d);
                f(x, &mut ve, &mut de);
                let mut values_only = [0.0; 2];
                spline.evaluate_values(x, &mut values_only);
                assert_eq!(values_only, v);
                for k in 0..2 {
                    assert!((v[k] - ve[k]).abs() < 2.0 * accuracy);
                    assert!((d[k] - de[k]).abs() < 1e3 * accuracy.sqrt());
                }
            }
        }
    }

    #[test]
    fn extension_keeps_the_interpolant() {
        let f = |x: f64, v: &mut [f64], d: &mut [f64]| {
            v[0] = (3.0 * x).sin();
            d[0] = 3.0 * (3.0 * x).cos();
        };
        let short = HermiteSplines::new(2.0, 1, 1e-8, f).unwrap();
        let long = short.extended(3 * short.n_points, f);
        let grid = HermiteSplines::on_grid(short.step(), long.n_points, 1, f);
        assert_eq!(long.values(), grid.values());
        // the refined grids keep their points: the same table as one built directly
        let direct =
            HermiteSplines::on_grid(2.0 / (short.n_points - 1) as f64, short.n_points, 1, f);
        assert_eq!(short.values(), direct.values());
        assert_eq!(short.derivatives(), direct.derivatives());
        assert!(long.x_max() > 5.9);
        let (mut a, mut b, mut c, mut d) = ([0.0], [0.0], [0.0], [0.0]);
        for i in 0..=100 {
            let x = 1.99 * i as f64 / 100.0;
            short.evaluate(x, &mut a, &mut b);
            long.evaluate(x, &mut c, &mut d);
            assert_eq!((a, b), (c, d));
        }
    }

    #[test]
    fn unreachable_accuracy_is_an_error() {
        let f = |x: f64, v: &mut [f64], d: &mut [f64]| {
            v[0] = (1e4 * x).sin();
            d[0] = 1e4 * (1e4 * x).cos();
        };
        assert!(HermiteSplines::new(1e3, 1, 1e-14, f).is_err());
    }

    #[test]
    fn rounding_floor_is_an_error_not_a_hang() {
        // a smooth function with noise at 1e-13 of its size: 1e-16 can not be reached, and
        // the builder says so after a few refinements, not at 2²⁰ points
        let f = |x: f64, v: &mut [f64], d: &mut [f64]| {
            let noise = 1e-13 * ((1e6 * x).sin() * 1e3).sin();
            v[0] = (-x * x).exp() + noise;
            d[0] = -2.0 * x * (-x * x).exp();
        };
        let start = std::time::Instant::now();
        let error = HermiteSplines::new(4.0, 1, 1e-16, f)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("out of reach in double precision"),
            "{error}"
        );
        assert!(start.elapsed().as_secs_f64() < 5.0);
        // and the same function to 1e-10 is fine
        assert!(HermiteSplines::new(4.0, 1, 1e-10, f).is_ok());
    }
}
