//! LODE for open boundaries (molecules, clusters: pbc = [false; 3]): the potential of every atom,
//! without images, background or cell, as a sum of pair projections
//!
//!   ⟨a n l m|Vᵢ⟩ = Σ_{j∈a, j≠i} Fₗₙ(rᵢⱼ) Yₗₘ(r̂ᵢⱼ) + w δ_{a,aᵢ} δₗ₀ √(4π) ∫ r² Rₙ g dr,
//!
//! with rᵢⱼ = rⱼ - rᵢ, Fₗₙ from [`PairRadialIntegral`] and w = center_atom_weight (the centre's
//! own density, as in the periodic code). Gradients: ∂/∂rⱼ of each pair term, the centre's
//! row by translation invariance, and strain as the virial Σⱼ rᵢⱼ,α ∂/∂rᵢⱼ,β.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

use super::pair_radial::PairRadialIntegral;
use super::positions::{PositionsLayout, SharedRows};
use super::{Gradients, LodeSphericalExpansion, SystemValues};
use crate::math::harmonics::{lm_index, SolidHarmonics};
use crate::system::OVERLAP_DISTANCE;
use crate::{Error, System};

/// Whether the system has open boundaries in all directions
pub(crate) fn is_open(system: &System) -> bool {
    system.pbc == [false; 3]
}

/// Check that an open system can be used; its cell is ignored
pub(crate) fn validate_open(system: &System, index: usize) -> Result<(), Error> {
    let name = format!("system {index}");
    if system.positions.len() != system.types.len() {
        return Err(Error::InvalidSystem(format!(
            "{name}: different number of positions and types"
        )));
    }
    if let Some(atom) = system
        .positions
        .iter()
        .position(|p| p.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::InvalidSystem(format!(
            "{name}: position of atom {atom} is not finite (NaN or infinite)"
        )));
    }
    if system.types.is_empty() {
        return Err(Error::InvalidSystem(format!(
            "{name}: the system contains no atom"
        )));
    }
    // hash positions in cubes of side OVERLAP_DISTANCE, compare with the 27 neighbouring cubes
    let bin = |r: &[f64; 3]| r.map(|x| (x / OVERLAP_DISTANCE).floor() as i64);
    let mut grid: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
    for (i, r) in system.positions.iter().enumerate() {
        grid.entry(bin(r)).or_default().push(i);
    }
    for (i, r) in system.positions.iter().enumerate() {
        let b = bin(r);
        for offset in 0..27 {
            let neighbor = [
                b[0] + offset % 3 - 1,
                b[1] + offset / 3 % 3 - 1,
                b[2] + offset / 9 - 1,
            ];
            for &j in grid.get(&neighbor).into_iter().flatten() {
                let s = &system.positions[j];
                let d2: f64 = (0..3).map(|a| (s[a] - r[a]).powi(2)).sum();
                if j > i && d2 < OVERLAP_DISTANCE * OVERLAP_DISTANCE {
                    return Err(Error::InvalidSystem(format!(
                        "{name}: atoms {i} and {j} are closer than {OVERLAP_DISTANCE} Å; is an atom duplicated?"
                    )));
                }
            }
        }
    }
    Ok(())
}

impl LodeSphericalExpansion {
    /// Values (and strain gradients) of one open system; positions gradients are written into
    /// `outputs` directly, except the centres' own rows
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compute_open_system(
        &self,
        pair: &PairRadialIntegral,
        s: usize,
        system: &System,
        keys: &[[i32; 4]],
        selected: &Option<HashSet<(usize, usize)>>,
        gradients: Gradients,
        layout: Option<&PositionsLayout>,
        outputs: &[Option<SharedRows>],
    ) -> Result<SystemValues, Error> {
        let present: BTreeSet<i32> = system.types.iter().copied().collect();
        let mut center_types = BTreeSet::new();
        let mut neighbor_types = BTreeSet::new();
        for key in keys {
            if present.contains(&key[3]) && present.contains(&key[2]) {
                center_types.insert(key[2]);
                neighbor_types.insert(key[3]);
            }
        }
        let centers: Vec<usize> = (0..system.size())
            .filter(|&i| center_types.contains(&system.types[i]))
            .filter(|&i| selected.as_ref().is_none_or(|set| set.contains(&(s, i))))
            .collect();
        let type_index: BTreeMap<i32, usize> = neighbor_types
            .iter()
            .enumerate()
            .map(|(t, &a)| (a, t))
            .collect();
        let n_types = type_index.len();
        if centers.is_empty() {
            return Ok(SystemValues::default());
        }

        let max_angular = self.parameters.max_angular;
        let n_radial = self.n_radial();
        let n_features = (max_angular + 1).pow(2) * n_radial;
        let n_functions = pair.n_functions();
        let weight = self.parameters.center_atom_weight;
        let need_gradient = gradients.strain || layout.is_some();

        let per_center: Vec<(Vec<f64>, Vec<f64>)> = centers
            .par_iter()
            .map_init(
                || {
                    (
                        SolidHarmonics::new(max_angular),
                        vec![0.0; n_functions],
                        vec![0.0; n_functions],
                        vec![0.0; 3 * n_features],
                    )
                },
                |(harmonics, radial, dradial, gradient), &i| {
                    let mut values = vec![0.0; n_types * n_features];
                    let mut strain = if gradients.strain {
                        vec![0.0; n_types * 9 * n_features]
                    } else {
                        Vec::new()
                    };
                    let ti = system.types[i];
                    for (j, &tj) in system.types.iter().enumerate() {
                        let Some(&t) = type_index.get(&tj) else {
                            continue;
                        };
                        let row = &mut values[t * n_features..(t + 1) * n_features];
                        if j == i {
                            for (v, c) in row.iter_mut().zip(&self.center_contribution) {
                                *v += weight * c;
                            }
                            continue;
                        }
                        let d = [0, 1, 2].map(|a| system.positions[j][a] - system.positions[i][a]);
                        let distance = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                        let u = d.map(|x| x / distance);
                        pair.compute(distance, radial, dradial);
                        harmonics.compute(u);
                        for l in 0..=max_angular {
                            for m in -(l as isize)..=(l as isize) {
                                let lm = lm_index(l, m);
                                let y = harmonics.values[lm];
                                // ∇_d Yₗₘ(d̂) = (∇Rₗₘ(u) - l Yₗₘ u) / |d|
                                let dy = [0, 1, 2].map(|a| {
                                    (harmonics.gradients[lm][a] - l as f64 * y * u[a]) / distance
                                });
                                for n in 0..n_radial {
                                    let (f, df) =
                                        (radial[l * n_radial + n], dradial[l * n_radial + n]);
                                    let feature = lm * n_radial + n;
                                    row[feature] += f * y;
                                    if need_gradient {
                                        for a in 0..3 {
                                            gradient[a * n_features + feature] =
                                                df * y * u[a] + f * dy[a];
                                        }
                                    }
                                }
                            }
                        }
                        if gradients.strain {
                            let out = &mut strain[t * 9 * n_features..(t + 1) * 9 * n_features];
                            for a in 0..3 {
                                for b in 0..3 {
                                    let source = &gradient[b * n_features..(b + 1) * n_features];
                                    let target = &mut out
                                        [(3 * a + b) * n_features..(3 * a + b + 1) * n_features];
                                    for (o, g) in target.iter_mut().zip(source) {
                                        *o += d[a] * g;
                                    }
                                }
                            }
                        }
                        if let Some(layout) = layout {
                            for &(b, l) in layout.blocks(ti, tj) {
                                let Some(out_row) = layout.row(system, b, tj, i, j) else {
                                    continue;
                                };
                                let size = (2 * l + 1) * n_radial;
                                let first = lm_index(l, -(l as isize)) * n_radial;
                                let output =
                                    outputs[b].as_ref().expect("block has positions gradients");
                                // SAFETY: the rows of the sample of centre i are written by this task only
                                let out = unsafe { output.row(out_row) };
                                for a in 0..3 {
                                    out[a * size..(a + 1) * size].copy_from_slice(
                                        &gradient
                                            [a * n_features + first..a * n_features + first + size],
                                    );
                                }
                            }
                        }
                    }
                    (values, strain)
                },
            )
            .collect();

        let mut values = Vec::with_capacity(centers.len() * n_types * n_features);
        let mut strain = Vec::new();
        for (v, g) in per_center {
            values.extend(v);
            strain.extend(g);
        }
        Ok(SystemValues {
            centers,
            type_index,
            n_types,
            values,
            strain,
        })
    }
}
