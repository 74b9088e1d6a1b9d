//! The tables that another implementation of the per-structure contraction needs (the
//! TorchScript modules of `farsighted.torch`): everything that does not depend on the
//! structure, computed here once so that the physics has one implementation.

use super::{effective_k_cutoff, LodeSphericalExpansion};
use crate::Error;

/// Structure-independent tables of the reciprocal-space sum
#[derive(Debug, Clone)]
pub struct KSpaceTables {
    /// the k-vectors summed are those with 0 < |k| < k_cutoff
    pub k_cutoff: f64,
    /// slabs: the k∥ ≠ 0 part sums the k with 0 < |k∥| < k_cutoff and |k| < slab_k_bound
    /// (≥ k_cutoff), on the internal cell (a, b, L n̂) of lode/slab.rs
    pub slab_k_bound: f64,
    /// Hermite spline of Iₗₙ(k) on a uniform grid of `n_points` points from 0 with spacing
    /// `step`: up to k_cutoff (`kspace_tables`) or to slab_k_bound (`slab_kspace_tables`)
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
        self.export_tables(false)
    }

    /// The tables of the pure reciprocal-space sum of slabs: the same, with the spline of
    /// Iₗₙ(k) reaching slab_k_bound
    pub fn slab_kspace_tables(&self) -> Result<KSpaceTables, Error> {
        self.export_tables(true)
    }

    fn export_tables(&self, slab: bool) -> Result<KSpaceTables, Error> {
        if self.parameters.accuracy.is_some() {
            return Err(Error::InvalidParameter(
                "the k-space tables of the Ewald split (accuracy) are not exported yet; \
                 use k_cutoff"
                    .into(),
            ));
        }
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
            k_cutoff: effective_k_cutoff(&self.parameters),
            slab_k_bound: self.slab_k_bound(),
            step: spline.step(),
            n_points,
            values: spline.values().to_vec(),
            derivatives: spline.derivatives().to_vec(),
            radial_at_zero: self.radial_at_zero.clone(),
            center_contribution: self.center_contribution.clone(),
            fourier_at_zero: self.density.fourier_at_zero(),
        })
    }
}
