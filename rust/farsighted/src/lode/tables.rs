//! The tables that another implementation of the per-structure contraction needs (the
//! TorchScript modules of `farsighted.torch`): everything that does not depend on the
//! structure, computed here once so that the physics has one implementation.

use super::kspace::KSpace;
use super::pairs::radial::PairRadialIntegral;
use super::plan::Method;
use super::slab::planar_grid::ORDER as PLANAR_GRID_ORDER;
use super::{ewald, Gradients, LodeSphericalExpansion};
use crate::math::spline::HermiteSplines;
use crate::{Error, System};

/// Structure-independent tables of the reciprocal-space sum
#[derive(Debug, Clone)]
pub struct KSpaceTables {
    /// the k-vectors summed are those with 0 < |k| < k_cutoff
    pub k_cutoff: f64,
    /// slabs: the k∥ ≠ 0 part sums the k with 0 < |k∥| < k_cutoff and |k| < slab_k_bound
    /// (≥ k_cutoff), on the internal cell (a, b, L n̂) of lode/slab/mod.rs
    pub slab_k_bound: f64,
    /// Hermite spline of Iₗₙ(k) on a uniform grid of `n_points` points from 0 with spacing
    /// `step`: up to k_cutoff (`kspace_tables`) or to slab_k_bound (the `kspace` of `planar_tables`)
    pub step: f64,
    pub n_points: usize,
    /// Iₗₙ at the grid points, (n_points, (max_angular + 1) n_radial), column l n_radial + n
    pub values: Vec<f64>,
    /// dIₗₙ/dk at the grid points, same layout
    pub derivatives: Vec<f64>,
    /// Iₙ₀(0) = ∫ r² Rₙ(r) dr, for the k = 0 term
    pub radial_at_zero: Vec<f64>,
    /// √(4π) ∫ r² Rₙ(r) g(r) dr, the centre's own density on (l, m) = (0, 0)
    pub center_contribution: Vec<f64>,
    /// lim_{k→0} ĝ(k) where it is finite (p = 0 and p > 3): the k = 0 term
    pub fourier_at_zero: Option<f64>,
}

impl LodeSphericalExpansion {
    /// The tables of the pure reciprocal-space sum. They need splined radial integrals: the
    /// other implementation evaluates the same spline, so both give the same numbers.
    pub fn kspace_tables(&self) -> Result<KSpaceTables, Error> {
        self.check_no_split()?;
        self.kspace.export(false)
    }

    /// The accuracy-free calculators export their k-space tables
    fn check_no_split(&self) -> Result<(), Error> {
        if self.parameters.accuracy.is_some() {
            return Err(Error::InvalidParameter(
                "the k-space tables of the Ewald split (accuracy) are not exported yet; \
                 use k_cutoff"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl KSpace {
    /// The tables of this k-space sum: Iₗₙ(k) to k_cutoff, or for `slab` to the slabs' bound
    fn export(&self, slab: bool) -> Result<KSpaceTables, Error> {
        let radial = if slab {
            self.slab_radial()?
        } else {
            self.radial()?
        };
        let Some(spline) = radial.spline() else {
            return Err(Error::InvalidParameter(
                "exported k-space tables need splined radial integrals: give \
                 basis.spline_accuracy a number, not null"
                    .into(),
            ));
        };
        let n_points = spline.values().len() / spline.n_functions();
        Ok(KSpaceTables {
            k_cutoff: self.k_cutoff,
            slab_k_bound: self.slab_k_bound(),
            step: spline.step(),
            n_points,
            values: spline.values().to_vec(),
            derivatives: spline.derivatives().to_vec(),
            radial_at_zero: self.radial_at_zero.clone(),
            center_contribution: self.center_contribution().to_vec(),
            fourier_at_zero: self.density.fourier_at_zero(),
        })
    }

    /// The planar tables of slabs whose atoms span at most `z_max` along the normal
    fn planar_tables(&self, z_max: f64) -> Result<PlanarTables, Error> {
        let table = self.planar()?.covering(z_max);
        let spline = table.spline().map(SplineTable::new).ok_or_else(|| {
            Error::InvalidParameter(
                "exported slab tables need splined functions: give basis.spline_accuracy a \
                 number, not null"
                    .into(),
            )
        })?;
        // after the spline: the grid's samples reach beyond z_max
        let grid = self
            .planar_grid_of_thickness(z_max)
            .map(|grid| PlanarGridTable {
                step: grid.step(),
                order: PLANAR_GRID_ORDER,
                n_points: grid.n_points(),
                n_functions: grid.n_functions(),
                coefficients: grid.coefficients().to_vec(),
            });
        Ok(PlanarTables {
            spline,
            kspace: self.export(true)?,
            support: self.basis.support(),
            grid,
        })
    }
}

/// A table of Hermite splines: `n_functions` functions on a uniform grid of `n_points` points
/// from 0 with spacing `step`, evaluated as `math/spline.rs` does
#[derive(Debug, Clone)]
pub struct SplineTable {
    pub step: f64,
    pub n_points: usize,
    pub n_functions: usize,
    /// values at the grid points, (n_points, n_functions)
    pub values: Vec<f64>,
    /// derivatives at the grid points, same layout
    pub derivatives: Vec<f64>,
}

impl SplineTable {
    fn new(spline: &HermiteSplines) -> SplineTable {
        SplineTable {
            step: spline.step(),
            n_points: spline.values().len() / spline.n_functions(),
            n_functions: spline.n_functions(),
            values: spline.values().to_vec(),
            derivatives: spline.derivatives().to_vec(),
        }
    }

    /// The table of a pair radial integral, which must be splined
    fn of_pairs(radial: &PairRadialIntegral, what: &str) -> Result<SplineTable, Error> {
        radial.spline().map(SplineTable::new).ok_or_else(|| {
            Error::InvalidParameter(format!(
                "exported {what} tables need splined radial functions: give \
                 basis.spline_accuracy a number, not null"
            ))
        })
    }
}

/// Structure-independent tables of open systems (lode/pairs/open.rs): the pair radial functions
///
///   Fₗₙ(d) = spline(d) for d ≤ d_max,   Σₜ tail[l, t, n] (d_max/d)^{l+2t} d^{-p} beyond,
///
/// and the centre's own density
#[derive(Debug, Clone)]
pub struct PairTables {
    /// Fₗₙ on [0, d_max], function l n_radial + n
    pub spline: SplineTable,
    pub d_max: f64,
    /// p, of the tail's d^{-p}
    pub exponent: f64,
    /// number of tail terms t (the shorter l are padded with zeros)
    pub tail_terms: usize,
    /// (max_angular + 1, tail_terms, n_radial): Aₗⱼ Mₙⱼ / d_maxʲ, j = l + 2t
    pub tail: Vec<f64>,
    /// √(4π) ∫ r² Rₙ(r) g(r) dr, the centre's own density on (l, m) = (0, 0)
    pub center_contribution: Vec<f64>,
}

/// Structure-independent tables of the Ewald split (lode/ewald/mod.rs) for one wide smearing σw:
/// the wide part is a k-space sum with `kspace` (its own smearing σw and k-cutoff), the
/// remainder a pair sum over the images closer than `cutoff`, with F^rem from `remainder`
/// (zero beyond the cutoff), plus the centre's own remainder and the removed constant
#[derive(Debug, Clone)]
pub struct SplitTables {
    /// σw = σ 2^{grid/4}; grid 0 is the pure k-space sum (no remainder)
    pub grid: i32,
    pub wide_smearing: f64,
    /// the wide part (center_atom_weight = 1, its k = 0 term where ĝ_σw(0) is finite)
    pub kspace: KSpaceTables,
    /// F^rem_ln on [0, min(cutoff, the narrow part's reach)], function l n_radial + n; None
    /// for grid 0
    pub remainder: Option<SplineTable>,
    /// where `remainder` ends at start < cutoff: (start, F^rem_ln(start + x) on
    /// [0, cutoff - start]), smooth on the scale of σw there
    pub remainder_far: Option<(f64, SplineTable)>,
    /// d_c: the real-space cutoff of the remainder
    pub cutoff: f64,
    /// F^rem_0n(0) Y₀₀, added to the (l, m) = (0, 0) features of the centre's own type
    pub self_term: Vec<f64>,
    /// 3D, 0 < p ≤ 3: √(4π) (f(σ) - f(σw)); the l = 0 features get -N_a × it / V × Iₙ₀(0)
    pub removed_constant: Option<f64>,
    /// slabs, 0 < p ≤ 2: √(4π) K; the l = 0 features get -N_a × it / A × Iₙ₀(0)
    pub removed_planar_constant: Option<f64>,
    /// of the calculator itself (smearing σ): the centre's own density and Iₙ₀(0)
    pub center_contribution: Vec<f64>,
    pub radial_at_zero: Vec<f64>,
}

/// Structure-independent tables of the k∥ = 0 part of slabs (lode/slab/mod.rs, lode/slab/planar.rs)
#[derive(Debug, Clone)]
pub struct PlanarTables {
    /// Pₗₙ(z) on [0, max(z_max, σ)], function l n_radial + n (Pₗₙ(-z) = (-1)ˡ Pₗₙ(z))
    pub spline: SplineTable,
    /// the k∥ ≠ 0 part: the k-space tables with Iₗₙ(k) splined to slab_k_bound
    pub kspace: KSpaceTables,
    /// the radius beyond which the basis is negligible, which sets the internal cell
    pub support: f64,
    /// with the Ewald split: the grid of heights of slabs on the mesh
    pub grid: Option<PlanarGridTable>,
}

/// The planar part on a grid of heights (lode/slab/planar_grid.rs) of slabs up to a thickness:
/// Σ_{j∈a} Pₗₙ(zᵢ - zⱼ) ≈ Σ_g Mₚ(uᵢ - g) Σ_b c[g - b] Σ_{j∈a} Mₚ(uⱼ - b), u = z / step - o
/// the grid coordinate, o = ⌊min z / step⌋ - order the grid's origin in steps, and a slab
/// needs ⌊max z / step⌋ - o + 2 ≤ `n_points` points
#[derive(Debug, Clone)]
pub struct PlanarGridTable {
    pub step: f64,
    /// of the cardinal B-splines Mₚ
    pub order: usize,
    pub n_points: usize,
    pub n_functions: usize,
    /// c\[d\] for d = -(n_points - 1)..n_points: (2 n_points - 1, n_functions)
    pub coefficients: Vec<f64>,
}

impl LodeSphericalExpansion {
    /// The tables of open systems. They need splined pair radial functions: the other
    /// implementation evaluates the same spline and tail, so both give the same numbers.
    pub fn pair_tables(&self) -> Result<PairTables, Error> {
        let radial = self.pair_radial()?;
        let spline = SplineTable::of_pairs(radial, "open-system")?;
        let n_radial = self.n_radial();
        let tails = radial.tail_terms();
        let tail_terms = tails.iter().map(|t| t.len() / n_radial).max().unwrap_or(0);
        let mut tail = vec![0.0; (self.parameters.max_angular + 1) * tail_terms * n_radial];
        for (l, terms) in tails.iter().enumerate() {
            let start = l * tail_terms * n_radial;
            tail[start..start + terms.len()].copy_from_slice(terms);
        }
        Ok(PairTables {
            spline,
            d_max: radial.d_max(),
            exponent: radial.exponent(),
            tail_terms,
            tail,
            center_contribution: self.kspace.center_contribution().to_vec(),
        })
    }

    /// The planar tables of slabs whose atoms span at most `z_max` along the normal; with
    /// `grid`, those of the wide part of the Ewald split with σw = σ 2^{grid/4}
    pub fn planar_tables(&self, z_max: f64, grid: Option<i32>) -> Result<PlanarTables, Error> {
        if !(z_max.is_finite() && z_max >= 0.0) {
            return Err(Error::InvalidParameter(format!(
                "the largest slab thickness must be a non-negative number, got {z_max}"
            )));
        }
        if let Some(grid) = grid {
            self.check_grid(grid)?;
            // the wide part is the same with either margins (lode/ewald/margins.rs)
            let split = match self.built_split(grid) {
                Some(split) => split,
                None => self.split_tables(grid, ewald::Margins::Tight)?,
            };
            return split.wide.planar_tables(z_max);
        }
        self.check_no_split()?;
        self.kspace.planar_tables(z_max)
    }

    fn check_grid(&self, grid: i32) -> Result<(), Error> {
        if self.parameters.accuracy.is_none() {
            return Err(Error::InvalidParameter(
                "the Ewald split needs `accuracy`".into(),
            ));
        }
        if !(0..=ewald::MAX_GRID).contains(&grid) {
            return Err(Error::InvalidParameter(format!(
                "the Ewald grid index must be between 0 and {}, got {grid}",
                ewald::MAX_GRID
            )));
        }
        Ok(())
    }

    /// The grid index j of the wide smearing σw = σ 2^{j/4} that the cost model chooses for
    /// `system` (3D-periodic or slab) when only values are computed, or the forced one
    pub fn ewald_grid(&self, system: &System) -> Result<i32, Error> {
        Ok(self.ewald_split(system)?.0)
    }

    /// The grid index j of `ewald_grid`, and whether the split's remainder has the wide
    /// margins of large cells, slabs and clusters (true) or the tight ones
    /// (lode/ewald/margins.rs)
    pub fn ewald_split(&self, system: &System) -> Result<(i32, bool), Error> {
        if self.parameters.accuracy.is_none() {
            return Err(Error::InvalidParameter(
                "the Ewald split needs `accuracy`".into(),
            ));
        }
        match self.plan(system, 0, Gradients::default())?.method {
            Method::Split { grid, margins, .. } => Ok((grid, margins == ewald::Margins::Wide)),
            _ => Err(Error::InvalidSystem(
                "system 0 is open and summed over all pairs, without Ewald split (large \
                 open systems with `accuracy` take one)"
                    .into(),
            )),
        }
    }

    /// The tables of the Ewald split with σw = σ 2^{grid/4} and the wide margins of large
    /// cells or the tight ones (`wide`, see `ewald_split`), for `accuracy` calculators
    pub fn split_tables_of_grid(&self, grid: i32, wide: bool) -> Result<SplitTables, Error> {
        self.check_grid(grid)?;
        let split = self.split_tables(grid, ewald::Margins::from_wide(wide))?;
        let remainder = split
            .remainder
            .as_ref()
            .map(|r| SplineTable::of_pairs(r, "Ewald split"))
            .transpose()?;
        let remainder_far = match &split.remainder {
            Some(r) => r
                .far_spline()?
                .map(|(start, spline)| (start, SplineTable::new(&spline))),
            None => None,
        };
        let p = self.parameters.exponent;
        let wide = split.wide_smearing();
        let root = (4.0 * std::f64::consts::PI).sqrt();
        let with_remainder = remainder.is_some();
        Ok(SplitTables {
            grid,
            wide_smearing: wide,
            kspace: split.wide.export(false)?,
            remainder,
            remainder_far,
            cutoff: split.cutoff,
            self_term: split.self_term().to_vec(),
            removed_constant: (with_remainder && p > 0.0 && p <= 3.0)
                .then(|| root * self.density.fourier_difference_at_zero(wide)),
            removed_planar_constant: (with_remainder && p > 0.0 && p <= 2.0)
                .then(|| root * self.density.planar_difference_at_zero(wide)),
            center_contribution: self.kspace.center_contribution().to_vec(),
            radial_at_zero: self.kspace.radial_at_zero.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exported tail, evaluated as Σₜ T[l, t, n] (d_max/d)^{l+2t} d^{-p}, and the
    /// exported spline at a grid point give the calculator's own pair functions
    #[test]
    fn pair_tables_evaluate_to_the_pair_functions() {
        for p in [1.0, 6.0, 2.5] {
            let calculator = LodeSphericalExpansion::from_json(&format!(
                r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 0.8, "exponent": {p}}},
                    "basis": {{"type": "TensorProduct", "max_angular": 2,
                              "radial": {{"type": "Gto", "max_radial": 1, "radius": 3.0}}}}}}"#
            ))
            .unwrap();
            let tables = calculator.pair_tables().unwrap();
            let radial = calculator.pair_radial().unwrap();
            let n = radial.n_functions();
            let (mut values, mut derivatives) = (vec![0.0; n], vec![0.0; n]);
            let size = 2;
            let d = 1.7 * tables.d_max;
            radial.compute(d, &mut values, &mut derivatives);
            for l in 0..3 {
                for k in 0..size {
                    let tail: f64 = (0..tables.tail_terms)
                        .map(|t| {
                            tables.tail[(l * tables.tail_terms + t) * size + k]
                                * (tables.d_max / d).powi((l + 2 * t) as i32)
                                * d.powf(-p)
                        })
                        .sum();
                    let expected = values[l * size + k];
                    assert!((tail - expected).abs() <= 1e-14 * expected.abs(), "p={p}");
                }
            }
            let point = 7;
            let d = point as f64 * tables.spline.step;
            radial.compute(d, &mut values, &mut derivatives);
            assert_eq!(
                &tables.spline.values[point * n..(point + 1) * n],
                &values[..]
            );
            assert_eq!(
                &tables.spline.derivatives[point * n..(point + 1) * n],
                &derivatives[..]
            );
        }
    }
}
