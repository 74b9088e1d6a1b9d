//! Slabs: systems periodic along two cell vectors a, b (pbc true for exactly two of them, as in
//! ASE; the third cell vector is ignored). With n̂ the unit normal of a and b and A = |a × b|,
//! the potential splits into
//!
//! - its k∥ ≠ 0 Fourier components, computed by the 3D k-space sum on an internal cell
//!   (a, b, L n̂) without the k-vectors of zero in-plane component. The images along n̂ this
//!   adds contribute like e^{-|k∥| gap}, |k∥| ≥ 2π / max(|a|, |b|): L leaves a gap of vacuum
//!   that makes them smaller than e^{-37} ≈ 1e-16 relative;
//! - its k∥ = 0 part, exact: the planar average of the potential of every atom j,
//!   (1/A) φ(n̂·r + zᵢⱼ), zᵢⱼ = n̂·(rᵢ - rⱼ), projected as (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂)
//!   (lode/planar.rs). For 0 < p ≤ 2 the 2D lattice sum diverges; the convention φ(0) = 0
//!   drops one infinite constant per atom.
//!
//! The centre's own density and `center_atom_weight` are handled as in 3D. Positions
//! gradients: the k∥ ≠ 0 part through the 3D pair code, the planar part through Pₗₙ' n̂.
//! Strain gradients: the k∥ ≠ 0 part by the 3D code on the internal cell, the planar part in
//! lode/slab_strain.rs; backward products in lode/slab_backward.rs.

use std::borrow::Cow;

use rayon::prelude::*;

use super::planar::PlanarProjection;
use super::slab_strain::{PlanarStrainInput, PlaneStrain};
use super::{KSpaceRadialIntegral, KVectors, LodeSphericalExpansion, SystemTask, SystemValues};
use crate::math::harmonics::{lm_index, SolidHarmonics};
use crate::{Error, System};

/// ln(1e16): the images along n̂ are further than this many 1/|k∥|
const IMAGE_DECAY_LENGTHS: f64 = 37.0;

/// Whether the system is periodic along exactly two cell vectors
pub(crate) fn is_slab(system: &System) -> bool {
    system.pbc.iter().filter(|&&p| p).count() == 2
}

/// Whether the system is periodic in one or two directions only
pub(crate) fn is_mixed(system: &System) -> bool {
    system.pbc != [true; 3] && system.pbc != [false; 3]
}

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
pub(super) struct Plane {
    a: [f64; 3],
    b: [f64; 3],
    pub normal: [f64; 3],
    pub area: f64,
}

impl Plane {
    pub(super) fn new(system: &System) -> Plane {
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
}

/// Check that a system periodic in some directions only can be used, before the system-wide
/// checks of its internal 3D cell
pub(crate) fn validate_mixed(system: &System, index: usize) -> Result<(), Error> {
    let name = format!("system {index}");
    if !is_slab(system) {
        return Err(Error::InvalidSystem(format!(
            "{name}: systems periodic in one direction only (wires, pbc={:?}) are not implemented; \
             use two periodic directions (slabs), three, or none",
            system.pbc
        )));
    }
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
pub(super) fn internal_system(system: &System, support: f64) -> System {
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

/// The system whose k-vectors are summed: the internal cell for slabs, the system otherwise
pub(crate) fn kspace_system(system: &System, support: f64) -> Cow<'_, System> {
    if is_slab(system) {
        Cow::Owned(internal_system(system, support))
    } else {
        Cow::Borrowed(system)
    }
}

/// Only the k-vectors of the internal cell with a non-zero in-plane component (n₁, n₂) ≠ 0
pub(crate) fn in_plane_k_vectors(kvectors: KVectors) -> KVectors {
    let (indices, vectors) = kvectors
        .indices
        .iter()
        .zip(&kvectors.vectors)
        .filter(|(index, _)| index[0] != 0 || index[1] != 0)
        .map(|(&index, &vector)| (index, vector))
        .unzip();
    KVectors {
        indices,
        vectors,
        max_index: kvectors.max_index,
    }
}

impl LodeSphericalExpansion {
    /// The heights n̂·rⱼ of the atoms and the planar kernels Pₗₙ(z) over their range
    pub(super) fn planar_projection(
        &self,
        system: &System,
        plane: &Plane,
    ) -> Result<(Vec<f64>, PlanarProjection), Error> {
        let heights: Vec<f64> = system
            .positions
            .iter()
            .map(|&r| dot(r, plane.normal))
            .collect();
        let z_max = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - heights.iter().copied().fold(f64::INFINITY, f64::min);
        let projection = PlanarProjection::new(
            &self.basis,
            self.parameters.max_angular,
            self.density,
            z_max,
            self.parameters.spline_accuracy,
        )?;
        Ok((heights, projection))
    }

    /// Values of one slab; positions gradients are written into `outputs` directly, except
    /// the centres' own rows
    pub(super) fn compute_slab_system(
        &self,
        radial: &KSpaceRadialIntegral,
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
        let mut result = self.compute_system(radial, internal_task, true)?;
        if result.centers.is_empty() {
            return Ok(result);
        }

        let plane = Plane::new(system);
        let (heights, projection) = self.planar_projection(system, &plane)?;
        let max_angular = self.parameters.max_angular;
        let mut harmonics = SolidHarmonics::new(max_angular);
        harmonics.compute(plane.normal);
        let y: Vec<f64> = harmonics.values.iter().map(|v| v / plane.area).collect();

        let n_radial = self.n_radial();
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let n_types = result.n_types;
        let type_index = &result.type_index;
        let n_functions = projection.n_functions();
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
    use crate::{BlockData, Gradients, Selection};

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
            .backward(&[slab([false, true, false])], &blocks)
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
}
