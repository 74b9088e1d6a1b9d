//! Radial basis functions used to project densities and potentials.

mod gto;
pub use gto::GtoBasis;
