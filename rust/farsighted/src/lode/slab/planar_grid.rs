//! The planar part of large slabs on a grid of heights: Σ_{j∈a} Pₗₙ(zᵢ - zⱼ) for every centre
//! i in O(N + M²) for M grid points, instead of the O(N²) pair loop.
//!
//! The function (u, v) ↦ P(u - v) of heights in grid units is interpolated by tensor products
//! of the cardinal B-splines Mₚ of smooth PME (lode/mesh/spline.rs):
//!
//!   P(u - v) ≈ Ŝ(u, v) = Σ_{a,b} c[a - b] Mₚ(u - a) Mₚ(v - b),
//!
//! with c fixed by interpolation at the grid points: Σ_s γ(s) c[d - s] = P(d h) for every
//! integer d, γ the autocorrelation of the B-spline at integers, whose transform is
//! 1/|b(m)|² of smooth PME (`euler_factors`). The deconvolution is done by FFT over the range
//! of d the grid needs plus `MARGIN` points on each side, where the error of cutting the
//! periodic sequence decays like the inverse filter (d 0.54ᵈ for order 8, a double pole).
//! The samples come from the splined table, made to cover them (`planar_range`), so that they
//! do not depend on how far other slabs have grown it. Then
//!
//!   Σ_{j∈a} Ŝ(uᵢ, uⱼ) = Σ_a Mₚ(uᵢ - a) U[a],   U = c ∗ ρ_a,   ρ_a[b] = Σ_{j∈a} Mₚ(uⱼ - b),
//!
//! and the backward product needs the same convolution with the centres' weights. Ŝ is smooth
//! (order p - 2) and its derivatives are those of the values returned; the grid (origin at a
//! multiple of the step, step from a fixed start) does not move with the atoms.
//!
//! The step is halved from σ/2 (Pₗₙ varies on the scale of the smearing σ) until Ŝ meets the
//! tolerance, relative to the largest |Pₗₙ| of each l over the slab's heights, at points
//! between the grid points over the whole range of differences.

use rayon::prelude::*;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::kspace::KSpace;
use crate::lode::mesh::spline::{euler_factors, weights};
use crate::lode::slab::planar::PlanarTable;
use crate::lode::slab::strain::PlaneStrain;

/// B-spline order: the interpolation error falls as h⁸
pub(crate) const ORDER: usize = 8;
/// Points beyond the range of differences in the deconvolution (80 × 0.54⁸⁰ ≈ 2e-20)
const MARGIN: usize = 80;
/// The samples reach the thickness plus this many steps: the spare points below and above
/// the heights, the B-spline's reach and the margin
const SAMPLE_STEPS: usize = ORDER + 3 + MARGIN;
/// Halvings of the step from σ/2
const MAX_HALVINGS: usize = 10;

/// The interpolant Ŝ of the planar functions on one slab's grid of heights
pub(crate) struct PlanarGrid {
    step: f64,
    /// the height of grid point 0, a multiple of the step
    origin: f64,
    n_points: usize,
    n_functions: usize,
    /// c[d] for d = -(n_points - 1)..n_points, row d + n_points - 1, one column per function
    coefficients: Vec<f64>,
}

/// The B-spline weights of one height: points start..start + ORDER
pub(crate) struct HeightWeights {
    start: usize,
    values: [f64; ORDER],
    /// with respect to the height (not the grid coordinate)
    derivatives: [f64; ORDER],
}

impl PlanarGrid {
    /// The grid for `heights` that interpolates the `table` within `tolerance` times the
    /// largest |Pₗₙ| of each l over the heights' differences, None when M would exceed
    /// `max_points` first
    pub fn new(
        table: &PlanarTable,
        heights: &[f64],
        smearing: f64,
        (max_angular, n_radial): (usize, usize),
        tolerance: f64,
        max_points: usize,
    ) -> Option<PlanarGrid> {
        let low = heights.iter().copied().fold(f64::INFINITY, f64::min);
        let high = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut step = 0.5 * smearing;
        for _ in 0..=MAX_HALVINGS {
            // the lowest height touches point 1 and up, the highest the last point but one:
            // a spare point on each side, whatever the rounding of u
            let origin = ((low / step).floor() - ORDER as f64) * step;
            let n_points = ((high - origin) / step).floor() as usize + 2;
            if n_points > max_points {
                return None;
            }
            let grid = PlanarGrid::interpolating(table, step, origin, n_points);
            if grid.meets(table, (max_angular, n_radial), tolerance) {
                return Some(grid);
            }
            step *= 0.5;
        }
        None
    }

    fn interpolating(table: &PlanarTable, step: f64, origin: f64, n_points: usize) -> PlanarGrid {
        let n_functions = table.n_functions();
        // P(d h) for d = -reach..=reach, periodic over the FFT's length
        let reach = n_points - 1 + MARGIN;
        let length = 2 * reach + 1;
        let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        let mut samples = vec![vec![Complex64::default(); length]; n_functions];
        for i in 0..length {
            let d = i as f64 - reach as f64;
            table.compute(d * step, &mut values, &mut derivatives);
            // index d mod length
            let at = (i + length - reach) % length;
            for (f, v) in values.iter().enumerate() {
                samples[f][at] = Complex64::new(*v, 0.0);
            }
        }
        let mut planner = FftPlanner::new();
        let (forward, inverse) = (
            planner.plan_fft_forward(length),
            planner.plan_fft_inverse(length),
        );
        let inverse_filter = euler_factors(ORDER, length);
        let mut coefficients = vec![0.0; (2 * n_points - 1) * n_functions];
        for (f, sample) in samples.iter_mut().enumerate() {
            forward.process(sample);
            for (x, w) in sample.iter_mut().zip(&inverse_filter) {
                *x *= w / length as f64;
            }
            inverse.process(sample);
            for row in 0..2 * n_points - 1 {
                let d = row as isize - (n_points as isize - 1);
                let at = d.rem_euclid(length as isize) as usize;
                coefficients[row * n_functions + f] = sample[at].re;
            }
        }
        PlanarGrid {
            step,
            origin,
            n_points,
            n_functions,
            coefficients,
        }
    }

    /// Whether Ŝ(u, v) is within the tolerance of P((u - v) h) at points between the grid
    /// points, for every difference of heights on the grid (five offsets between the points,
    /// values only: the derivatives are those of a smooth interpolant of the same accuracy)
    fn meets(
        &self,
        table: &PlanarTable,
        (max_angular, n_radial): (usize, usize),
        tolerance: f64,
    ) -> bool {
        let n_functions = self.n_functions;
        let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        // heights on the grid have ⌊u⌋ in ORDER - 1..n_points: differences of ⌊u⌋ up to span
        let span = (self.n_points - ORDER) as isize;
        // the largest |Pₗₙ| of each l over the differences
        let mut scale = vec![0.0_f64; max_angular + 1];
        for d in 0..=span {
            table.compute(d as f64 * self.step, &mut values, &mut derivatives);
            for (f, v) in values.iter().enumerate() {
                scale[f / n_radial] = scale[f / n_radial].max(v.abs());
            }
        }
        let at = |fraction: f64| {
            let (mut w, mut dw) = ([0.0; ORDER], [0.0; ORDER]);
            weights(ORDER, fraction, &mut w, &mut dw);
            w
        };
        let mut interpolated = vec![0.0; n_functions];
        for (alpha, beta) in [
            (0.5, 0.0),
            (0.0, 0.5),
            (0.5, 0.5),
            (0.25, 0.75),
            (0.75, 0.25),
        ] {
            let (wu, wv) = (at(alpha), at(beta));
            for d in -span..=span {
                // u = a₀ + α, v = b₀ + β with a₀ - b₀ = d: Ŝ = Σ c[d + t₂ - t₁] wu[t₁] wv[t₂]
                // (weight t of a coordinate belongs to the point ⌊·⌋ - t)
                interpolated.fill(0.0);
                for (t1, x1) in wu.iter().enumerate() {
                    for (t2, x2) in wv.iter().enumerate() {
                        let row =
                            (d + t2 as isize - t1 as isize + self.n_points as isize - 1) as usize;
                        let c = &self.coefficients[row * n_functions..(row + 1) * n_functions];
                        for (s, c) in interpolated.iter_mut().zip(c) {
                            *s += x1 * x2 * c;
                        }
                    }
                }
                table.compute(
                    (d as f64 + alpha - beta) * self.step,
                    &mut values,
                    &mut derivatives,
                );
                for (f, (s, v)) in interpolated.iter().zip(&values).enumerate() {
                    if (s - v).abs() > tolerance * scale[f / n_radial] {
                        return false;
                    }
                }
            }
        }
        true
    }

    pub fn n_functions(&self) -> usize {
        self.n_functions
    }

    pub fn step(&self) -> f64 {
        self.step
    }

    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// c[d] for d = -(n_points - 1)..n_points, row d + n_points - 1, one column per function
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The B-spline weights of height z, between the lowest and highest heights the grid was
    /// built for
    pub fn weights(&self, z: f64) -> HeightWeights {
        let u = (z - self.origin) / self.step;
        let (mut w, mut dw) = ([0.0; ORDER], [0.0; ORDER]);
        weights(ORDER, u, &mut w, &mut dw);
        // weight q belongs to the point ⌊u⌋ - q: ascending from ⌊u⌋ - (p - 1)
        let start = (u.floor() as usize)
            .checked_sub(ORDER - 1)
            .filter(|start| start + ORDER <= self.n_points)
            .expect("a height within the grid's range");
        let mut out = HeightWeights {
            start,
            values: [0.0; ORDER],
            derivatives: [0.0; ORDER],
        };
        for t in 0..ORDER {
            out.values[t] = w[ORDER - 1 - t];
            out.derivatives[t] = dw[ORDER - 1 - t] / self.step;
        }
        out
    }

    /// ρ[g · columns + f] = Σ over (weights, coefficients) of coefficient f × Mₚ(u - g)
    pub fn spread<'a>(
        &self,
        columns: usize,
        atoms: impl Iterator<Item = (&'a HeightWeights, &'a [f64])>,
    ) -> Vec<f64> {
        let mut density = vec![0.0; self.n_points * columns];
        for (w, coefficients) in atoms {
            for (t, x) in w.values.iter().enumerate() {
                let row = &mut density[(w.start + t) * columns..(w.start + t + 1) * columns];
                for (r, c) in row.iter_mut().zip(coefficients) {
                    *r += x * c;
                }
            }
        }
        density
    }

    /// U[a, f] = Σ_b c_f[a - b] ρ[b] (`transposed`: Σ_b c_f[b - a] ρ[b, f]) for a density of
    /// one column (shared by the functions) or of one column per function
    pub fn convolve(&self, density: &[f64], transposed: bool) -> Vec<f64> {
        let (m, n_functions) = (self.n_points, self.n_functions);
        let columns = density.len() / m;
        let mut field = vec![0.0; m * n_functions];
        field
            .par_chunks_mut(n_functions)
            .enumerate()
            .for_each(|(a, out)| {
                for b in 0..m {
                    let d = if transposed {
                        b + m - 1 - a
                    } else {
                        a + m - 1 - b
                    };
                    let c = &self.coefficients[d * n_functions..(d + 1) * n_functions];
                    let rho = &density[b * columns..(b + 1) * columns];
                    if columns == 1 {
                        if rho[0] != 0.0 {
                            for (o, c) in out.iter_mut().zip(c) {
                                *o += c * rho[0];
                            }
                        }
                    } else {
                        for ((o, c), r) in out.iter_mut().zip(c).zip(rho) {
                            *o += c * r;
                        }
                    }
                }
            });
        field
    }

    /// Σ_g Mₚ(u - g) U[g, f] and its derivative with respect to the height, per function
    pub fn interpolate(
        &self,
        field: &[f64],
        w: &HeightWeights,
        values: &mut [f64],
        derivatives: &mut [f64],
    ) {
        values.fill(0.0);
        derivatives.fill(0.0);
        let n_functions = self.n_functions;
        for t in 0..ORDER {
            let row = &field[(w.start + t) * n_functions..(w.start + t + 1) * n_functions];
            for ((v, d), x) in values.iter_mut().zip(derivatives.iter_mut()).zip(row) {
                *v += w.values[t] * x;
                *d += w.derivatives[t] * x;
            }
        }
    }
}

/// The density of every atom of each neighbour type (`type_of` the type index of each atom)
fn type_fields(
    grid: &PlanarGrid,
    at: &[HeightWeights],
    type_of: &[Option<usize>],
    n_types: usize,
) -> Vec<Vec<f64>> {
    (0..n_types)
        .map(|t| {
            let atoms = at
                .iter()
                .zip(type_of)
                .filter(|(_, &a)| a == Some(t))
                .map(|(w, _)| (w, &[1.0][..]));
            grid.convolve(&grid.spread(1, atoms), false)
        })
        .collect()
}

impl KSpace {
    /// The heights the planar table must cover for a slab of `thickness`: beyond it, the
    /// samples of the grid (`SAMPLE_STEPS` of its coarsest step σ/2) where it can have one
    pub(crate) fn planar_range(&self, thickness: f64) -> f64 {
        match self.planar_tolerance {
            Some(_) => thickness + SAMPLE_STEPS as f64 * 0.5 * self.density.smearing,
            None => thickness,
        }
    }

    /// The grid of a slab's planar part, where its k∥ ≠ 0 part is on a mesh (`on_mesh`: the
    /// values alone or their backward product), the split set a tolerance, and a grid of at
    /// most N/2 points meets it (its convolutions then cost at most N²/4 terms per type)
    pub(crate) fn planar_grid(&self, on_mesh: bool, heights: &[f64]) -> Option<PlanarGrid> {
        self.planar_grid_within(on_mesh, heights, heights.len() / 2)
    }

    /// `planar_grid` with at most `max_points` points
    fn planar_grid_within(
        &self,
        on_mesh: bool,
        heights: &[f64],
        max_points: usize,
    ) -> Option<PlanarGrid> {
        let tolerance = self.planar_tolerance.filter(|_| on_mesh)?;
        let low = heights.iter().copied().fold(f64::INFINITY, f64::min);
        let high = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let table = self.planar().ok()?.covering(self.planar_range(high - low));
        PlanarGrid::new(
            &table,
            heights,
            self.density.smearing,
            (self.max_angular, self.n_radial),
            tolerance,
            max_points,
        )
    }

    /// The grid that `planar_grid` builds for a slab spanning `thickness` (heights 0 to
    /// `thickness`), with one more point: what a slab of at most that thickness needs at
    /// any origin (the TorchScript module's table, lode/tables.rs); None without a tolerance
    /// or where no step meets it
    pub(crate) fn planar_grid_of_thickness(&self, thickness: f64) -> Option<PlanarGrid> {
        self.planar_tolerance?;
        let grid = self.planar_grid_within(true, &[0.0, thickness], usize::MAX)?;
        let table = self.planar().ok()?.covering(self.planar_range(thickness));
        Some(PlanarGrid::interpolating(
            &table,
            grid.step,
            grid.origin,
            grid.n_points + 1,
        ))
    }

    /// Add Σ_{j∈a} (1/A) Ŝₗₙ(zᵢ, zⱼ) Yₗₘ(n̂) to the values (centre, type, feature) of the
    /// centres, `y` = Yₗₘ(n̂)/A, `type_of` the neighbour type index of each atom
    pub(crate) fn add_planar_on_grid(
        &self,
        grid: &PlanarGrid,
        heights: &[f64],
        type_of: &[Option<usize>],
        (centers, n_types): (&[usize], usize),
        y: &[f64],
        values: &mut [f64],
    ) {
        let at: Vec<HeightWeights> = heights.iter().map(|&z| grid.weights(z)).collect();
        let fields = type_fields(grid, &at, type_of, n_types);
        let n_radial = self.n_radial;
        let n_features = self.n_features();
        let n_functions = grid.n_functions();
        values
            .par_chunks_mut(n_types * n_features)
            .zip(centers.par_iter())
            .for_each_init(
                || (vec![0.0; n_functions], vec![0.0; n_functions]),
                |(planar, unused), (out, &i)| {
                    for (t, field) in fields.iter().enumerate() {
                        grid.interpolate(field, &at[i], planar, unused);
                        let row = &mut out[t * n_features..(t + 1) * n_features];
                        for l in 0..=self.max_angular {
                            for lm in l * l..(l + 1) * (l + 1) {
                                for n in 0..n_radial {
                                    row[lm * n_radial + n] += planar[l * n_radial + n] * y[lm];
                                }
                            }
                        }
                    }
                },
            );
    }

    /// ∂L/∂positions and Ξ of L = Σᵢₐ Σ_f Gᵢₐf Σ_{j∈a} (1/A) Ŝₗₙ(zᵢ, zⱼ) Yₗₘ(n̂), the
    /// derivative of `add_planar_on_grid`: ∂/∂zᵢ from the type densities, ∂/∂zⱼ from the
    /// transposed convolution of the centres' weights aᵢₐf = Σₘ Gᵢₐf Yₗₘ/A, and
    /// ∂z/∂ε_αβ = n_α n_β z for every height
    pub(crate) fn backward_planar_on_grid(
        &self,
        grid: &PlanarGrid,
        (heights, normal): (&[f64], [f64; 3]),
        plane: &PlaneStrain,
        input: &SystemInput,
        type_of: &[Option<usize>],
    ) -> Accumulator {
        let g = input.by_feature.as_slice();
        let n_atoms = heights.len();
        let n_types = input.neighbor_types.len();
        let (n_radial, n_features) = (self.n_radial, self.n_features());
        let n_functions = grid.n_functions();
        let at: Vec<HeightWeights> = heights.iter().map(|&z| grid.weights(z)).collect();
        let fields = type_fields(grid, &at, type_of, n_types);

        // per (centre, type): a_f = Σₘ G Yₗₘ/A and b_{f,αβ} = Σₘ G ∂(Yₗₘ/A)/∂ε_αβ
        let rows = input.centers.len() * n_types;
        let mut slopes = vec![0.0; rows * n_functions];
        let mut strain_weights = vec![0.0; rows * n_functions * 9];
        for row in 0..rows {
            let g = &g[row * n_features..(row + 1) * n_features];
            for l in 0..=self.max_angular {
                for lm in l * l..(l + 1) * (l + 1) {
                    for n in 0..n_radial {
                        let (gf, f) = (g[lm * n_radial + n], l * n_radial + n);
                        slopes[row * n_functions + f] += gf * plane.harmonics[lm];
                        for ab in 0..9 {
                            strain_weights[(row * n_functions + f) * 9 + ab] +=
                                gf * plane.harmonics_strain[9 * lm + ab];
                        }
                    }
                }
            }
        }

        let mut total = Accumulator::new(n_atoms);
        // the centres' side: ∂/∂zᵢ and the strain of Yₗₘ/A
        let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        let mut by_height = vec![0.0; n_atoms];
        let mut xi = [0.0; 9];
        for (c, &i) in input.centers.iter().enumerate() {
            for (t, field) in fields.iter().enumerate() {
                let row = c * n_types + t;
                grid.interpolate(field, &at[i], &mut values, &mut derivatives);
                let a = &slopes[row * n_functions..(row + 1) * n_functions];
                by_height[i] += a.iter().zip(&derivatives).map(|(a, d)| a * d).sum::<f64>();
                for (f, v) in values.iter().enumerate() {
                    let b = &strain_weights[(row * n_functions + f) * 9..][..9];
                    for (x, b) in xi.iter_mut().zip(b) {
                        *x += b * v;
                    }
                }
            }
        }
        // the neighbours' side: W_t = Σ_a c[a - b] ρ[a] with ρ the centres' weights a_f
        for (t, field) in (0..n_types).map(|t| {
            let centers = input.centers.iter().enumerate().map(|(c, &i)| {
                let row = c * n_types + t;
                (&at[i], &slopes[row * n_functions..(row + 1) * n_functions])
            });
            (t, grid.convolve(&grid.spread(n_functions, centers), true))
        }) {
            for (j, w) in at.iter().enumerate() {
                if type_of[j] != Some(t) {
                    continue;
                }
                grid.interpolate(&field, w, &mut values, &mut derivatives);
                by_height[j] += derivatives.iter().sum::<f64>();
            }
        }
        for ((position, d), z) in total.positions.iter_mut().zip(&by_height).zip(heights) {
            for (p, n) in position.iter_mut().zip(normal) {
                *p += d * n;
            }
            for (x, h) in xi.iter_mut().zip(&plane.height) {
                *x += d * z * h;
            }
        }
        for (out, x) in total.strain.as_flattened_mut().iter_mut().zip(&xi) {
            *out += x;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basis::GtoBasis;
    use crate::density::SmearedPowerLaw;
    use crate::math::harmonics::SolidHarmonics;

    const MAX_ANGULAR: usize = 3;

    /// 400 heights over 15 Å, two types, a tilted plane
    fn slab(p: f64, tolerance: f64) -> (KSpace, Vec<f64>, Vec<Option<usize>>, [f64; 3], f64) {
        let basis = GtoBasis::new(3, 3.5).unwrap();
        let density = SmearedPowerLaw {
            smearing: 1.5,
            exponent: p,
        };
        let mut kspace = KSpace::new(&basis, MAX_ANGULAR, density, 3.0, Some(1e-10));
        kspace.planar_tolerance = Some(tolerance);
        let mut seed = 7_u64;
        let heights = (0..400)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                0.3 + 15.0 * (seed >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        let types = (0..400).map(|j| Some(j % 2)).collect();
        let normal = [0.36, 0.48, 0.8];
        (kspace, heights, types, normal, 23.0)
    }

    fn plane_harmonics(normal: [f64; 3], area: f64) -> Vec<f64> {
        let mut solid = SolidHarmonics::new(MAX_ANGULAR);
        solid.compute(normal);
        solid.values.iter().map(|v| v / area).collect()
    }

    #[test]
    fn grid_sums_equal_the_pair_sums_within_the_tolerance() {
        for (p, tolerance) in [(1.0, 1e-7), (6.0, 1e-7), (1.0, 1e-10)] {
            let (kspace, heights, types, normal, area) = slab(p, tolerance);
            let table = kspace.planar().unwrap().covering(15.0);
            let grid = kspace.planar_grid(true, &heights).expect("a grid");
            let centers: Vec<usize> = (0..heights.len()).collect();
            let y = plane_harmonics(normal, area);
            let n_features = kspace.n_features();
            let mut values = vec![0.0; centers.len() * 2 * n_features];
            kspace.add_planar_on_grid(&grid, &heights, &types, (&centers, 2), &y, &mut values);

            let n_radial = kspace.n_radial;
            let n_functions = table.n_functions();
            let (mut p_values, mut unused) = (vec![0.0; n_functions], vec![0.0; n_functions]);
            // per (type, l): the largest error and value
            let mut worst = [(0.0_f64, 0.0_f64); 2 * (MAX_ANGULAR + 1)];
            for &i in &centers {
                let mut pairs = vec![0.0; 2 * n_features];
                for (j, t) in types.iter().enumerate() {
                    let t = t.unwrap();
                    table.compute(heights[i] - heights[j], &mut p_values, &mut unused);
                    for l in 0..=MAX_ANGULAR {
                        for lm in l * l..(l + 1) * (l + 1) {
                            for n in 0..n_radial {
                                pairs[t * n_features + lm * n_radial + n] +=
                                    p_values[l * n_radial + n] * y[lm];
                            }
                        }
                    }
                }
                for (f, exact) in pairs.iter().enumerate() {
                    let (t, lm) = (f / n_features, f % n_features / n_radial);
                    let l = (lm as f64).sqrt() as usize;
                    let error = (values[i * 2 * n_features + f] - exact).abs();
                    let w = &mut worst[t * (MAX_ANGULAR + 1) + l];
                    *w = (w.0.max(error), w.1.max(exact.abs()));
                }
            }
            let ratio = worst.iter().fold(0.0_f64, |m, (e, s)| m.max(e / s));
            println!(
                "p={p} tolerance={tolerance:e}: {} points, error/block {ratio:.2e}",
                grid.n_points
            );
            assert!(ratio < tolerance, "{ratio:e} for p={p}");
        }
    }

    #[test]
    fn heights_on_multiples_of_the_step_lie_inside_the_grid() {
        // σ = 1.3 Å: the steps 0.65 / 2^k are not representable, and a height of 0 gave
        // ⌊u⌋ = 6.999… → 6 before the spare point below
        let (mut kspace, _, _, _, _) = slab(1.0, 1e-6);
        kspace.density.smearing = 1.3;
        let heights: Vec<f64> = (0..200).map(|j| 0.065 * j as f64).collect();
        let grid = kspace.planar_grid(true, &heights).expect("a grid");
        for z in &heights {
            let w = grid.weights(*z);
            assert!(w.start >= 1 && w.start + ORDER < grid.n_points);
        }
    }

    #[test]
    fn grid_backward_is_the_derivative_of_the_grid_values() {
        let (kspace, heights, types, normal, area) = slab(1.0, 1e-8);
        let grid = kspace.planar_grid(true, &heights).expect("a grid");
        let n_features = kspace.n_features();
        // a third of the atoms are centres, G random
        let centers: Vec<usize> = (0..heights.len()).step_by(3).collect();
        let g: Vec<f64> = (0..centers.len() * 2 * n_features)
            .map(|k| (k * 7919 % 1000) as f64 / 500.0 - 1.0)
            .collect();
        let y = plane_harmonics(normal, area);
        let loss = |heights: &[f64]| {
            let mut values = vec![0.0; centers.len() * 2 * n_features];
            kspace.add_planar_on_grid(&grid, heights, &types, (&centers, 2), &y, &mut values);
            values.iter().zip(&g).map(|(v, g)| v * g).sum::<f64>()
        };
        let input = SystemInput {
            centers: centers.clone(),
            neighbor_types: vec![1, 2],
            g: [Vec::new(), Vec::new()],
            by_feature: g.clone(),
        };
        let plane = PlaneStrain::new(normal, area, MAX_ANGULAR);
        let total =
            kspace.backward_planar_on_grid(&grid, (&heights, normal), &plane, &input, &types);
        let delta = 1e-5;
        for j in [0, 1, 2, 100, 201, 399] {
            let (mut up, mut down) = (heights.clone(), heights.clone());
            up[j] += delta;
            down[j] -= delta;
            let fd = (loss(&up) - loss(&down)) / (2.0 * delta);
            let analytic: f64 = (0..3).map(|a| total.positions[j][a] * normal[a]).sum();
            assert!(
                (fd - analytic).abs() < 1e-6 * (1.0 + fd.abs()),
                "{j}: {fd} {analytic}"
            );
        }
        // Ξ_αβ n_α n_β: every height scaled by 1 + δ, the plane unchanged
        let scaled = |s: f64| heights.iter().map(|z| z * s).collect::<Vec<f64>>();
        let delta = 1e-7;
        let fd = (loss(&scaled(1.0 + delta)) - loss(&scaled(1.0 - delta))) / (2.0 * delta);
        let analytic: f64 = (0..9)
            .map(|ab| total.strain[ab / 3][ab % 3] * normal[ab / 3] * normal[ab % 3])
            .sum();
        assert!((fd - analytic).abs() < 1e-6 * fd.abs(), "{fd} {analytic}");
    }
}
