//! The error type of the crate. Every failure is reported as an `Error`, never a panic, so that
//! the Python binding can turn it into a clear exception.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A hyper-parameter is missing, unknown or has an invalid value. The message names it.
    InvalidParameter(String),
    /// A system can not be used: non-finite positions, singular cell, unsupported boundaries...
    InvalidSystem(String),
    /// The calculation would need more memory than this machine has.
    OutOfMemory(String),
    /// A numerical procedure did not reach the requested accuracy.
    Numerical(String),
    /// Errors coming from metatensor when building TensorMaps
    Metatensor(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidParameter(m) => write!(f, "invalid parameter: {m}"),
            Error::InvalidSystem(m) => write!(f, "invalid system: {m}"),
            Error::OutOfMemory(m) => write!(f, "not enough memory: {m}"),
            Error::Numerical(m) => write!(f, "numerical error: {m}"),
            Error::Metatensor(m) => write!(f, "metatensor error: {m}"),
        }
    }
}

impl std::error::Error for Error {}
