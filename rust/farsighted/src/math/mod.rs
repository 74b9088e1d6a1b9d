//! Mathematical building blocks: special functions, spherical harmonics, spherical Bessel
//! functions, quadrature and splines.

pub mod bessel;
pub mod harmonics;
mod incomplete_gamma;
pub mod quadrature;
pub mod special;
pub mod spline;
