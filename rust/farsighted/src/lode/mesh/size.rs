//! The mesh and B-spline order of smooth PME for a requested accuracy, and their cost.
//!
//! Spreading and interpolating a plane wave of mesh frequency x = m/K (|x| ≤ 1/2) with
//! B-splines of order p aliases it onto m + qK with relative amplitudes ≈ (x/(x + q))ᵖ: at
//! most 2 (|x|/(1 - |x|))ᵖ per direction, each way. A block of angular order l weighs the
//! frequency s = |k|/k_c by wₗ(s) = |ĝ(k)| kˡ (the radial integrals grow like kˡ), relative
//! to its largest value, so that the mesh must give
//!
//!   max_s maxₗ wₗ(s) · 12 (x s/(1 - x s))ᵖ ≤ ε_mesh
//!
//! with x the largest |m|/K at the cutoff, and ε_mesh = ε: the worst case, which the tests
//! against the converged k-space sum need on small cells and crystals need at every size
//! (lode/ewald/margins.rs, mesh/tests.rs, tests/test_mesh.py).
//!
//! Slabs (`KSet::Slab`, on the internal cell): the weights are scanned to the bound K of the
//! k_z sums, and each direction d has its own fraction x_d at its reach κ_d (k_c in the plane,
//! K along n̂, `KSet::reach`): |m_d|/K_d ≤ x_d min(|k|, κ_d)/κ_d, so that s = min(|k|/κ_d, 1)
//! in the condition above. Each direction meets it alone, which bounds the sum of the three.

use super::fft::fast_size;
use super::KSet;
use crate::density::SmearedPowerLaw;
use crate::System;

/// A mesh of dims points along the three cell vectors, B-splines of even order
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MeshSize {
    pub dims: [usize; 3],
    pub order: usize,
}

/// The orders the cost model chooses from
pub(crate) const ORDERS: [usize; 3] = [4, 6, 8];

/// Relative costs, in the units of the k-space sum's cost model (one atom and k-vector of the
/// values, all channels): one mesh point × log₂(mesh size) of the inverse FFTs, and one
/// B-spline weight of the interpolations, of all channels. Measured with `perf` on Na/Cl
/// boxes of 4000 atoms (2 cores, lmax 4, nmax 5, σ = 1 Å, ε = 1e-5, σw = 2 Å): the k-space
/// wide part 1.7 s, the mesh 1.0 s (48³ points, order 8), the real-space pairs 0.9 s.
pub(crate) const COST_FFT: f64 = 7.0;
pub(crate) const COST_INTERPOLATION: f64 = 28.0;

/// Points of the scan over |k| ≤ the largest |k| of the set
const SCAN: usize = 200;

/// maxₗ wₗ(k) on the scan k = i k_max/SCAN, i = 1..=SCAN (module documentation)
fn frequency_weights(density: &SmearedPowerLaw, k_max: f64, max_angular: usize) -> Vec<f64> {
    let k = |i: usize| i as f64 / SCAN as f64 * k_max;
    let g: Vec<f64> = (1..=SCAN).map(|i| density.fourier(k(i)).0.abs()).collect();
    let mut weights = vec![0.0_f64; SCAN];
    for l in 0..=max_angular as i32 {
        let block: Vec<f64> = (1..=SCAN).map(|i| g[i - 1] * k(i).powi(l)).collect();
        let largest = block.iter().fold(f64::MIN_POSITIVE, |m, x| m.max(*x));
        for (w, b) in weights.iter_mut().zip(&block) {
            *w = w.max(b / largest);
        }
    }
    weights
}

/// The largest x = |m|/K at the reach of a direction that meets the accuracy, `reach` ≤ 1
/// relative to the end of the scan of the weights (module documentation)
fn largest_fraction(order: usize, weights: &[f64], reach: f64, accuracy: f64) -> f64 {
    let error = |x: f64| {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let s = ((i + 1) as f64 / SCAN as f64 / reach).min(1.0);
                w * 12.0 * (x * s / (1.0 - x * s)).powi(order as i32)
            })
            .fold(0.0_f64, f64::max)
    };
    let (mut low, mut high) = (0.0, 0.5);
    if error(high) <= accuracy {
        return high;
    }
    for _ in 0..60 {
        let middle = 0.5 * (low + high);
        if error(middle) <= accuracy {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

impl MeshSize {
    /// The largest |m|/K at the reach of each cell vector (`KSet::reach`) of a mesh holding
    /// the k-vectors of `set` with accuracy ε, B-splines of `order`, `weights` the frequency
    /// weights scanned to `set.largest()` (the mesh of a cell follows from them, `of_cell`)
    pub fn fractions(set: KSet, weights: &[f64], accuracy: f64, order: usize) -> [f64; 3] {
        let reach = set.reach();
        let largest = set.largest();
        let mut fractions = [0.0; 3];
        for d in 0..3 {
            fractions[d] = match d {
                // the same reach, the same fraction
                1 | 2 if reach[d] == reach[d - 1] => fractions[d - 1],
                _ => largest_fraction(order, weights, reach[d] / largest, accuracy),
            };
        }
        fractions
    }

    /// The fractions of a mesh for the wide `density` of a basis up to `max_angular`
    /// (`fractions`, with the frequency weights of the density)
    pub fn fractions_of(
        density: &SmearedPowerLaw,
        max_angular: usize,
        set: KSet,
        accuracy: f64,
        order: usize,
    ) -> [f64; 3] {
        let weights = frequency_weights(density, set.largest(), max_angular);
        MeshSize::fractions(set, &weights, accuracy, order)
    }

    /// The mesh of `system` (the internal cell of slabs) holding the k-vectors of `set` with
    /// accuracy ε, B-splines of `order`, `weights` the frequency weights scanned to
    /// `set.largest()`
    pub fn new(
        system: &System,
        set: KSet,
        weights: &[f64],
        accuracy: f64,
        order: usize,
    ) -> MeshSize {
        let fractions = MeshSize::fractions(set, weights, accuracy, order);
        MeshSize::of_cell(system, set, fractions, order)
    }

    /// The mesh of `system` with the largest |m|/K `fractions` at the reach of each cell
    /// vector: K_d the smallest FFT-friendly size above max(m_d / x_d, 2 ⌊m_d⌋ + 2, order),
    /// m_d = κ_d |a_d| / 2π
    pub fn of_cell(system: &System, set: KSet, fractions: [f64; 3], order: usize) -> MeshSize {
        let reach = set.reach();
        let dims = [0, 1, 2].map(|d| {
            let a = system.cell[d];
            let m_max = reach[d] * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
                / (2.0 * std::f64::consts::PI);
            // above 2 max|m| + 1: the Nyquist frequency is never inside the set
            let minimum = ((m_max / fractions[d]).ceil() as usize)
                .max(2 * m_max.floor() as usize + 2)
                .max(order);
            fast_size(minimum)
        });
        MeshSize { dims, order }
    }

    pub fn points(&self) -> usize {
        self.dims.iter().product()
    }

    /// The cost of the values of `n_centers` centres with `n_channels` (type, feature) channels
    pub fn cost(&self, n_centers: usize, n_channels: usize) -> f64 {
        self.cost_with_transforms(n_centers, n_channels, 1.0)
    }

    /// `cost` where the transforms do a `share` of the work of full ones (the rows and planes
    /// without atoms are skipped, mesh/fft.rs)
    pub fn cost_with_transforms(&self, n_centers: usize, n_channels: usize, share: f64) -> f64 {
        let points = self.points() as f64;
        let fft = share * COST_FFT * points * points.log2().max(1.0);
        let interpolation = COST_INTERPOLATION * n_centers as f64 * (self.order as f64).powi(3);
        n_channels as f64 * (fft + interpolation)
    }

    /// Bytes of the buffers of one task of the values (a run of batches of channels,
    /// mesh/mod.rs): the input spectrum, and the half spectra and interleaved real meshes of
    /// a batch (`BatchBuffers`), 8 bytes per point each
    pub fn task_memory(&self) -> f64 {
        (8.0 + 16.0 * super::BATCH as f64) * self.points() as f64
    }

    /// `task_memory` of the backward product (mesh/backward.rs, whose transformed Γ takes
    /// the input spectrum's place): also the positions accumulator and the adjoint spectra of
    /// the `n_points` kernel points
    pub fn backward_task_memory(&self, n_atoms: f64, n_types: f64, n_points: f64) -> f64 {
        self.task_memory() + 24.0 * n_atoms + 16.0 * n_types * n_points
    }

    /// Bytes of one system on this mesh (with `n_points` kernel points inside the cutoff):
    /// the spectra of the types and the kernel tables, and the buffers of one task
    /// (`task_memory`, `backward_task_memory`): the mesh runs no more tasks at once than
    /// memory allows (mesh/mod.rs, `batches_per_task`)
    pub fn memory(
        &self,
        n_atoms: f64,
        n_types: f64,
        n_points: f64,
        (n_lm, n_functions): (f64, f64),
        backward: bool,
    ) -> f64 {
        let points = self.points() as f64;
        let shared = 8.0 * n_types * points
            + 8.0 * n_points * (2.0 + n_lm + n_functions)
            + if backward {
                8.0 * n_points * (4.0 + n_functions)
            } else {
                0.0
            };
        let task = if backward {
            self.backward_task_memory(n_atoms, n_types, n_points)
        } else {
            self.task_memory()
        };
        shared + task
    }

    /// The cheapest order's mesh of `system` (the internal cell of slabs) for the k-vectors
    /// `set` of the wide `density` of a basis up to `max_angular`
    pub fn cheapest(
        system: &System,
        density: &SmearedPowerLaw,
        max_angular: usize,
        set: KSet,
        accuracy: f64,
        n_centers: usize,
    ) -> MeshSize {
        let weights = frequency_weights(density, set.largest(), max_angular);
        ORDERS
            .iter()
            .map(|&order| MeshSize::new(system, set, &weights, accuracy, order))
            .min_by(|a, b| a.cost(n_centers, 1).total_cmp(&b.cost(n_centers, 1)))
            .expect("ORDERS is not empty")
    }
}
