//! Strain derivatives of the k∥ = 0 (planar) part of slab features, (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂),
//! for r' = r (1 + ε), h' = h (1 + ε) (row vectors). The plane's vectors deform like
//! v' = F v with F = 1 + εᵀ, so their cross product c = a × b becomes det(F) F⁻ᵀ c:
//!
//!   ∂A/∂ε_αβ = A (δ_αβ - n_α n_β),   ∂n_γ/∂ε_αβ = -n_β (δ_αγ - n_α n_γ),
//!   ∂zᵢⱼ/∂ε_αβ = n_α n_β zᵢⱼ   (in-plane shear moves no atom off its sheet),
//!
//! and with the solid harmonics Rₗₘ (Yₗₘ(n̂) = Rₗₘ(n̂)),
//! ∂Yₗₘ(n̂)/∂ε_αβ = -n_β (∂_α Rₗₘ - n_α n̂·∇Rₗₘ).
//!
//! The k∥ ≠ 0 part needs nothing of its own: the 3D sum on the internal cell (a, b, c) without
//! the k∥ = 0 vectors is the 2D sum plus the images along c, below 1e-16 for any c whose
//! height n̂·c leaves the gap of `slab::internal_system`, whatever its direction. For a
//! general c, the vectors k = n₁b₁ + n₂b₂ + n₃b₃ of one (n₁, n₂) share the in-plane part k∥
//! of the 2D lattice of (a, b) and their k_z run over a grid of spacing 2π/(n̂·c), shifted by
//! the tilt of c; the sums over k_z run to convergence (lode/slab/mod.rs), so they are the
//! continuous transform whatever the grid, and the truncation |k∥| < k_cutoff is a set of
//! (n₁, n₂) that straining c does not change. The k∥ ≠ 0 part therefore does not depend on c
//! (to the images' 1e-16 and the negligible tail of the k_z sums), straining c with a and b,
//! as the 3D strain gradient does, changes nothing, and the 3D strain gradient on the
//! internal cell is the derivative of the slab's values. The finite differences of the
//! tests, which rebuild the internal cell normal to the strained plane with its own L, check
//! it.

use rayon::prelude::*;

use crate::lode::slab::planar::PlanarTable;
use crate::math::harmonics::{lm_index, SolidHarmonics};

/// Yₗₘ(n̂) / A and its strain derivatives, and the strain derivative of heights
pub(crate) struct PlaneStrain {
    /// Yₗₘ(n̂) / A, indexed by `lm_index`
    pub harmonics: Vec<f64>,
    /// ∂(Yₗₘ(n̂) / A)/∂ε_αβ, indexed by 9 lm + 3α + β
    pub harmonics_strain: Vec<f64>,
    /// (∂z/∂ε_αβ) / z = n_α n_β, indexed by 3α + β
    pub height: [f64; 9],
}

impl PlaneStrain {
    pub fn new(normal: [f64; 3], area: f64, max_angular: usize) -> PlaneStrain {
        let mut solid = SolidHarmonics::new(max_angular);
        solid.compute(normal);
        let n_lm = (max_angular + 1).pow(2);
        let mut height = [0.0; 9];
        let mut harmonics_strain = vec![0.0; 9 * n_lm];
        let inverse_area = inverse_area_strain(normal);
        for lm in 0..n_lm {
            let (value, gradient) = (solid.values[lm], solid.gradients[lm]);
            let radial =
                gradient[0] * normal[0] + gradient[1] * normal[1] + gradient[2] * normal[2];
            for alpha in 0..3 {
                for beta in 0..3 {
                    height[3 * alpha + beta] = normal[alpha] * normal[beta];
                    // 1/A and Yₗₘ(n̂)
                    let area_part = inverse_area[3 * alpha + beta] * value;
                    let normal_part = -normal[beta] * (gradient[alpha] - normal[alpha] * radial);
                    harmonics_strain[9 * lm + 3 * alpha + beta] = (area_part + normal_part) / area;
                }
            }
        }
        PlaneStrain {
            harmonics: solid.values.iter().map(|v| v / area).collect(),
            harmonics_strain,
            height,
        }
    }
}

/// A ∂(1/A)/∂ε_αβ = -(δ_αβ - n_α n_β), indexed by 3α + β
pub(crate) fn inverse_area_strain(normal: [f64; 3]) -> [f64; 9] {
    let mut out = [0.0; 9];
    for alpha in 0..3 {
        for beta in 0..3 {
            let delta = if alpha == beta { 1.0 } else { 0.0 };
            out[3 * alpha + beta] = normal[alpha] * normal[beta] - delta;
        }
    }
    out
}

/// Where the planar strain terms of one slab go, and what they need
pub(crate) struct PlanarStrainInput<'a> {
    pub projection: &'a PlanarTable<'a>,
    pub plane: &'a PlaneStrain,
    /// n̂·rⱼ of every atom
    pub heights: &'a [f64],
    /// neighbour type index of every atom (None: type not computed)
    pub atom_type_index: &'a [Option<usize>],
    pub centers: &'a [usize],
    pub n_types: usize,
    pub max_angular: usize,
    pub n_radial: usize,
}

impl PlanarStrainInput<'_> {
    /// Add ∂/∂ε_αβ of Σⱼ (1/A) Pₗₙ(zᵢⱼ) Yₗₘ(n̂) to `strain`, laid out as
    /// (centre, type, 3α + β, feature)
    pub fn add_strain(&self, strain: &mut [f64]) {
        let n_functions = self.projection.n_functions();
        let n_features = (self.max_angular + 1).pow(2) * self.n_radial;
        let n_radial = self.n_radial;
        strain
            .par_chunks_mut(self.n_types * 9 * n_features)
            .zip(self.centers.par_iter())
            .for_each_init(
                || (vec![0.0; n_functions], vec![0.0; n_functions]),
                |(values, derivatives), (out, &i)| {
                    for (j, t) in self.atom_type_index.iter().enumerate() {
                        let Some(t) = *t else {
                            continue;
                        };
                        let z = self.heights[i] - self.heights[j];
                        self.projection.compute(z, values, derivatives);
                        let rows = &mut out[t * 9 * n_features..(t + 1) * 9 * n_features];
                        for l in 0..=self.max_angular {
                            for m in -(l as isize)..=(l as isize) {
                                let lm = lm_index(l, m);
                                let y = self.plane.harmonics[lm];
                                for ab in 0..9 {
                                    let dy = self.plane.harmonics_strain[9 * lm + ab];
                                    let dz = self.plane.height[ab] * z;
                                    let row = &mut rows[ab * n_features..(ab + 1) * n_features];
                                    for n in 0..n_radial {
                                        let f = l * n_radial + n;
                                        row[lm * n_radial + n] +=
                                            derivatives[f] * dz * y + values[f] * dy;
                                    }
                                }
                            }
                        }
                    }
                },
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal_and_area(a: [f64; 3], b: [f64; 3]) -> ([f64; 3], f64) {
        let c = [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ];
        let area = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
        (c.map(|x| x / area), area)
    }

    fn strained(v: [f64; 3], strain: &[[f64; 3]; 3]) -> [f64; 3] {
        let mut out = v;
        for beta in 0..3 {
            for alpha in 0..3 {
                out[beta] += v[alpha] * strain[alpha][beta];
            }
        }
        out
    }

    /// Yₗₘ(n̂)/A and n̂·d under strain, against central finite differences
    #[test]
    fn plane_strain_by_finite_differences() {
        let (a, b) = ([3.1, 0.4, -1.2], [0.7, 2.9, 1.5]);
        let d = [0.3, -1.1, 2.2];
        let max_angular = 4;
        let (normal, area) = normal_and_area(a, b);
        let plane = PlaneStrain::new(normal, area, max_angular);
        let z = normal.iter().zip(&d).map(|(x, y)| x * y).sum::<f64>();
        let h = 1e-6;
        for alpha in 0..3 {
            for beta in 0..3 {
                let mut results = Vec::new();
                for sign in [1.0, -1.0] {
                    let mut strain = [[0.0; 3]; 3];
                    strain[alpha][beta] = sign * h;
                    let (n, area) = normal_and_area(strained(a, &strain), strained(b, &strain));
                    let moved = strained(d, &strain);
                    let z = n.iter().zip(&moved).map(|(x, y)| x * y).sum::<f64>();
                    results.push((PlaneStrain::new(n, area, max_angular).harmonics, z));
                }
                let fd_z = (results[0].1 - results[1].1) / (2.0 * h);
                assert!((fd_z - plane.height[3 * alpha + beta] * z).abs() < 1e-9);
                for lm in 0..plane.harmonics.len() {
                    let fd = (results[0].0[lm] - results[1].0[lm]) / (2.0 * h);
                    let analytic = plane.harmonics_strain[9 * lm + 3 * alpha + beta];
                    assert!(
                        (fd - analytic).abs() < 1e-8,
                        "lm={lm} αβ=({alpha},{beta}): {fd} vs {analytic}"
                    );
                }
            }
        }
    }
}
