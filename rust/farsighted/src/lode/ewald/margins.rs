//! How far below ε the Ewald split puts its three truncations: the wide part's k-space cutoff
//! k_c, the remainder's real-space cutoff d_c, and the aliasing of the mesh (lode/mesh/).
//!
//! The error of a truncation, relative to the largest entry of a block, depends on how the
//! truncated terms add up. In a cell smaller than d_c, the few terms past each cutoff (images
//! of the same atoms, wave vectors of a coarse lattice) add coherently, and the margins must
//! cover the worst of them: random triclinic cells of 5 Å, σ up to 2 Å, reach 0.8 ε with the
//! tight margins. In a cell at least 2 d_c wide along every direction, many atoms and wave
//! vectors contribute near each cutoff with random phases, and the tight margins leave the
//! error at 1e-3 to 1e-2 of ε: time spent on accuracy nobody asked for. Such cells get the
//! averaged margins, measured on random Na/Cl boxes of 1000 and 2000 atoms at 0.04 atoms/Å³
//! (σ = 1 Å, p = 1 and 6, ε = 1e-3 to 1e-8) against the converged k-space sum: values within
//! 0.008 to 0.33 ε, and the backward product's forces and cell gradient within 0.002 to 0.11 ε
//! (tests/test_mesh.py, benchmarks/lode_mesh.py).

use crate::lode::plan::Geometry;
use crate::System;

/// The margins of the split's truncations (module documentation)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Margins {
    /// cells narrower than 2 d_c, and slabs
    Tight,
    /// 3D-periodic cells at least 2 d_c wide along every direction
    Averaged,
}

impl Margins {
    pub fn from_averaged(averaged: bool) -> Margins {
        if averaged {
            Margins::Averaged
        } else {
            Margins::Tight
        }
    }

    /// The margins of a cell whose remainder reaches `cutoff` with the averaged margins
    pub fn of_cell(system: &System, geometry: Geometry, cutoff: f64) -> Margins {
        if geometry != Geometry::Bulk {
            return Margins::Tight;
        }
        // the distances between the lattice planes, 2π / |b_d|
        let narrowest = system
            .reciprocal_cell()
            .iter()
            .map(|b| 2.0 * std::f64::consts::PI / (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt())
            .fold(f64::INFINITY, f64::min);
        if narrowest >= 2.0 * cutoff {
            Margins::Averaged
        } else {
            Margins::Tight
        }
    }

    /// k_c σw = √(2 ln(k_scale/ε)): the wide part's k-space terms decay like e^{-k²σw²/2}.
    /// With 10 instead of the tight 100, the tests of lode/ewald/ reached 1.0 ε (σw = 4 Å in a
    /// 5 Å cell).
    pub fn k_scale(self) -> f64 {
        match self {
            Margins::Tight => 100.0,
            Margins::Averaged => 3.0,
        }
    }

    /// d_c is where max_n |F^rem_ln| falls below r_scale ε max_d,n |F^rem_ln|. With 1e-3
    /// instead of the tight 1e-4, the tests of lode/ewald/ reached 0.8 ε (σ = 2, σw = 3.4 Å).
    pub fn r_scale(self) -> f64 {
        match self {
            Margins::Tight => 1e-4,
            Margins::Averaged => 1e-2,
        }
    }

    /// The accuracy the mesh's aliasing bound (lode/mesh/size.rs) is held to: the bound is a
    /// worst case, which the tests of the mesh need on small cells
    pub fn mesh_target(self, accuracy: f64) -> f64 {
        match self {
            Margins::Tight => accuracy,
            Margins::Averaged => 10.0 * accuracy,
        }
    }

    /// The reach of the remainder in units of σw: d_c ≈ radius + σw √(2 ln(1/(r_scale ε))),
    /// where the Gaussian tail of g_σw falls below r_scale ε
    pub fn reach(self, accuracy: f64) -> f64 {
        (2.0 * (1.0 / (self.r_scale() * accuracy)).ln()).sqrt()
    }
}
