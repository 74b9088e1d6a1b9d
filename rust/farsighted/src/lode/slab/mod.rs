//! Slabs: systems periodic along two cell vectors a, b (pbc true for exactly two of them, as in
//! ASE; the third cell vector is ignored). With n̂ the unit normal of a and b and A = |a × b|,
//! the potential splits into
//!
//! - its k∥ ≠ 0 Fourier components, computed by the 3D k-space sum on an internal cell
//!   (a, b, L n̂), whose reciprocal vectors b₁, b₂ lie in the plane and b₃ = 2π n̂ / L. The
//!   images along n̂ this adds contribute like e^{-|k∥| gap}, |k∥| ≥ 2π / max(|a|, |b|): L
//!   leaves a gap of vacuum that makes them smaller than e^{-37} ≈ 1e-16 relative;
//! - its k∥ = 0 part, exact: the planar average of the potential of every atom j,
//!   (1/A) φ(n̂·r + zᵢⱼ), zᵢⱼ = n̂·(rᵢ - rⱼ), projected as (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂)
//!   (lode/slab/planar.rs). For 0 < p ≤ 2 the 2D lattice sum diverges; the convention φ(0) = 0
//!   drops one infinite constant per atom.
//!
//! The truncation of the k∥ ≠ 0 part is a rule on the physical slab alone: every 2D
//! reciprocal-lattice vector 0 < |k∥| < k_cutoff, and for each of them the sum over k_z (spacing
//! 2π/L) to convergence, |k| < max(k_cutoff, K), with K the wave number beyond which every
//! k² |ĝ(k) Iₗₙ(k)| has less than 1e-16 of its integral (`converged_k_bound`, once per
//! calculator). The k_z sums are then those of the continuous transform, independent of L
//! (which depends on the atoms' extent and on the cell) beyond the images' e^{-37}, so that
//! positions and strain gradients computed at fixed L are the derivatives of the values; a
//! supercell adds k∥ where the replicated structure factor vanishes, and gives the features of
//! its cell to rounding. (A sphere |k| < k_cutoff, as in 3D, would make the values depend on
//! where the k_z grid falls with respect to the sphere: on L, at the level of the summand at
//! k_cutoff.) The radial integrals of slabs reach max(k_cutoff, K) (`slab_radial`).
//!
//! With the Ewald split, the k∥ ≠ 0 part of the wide part can be summed on a mesh of the
//! internal cell instead (lode/mesh/, `KSet::Slab`: the same k-vectors, values and backward
//! products), the planar part staying as it is.
//!
//! The centre's own density and `center_atom_weight` are handled as in 3D. Positions
//! gradients: the k∥ ≠ 0 part through the 3D pair code, the planar part through Pₗₙ' n̂.
//! Strain gradients: the k∥ ≠ 0 part by the 3D code on the internal cell, the planar part in
//! lode/slab/strain.rs; backward products in lode/slab/backward.rs.

pub(crate) mod backward;
pub(crate) mod planar;
pub(crate) mod planar_grid;
pub(crate) mod strain;

use std::borrow::Cow;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::basis::GtoBasis;
use crate::density::SmearedPowerLaw;
use crate::lode::kspace::kvectors::max_indices;
use crate::lode::kspace::KSpace;
use crate::lode::mesh::MeshSize;
use crate::lode::metadata::{SystemTask, SystemValues};
use crate::lode::plan::Geometry;
use crate::lode::slab::planar::{PlanarProjection, PlanarTable};
use crate::lode::slab::strain::{PlanarStrainInput, PlaneStrain};
use crate::lode::{KSpaceRadialIntegral, KVectors, RadialProjector, NEGLIGIBLE_K_SIGMA};
use crate::math::harmonics::{lm_index, SolidHarmonics};
use crate::{Error, System};

/// ln(1e16): the images along n̂ are further than this many 1/|k∥|
const IMAGE_DECAY_LENGTHS: f64 = 37.0;

/// The k_z sums stop at the bound K beyond which every radial function has at most this
/// fraction of its k-space weight ∫ k² |ĝ(k) Iₗₙ(k)| dk (`converged_k_bound`).
const NEGLIGIBLE_TAIL: f64 = 1e-16;

/// Midpoints of the scan of k² |ĝ(k) Iₗₙ(k)| over (0, 10.2/σ) that sets K (K is rounded up to
/// the scan's resolution, 10.2/σ/256)
const BOUND_SCAN_POINTS: usize = 256;

fn cross(u: [f64; 3], v: [f64; 3]) -> [f64; 3] {
    [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ]
}

fn norm(u: [f64; 3]) -> f64 {
    (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt()
}

fn dot(u: [f64; 3], v: [f64; 3]) -> f64 {
    u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
}

/// The periodic vectors of a slab, its unit normal and the area of its cell
pub(crate) struct Plane {
    a: [f64; 3],
    b: [f64; 3],
    pub normal: [f64; 3],
    pub area: f64,
}

impl Plane {
    pub(crate) fn new(system: &System) -> Plane {
        let mut periodic = (0..3).filter(|&d| system.pbc[d]).map(|d| system.cell[d]);
        let a = periodic.next().unwrap_or([0.0; 3]);
        let b = periodic.next().unwrap_or([0.0; 3]);
        let c = cross(a, b);
        let area = norm(c);
        Plane {
            a,
            b,
            normal: c.map(|x| x / area),
            area,
        }
    }

    /// The narrowest width of the cell in its plane: the distance between the lattice lines
    /// of a along b is area / |a|, and conversely
    pub(crate) fn narrowest(&self) -> f64 {
        self.area / norm(self.a).max(norm(self.b))
    }
}

/// Check that a system periodic along two cell vectors can be used: its plane, the extent of
/// its atoms along the normal, and the system-wide checks on its internal 3D cell
pub(crate) fn validate_slab(system: &System, index: usize) -> Result<(), Error> {
    let name = format!("system {index}");
    let plane = Plane::new(system);
    if plane.a.iter().chain(&plane.b).any(|x| !x.is_finite()) {
        return Err(Error::InvalidSystem(format!(
            "{name}: the periodic cell vectors of this slab contain NaN or infinite values"
        )));
    }
    let lengths = norm(plane.a) * norm(plane.b);
    if !(lengths > 0.0 && plane.area > 1e-8 * lengths) {
        return Err(Error::InvalidSystem(format!(
            "{name}: the two periodic cell vectors of this slab (pbc={:?}) are zero or parallel",
            system.pbc
        )));
    }
    let heights = system.positions.iter().map(|&r| dot(r, plane.normal));
    let (low, high) = heights.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), h| {
        (low.min(h), high.max(h))
    });
    let finite = system.positions.iter().flatten().all(|x| x.is_finite());
    if !system.positions.is_empty() && finite && !(high - low).is_finite() {
        return Err(Error::InvalidSystem(format!(
            "{name}: the atoms of this slab are spread over more than 1e308 Å along its normal"
        )));
    }
    internal_system(system, 0.0).validate_periodic(index)
}

/// The 3D cell (a, b, L n̂) whose k∥ ≠ 0 sum is that of the slab, `support` being the radius
/// beyond which the basis is negligible
pub(crate) fn internal_system(system: &System, support: f64) -> System {
    let plane = Plane::new(system);
    let heights = system.positions.iter().map(|&r| dot(r, plane.normal));
    let extent =
        heights.clone().fold(f64::NEG_INFINITY, f64::max) - heights.fold(f64::INFINITY, f64::min);
    let extent = if extent.is_finite() { extent } else { 0.0 };
    let longest = norm(plane.a).max(norm(plane.b));
    let length =
        extent + support + IMAGE_DECAY_LENGTHS * longest / (2.0 * std::f64::consts::PI) + 1.0;
    System {
        types: system.types.clone(),
        positions: system.positions.clone(),
        cell: [plane.a, plane.b, plane.normal.map(|x| length * x)],
        pbc: [true; 3],
    }
}

/// K, the wave number beyond which the k_z sums of the k∥ ≠ 0 part are converged: the
/// smallest K such that for every (l, n) the tail ∫_K^∞ k² |ĝ(k) Iₗₙ(k)| dk is at most
/// `NEGLIGIBLE_TAIL` of the whole integral (by the midpoint rule on a scan up to 10.2/σ, where
/// ĝ has fallen below 1e-22 of its leading terms). It depends on the density and the basis
/// only: the same K serves every slab, a cell and its supercells alike.
pub(crate) fn converged_k_bound(
    basis: &GtoBasis,
    max_angular: usize,
    density: SmearedPowerLaw,
) -> f64 {
    let k_max = NEGLIGIBLE_K_SIGMA / density.smearing;
    let projector = RadialProjector::new(basis, max_angular, k_max, density.smearing);
    let n_functions = projector.n_functions();
    let step = k_max / BOUND_SCAN_POINTS as f64;
    // k² |ĝ Iₗₙ| at the midpoints, (point, function)
    let weights: Vec<Vec<f64>> = (0..BOUND_SCAN_POINTS)
        .into_par_iter()
        .map(|q| {
            let k = (q as f64 + 0.5) * step;
            let (mut values, mut derivatives) = (vec![0.0; n_functions], vec![0.0; n_functions]);
            projector.bessel_transform(k, &mut values, &mut derivatives);
            let g = density.fourier(k).0;
            values.iter().map(|i| (k * k * g * i).abs()).collect()
        })
        .collect();
    let mut bound = 0.0_f64;
    for f in 0..n_functions {
        let total: f64 = weights.iter().map(|w| w[f]).sum();
        if total.is_nan() || total <= 0.0 {
            continue;
        }
        // the first point whose tail (itself included) exceeds the negligible part
        let mut tail = 0.0;
        let mut last = 0;
        for (q, w) in weights.iter().enumerate().rev() {
            tail += w[f];
            if tail > NEGLIGIBLE_TAIL * total {
                last = q;
                break;
            }
        }
        bound = bound.max((last + 1) as f64 * step);
    }
    bound
}

/// The k-vectors of the k∥ ≠ 0 part on the internal cell (a, b, L n̂), whose reciprocal
/// vectors b₁, b₂ lie in the plane and b₃ = 2π n̂ / L: one of each ±k pair with
/// 0 < |k∥| < `k_cutoff` and |k| < `bound` (≥ `k_cutoff`). The in-plane truncation is the
/// physical rule; the k_z sums run to the converged bound K (`converged_k_bound`), so that
/// they do not depend on L.
pub(crate) fn slab_k_vectors(internal: &System, k_cutoff: f64, bound: f64) -> KVectors {
    let b = internal.reciprocal_cell();
    let in_plane = max_indices(internal, k_cutoff);
    let max = [in_plane[0], in_plane[1], max_indices(internal, bound)[2]];
    let mut indices = Vec::new();
    let mut vectors = Vec::new();
    for n1 in 0..=max[0] {
        let n2_start = if n1 == 0 { 1 } else { -max[1] };
        for n2 in n2_start..=max[1] {
            let parallel = [0, 1, 2].map(|d| n1 as f64 * b[0][d] + n2 as f64 * b[1][d]);
            for n3 in -max[2]..=max[2] {
                let k = [0, 1, 2].map(|d| parallel[d] + n3 as f64 * b[2][d]);
                if in_slab_k_set(parallel, k, k_cutoff, bound) {
                    indices.push([n1, n2, n3]);
                    vectors.push(k);
                }
            }
        }
    }
    KVectors {
        indices,
        vectors,
        max_index: max,
    }
}

/// The rule of the k∥ ≠ 0 part for k = k∥ + k_z n̂, `parallel` = k∥: 0 < |k∥| < `k_cutoff`
/// and |k| < `bound` (`slab_k_vectors`, and the kernel of the mesh, lode/mesh/)
pub(crate) fn in_slab_k_set(parallel: [f64; 3], k: [f64; 3], k_cutoff: f64, bound: f64) -> bool {
    let parallel2 = dot(parallel, parallel);
    parallel2 > 0.0 && parallel2 < k_cutoff * k_cutoff && dot(k, k) < bound * bound
}

/// max(k_cutoff, K): the bound of the k_z sums of the k∥ ≠ 0 part for `density` summed to
/// `k_cutoff` (`converged_k_bound`)
pub(crate) fn slab_k_bound(
    basis: &GtoBasis,
    max_angular: usize,
    density: SmearedPowerLaw,
    k_cutoff: f64,
) -> f64 {
    converged_k_bound(basis, max_angular, density).max(k_cutoff)
}

/// An estimate of the number of half-space k-vectors of `slab_k_vectors`, to check memory:
/// the cylinder |k∥| < k_c inside the ball |k| < K has volume (4π/3)(K³ - (K² - k_c²)^{3/2})
pub(crate) fn estimated_k_count(internal: &System, k_cutoff: f64, bound: f64) -> f64 {
    let k_cutoff = k_cutoff.min(bound);
    let volume = 4.0 / 3.0
        * std::f64::consts::PI
        * (bound.powi(3) - (bound * bound - k_cutoff * k_cutoff).powf(1.5));
    let cell = (2.0 * std::f64::consts::PI).powi(3) / internal.volume();
    0.5 * volume / cell + 100.0
}

/// The system whose k-vectors are summed: the internal cell for slabs, the system otherwise
pub(crate) fn kspace_system(system: &System, geometry: Geometry, support: f64) -> Cow<'_, System> {
    match geometry {
        Geometry::Slab => Cow::Owned(internal_system(system, support)),
        Geometry::Bulk | Geometry::Open => Cow::Borrowed(system),
    }
}

/// The heights n̂·rⱼ of the atoms, and the largest difference between them
fn heights(system: &System, plane: &Plane) -> (Vec<f64>, f64) {
    let heights: Vec<f64> = system
        .positions
        .iter()
        .map(|&r| dot(r, plane.normal))
        .collect();
    let thickness = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - heights.iter().copied().fold(f64::INFINITY, f64::min);
    (heights, thickness)
}

/// The area of a slab's cell and the extent of its atoms along the normal (the cost model)
pub(crate) fn area_and_thickness(system: &System) -> (f64, f64) {
    let plane = Plane::new(system);
    let (_, thickness) = heights(system, &plane);
    (plane.area, thickness)
}

/// What slabs need beyond the 3D tables, built on first use: the bound max(k_cutoff, K) of
/// the k_z sums, the radial integrals Iₗₙ(k) up to it, and the planar projections Pₗₙ(z)
#[derive(Default)]
pub(crate) struct SlabCache {
    bound: OnceLock<f64>,
    radial: OnceLock<Result<KSpaceRadialIntegral, Error>>,
    planar: OnceLock<Result<PlanarProjection, Error>>,
}

impl KSpace {
    /// max(k_cutoff, K): the k∥ ≠ 0 part of slabs sums the k with 0 < |k∥| < k_cutoff and |k|
    /// below this bound (`converged_k_bound`)
    pub(crate) fn slab_k_bound(&self) -> f64 {
        *self.slab.bound.get_or_init(|| {
            slab_k_bound(&self.basis, self.max_angular, self.density, self.k_cutoff)
        })
    }

    /// Iₗₙ(k) on [0, max(k_cutoff, K)], splined or exact like the 3D tables
    pub(crate) fn slab_radial(&self) -> Result<&KSpaceRadialIntegral, Error> {
        let radial = self.slab.radial.get_or_init(|| {
            let bound = self.slab_k_bound();
            let projector =
                RadialProjector::new(&self.basis, self.max_angular, bound, self.density.smearing);
            KSpaceRadialIntegral::new(projector, bound, self.spline_accuracy)
        });
        radial.as_ref().map_err(Clone::clone)
    }

    /// Pₗₙ(z), built (once) on first use
    pub(crate) fn planar(&self) -> Result<&PlanarProjection, Error> {
        let projection = self.slab.planar.get_or_init(|| {
            PlanarProjection::new(
                &self.basis,
                self.max_angular,
                self.density,
                self.spline_accuracy,
            )
        });
        projection.as_ref().map_err(Clone::clone)
    }

    /// Build the tables that the slabs among `systems` need before they are computed in
    /// parallel: the radial integrals to max(k_cutoff, K) and Pₗₙ over the largest thickness,
    /// and beyond it over the samples of a grid of heights where the k∥ ≠ 0 part is on a mesh
    /// (`on_mesh`, lode/slab/planar_grid.rs). (Built inside the parallel tasks, their own
    /// parallel loops could make a task wait for itself.)
    pub(crate) fn prepare_slabs<'a>(
        &self,
        systems: impl IntoIterator<Item = &'a System>,
        on_mesh: bool,
    ) -> Result<(), Error> {
        let thickness = systems
            .into_iter()
            .map(|system| heights(system, &Plane::new(system)).1)
            .reduce(f64::max);
        if let Some(thickness) = thickness {
            self.slab_radial()?;
            let range = match on_mesh {
                true => self.planar_range(thickness),
                false => thickness,
            };
            self.planar()?.covering(range);
        }
        Ok(())
    }

    /// The heights n̂·rⱼ of the atoms and the planar kernels Pₗₙ(z) over their range
    pub(crate) fn planar_projection(
        &self,
        system: &System,
        plane: &Plane,
    ) -> Result<(Vec<f64>, PlanarTable<'_>), Error> {
        let (heights, thickness) = heights(system, plane);
        Ok((heights, self.planar()?.covering(thickness)))
    }

    /// Values of one slab: the k∥ ≠ 0 part on the internal cell, over its k-vectors or on
    /// `mesh` (lode/mesh/, values only), and the planar part; positions gradients are written
    /// into `outputs` directly, except the centres' own rows
    pub(crate) fn slab_values(
        &self,
        mesh: Option<MeshSize>,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        let SystemTask {
            system,
            gradients,
            layout,
            outputs,
            ..
        } = task;
        let internal = internal_system(system, self.basis.support());
        let internal_task = SystemTask {
            system: &internal,
            ..task
        };
        let mut result = match mesh {
            Some(size) => self.mesh_sum(Geometry::Slab, size, internal_task)?,
            None => {
                let kvectors = slab_k_vectors(&internal, self.k_cutoff, self.slab_k_bound());
                self.sum(self.slab_radial()?, internal_task, &kvectors)
            }
        };
        if result.centers.is_empty() {
            return Ok(result);
        }
        if gradients.strain {
            result.subtract_volume_factor();
        }

        let plane = Plane::new(system);
        let (heights, projection) = self.planar_projection(system, &plane)?;
        let max_angular = self.max_angular;
        let mut harmonics = SolidHarmonics::new(max_angular);
        harmonics.compute(plane.normal);
        let y: Vec<f64> = harmonics.values.iter().map(|v| v / plane.area).collect();

        let n_radial = self.n_radial;
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let n_types = result.n_types;
        let type_index = &result.type_index;
        let n_functions = projection.n_functions();
        // large slabs whose k∥ ≠ 0 part is on a mesh: the planar part on a grid of heights
        let on_mesh = mesh.is_some() && !gradients.positions && !gradients.strain;
        if let Some(grid) = self.planar_grid(on_mesh, &heights) {
            let type_of: Vec<Option<usize>> = system
                .types
                .iter()
                .map(|t| type_index.get(t).copied())
                .collect();
            self.add_planar_on_grid(
                &grid,
                &heights,
                &type_of,
                (&result.centers, n_types),
                &y,
                &mut result.values,
            );
            return Ok(result);
        }
        let centers = &result.centers;
        result
            .values
            .par_chunks_mut(n_types * n_features)
            .zip(centers.par_iter())
            .for_each_init(
                || (vec![0.0; n_functions], vec![0.0; n_functions]),
                |(values, derivatives), (out, &i)| {
                    for (j, t) in system.types.iter().enumerate() {
                        let Some(&t_index) = type_index.get(t) else {
                            continue;
                        };
                        projection.compute(heights[i] - heights[j], values, derivatives);
                        let row = &mut out[t_index * n_features..(t_index + 1) * n_features];
                        for l in 0..=max_angular {
                            for m in -(l as isize)..=(l as isize) {
                                let lm = lm_index(l, m);
                                for n in 0..n_radial {
                                    row[lm * n_radial + n] += values[l * n_radial + n] * y[lm];
                                }
                            }
                        }
                        let Some(layout) = layout else {
                            continue;
                        };
                        if j == i {
                            continue;
                        }
                        // ∂/∂rⱼ of Pₗₙ(n̂·(rᵢ - rⱼ)) Yₗₘ(n̂) / A = -Pₗₙ' Yₗₘ n̂ / A
                        for &(b, l) in layout.blocks(system.types[i], *t) {
                            let Some(row) = layout.row(system, b, *t, i, j) else {
                                continue;
                            };
                            let output =
                                outputs[b].as_ref().expect("block has positions gradients");
                            // SAFETY: rows of centre i are only written by this task, after
                            // the k-space part of this system was written
                            let out = unsafe { output.row(row) };
                            let size = (2 * l + 1) * n_radial;
                            for alpha in 0..3 {
                                for m in -(l as isize)..=(l as isize) {
                                    let lm = lm_index(l, m);
                                    let column = (m + l as isize) as usize * n_radial;
                                    for n in 0..n_radial {
                                        out[alpha * size + column + n] -= derivatives
                                            [l * n_radial + n]
                                            * y[lm]
                                            * plane.normal[alpha];
                                    }
                                }
                            }
                        }
                    }
                },
            );
        if gradients.strain {
            let atom_type_index: Vec<Option<usize>> = system
                .types
                .iter()
                .map(|t| type_index.get(t).copied())
                .collect();
            let input = PlanarStrainInput {
                projection: &projection,
                plane: &PlaneStrain::new(plane.normal, plane.area, max_angular),
                heights: &heights,
                atom_type_index: &atom_type_index,
                centers,
                n_types,
                max_angular,
                n_radial,
            };
            input.add_strain(&mut result.strain);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockData, Gradients, LodeSphericalExpansion, Selection};

    fn calculator() -> LodeSphericalExpansion {
        LodeSphericalExpansion::from_json(
            r#"{"density": {"type": "SmearedPowerLaw", "smearing": 0.8, "exponent": 1},
                "basis": {"type": "TensorProduct", "max_angular": 2,
                          "radial": {"type": "Gto", "max_radial": 2, "radius": 3.0}}}"#,
        )
        .unwrap()
    }

    fn slab(pbc: [bool; 3]) -> System {
        System {
            types: vec![1, 8],
            positions: vec![[0.1, 0.2, 0.0], [1.5, 2.0, 1.2]],
            cell: [[4.0, 0.0, 0.0], [1.0, 3.5, 0.0], [0.0; 3]],
            pbc,
        }
    }

    fn error(system: System, gradients: Gradients) -> String {
        calculator()
            .compute(&[system], gradients, &Selection::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn clear_errors() {
        let none = Gradients::default();
        assert!(error(slab([true, false, false]), none).contains("wires"));
        let mut parallel = slab([true, true, false]);
        parallel.cell[1] = [-2.0, 0.0, 0.0];
        assert!(error(parallel, none).contains("zero or parallel"));
        let mut nan = slab([true, true, false]);
        nan.cell[0][1] = f64::NAN;
        assert!(error(nan, none).contains("NaN"));
        let blocks: Vec<BlockData> = Vec::new();
        let wire = calculator()
            .backward(&[slab([false, true, false])], blocks)
            .unwrap_err()
            .to_string();
        assert!(wire.contains("wires"));
    }

    #[test]
    fn periodic_vectors_in_any_position() {
        // the same slab with its periodic vectors as (a, b) or (a, c): same features
        let calculator = calculator();
        let mut other = slab([true, false, true]);
        other.cell = [other.cell[0], [0.0; 3], other.cell[1]];
        let none = Gradients::default();
        let selection = Selection::default();
        let first = calculator
            .compute(&[slab([true, true, false])], none, &selection)
            .unwrap();
        let second = calculator.compute(&[other], none, &selection).unwrap();
        for (a, b) in first.blocks.iter().zip(&second.blocks) {
            for (x, y) in a.values.iter().zip(&b.values) {
                assert!((x - y).abs() < 1e-12 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
    }

    /// The k-vectors of the k∥ ≠ 0 part: one of each ±k pair, all those with
    /// 0 < |k∥| < k_cutoff and |k| < bound, and the same k∥ for every L
    #[test]
    fn slab_k_vectors_follow_the_rule() {
        let system = slab([true, true, false]);
        let (k_cutoff, bound) = (3.0, 7.0);
        let in_plane = |k: &[f64; 3]| (k[0] * k[0] + k[1] * k[1]).sqrt();
        let mut planes = Vec::new();
        for support in [0.0, 5.3] {
            let internal = internal_system(&system, support);
            let kvectors = slab_k_vectors(&internal, k_cutoff, bound);
            let mut seen = std::collections::BTreeSet::new();
            for (index, k) in kvectors.indices.iter().zip(&kvectors.vectors) {
                assert!(in_plane(k) > 0.0 && in_plane(k) < k_cutoff);
                assert!(norm(*k) < bound);
                assert!(seen.insert(*index) && !seen.contains(&index.map(|n| -n)));
            }
            // every k of the rule is there, by brute force over a larger box of indices
            let b = internal.reciprocal_cell();
            let mut count = 0;
            for n1 in -20_i32..=20 {
                for n2 in -20_i32..=20 {
                    for n3 in -400_i32..=400 {
                        let k = [0, 1, 2].map(|d| {
                            n1 as f64 * b[0][d] + n2 as f64 * b[1][d] + n3 as f64 * b[2][d]
                        });
                        let p = in_plane(&k);
                        if p > 0.0 && p < k_cutoff && norm(k) < bound {
                            count += 1;
                        }
                    }
                }
            }
            assert_eq!(2 * kvectors.indices.len(), count);
            let mut parallel: Vec<[i64; 2]> = kvectors
                .vectors
                .iter()
                .map(|k| [(k[0] * 1e9).round() as i64, (k[1] * 1e9).round() as i64])
                .collect();
            parallel.dedup();
            planes.push(parallel);
        }
        assert_eq!(planes[0], planes[1]);
    }

    /// K: the k-space weight of every radial function beyond it is negligible, and it is
    /// where the Gaussian factor of ĝ has fallen to ~1e-15
    #[test]
    fn converged_bound() {
        let calculator = calculator();
        let bound = converged_k_bound(&calculator.basis, 2, calculator.density);
        let sigma = calculator.density.smearing;
        assert!(
            bound * sigma > 7.0 && bound * sigma < NEGLIGIBLE_K_SIGMA,
            "{bound}"
        );
        assert_eq!(calculator.kspace.slab_k_bound(), bound);
        let radial = calculator.kspace.slab_radial().unwrap();
        assert!(radial.spline().unwrap().x_max() >= bound);
    }

    /// A slab and its supercells: the same features, to rounding
    #[test]
    fn supercells_give_the_cell_features() {
        let system = slab([true, true, false]);
        for k_cutoff in [3.0, 6.0] {
            let calculator = LodeSphericalExpansion::from_json(&format!(
                r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 0.8, "exponent": 1}},
                    "basis": {{"type": "TensorProduct", "max_angular": 2,
                              "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}},
                    "k_cutoff": {k_cutoff}}}"#
            ))
            .unwrap();
            let n = system.size() as i32;
            let selection = Selection {
                keys: None,
                samples: Some((0..n).map(|i| [0, i]).collect()),
            };
            let reference = calculator
                .compute(
                    std::slice::from_ref(&system),
                    Gradients::default(),
                    &selection,
                )
                .unwrap();
            for (repeat, other) in [(2, 1), (3, 0)] {
                let mut supercell = system.clone();
                supercell.cell[other] = supercell.cell[other].map(|x| repeat as f64 * x);
                for copy in 1..repeat {
                    for (&t, &r) in system.types.iter().zip(&system.positions) {
                        supercell.types.push(t);
                        supercell
                            .positions
                            .push([0, 1, 2].map(|d| r[d] + copy as f64 * system.cell[other][d]));
                    }
                }
                let result = calculator
                    .compute(&[supercell], Gradients::default(), &selection)
                    .unwrap();
                let largest = |values: &[f64]| values.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                let overall = reference
                    .blocks
                    .iter()
                    .fold(0.0_f64, |m, b| m.max(largest(&b.values)));
                for (a, b) in result.blocks.iter().zip(&reference.blocks) {
                    assert_eq!(a.key, b.key);
                    // blocks that vanish by symmetry compare to the largest feature
                    let scale = largest(&b.values).max(1e-3 * overall);
                    for (x, y) in a.values.iter().zip(&b.values) {
                        assert!(
                            (x - y).abs() < 1e-12 * scale,
                            "k_cutoff={k_cutoff} {:?}: {x} vs {y}",
                            a.key
                        );
                    }
                }
            }
        }
    }
}
