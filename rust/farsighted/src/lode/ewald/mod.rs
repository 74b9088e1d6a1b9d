//! Ewald split of periodic LODE with a requested accuracy ε:
//!
//!   g_σ = g_σw + (g_σ - g_σw),  σw ≥ σ, same exponent p.
//!
//! The wide part is the k-space sum (lode/kspace/) of the density with smearing σw and
//! k_c σw = √(2 ln(K_SCALE/ε)), K_SCALE = 100; the remainder is summed in real space as pair
//! projections F^rem_ln(d) Yₗₘ(d̂) over all images closer than d_c, the largest distance where
//! some F^rem_ln exceeds r_scale ε of its largest value, plus the centre's own remainder (T = 0).
//! r_scale depends on the width of the cell, slab or cluster (lode/ewald/margins.rs).
//!
//! k = 0: for 0 < p ≤ 3 the pure k-space sum drops the k = 0 term, but the real-space
//! remainder carries its integral (ĝ_σ - ĝ_σw)(0) per atom and unit volume; it is removed,
//! (N_a/V)(f(σ) - f(σw)) √(4π) Iₙ₀(0) from l = 0. For p = 0 and p > 3 the wide part carries
//! ĝ_σw(0) and the remainder ĝ_σ(0) - ĝ_σw(0): together the k = 0 term of the pure sum.
//!
//! σw is chosen per system on the grid σ 2^{j/4} by a cost model, and the tables of each grid
//! value and margins are built once and cached.

mod backward;
mod cost;
mod margins;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::density::SmearedPowerLaw;
use crate::lode::kspace::KSpace;
use crate::lode::mesh::open::{FreeSpace, FreeSpaceLayout};
use crate::lode::mesh::{KSet, MeshSize};
use crate::lode::metadata::{SystemTask, SystemValues};
use crate::lode::pairs::neighbors::CellList;
use crate::lode::pairs::radial::PairRadialIntegral;
use crate::lode::pairs::PairSum;
use crate::lode::plan::{Geometry, Method};
use crate::lode::{Gradients, LodeSphericalExpansion, NEGLIGIBLE_K_SIGMA};
use crate::{Error, System};
pub(crate) use margins::Margins;

/// Points of the scan for d_c over [0, basis support + 10 σw]
const CUTOFF_SCAN_POINTS: usize = 512;
/// The error of the planar grid of slabs (lode/slab/planar_grid.rs) relative to ε, on the
/// largest planar function of each l
const PLANAR_GRID_TOLERANCE: f64 = 1e-2;
/// Largest grid index j of σw = σ 2^{j/4} (σw ≤ 1024 σ)
pub(crate) const MAX_GRID: i32 = 40;

/// Tables of the split for one σw
pub(crate) struct EwaldSplit {
    /// the wide part: the k-space sum with σw
    pub(crate) wide: KSpace,
    /// F^rem, None when σw = σ (pure k-space)
    pub(crate) remainder: Option<PairRadialIntegral>,
    /// d_c
    pub(crate) cutoff: f64,
    /// F^rem_0n(0) Y₀₀: the centre's own remainder density
    self_term: Vec<f64>,
}

/// Cache of the splits, by grid index j and margins
#[derive(Default)]
pub(crate) struct SplitCache {
    pub(crate) tables: Mutex<BTreeMap<(i32, Margins), Arc<EwaldSplit>>>,
    /// a grid index used instead of the cost model's choice (tests)
    pub(crate) forced: Mutex<Option<i32>>,
    /// the bound of the k_z sums of slabs, by grid index j (lode/ewald/cost.rs)
    pub(crate) slab_bounds: Mutex<BTreeMap<i32, f64>>,
}

pub(crate) fn wide_smearing(sigma: f64, grid: i32) -> f64 {
    sigma * 2.0_f64.powf(grid as f64 / 4.0)
}

/// k-space cutoff of the wide part
pub(crate) fn wide_k_cutoff(wide: f64, accuracy: f64) -> f64 {
    (2.0 * (margins::K_SCALE / accuracy).ln()).sqrt() / wide
}

impl LodeSphericalExpansion {
    /// The split tables for grid index j and `margins`, built once
    pub(crate) fn split_tables(
        &self,
        grid: i32,
        margins: Margins,
    ) -> Result<Arc<EwaldSplit>, Error> {
        let key = (grid, margins);
        if let Some(split) = self.splits.tables.lock().expect("no panic").get(&key) {
            return Ok(Arc::clone(split));
        }
        let split = Arc::new(self.build_split(grid, margins)?);
        self.splits
            .tables
            .lock()
            .expect("no panic")
            .insert(key, Arc::clone(&split));
        Ok(split)
    }

    /// A split with grid index j already built, with either margins: the wide part, which
    /// does not depend on them, without building another remainder
    pub(crate) fn built_split(&self, grid: i32) -> Option<Arc<EwaldSplit>> {
        let tables = self.splits.tables.lock().expect("no panic");
        let mut of_grid = tables.range((grid, Margins::Tight)..(grid + 1, Margins::Tight));
        of_grid.next().map(|(_, split)| Arc::clone(split))
    }

    fn build_split(&self, grid: i32, margins: Margins) -> Result<EwaldSplit, Error> {
        let parameters = &self.parameters;
        let accuracy = parameters.accuracy.expect("split calculator");
        let wide = wide_smearing(parameters.smearing, grid);
        let wide_density = SmearedPowerLaw {
            smearing: wide,
            ..self.density
        };
        let k_cutoff = wide_k_cutoff(wide, accuracy).min(NEGLIGIBLE_K_SIGMA / wide);
        // the splined k-space radial integrals must not limit the accuracy
        let spline_accuracy = parameters.spline_accuracy.map(|a| a.min(1e-2 * accuracy));
        let mut wide_part = KSpace::new(
            &self.basis,
            parameters.max_angular,
            wide_density,
            k_cutoff,
            spline_accuracy,
        );
        // the planar part of large slabs on a grid of heights, well inside the accuracy
        wide_part.planar_tolerance = Some(PLANAR_GRID_TOLERANCE * accuracy);
        if grid == 0 {
            return Ok(EwaldSplit {
                wide: wide_part,
                remainder: None,
                cutoff: 0.0,
                self_term: Vec::new(),
            });
        }

        let basis = &self.basis;
        let size = self.n_radial();
        // d_c and the largest value of each l from a scan of the exact functions over the
        // conservative range; the spline then only covers [0, d_c]
        let (cutoff, scale) = {
            let exact = PairRadialIntegral::remainder(
                basis,
                parameters.max_angular,
                self.density,
                wide,
                None,
                None,
            )?;
            let n_functions = exact.n_functions();
            let step = exact.d_max() / CUTOFF_SCAN_POINTS as f64;
            let scan: Vec<Vec<f64>> = (0..=CUTOFF_SCAN_POINTS)
                .into_par_iter()
                .map(|q| {
                    let (mut values, mut derivatives) =
                        (vec![0.0; n_functions], vec![0.0; n_functions]);
                    exact.exact(q as f64 * step, &mut values, &mut derivatives);
                    (0..=parameters.max_angular)
                        .map(|l| {
                            values[l * size..(l + 1) * size]
                                .iter()
                                .fold(0.0_f64, |m, v| m.max(v.abs()))
                        })
                        .collect()
                })
                .collect();
            let mut scale = vec![0.0_f64; parameters.max_angular + 1];
            for point in &scan {
                for (s, v) in scale.iter_mut().zip(point) {
                    *s = s.max(*v);
                }
            }
            // the largest d where some F^rem_ln exceeds r_scale ε of its l's largest value
            let last = scan.iter().rposition(|point| {
                point
                    .iter()
                    .zip(&scale)
                    .any(|(v, s)| *v > margins.r_scale() * accuracy * s)
            });
            let cutoff = last.map_or(0.0, |q| ((q + 1) as f64 * step).min(exact.d_max()));
            (cutoff, scale)
        };
        // splined (when splines are asked for at all) to 1e-2 ε of each l's own size, as the
        // errors are measured per block: `spline_accuracy` is an absolute accuracy for the
        // k-space tables, and 1e-12 would need millions of points for sharp remainders
        // (σ = 0.2 Å, p = 6), where 1e-2 ε relative needs a few thousand
        let spline_accuracy: Option<Vec<f64>> = parameters.spline_accuracy.map(|_| {
            scale
                .iter()
                .map(|s| 1e-2 * accuracy * s.max(f64::MIN_POSITIVE))
                .collect()
        });
        let remainder = PairRadialIntegral::remainder(
            basis,
            parameters.max_angular,
            self.density,
            wide,
            Some(cutoff),
            spline_accuracy.as_deref(),
        )?;

        let n_functions = remainder.n_functions();
        let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
        remainder.compute(0.0, &mut values, &mut derivatives);
        let y00 = 0.5 / std::f64::consts::PI.sqrt();
        let self_term = values[..size].iter().map(|v| v * y00).collect();
        Ok(EwaldSplit {
            wide: wide_part,
            remainder: Some(remainder),
            cutoff,
            self_term,
        })
    }

    /// Values (and strain) of one periodic system (bulk or slab) by the Ewald split, its wide
    /// part on `mesh` where given (values only); positions gradients are written into
    /// `outputs`, except the centres' own rows
    pub(crate) fn split_values(
        &self,
        split: &EwaldSplit,
        geometry: Geometry,
        mesh: Option<MeshSize>,
        free: Option<&FreeSpace>,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        let SystemTask {
            system,
            gradients,
            layout,
            outputs,
            ..
        } = task;
        // the wide part writes the positions gradient rows first, the pairs add to them
        // slabs: the 2D-periodic sum of the wide part, and a neighbour list periodic in the
        // plane only, on the internal cell (whose third vector is valid, unlike the input's)
        let mut result = match free {
            Some(free) => split.wide.open_mesh_sum(free, task)?,
            None => split.wide.values(geometry, mesh, task)?,
        };
        if result.centers.is_empty() {
            return Ok(result);
        }
        let n_types = result.n_types;
        let n_radial = self.n_radial();
        let n_features = (self.parameters.max_angular + 1).pow(2) * n_radial;

        if let Some(remainder) = &split.remainder {
            let neighbors = self.remainder_neighbors(split, system, geometry, free)?;
            let sum = PairSum {
                radial: remainder,
                system,
                type_index: &result.type_index,
                max_angular: self.parameters.max_angular,
                n_radial,
                strain: gradients.strain,
                layout,
                outputs,
            };
            let sums = sum.sum_centers(&result.centers, |c| {
                neighbors.neighbors(result.centers[c]).into_iter()
            });
            for (o, v) in result.values.iter_mut().zip(&sums.values) {
                *o += v;
            }
            for (o, v) in result.strain.iter_mut().zip(&sums.strain) {
                *o += v;
            }
            // the centre's own remainder (T = 0)
            for (c, &i) in result.centers.iter().enumerate() {
                if let Some(&t) = result.type_index.get(&system.types[i]) {
                    let start = (c * n_types + t) * n_features;
                    for (v, x) in result.values[start..].iter_mut().zip(&split.self_term) {
                        *v += x;
                    }
                }
            }

            if let Some((zero, strain_factor)) = self.removed_constant(split, system, geometry) {
                for (&a, &t) in &result.type_index {
                    let count = system.types.iter().filter(|&&x| x == a).count() as f64;
                    for c in 0..result.centers.len() {
                        let r = c * n_types + t;
                        for n in 0..n_radial {
                            let correction = -count * zero * self.kspace.radial_at_zero[n];
                            result.values[r * n_features + n] += correction;
                            if gradients.strain {
                                for (ab, factor) in strain_factor.iter().enumerate() {
                                    result.strain[(r * 9 + ab) * n_features + n] +=
                                        factor * correction;
                                }
                            }
                        }
                    }
                }
            }
        }

        Ok(result)
    }
}

impl LodeSphericalExpansion {
    /// The constant per atom of a neighbour type that the split removes from the l = 0
    /// features (times √(4π); the features get -N_a × it × Iₙ₀(0)), and the strain
    /// derivative of its cell factor relative to itself, indexed by 3α + β; None where there
    /// is none.
    ///
    /// 3D, 0 < p ≤ 3: the pure k-space sum drops k = 0, but the remainder carries its
    /// integral, ĥ(0)/V with ĥ(0) = f(σ) - f(σw); V ∂(1/V)/∂ε_αβ = -δ_αβ.
    /// Slabs, 0 < p ≤ 2: the planar convention φ(0) = 0 of the wide part; the remainder's
    /// planar average at its own sheet, K/A with K = 2π ∫ r (g_σ - g_σw) dr, is a constant the
    /// pure 2D sum does not have; A ∂(1/A)/∂ε_αβ = -(δ_αβ - n_α n_β).
    pub(crate) fn removed_constant(
        &self,
        split: &EwaldSplit,
        system: &System,
        geometry: Geometry,
    ) -> Option<(f64, [f64; 9])> {
        if geometry == Geometry::Open {
            // free space has every k, k = 0 included
            return None;
        }
        let p = self.parameters.exponent;
        let wide = split.wide_smearing();
        let (constant, strain) = if geometry == Geometry::Slab {
            if !(p > 0.0 && p <= 2.0) {
                return None;
            }
            let plane = crate::lode::slab::Plane::new(system);
            (
                self.density.planar_difference_at_zero(wide) / plane.area,
                crate::lode::slab::strain::inverse_area_strain(plane.normal),
            )
        } else {
            if !(p > 0.0 && p <= 3.0) {
                return None;
            }
            (
                self.density.fourier_difference_at_zero(wide) / system.volume(),
                [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0],
            )
        };
        Some((constant * (4.0 * std::f64::consts::PI).sqrt(), strain))
    }

    /// The cell list of the real-space remainder (images within d_c): periodic in 3D; slabs
    /// use their internal cell, whose third vector is valid unlike the input's, periodic in the
    /// plane only; open systems their box `free`, which no image within d_c reaches
    pub(crate) fn remainder_neighbors(
        &self,
        split: &EwaldSplit,
        system: &System,
        geometry: Geometry,
        free: Option<&FreeSpace>,
    ) -> Result<CellList, Error> {
        Ok(match (geometry, free) {
            (Geometry::Slab, _) => {
                let mut internal = crate::lode::slab::internal_system(system, self.basis.support());
                internal.pbc = [true, true, false];
                CellList::new(&internal, split.cutoff)
            }
            (Geometry::Open, Some(free)) => {
                let extents = crate::lode::mesh::open::extents(system);
                if (0..3).any(|d| free.system.cell[d][d] < extents[d] + split.cutoff) {
                    return Err(Error::InvalidSystem(format!(
                        "internal error: the box of an open system ({:?}) is narrower than \
                         its extent {extents:?} plus the remainder's cutoff {}",
                        free.size.dims, split.cutoff
                    )));
                }
                CellList::new(&free.system, split.cutoff)
            }
            (Geometry::Open, None) => {
                return Err(Error::InvalidSystem(
                    "internal error: an open system's split without its box".into(),
                ))
            }
            (Geometry::Bulk, _) => CellList::new(system, split.cutoff),
        })
    }

    /// Testing hook, not API: use σw = σ 2^{grid/4} for all systems instead of the cost
    /// model's choice (None: the cost model again), so that tests can compare splits. Hidden
    /// from the documentation, like the Python binding's `force_ewald_grid` that serves the
    /// same tests.
    #[doc(hidden)]
    pub fn force_ewald_grid(&self, grid: Option<i32>) {
        *self.splits.forced.lock().expect("no panic") = grid;
    }

    /// σw, the wide part's k-space cutoff and the real-space cutoff d_c the split uses for
    /// `system` (None without `accuracy` or for open systems)
    pub fn ewald_choice(
        &self,
        system: &System,
        gradients: Gradients,
    ) -> Result<Option<(f64, f64, f64)>, Error> {
        let Method::Split { grid, margins, .. } = self.plan(system, 0, gradients)?.method else {
            return Ok(None);
        };
        let split = self.split_tables(grid, margins)?;
        Ok(Some((
            split.wide_smearing(),
            split.k_cutoff(),
            split.cutoff,
        )))
    }
}

impl LodeSphericalExpansion {
    /// The mesh (points along each cell vector, B-spline order) the split sums its wide part
    /// on for the values of `system`, None where it sums over k-vectors
    pub fn mesh_choice(&self, system: &System) -> Result<Option<([usize; 3], usize)>, Error> {
        match self.plan(system, 0, Gradients::default())?.method {
            Method::Split {
                mesh: Some(size), ..
            } => Ok(Some((size.dims, size.order))),
            _ => Ok(None),
        }
    }

    /// The largest |m|/K at the reach of each cell vector of the meshes of the split with grid
    /// index j and B-splines of `order`, for 3D cells (the reach is k_c along every vector) or
    /// the internal cells (a, b, L n̂) of `slab`s (the reach is k_c along a and b, the bound K
    /// of the k_z sums along L n̂). A cell's mesh has K_d = the
    /// smallest FFT-friendly size (2, 3, 5, 7) above max(m_d / x_d, 2 ⌊m_d⌋ + 2, order) points
    /// along its vector a_d, m_d = reach_d |a_d| / 2π (what the TorchScript mesh needs to size
    /// meshes of any cell)
    pub fn mesh_fractions(&self, grid: i32, order: usize, slab: bool) -> Result<[f64; 3], Error> {
        let Some(accuracy) = self.parameters.accuracy else {
            return Err(Error::InvalidParameter("the mesh needs `accuracy`".into()));
        };
        if !crate::lode::mesh::size::ORDERS.contains(&order) {
            return Err(Error::InvalidParameter(format!(
                "the B-spline order of the mesh is one of {:?}, got {order}",
                crate::lode::mesh::size::ORDERS
            )));
        }
        let density = SmearedPowerLaw {
            smearing: wide_smearing(self.parameters.smearing, grid),
            ..self.density
        };
        let geometry = if slab { Geometry::Slab } else { Geometry::Bulk };
        let k_cutoff = self.split_k_cutoff(grid);
        let set = KSet::of(geometry, k_cutoff, || self.split_slab_k_bound(grid));
        Ok(MeshSize::fractions_of(
            &density,
            self.parameters.max_angular,
            set,
            accuracy,
            order,
        ))
    }
}

impl LodeSphericalExpansion {
    /// What sizes the box of every open system on the mesh of the split with grid index j,
    /// the wide margins of large clusters or the tight ones (`wide`, lode/ewald/margins.rs)
    /// and B-splines of `order` (lode/mesh/open.rs; what the TorchScript module needs to build
    /// the box of any cluster)
    pub fn free_space_layout(
        &self,
        grid: i32,
        wide: bool,
        order: usize,
    ) -> Result<FreeSpaceLayout, Error> {
        // the same checks as the meshes of periodic systems
        self.mesh_fractions(grid, order, false)?;
        let parameters = self.free_space_parameters(grid, Margins::from_wide(wide));
        Ok(FreeSpaceLayout::new(&parameters, order))
    }
}

impl EwaldSplit {
    /// F^rem_0n(0) Y₀₀, the centre's own remainder density (empty without remainder)
    pub fn self_term(&self) -> &[f64] {
        &self.self_term
    }

    pub fn wide_smearing(&self) -> f64 {
        self.wide.density.smearing
    }

    pub fn k_cutoff(&self) -> f64 {
        self.wide.k_cutoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lode::Selection;
    use crate::output::Descriptor;

    fn calculator(sigma: f64, p: f64, spline: f64, extra: &str) -> LodeSphericalExpansion {
        LodeSphericalExpansion::from_json(&format!(
            r#"{{
            "density": {{"type": "SmearedPowerLaw", "smearing": {sigma}, "exponent": {p},
                         "center_atom_weight": 0.4}},
            "basis": {{"type": "TensorProduct", "max_angular": 3, "spline_accuracy": {spline},
                      "radial": {{"type": "Gto", "max_radial": 3, "radius": 3.5}}}}
            {extra}
        }}"#
        ))
        .unwrap()
    }

    /// A triclinic two-type cell smaller than the real-space cutoffs
    fn cell() -> System {
        let mut seed = 12345_u64;
        let mut random = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let cell = [[5.2, 0.0, 0.0], [1.1, 4.9, 0.0], [-0.6, 0.7, 5.5]];
        let positions = (0..6)
            .map(|_| {
                let f = [random(), random(), random()];
                [0, 1, 2].map(|a| (0..3).map(|b| f[b] * cell[b][a]).sum::<f64>())
            })
            .collect();
        System {
            types: vec![11, 17, 11, 17, 17, 11],
            positions,
            cell,
            pbc: [true; 3],
        }
    }

    fn all() -> Gradients {
        Gradients {
            positions: true,
            strain: true,
        }
    }

    /// max |a - b| / max |b| over the values and gradients of each block
    fn worst_error(a: &Descriptor, b: &Descriptor) -> f64 {
        let mut worst = 0.0_f64;
        for (x, y) in a.blocks.iter().zip(&b.blocks) {
            assert_eq!(x.key, y.key);
            let mut arrays = vec![(&x.values, &y.values)];
            if let (Some(gx), Some(gy)) = (&x.positions, &y.positions) {
                arrays.push((&gx.values, &gy.values));
            }
            if let (Some(gx), Some(gy)) = (&x.strain, &y.strain) {
                arrays.push((&gx.values, &gy.values));
            }
            for (u, v) in arrays {
                let scale = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                let error = u
                    .iter()
                    .zip(v)
                    .fold(0.0_f64, |m, (p, q)| m.max((p - q).abs()));
                if scale > 0.0 {
                    worst = worst.max(error / scale);
                }
            }
        }
        worst
    }

    #[test]
    fn split_equals_converged_k_space() {
        let system = cell();
        // (σ, p, ε, grid indices j of σw = σ 2^{j/4}); j = 0 is the pure k-space sum
        let cases = [
            (0.5, 1.0, 1e-4, &[0, 8][..]),
            (1.0, 1.0, 1e-4, &[3, 8]),
            (2.0, 1.0, 1e-4, &[3]),
            (1.0, 6.0, 1e-4, &[0, 8]),
            (0.5, 0.5, 1e-4, &[8]),
            (1.0, 4.3, 1e-4, &[3]),
            (0.7, 3.0, 1e-4, &[8]),
            (0.6, 0.0, 1e-4, &[3]),
            (0.5, 1.0, 1e-8, &[3]),
            (1.0, 6.0, 1e-8, &[8]),
        ];
        let mut errors = Vec::new();
        let mut failures = 0;
        let shortest = 2.0 * std::f64::consts::PI / 5.5;
        for (sigma, p, accuracy, grids) in cases {
            let spline = if accuracy < 1e-6 { 1e-10 } else { 1e-8 };
            let reference = calculator(
                sigma,
                p,
                spline,
                &format!(r#", "k_cutoff": {}"#, 12.0 / sigma),
            )
            .compute(std::slice::from_ref(&system), all(), &Selection::default())
            .unwrap();
            {
                let split = calculator(sigma, p, spline, &format!(r#", "accuracy": {accuracy}"#));
                for &grid in grids {
                    // the wide part needs k-vectors
                    let wide = wide_smearing(sigma, grid);
                    if wide_k_cutoff(wide, accuracy) < shortest {
                        continue;
                    }
                    split.force_ewald_grid(Some(grid));
                    let result = split
                        .compute(std::slice::from_ref(&system), all(), &Selection::default())
                        .unwrap();
                    let error = worst_error(&result, &reference);
                    let (wide, k_cutoff, cutoff) =
                        split.ewald_choice(&system, all()).unwrap().unwrap();
                    println!(
                        "sigma={sigma} p={p} accuracy={accuracy:e} sigma_w={wide:.3} \
                         k_c={k_cutoff:.2} d_c={cutoff:.2}: error {error:.2e}"
                    );
                    errors.push(format!(
                        "sigma={sigma} p={p} grid={grid} accuracy={accuracy:e}: {error:e}"
                    ));
                    if error > accuracy {
                        failures += 1;
                    }
                }
            }
        }
        assert_eq!(failures, 0, "{errors:#?}");
    }
}
