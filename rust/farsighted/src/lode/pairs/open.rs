//! LODE for open boundaries (molecules, clusters: pbc = [false; 3]): the potential of every atom,
//! without images, background or cell, as a sum of pair projections
//!
//!   ⟨a n l m|Vᵢ⟩ = Σ_{j∈a, j≠i} Fₗₙ(rᵢⱼ) Yₗₘ(r̂ᵢⱼ) + w δ_{a,aᵢ} δₗ₀ √(4π) ∫ r² Rₙ g dr,
//!
//! with rᵢⱼ = rⱼ - rᵢ, Fₗₙ from [`PairRadialIntegral`] and w = center_atom_weight (the centre's
//! own density, as in the periodic code, added by the plan). Gradients: ∂/∂rⱼ of each pair
//! term, the centre's row by translation invariance, and strain as the virial
//! Σⱼ rᵢⱼ,α ∂/∂rᵢⱼ,β; backward products through [`pair_sums_backward`].

use std::collections::HashMap;

use super::backward::pair_sums_backward;
use super::neighbors::Neighbor;
use super::radial::PairRadialIntegral;
use super::{PairSum, PairSums};
use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::metadata::{SystemTask, SystemValues};
use crate::lode::LodeSphericalExpansion;
use crate::system::OVERLAP_DISTANCE;
use crate::{Error, System};

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
    /// The pair radial functions of open systems, built (once) on first use
    pub(crate) fn pair_radial(&self) -> Result<&PairRadialIntegral, Error> {
        let radial = self.pair_radial.get_or_init(|| {
            PairRadialIntegral::new(
                &self.basis,
                self.parameters.max_angular,
                self.density,
                self.parameters.spline_accuracy,
            )
        });
        radial.as_ref().map_err(Clone::clone)
    }

    /// Values (and strain gradients) of one open system, without the centre's own density;
    /// positions gradients are written into `outputs` directly, except the centres' own rows
    pub(crate) fn open_values(
        &self,
        pair: &PairRadialIntegral,
        task: SystemTask,
    ) -> Result<SystemValues, Error> {
        let (centers, type_index) = task.centers_and_types();
        let SystemTask {
            system,
            gradients,
            layout,
            outputs,
            ..
        } = task;
        let n_types = type_index.len();
        if centers.is_empty() {
            return Ok(SystemValues::default());
        }

        let sum = PairSum {
            radial: pair,
            system,
            type_index: &type_index,
            max_angular: self.parameters.max_angular,
            n_radial: self.n_radial(),
            strain: gradients.strain,
            layout,
            outputs,
        };
        let PairSums { values, strain } =
            sum.sum_centers(&centers, |c| open_pairs(system, centers[c]));
        Ok(SystemValues {
            centers,
            type_index,
            n_types,
            values,
            strain,
        })
    }

    /// Backward product of one open system: the pair sums of all j ≠ i, no image. The cell is
    /// ignored (∂L/∂cell = 0, left to the plan) and the strain derivative is the virial
    /// Ξ = Rᵀ ∂L/∂R; the centre's own density is constant.
    pub(crate) fn open_backward(
        &self,
        pair: &PairRadialIntegral,
        system: &System,
        input: &SystemInput,
    ) -> Accumulator {
        let sizes = (self.parameters.max_angular, self.n_radial());
        pair_sums_backward(pair, system, input, sizes, |_, i| open_pairs(system, i))
    }
}

/// The neighbours of centre i in an open system: every other atom j, at d = rⱼ - rᵢ
pub(crate) fn open_pairs(system: &System, i: usize) -> impl Iterator<Item = Neighbor> + '_ {
    let ri = system.positions[i];
    system
        .positions
        .iter()
        .enumerate()
        .filter(move |&(j, _)| j != i)
        .map(move |(j, r)| Neighbor {
            atom: j,
            vector: [0, 1, 2].map(|a| r[a] - ri[a]),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lode::{Gradients, Selection};

    fn calculator(weight: f64) -> LodeSphericalExpansion {
        LodeSphericalExpansion::from_json(&format!(
            r#"{{
            "density": {{"type": "SmearedPowerLaw", "smearing": 0.8, "exponent": 1,
                         "center_atom_weight": {weight}}},
            "basis": {{"type": "TensorProduct", "max_angular": 2,
                      "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}}
        }}"#
        ))
        .unwrap()
    }

    fn molecule(positions: Vec<[f64; 3]>, pbc: [bool; 3]) -> System {
        System {
            types: (0..positions.len())
                .map(|i| 1 + (i % 2) as i32 * 7)
                .collect(),
            positions,
            cell: [[0.0; 3]; 3],
            pbc,
        }
    }

    #[test]
    fn single_atom_is_its_own_density() {
        // only the centre's own term: w √(4π) ∫ r² Rₙ g dr for l = 0, nothing for l > 0
        for weight in [1.0, 0.3] {
            let calculator = calculator(weight);
            let system = molecule(vec![[0.3, -1.0, 2.0]], [false; 3]);
            let result = calculator
                .compute(&[system], Gradients::default(), &Selection::default())
                .unwrap();
            for block in &result.blocks {
                for (f, value) in block.values.iter().enumerate() {
                    let expected = if block.key[0] == 0 {
                        weight * calculator.kspace.center_contribution()[f]
                    } else {
                        0.0
                    };
                    assert!((value - expected).abs() < 1e-14, "{:?}", block.key);
                }
            }
        }
    }

    #[test]
    fn rotations_and_translations() {
        // l = 0 features are invariant, the norm over m of each (l, n) too
        let calculator = calculator(1.0);
        let positions = vec![[0.0, 0.0, 0.0], [1.1, 0.2, -0.3], [-0.4, 0.9, 0.5]];
        let (c, s) = (0.6_f64.cos(), 0.6_f64.sin());
        let moved: Vec<[f64; 3]> = positions
            .iter()
            .map(|r| {
                [
                    c * r[0] - s * r[1] + 5.0,
                    s * r[0] + c * r[1] - 2.0,
                    r[2] + 1.0,
                ]
            })
            .collect();
        let compute = |p: Vec<[f64; 3]>| {
            calculator
                .compute(
                    &[molecule(p, [false; 3])],
                    Gradients::default(),
                    &Selection::default(),
                )
                .unwrap()
        };
        let (a, b) = (compute(positions), compute(moved));
        for (x, y) in a.blocks.iter().zip(&b.blocks) {
            let n = x.n_properties;
            for (row_x, row_y) in x
                .values
                .chunks(x.n_components * n)
                .zip(y.values.chunks(n * y.n_components))
            {
                for k in 0..n {
                    let norm = |row: &[f64]| {
                        (0..x.n_components)
                            .map(|m| row[m * n + k].powi(2))
                            .sum::<f64>()
                    };
                    assert!((norm(row_x) - norm(row_y)).abs() < 1e-10 * (1.0 + norm(row_x)));
                }
            }
        }
    }

    #[test]
    fn bad_open_systems() {
        let calculator = calculator(1.0);
        let cases = [
            (
                molecule(vec![[0.0; 3], [f64::NAN, 0.0, 0.0]], [false; 3]),
                "not finite",
            ),
            (
                molecule(vec![[0.0; 3], [0.0, 0.0, 5e-4]], [false; 3]),
                "atoms 0 and 1",
            ),
            (molecule(vec![], [false; 3]), "no atom"),
            (molecule(vec![[0.0; 3]], [false, true, false]), "wires"),
        ];
        for (system, message) in cases {
            let error = calculator
                .compute(&[system], Gradients::default(), &Selection::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(message),
                "'{error}' does not say '{message}'"
            );
        }
    }
}
