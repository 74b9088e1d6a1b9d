//! Mathematical building blocks: special functions, spherical harmonics and their products
//! with r̂, spherical Bessel functions, quadrature and splines.

pub mod bessel;
pub mod direction_products;
pub mod harmonics;
mod incomplete_gamma;
pub mod quadrature;
pub mod special;
pub mod spline;
