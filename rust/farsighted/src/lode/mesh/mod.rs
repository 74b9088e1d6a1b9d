//! Smooth particle-mesh Ewald (SPME) for the wide part of the Ewald split: the same k-space
//! sum as lode/kspace/, in O(N log N).
//!
//! With the full-space kernel K_c(k) = (4π/V) ĝ(k) iˡ Iₗₙ(k) Yₗₘ(k̂) of channel c = (n, l, m),
//! the features of centre i and neighbour type a are
//!
//!   ⟨a c|Vᵢ⟩ = Σ_{0<|k|<k_c} K_c(k) e^{ik·rᵢ} Σ_{j∈a} e^{-ik·rⱼ}
//!
//! (the ±k pairs of this sum give the half-space sum of lode/kspace/). Smooth PME writes both
//! plane waves with the cardinal B-splines Mₚ of order p on a mesh of K₁ × K₂ × K₃ points
//! (mesh/spline.rs): Σ_{j∈a} e^{-ik·rⱼ} ≈ b*(m) F[Q_a](m), with Q_a(g) = Σ_{j∈a} Mₚ(uⱼ - g) the
//! spread density, and e^{ik·rᵢ} ≈ b(m) Σ_g Mₚ(uᵢ - g) e^{2πim·g/K}, so that
//!
//!   ⟨a c|Vᵢ⟩ ≈ Σ_g Mₚ(uᵢ - g) φ_ac(g),   φ_ac = F⁻¹[K_c |b|² F[Q_a]]
//!
//! one inverse FFT per (type, channel), interpolated at the centres. This route was chosen
//! over projecting the potential of the mesh on the basis around each atom: the basis
//! functions are not band-limited, so that projection needs a fine quadrature per atom, while
//! the kernel K_c is known exactly on the mesh (the theory docs give the counts).
//!
//! Slabs (lode/slab/): their k∥ ≠ 0 part is the k-space sum on the internal cell (a, b, L n̂)
//! over the k-vectors 0 < |k∥| < k_c, |k| < K (`slab_k_vectors`). On the mesh it is the same
//! smooth PME on the internal cell, with the kernel restricted to exactly that set (`KSet`):
//! no k∥ = 0 point (the planar part, computed apart, holds them), and the mesh reaches K along
//! b₃ ∥ n̂ and k_c in the plane (mesh/size.rs).
//!
//! The mesh and the order are chosen for the split's accuracy by mesh/size.rs; the plan
//! chooses between this and the k-space sum by cost (lode/ewald/cost.rs).

pub(crate) mod backward;
mod fft;
pub(crate) mod open;
pub(crate) mod size;
pub(crate) mod spline;

use rayon::prelude::*;
use rustfft::num_complex::Complex64;

use crate::lode::kspace::KSpace;
use crate::lode::metadata::{SystemTask, SystemValues};
use crate::lode::morton::morton_order;
use crate::lode::plan::Geometry;
use crate::lode::slab::in_slab_k_set;
use crate::lode::KSpaceRadialIntegral;
use crate::math::harmonics::{HarmonicGradients, SolidHarmonics};
use crate::{Error, System};
use fft::{Fft3, Scratch, Support};
use open::FreeSpace;
pub(crate) use size::MeshSize;

/// The B-spline weights of every atom on one mesh: atom j touches the `order` points
/// starts[j][d] + t (modulo K_d), t = 0..order, along each direction d with weights[j][d][t]
struct Assignment {
    order: usize,
    dims: [usize; 3],
    /// (atom, direction): the first mesh index touched
    starts: Vec<[usize; 3]>,
    /// (atom, direction, t)
    weights: Vec<f64>,
    /// ∂weights/∂u, u the mesh coordinate (atom, direction, t)
    derivatives: Vec<f64>,
}

impl Assignment {
    fn new(system: &System, size: MeshSize) -> Assignment {
        let order = size.order;
        let reciprocal = system.reciprocal_cell();
        let n = system.size();
        let mut starts = vec![[0; 3]; n];
        let mut weights = vec![0.0; n * 3 * order];
        let mut derivatives = vec![0.0; n * 3 * order];
        let (mut w, mut dw) = (vec![0.0; order], vec![0.0; order]);
        for (j, r) in system.positions.iter().enumerate() {
            for (d, b) in reciprocal.iter().enumerate() {
                let fractional =
                    (r[0] * b[0] + r[1] * b[1] + r[2] * b[2]) / (2.0 * std::f64::consts::PI);
                let k = size.dims[d];
                let u = k as f64 * (fractional - fractional.floor());
                spline::weights(order, u, &mut w, &mut dw);
                // weight q belongs to the point ⌊u⌋ - q: ascending from ⌊u⌋ - (p - 1)
                let base = u.floor() as isize - (order as isize - 1);
                starts[j][d] = base.rem_euclid(k as isize) as usize;
                let at = (j * 3 + d) * order;
                for t in 0..order {
                    weights[at + t] = w[order - 1 - t];
                    derivatives[at + t] = dw[order - 1 - t];
                }
            }
        }
        Assignment {
            order,
            dims: size.dims,
            starts,
            weights,
            derivatives,
        }
    }

    /// The mesh indices touched along direction d, from `start`
    #[inline]
    fn indices(&self, d: usize, start: usize) -> impl Iterator<Item = usize> {
        let k = self.dims[d];
        (start..start + self.order).map(move |i| if i >= k { i - k } else { i })
    }

    /// Σ over the atom's p³ points of w₁ w₂ w₃ f(point, w₁ w₂ w₃): the loop of spreading
    /// (f adds) and interpolation (f reads), with the innermost direction contiguous unless
    /// it wraps
    #[inline]
    fn for_each_row(&self, j: usize, mut row: impl FnMut(usize, f64, &[f64], usize)) {
        let p = self.order;
        let [k1, k2, k3] = self.dims;
        let [s1, s2, s3] = self.starts[j];
        let w = &self.weights[j * 3 * p..(j + 1) * 3 * p];
        let (w1, w2, w3) = (&w[..p], &w[p..2 * p], &w[2 * p..]);
        for (a, g1) in self.indices(0, s1).enumerate() {
            for (b, g2) in self.indices(1, s2).enumerate() {
                row((g1 * k2 + g2) * k3, w1[a] * w2[b], w3, s3);
            }
        }
        debug_assert!(s1 < k1);
    }

    /// Q(g) = Σ_j qⱼ Mₚ(uⱼ - g) over the (atom j, weight qⱼ) pairs
    fn spread(&self, atoms: impl Iterator<Item = (usize, f64)>) -> Vec<f64> {
        let mut mesh = vec![0.0; self.dims.iter().product()];
        let k3 = self.dims[2];
        let p = self.order;
        for (j, q) in atoms {
            self.for_each_row(j, |row, w12, w3, s3| {
                let w12 = q * w12;
                if s3 + p <= k3 {
                    for (x, w) in mesh[row + s3..row + s3 + p].iter_mut().zip(w3) {
                        *x += w12 * w;
                    }
                } else {
                    for (g3, w) in self.indices(2, s3).zip(w3) {
                        mesh[row + g3] += w12 * w;
                    }
                }
            });
        }
        mesh
    }

    /// ∂/∂uⱼ Σ_g Mₚ(uⱼ - g) φ(g), along the three mesh directions
    fn gradient(&self, mesh: &[f64], j: usize) -> [f64; 3] {
        let p = self.order;
        let [_, k2, k3] = self.dims;
        let [s1, s2, s3] = self.starts[j];
        let w = &self.weights[j * 3 * p..(j + 1) * 3 * p];
        let d = &self.derivatives[j * 3 * p..(j + 1) * 3 * p];
        let mut gradient = [0.0; 3];
        for (a, g1) in self.indices(0, s1).enumerate() {
            for (b, g2) in self.indices(1, s2).enumerate() {
                let row = (g1 * k2 + g2) * k3;
                let (mut line, mut line_derivative) = (0.0, 0.0);
                for (c, g3) in self.indices(2, s3).enumerate() {
                    line += w[2 * p + c] * mesh[row + g3];
                    line_derivative += d[2 * p + c] * mesh[row + g3];
                }
                gradient[0] += d[a] * w[p + b] * line;
                gradient[1] += w[a] * d[p + b] * line;
                gradient[2] += w[a] * w[p + b] * line_derivative;
            }
        }
        gradient
    }

    /// Q_q(g) += w_q Mₚ(uⱼ - g) for the W meshes Q_q interleaved in `meshes` (point-major):
    /// the transpose of `interpolate_batch`
    #[inline]
    fn spread_batch<const W: usize>(&self, meshes: &mut [f64], j: usize, weights: &[f64; W]) {
        self.for_each_row(j, |row, w12, w3, s3| {
            let scaled = weights.map(|q| q * w12);
            for (g3, w) in self.indices(2, s3).zip(w3) {
                let start = (row + g3) * W;
                let x: &mut [f64; W] = (&mut meshes[start..start + W])
                    .try_into()
                    .expect("W values");
                for (x, q) in x.iter_mut().zip(&scaled) {
                    *x += w * q;
                }
            }
        });
    }

    /// ∂/∂uⱼ Σ_g Mₚ(uⱼ - g) φ_q(g) along the three mesh directions (rows of the result) for
    /// the W meshes φ_q interleaved in `meshes`: `gradient` of W channels at once
    #[inline]
    fn gradient_batch<const W: usize>(&self, meshes: &[f64], j: usize) -> [[f64; W]; 3] {
        let p = self.order;
        let [_, k2, k3] = self.dims;
        let [s1, s2, s3] = self.starts[j];
        let w = &self.weights[j * 3 * p..(j + 1) * 3 * p];
        let d = &self.derivatives[j * 3 * p..(j + 1) * 3 * p];
        let mut gradient = [[0.0; W]; 3];
        for (a, g1) in self.indices(0, s1).enumerate() {
            for (b, g2) in self.indices(1, s2).enumerate() {
                let row = (g1 * k2 + g2) * k3;
                let (mut line, mut line_derivative) = ([0.0; W], [0.0; W]);
                for (c, g3) in self.indices(2, s3).enumerate() {
                    let start = (row + g3) * W;
                    let x: &[f64; W] = meshes[start..start + W].try_into().expect("W values");
                    let (wc, dc) = (w[2 * p + c], d[2 * p + c]);
                    for q in 0..W {
                        line[q] += wc * x[q];
                        line_derivative[q] += dc * x[q];
                    }
                }
                let factors = [d[a] * w[p + b], w[a] * d[p + b], w[a] * w[p + b]];
                for q in 0..W {
                    gradient[0][q] += factors[0] * line[q];
                    gradient[1][q] += factors[1] * line[q];
                    gradient[2][q] += factors[2] * line_derivative[q];
                }
            }
        }
        gradient
    }

    /// Σ_g Mₚ(uⱼ - g) φ_q(g) for the W meshes φ_q interleaved in `meshes` (point-major): the
    /// sums of a row along the third direction, then of the rows, in registers
    #[inline]
    fn interpolate_batch<const W: usize>(&self, meshes: &[f64], j: usize) -> [f64; W] {
        let mut sum = [0.0; W];
        self.for_each_row(j, |row, w12, w3, s3| {
            let mut line = [0.0; W];
            for (g3, w) in self.indices(2, s3).zip(w3) {
                let start = (row + g3) * W;
                let x: &[f64; W] = meshes[start..start + W].try_into().expect("W values");
                for (l, x) in line.iter_mut().zip(x) {
                    *l += w * x;
                }
            }
            for (s, l) in sum.iter_mut().zip(&line) {
                *s += w12 * l;
            }
        });
        sum
    }

    /// The rows (g₁, g₂) of the mesh (index g₁ K₂ + g₂) that the atoms' points touch
    fn rows(&self) -> Vec<bool> {
        let [k1, k2, _] = self.dims;
        let mut rows = vec![false; k1 * k2];
        for &[s1, s2, _] in &self.starts {
            for g1 in self.indices(0, s1) {
                for g2 in self.indices(1, s2) {
                    rows[g1 * k2 + g2] = true;
                }
            }
        }
        rows
    }

    /// The indices into `atoms` along a Morton curve through the first mesh point of each
    /// atom, so that consecutive interpolations read points the caches still hold (sorted
    /// by rows instead, the interpolations of 10⁵ atoms took twice as long)
    fn mesh_order(&self, atoms: &[usize]) -> Vec<usize> {
        morton_order(atoms.len(), |c| self.starts[atoms[c]].map(|s| s as u64))
    }
}

/// The k-vectors of the sum a mesh holds, on the mesh's cell
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum KSet {
    /// 3D-periodic systems: 0 < |k| < k_cutoff
    Sphere { k_cutoff: f64 },
    /// the k∥ ≠ 0 part of slabs on their internal cell (a, b, L n̂): 0 < |k∥| < k_cutoff and
    /// |k| < bound (`slab_k_vectors`), k∥ the part along b₁, b₂
    Slab { k_cutoff: f64, bound: f64 },
    /// open systems in their periodic box (mesh/open.rs): |k| < k_cutoff, k = 0 included
    Open { k_cutoff: f64 },
}

impl KSet {
    /// The set of a sum to `k_cutoff` on a system of `geometry`, `slab_bound` the bound
    /// max(k_cutoff, K) of the k_z sums of slabs (`slab_k_bound`)
    pub fn of(geometry: Geometry, k_cutoff: f64, slab_bound: impl FnOnce() -> f64) -> KSet {
        match geometry {
            Geometry::Slab => KSet::Slab {
                k_cutoff,
                bound: slab_bound(),
            },
            Geometry::Bulk => KSet::Sphere { k_cutoff },
            Geometry::Open => KSet::Open { k_cutoff },
        }
    }

    /// The largest |k|
    pub fn largest(self) -> f64 {
        match self {
            KSet::Sphere { k_cutoff } | KSet::Open { k_cutoff } => k_cutoff,
            KSet::Slab { bound, .. } => bound,
        }
    }

    /// A bound on |k · a_d| / |a_d| over the set, for each cell vector a_d: |k| < k_c in 3D;
    /// for slabs k · a = k∥ · a in the plane, and |k_z| < K along a₃ = L n̂
    pub fn reach(self) -> [f64; 3] {
        match self {
            KSet::Sphere { k_cutoff } | KSet::Open { k_cutoff } => [k_cutoff; 3],
            KSet::Slab { k_cutoff, bound } => [k_cutoff, k_cutoff, bound],
        }
    }

    /// Whether k = m₁b₁ + m₂b₂ + m₃b₃ belongs to the set, `parallel` = m₁b₁ + m₂b₂
    fn contains(self, parallel: [f64; 3], k: [f64; 3]) -> bool {
        match self {
            KSet::Sphere { k_cutoff } => {
                let k2 = k[0] * k[0] + k[1] * k[1] + k[2] * k[2];
                k2 > 0.0 && k2 < k_cutoff * k_cutoff
            }
            KSet::Slab { k_cutoff, bound } => in_slab_k_set(parallel, k, k_cutoff, bound),
            KSet::Open { k_cutoff } => {
                k[0] * k[0] + k[1] * k[1] + k[2] * k[2] < k_cutoff * k_cutoff
            }
        }
    }
}

impl KSpace {
    /// The k-vectors this sum holds for a geometry, and the radial integrals that reach them
    fn mesh_k_set(&self, geometry: Geometry) -> Result<(KSet, &KSpaceRadialIntegral), Error> {
        let set = KSet::of(geometry, self.k_cutoff, || self.slab_k_bound());
        let radial = match geometry {
            Geometry::Slab => self.slab_radial()?,
            Geometry::Bulk | Geometry::Open => self.radial()?,
        };
        Ok((set, radial))
    }
}

/// The kernel on the points of the half spectrum in the k-set of the sum (`KSet`): (4π/V) ĝ
/// |b|² Iₗₙ per (point, l, n) and Yₗₘ(k̂) per (point, lm); with `derivatives`, what the strain
/// needs
struct Kernel {
    /// position of each point in the transposed half spectrum
    points: Vec<usize>,
    /// 1 for m₃ = 0 (the point and its opposite are both stored), 2 otherwise (the opposite
    /// is its complex conjugate): the weight of the point in a sum over all k
    multiplicity: Vec<f64>,
    n_functions: usize,
    n_lm: usize,
    radial: Vec<f64>,
    harmonics: Vec<f64>,
    derivatives: Option<KernelDerivatives>,
    /// the lines and columns of the half spectrum that hold the points
    support: Support,
}

/// What ∂K_c/∂k_α needs, per point: k̂ and |k|, d[(4π/V) ĝ |b|² Iₗₙ]/dk per (point, l, n);
/// ∇Rₗₘ(k̂) from the kernel's Rₗₘ(k̂) (`HarmonicGradients`: a table of them would be the
/// largest of the kernel, 2.2 GB at 10⁶ atoms)
struct KernelDerivatives {
    directions: Vec<[f64; 3]>,
    norms: Vec<f64>,
    radial: Vec<f64>,
    harmonics: HarmonicGradients,
}

impl Kernel {
    /// The kernel of `kspace` for a system of `geometry` (the internal cell of slabs, the box
    /// of open systems, whose ĝ is `windowed` on the half spectrum, mesh/open.rs), its
    /// support in space the rows that `assignment` touches
    fn new(
        kspace: &KSpace,
        geometry: Geometry,
        system: &System,
        fft: &Fft3,
        assignment: &Assignment,
        with_derivatives: bool,
        windowed: Option<&[f64]>,
    ) -> Result<Kernel, Error> {
        debug_assert_eq!(windowed.is_some(), geometry == Geometry::Open);
        // the windowed ĝ has no strain derivative: open systems take the virial
        debug_assert!(!(with_derivatives && windowed.is_some()));
        let (set, radial_integral) = kspace.mesh_k_set(geometry)?;
        let dims = fft.dims;
        let factors = [0, 1, 2].map(|d| spline::euler_factors(assignment.order, dims[d]));
        let b = system.reciprocal_cell();
        // signed frequency of mesh index i (the Nyquist index never lies inside the set,
        // mesh/size.rs)
        let signed = |i: usize, k: usize| {
            if 2 * i > k {
                i as i64 - k as i64
            } else {
                i as i64
            }
        };
        let mut found = Vec::new();
        for m1 in 0..dims[0] {
            for m2 in 0..dims[1] {
                for m3 in 0..fft.half {
                    let n = [signed(m1, dims[0]), signed(m2, dims[1]), m3 as i64];
                    let parallel = [0, 1, 2].map(|x| n[0] as f64 * b[0][x] + n[1] as f64 * b[1][x]);
                    let k = [0, 1, 2].map(|x| parallel[x] + n[2] as f64 * b[2][x]);
                    if set.contains(parallel, k) {
                        let euler = factors[0][m1] * factors[1][m2] * factors[2][m3];
                        let multiplicity = if m3 == 0 { 1.0 } else { 2.0 };
                        found.push((fft.spectrum_index([m1, m2, m3]), k, euler, multiplicity));
                    }
                }
            }
        }
        let max_angular = kspace.max_angular;
        let n_lm = (max_angular + 1).pow(2);
        let n_functions = (max_angular + 1) * kspace.n_radial;
        let n_points = found.len();
        let prefactor = 4.0 * std::f64::consts::PI / system.volume();
        // ĝ(|k|) Iₗₙ(|k|) and its derivative, times (4π/V) |b|², at point p
        let radial_at = |p: usize, values: &mut [f64], derivatives: &mut [f64]| {
            let (index, k, euler, _) = found[p];
            let norm = (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
            radial_integral.compute(norm, values, derivatives);
            let (g, dg) = match windowed {
                Some(table) => (table[index], 0.0),
                None => kspace.density.fourier(norm),
            };
            let factor = prefactor * euler;
            for (i, di) in values.iter_mut().zip(derivatives.iter_mut()) {
                *di = factor * (dg * *i + g * *di);
                *i *= factor * g;
            }
            // k = 0 (open systems) has l = 0 only, in any direction
            match norm > 0.0 {
                true => k.map(|x| x / norm),
                false => [0.0, 0.0, 1.0],
            }
        };
        let mut radial = vec![0.0; n_points * n_functions];
        let mut harmonics = vec![0.0; n_points * n_lm];
        radial
            .par_chunks_mut(n_functions)
            .zip(harmonics.par_chunks_mut(n_lm))
            .enumerate()
            .for_each_init(
                || (SolidHarmonics::new(max_angular), vec![0.0; n_functions]),
                |(solid, scratch), (p, (radial, harmonics))| {
                    solid.compute(radial_at(p, radial, scratch));
                    harmonics.copy_from_slice(&solid.values[..n_lm]);
                },
            );
        // the derivatives for the backward product only
        let derivatives = with_derivatives.then(|| {
            let mut radial = vec![0.0; n_points * n_functions];
            radial
                .par_chunks_mut(n_functions)
                .enumerate()
                .for_each_init(
                    || vec![0.0; n_functions],
                    |scratch, (p, radial)| {
                        radial_at(p, scratch, radial);
                    },
                );
            let norms: Vec<f64> = found
                .iter()
                .map(|(_, k, _, _)| (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt())
                .collect();
            KernelDerivatives {
                directions: found
                    .iter()
                    .zip(&norms)
                    .map(|((_, k, _, _), norm)| k.map(|x| x / norm))
                    .collect(),
                norms,
                radial,
                harmonics: HarmonicGradients::new(max_angular),
            }
        });
        let points: Vec<usize> = found.iter().map(|&(index, ..)| index).collect();
        Ok(Kernel {
            support: Support::new(fft, &points).with_rows(fft, assignment.rows()),
            points,
            multiplicity: found.iter().map(|&(.., m)| m).collect(),
            n_functions,
            n_lm,
            radial,
            harmonics,
            derivatives,
        })
    }

    /// K_c / iˡ at point p for the channel (l, lm, n), without the phase iˡ
    #[inline]
    fn real_part(&self, p: usize, l: usize, lm: usize, n: usize, n_radial: usize) -> f64 {
        self.radial[p * self.n_functions + l * n_radial + n] * self.harmonics[p * self.n_lm + lm]
    }
}

/// F[Q_a] of the density of each type, on the kernel's support
fn type_spectra(
    system: &System,
    types: &[i32],
    assignment: &Assignment,
    fft: &Fft3,
    kernel: &Kernel,
) -> Vec<Vec<Complex64>> {
    types
        .par_iter()
        .map(|&a| {
            let atoms = (0..system.size())
                .filter(|&j| system.types[j] == a)
                .map(|j| (j, 1.0));
            let mut mesh = assignment.spread(atoms);
            let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
            fft.forward(
                &mut mesh,
                &mut spectrum,
                &kernel.support,
                &mut fft.scratch(),
            );
            spectrum
        })
        .collect()
}

/// The channels (type, l, l + m, n) of the features, one transform each
fn channels(
    n_types: usize,
    max_angular: usize,
    n_radial: usize,
) -> Vec<(usize, usize, usize, usize)> {
    (0..n_types)
        .flat_map(|t| {
            (0..=max_angular).flat_map(move |l| {
                (0..2 * l + 1).flat_map(move |m| (0..n_radial).map(move |n| (t, l, m, n)))
            })
        })
        .collect()
}

/// Channels transformed and interpolated (or spread) together, by the values and the backward
/// product
pub(crate) const BATCH: usize = 8;

/// The fewest batches of channels a task takes: about one task per thread (rayon splits a
/// range while its halves keep this length), as every task allocates its buffers
/// (`MeshSize::task_memory`: 560 MB for 160³ points), whose first writes fault their pages in
/// (10⁵ atoms: 9 tasks spent 1 s on this). Fewer tasks, down to one, where only as many sets
/// of `task_bytes` fit in the memory still available with `reserved` bytes left for their
/// results (10⁶ atoms: 5.2 GB per task); the memory check counted one (lode/memory.rs).
fn batches_per_task(
    channels: &[(usize, usize, usize, usize)],
    task_bytes: f64,
    reserved: f64,
) -> usize {
    let threads = rayon::current_num_threads();
    // a tenth of what is available for what the estimate leaves out
    let tasks = crate::available_memory().map_or(threads, |available| {
        let fitting = (0.9 * available as f64 - reserved) / task_bytes;
        (fitting.max(1.0) as usize).min(threads)
    });
    (channels.len().div_ceil(BATCH) / tasks).max(1)
}

/// Buffers of one thread for a batch of channels
struct BatchBuffers {
    scratch: Scratch,
    /// a half spectrum, zero outside the kernel's support
    input: Vec<Complex64>,
    /// BATCH half spectra between the steps of a transform
    planes: Vec<Vec<Complex64>>,
    /// BATCH real meshes interleaved point-major (channel q of point g at g BATCH + q)
    meshes: Vec<f64>,
}

impl BatchBuffers {
    fn new(fft: &Fft3) -> BatchBuffers {
        let spectrum = || vec![Complex64::default(); fft.spectrum_size()];
        BatchBuffers {
            scratch: fft.scratch(),
            input: spectrum(),
            planes: (0..BATCH).map(|_| spectrum()).collect(),
            meshes: vec![0.0; fft.size() * BATCH],
        }
    }

    /// φ_ac = F⁻¹[iˡ K_c F[Q_a]] of the channels (a, l, m, n) of `batch` into `meshes`, on
    /// the rows of the kernel's support (the unused columns of a short batch zero)
    fn channel_meshes(
        &mut self,
        fft: &Fft3,
        kernel: &Kernel,
        spectra: &[Vec<Complex64>],
        n_radial: usize,
        batch: &[(usize, usize, usize, usize)],
    ) {
        let input = &mut self.input;
        for (plane, &(t, l, m, n)) in self.planes.iter_mut().zip(batch) {
            let lm = l * l + m;
            let phase = i_power(l);
            // zero outside the kernel's points: the transforms change the support
            kernel.support.clear(fft, input);
            for (p, &index) in kernel.points.iter().enumerate() {
                let w = kernel.real_part(p, l, lm, n, n_radial);
                input[index] = spectra[t][index] * phase * w;
            }
            fft.inverse_planes(input, plane, &kernel.support, &mut self.scratch);
        }
        if batch.len() < BATCH {
            kernel.support.clear_rows(fft, &mut self.meshes, BATCH);
        }
        fft.inverse_interleaved(
            &mut self.planes[..batch.len()],
            BATCH,
            &mut self.meshes,
            &kernel.support,
            &mut self.scratch,
        );
    }
}

/// iˡ
fn i_power(l: usize) -> Complex64 {
    match l % 4 {
        0 => Complex64::new(1.0, 0.0),
        1 => Complex64::new(0.0, 1.0),
        2 => Complex64::new(-1.0, 0.0),
        _ => Complex64::new(0.0, -1.0),
    }
}

impl KSpace {
    /// Values of the k-space sum over the k-set of `geometry` (`KSet`, without k = 0) of one
    /// system by smooth PME on `size`: the mesh's counterpart of `sum` (for slabs, `task` is
    /// on the internal cell)
    pub fn mesh_sum(
        &self,
        geometry: Geometry,
        size: MeshSize,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        let fft = Fft3::new(size.dims);
        self.mesh_sum_with(geometry, size, &fft, None, task)
    }

    /// The free-space sum (without k = 0 removed) of an open system in the box `free`
    /// (mesh/open.rs) by smooth PME; `task` is on the open system
    pub fn open_mesh_sum(&self, free: &FreeSpace, task: SystemTask) -> Result<SystemValues, Error> {
        let fft = Fft3::new(free.size.dims);
        let windowed = free.windowed_fourier(&self.density, &fft);
        let task = SystemTask {
            system: &free.system,
            ..task
        };
        self.mesh_sum_with(Geometry::Open, free.size, &fft, Some(&windowed), task)
    }

    fn mesh_sum_with(
        &self,
        geometry: Geometry,
        size: MeshSize,
        fft: &Fft3,
        windowed: Option<&[f64]>,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        let (centers, type_index) = task.centers_and_types();
        if centers.is_empty() {
            return Ok(SystemValues::default());
        }
        let system = task.system;
        let assignment = Assignment::new(system, size);
        let kernel = Kernel::new(self, geometry, system, fft, &assignment, false, windowed)?;

        // the spectrum F[Q_a] of each neighbour type's density
        let types: Vec<i32> = type_index.keys().copied().collect();
        let spectra = type_spectra(system, &types, &assignment, fft, &kernel);

        // the centres in mesh order, so that consecutive interpolations read nearby points
        let by_position = assignment.mesh_order(&centers);

        // one inverse transform per (type, l, m, n), interpolated at the centres
        let n_radial = self.n_radial;
        let max_angular = self.max_angular;
        let n_lm = (max_angular + 1).pow(2);
        let channels = channels(types.len(), max_angular, n_radial);
        let n_types = types.len();
        let n_features = n_lm * n_radial;
        // the batches' values, then their copy by centre
        let reserved = 16.0 * (centers.len() * n_types * n_features) as f64;
        let task_bytes = size.task_memory();
        // by batches of channels whose meshes are interleaved, so that the interpolation
        // reads BATCH channels from each cache line
        let batches: Vec<Vec<f64>> = channels
            .par_chunks(BATCH)
            .with_min_len(batches_per_task(&channels, task_bytes, reserved))
            .map_init(
                || BatchBuffers::new(fft),
                |buffers, batch| {
                    let width = batch.len();
                    buffers.channel_meshes(fft, &kernel, &spectra, n_radial, batch);
                    let mut out = vec![0.0; centers.len() * width];
                    for &c in &by_position {
                        let sums =
                            assignment.interpolate_batch::<BATCH>(&buffers.meshes, centers[c]);
                        out[c * width..(c + 1) * width].copy_from_slice(&sums[..width]);
                    }
                    out
                },
            )
            .collect();
        let mut values = vec![0.0; centers.len() * n_types * n_features];
        for (batch, out) in channels.chunks(BATCH).zip(&batches) {
            for (c, sums) in out.chunks_exact(batch.len()).enumerate() {
                for (&(t, l, m, n), x) in batch.iter().zip(sums) {
                    values[(c * n_types + t) * n_features + (l * l + m) * n_radial + n] = *x;
                }
            }
        }
        Ok(SystemValues {
            centers,
            type_index,
            n_types,
            values,
            strain: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
