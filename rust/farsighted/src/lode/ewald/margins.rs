//! How far below ε the Ewald split puts its truncations: the wide part's k-space cutoff k_c,
//! the aliasing of the mesh (lode/mesh/), and the remainder's real-space cutoff d_c.
//!
//! The error of a truncation relative to the largest entry of a block depends on the system:
//! a rattled rock-salt crystal of 1000 atoms reached 3 ε at ε = 1e-3 with margins measured on
//! random boxes (3 in place of `K_SCALE`, the aliasing bound held to 10 ε), where a random box
//! of the same size and density stays at 0.3 ε. So k_c and the mesh keep the margins the
//! crystal needs at every size (`K_SCALE`, and the aliasing bound of lode/mesh/size.rs held to
//! ε). What separates the two is the size of their blocks, not the absolute error: the random
//! box's largest entries are 9 to 60 times the crystal's (docs/theory.rst, "Why the random box
//! is more accurate"), so that margins which keep crystals within ε leave random boxes near
//! ε/100.
//!
//! The terms past d_c are pairs of atoms. In a cell narrower than 2 d_c, many of them are
//! images of the same atoms, whose tails add up over many cells: random triclinic cells of
//! 5 Å, σ up to 2 Å, reach 0.8 ε with the tight r_scale. In a cell (or slab, in its plane, or
//! cluster) at least 2 d_c wide they are distinct atoms and the wide r_scale holds. Measured
//! against the converged sums at ε = 1e-3 to 1e-8 with the wide r_scale forced on boxes of
//! 1000 atoms (28-29 Å, the mesh, σw of the cost model): a rattled rock-salt crystal within
//! 0.15 to 0.41 ε, a random Na/Cl box at 0.04 atoms/Å³ within 0.008 to 0.02 ε; on slabs of
//! 29 Å, narrower than 2 d_c, a crystal within 0.02 to 0.09 ε and random atoms within 0.02 to
//! 0.04 ε. With the margins chosen by width, the crystal is within 0.03 to 0.15 ε and the
//! random box within 0.005 to 0.016 ε (tests/test_mesh.py, benchmarks/lode_mesh.py).

use crate::lode::plan::Geometry;
use crate::lode::slab::Plane;
use crate::System;

/// k_c σw = √(2 ln(K_SCALE/ε)): the wide part's k-space terms decay like e^{-k²σw²/2}, and
/// those past k_c must stay within ε of the small blocks of crystals (module documentation)
pub(crate) const K_SCALE: f64 = 100.0;

/// The margins of the split's remainder (module documentation)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Margins {
    /// cells, slabs and clusters narrower than 2 d_c
    Tight,
    /// cells, slabs (in their plane) and clusters at least 2 d_c wide along every direction
    Wide,
}

impl Margins {
    pub fn from_wide(wide: bool) -> Margins {
        if wide {
            Margins::Wide
        } else {
            Margins::Tight
        }
    }

    /// The margins of a cell, slab or cluster of `narrowest` width whose remainder reaches
    /// `cutoff` with the wide margins
    pub fn of_width(narrowest: f64, cutoff: f64) -> Margins {
        Margins::from_wide(narrowest >= 2.0 * cutoff)
    }

    /// The margins of a 3D-periodic cell or slab whose remainder reaches `cutoff` with the
    /// wide margins: its width is the narrowest distance between its lattice planes (lines,
    /// in the plane of a slab)
    pub fn of_cell(system: &System, geometry: Geometry, cutoff: f64) -> Margins {
        let narrowest = match geometry {
            Geometry::Bulk => system
                .plane_spacings()
                .into_iter()
                .fold(f64::INFINITY, f64::min),
            Geometry::Slab => Plane::new(system).narrowest(),
            Geometry::Open => return Margins::Tight,
        };
        Margins::of_width(narrowest, cutoff)
    }

    /// d_c is where max_n |F^rem_ln| falls below r_scale ε max_d,n |F^rem_ln|. With 1e-3
    /// instead of the tight 1e-4, the tests of lode/ewald/ reached 0.8 ε (σ = 2, σw = 3.4 Å).
    pub fn r_scale(self) -> f64 {
        match self {
            Margins::Tight => 1e-4,
            Margins::Wide => 1e-2,
        }
    }

    /// The reach of the remainder in units of σw: d_c ≈ radius + σw √(2 ln(1/(r_scale ε))),
    /// where the Gaussian tail of g_σw falls below r_scale ε
    pub fn reach(self, accuracy: f64) -> f64 {
        (2.0 * (1.0 / (self.r_scale() * accuracy)).ln()).sqrt()
    }
}
