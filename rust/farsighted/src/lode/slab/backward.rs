//! Backward products of slabs: the k∥ ≠ 0 part by the periodic backward on the internal cell
//! (a, b, L n̂) over the k-vectors of the values (0 < |k∥| < k_cutoff, k_z summed to
//! convergence, lode/slab/mod.rs), or on the same mesh as the values (lode/mesh/backward.rs),
//! so that it differentiates exactly the values computed; the
//! planar part (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂) like the forward pass: by a loop over all pairs, or on
//! the values' grid of heights with the mesh (lode/slab/planar_grid.rs).
//!
//! ∂L/∂cell: the features do not depend on the non-periodic cell vector, whose gradient is
//! zero. The periodic rows follow from Ξ (the strain derivative, frame independent) as in 3D,
//! ∂L/∂h = h⁻ᵀ (Ξ − Rᵀ ∂L/∂R), with h the internal cell: its third row's gradient is zero
//! too (L does not depend on it), so Ξ = hᵀ ∂L/∂h + Rᵀ ∂L/∂R holds for the input's cell as
//! well, whatever its non-periodic row.

use rayon::prelude::*;

use crate::lode::accumulator::Accumulator;
use crate::lode::backward::{cell_gradient, SystemInput};
use crate::lode::kspace::KSpace;
use crate::lode::mesh::MeshSize;
use crate::lode::plan::Geometry;
use crate::lode::slab::strain::PlaneStrain;
use crate::lode::slab::{internal_system, slab_k_vectors, Plane};
use crate::math::harmonics::lm_index;
use crate::{Error, System};

/// ∂L/∂cell of a slab from Ξ and ∂L/∂R: computed on the internal cell (a, b, L n̂), whose
/// rows a, b are the periodic rows of the input; the non-periodic row's gradient is zero
pub(crate) fn slab_cell_gradient(
    system: &System,
    strain: &[[f64; 3]; 3],
    positions: &[[f64; 3]],
) -> [[f64; 3]; 3] {
    let internal = internal_system(system, 0.0);
    let internal_cell = cell_gradient(&internal, strain, positions);
    let mut cell = [[0.0; 3]; 3];
    let periodic = (0..3).filter(|&d| system.pbc[d]);
    for (row, d) in periodic.enumerate() {
        cell[d] = internal_cell[row];
    }
    cell
}

impl KSpace {
    /// ∂L/∂positions and Ξ of one slab: the k∥ ≠ 0 part on the internal cell (no k = 0 term),
    /// over its k-vectors or on a mesh (with G by feature), and the planar part
    pub(crate) fn slab_backward(
        &self,
        mesh: Option<MeshSize>,
        system: &System,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        if input.centers.is_empty() {
            return Ok(Accumulator::new(system.size()));
        }
        let internal = internal_system(system, self.basis.support());
        let (total, lattice) = match mesh {
            Some(size) => self.mesh_backward_sum(Geometry::Slab, size, &internal, input)?,
            None => {
                let kvectors = slab_k_vectors(&internal, self.k_cutoff, self.slab_k_bound());
                self.backward_sum(self.slab_radial()?, &internal, input, &kvectors)
            }
        };
        let planar = self.backward_planar(mesh.is_some(), system, input)?;
        Ok(total.with_volume_factor(lattice).add(planar))
    }

    /// ∂L/∂positions and Ξ of L = Σᵢₐ Σ_f Gᵢₐf Σ_{j∈a} (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂), on the grid
    /// of heights of the values where they used one (`on_mesh`, lode/slab/planar_grid.rs)
    fn backward_planar(
        &self,
        on_mesh: bool,
        system: &System,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        let max_angular = self.max_angular;
        let n_radial = self.n_radial;
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let n_types = input.neighbor_types.len();
        let n_atoms = system.size();
        let plane = Plane::new(system);
        let (heights, projection) = self.planar_projection(system, &plane)?;
        let plane_strain = PlaneStrain::new(plane.normal, plane.area, max_angular);
        let atom_type_index = input.atom_type_index(system);

        // G with all features of a row together, indexed by lm_index(l, m) * n_radial + n
        let g = &input.by_feature;
        if let Some(grid) = self.planar_grid(on_mesh, &heights) {
            return Ok(self.backward_planar_on_grid(
                &grid,
                (&heights, plane.normal),
                &plane_strain,
                input,
                &atom_type_index,
            ));
        }

        let n_functions = projection.n_functions();
        let total = input
            .centers
            .par_iter()
            .enumerate()
            .fold(
                || {
                    (
                        Accumulator::new(n_atoms),
                        vec![0.0; n_functions],
                        vec![0.0; n_functions],
                    )
                },
                |(mut accumulator, mut values, mut derivatives), (c, &i)| {
                    for (j, t) in atom_type_index.iter().enumerate() {
                        let Some(t) = *t else {
                            continue;
                        };
                        let row = &g[(c * n_types + t) * n_features..][..n_features];
                        if row.iter().all(|&x| x == 0.0) {
                            continue;
                        }
                        let z = heights[i] - heights[j];
                        projection.compute(z, &mut values, &mut derivatives);
                        // Σ G P' Y / A and Σ G P ∂(Y / A)/∂ε
                        let mut slope = 0.0;
                        let mut strain = [0.0; 9];
                        for l in 0..=max_angular {
                            for m in -(l as isize)..=(l as isize) {
                                let lm = lm_index(l, m);
                                let y = plane_strain.harmonics[lm];
                                let dy = &plane_strain.harmonics_strain[9 * lm..9 * lm + 9];
                                for n in 0..n_radial {
                                    let gf = row[lm * n_radial + n];
                                    slope += gf * derivatives[l * n_radial + n] * y;
                                    let gv = gf * values[l * n_radial + n];
                                    for ab in 0..9 {
                                        strain[ab] += gv * dy[ab];
                                    }
                                }
                            }
                        }
                        for alpha in 0..3 {
                            accumulator.positions[i][alpha] += slope * plane.normal[alpha];
                            accumulator.positions[j][alpha] -= slope * plane.normal[alpha];
                        }
                        let terms = strain.iter().zip(&plane_strain.height);
                        let out = accumulator.strain.as_flattened_mut();
                        for (out, (s, h)) in out.iter_mut().zip(terms) {
                            *out += s + slope * z * h;
                        }
                    }
                    (accumulator, values, derivatives)
                },
            )
            .map(|(accumulator, _, _)| accumulator)
            .reduce(|| Accumulator::new(n_atoms), Accumulator::add);
        Ok(total)
    }
}
