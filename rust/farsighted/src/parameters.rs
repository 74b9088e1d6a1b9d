//! Hyper-parameters, read from the same JSON dictionaries as featomic's
//! `LodeSphericalExpansion`. Every unknown key and invalid value is an error naming the key.

use serde_json::{Map, Value};

use crate::Error;

/// Largest angular order accepted; beyond it the calculation would be unreasonable and
/// the recurrences lose accuracy.
pub const MAX_ANGULAR_LIMIT: usize = 30;
/// Largest radial index accepted: the GTO basis is numerically singular well before.
pub const MAX_RADIAL_LIMIT: usize = 40;
/// Largest density exponent p accepted. The k-space sum builds the potential of a neighbour
/// at distance d, ~d⁻ᵖ, from terms of the size of g_p(0) = 1/(Γ(p/2+1) (2σ²)^{p/2}), so the
/// relative accuracy of such features degrades like (d/σ)ᵖ / (Γ(p/2+1) 2^{p/2}), ×2.5 per unit
/// of p at d = 8σ. Measured on the potential at d = 8σ in a periodic cell against the direct
/// lattice sum: 2e-10 at p = 9, 2e-9 at p = 12, 1e-8 at p = 15.
pub const MAX_EXPONENT: f64 = 9.0;
/// Largest `accuracy` accepted: coarser splits would not describe the potential.
pub const MAX_ACCURACY: f64 = 0.1;
/// Smallest `accuracy` accepted. The split's tables are splined to 1e-2 ε of their size: below
/// ε = 1e-11 this is under the rounding of the functions themselves (quadratures, measured
/// 3e-14 to 8e-14 of their size), so that no table reaches it (before this bound, ε = 1e-16
/// refined the tables for minutes; ε = 1e-11 builds them in 5 s on 2 cores).
pub const MIN_ACCURACY: f64 = 1e-11;

#[derive(Debug, Clone, PartialEq)]
pub struct LodeParameters {
    pub smearing: f64,
    pub exponent: f64,
    pub center_atom_weight: f64,
    pub max_angular: usize,
    pub max_radial: usize,
    pub radius: f64,
    /// Absolute accuracy of the splined radial integrals, or None for exact quadrature per k
    pub spline_accuracy: Option<f64>,
    pub k_cutoff: Option<f64>,
    /// Requested accuracy ε of the Ewald split for periodic systems (None: pure k-space sum)
    pub accuracy: Option<f64>,
    /// How the split sums its wide part (`"reciprocal"`)
    pub reciprocal: Reciprocal,
}

/// How the Ewald split sums its wide, smooth part: the cost model's choice per system, or the
/// method a user forces
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reciprocal {
    /// the cheaper of the two by the cost model (`"auto"`, the default)
    #[default]
    Auto,
    /// the sum over k-vectors, O(N²) at fixed density (`"kspace"`)
    KSpace,
    /// smooth particle-mesh Ewald, O(N log N) (`"mesh"`)
    Mesh,
}

impl LodeParameters {
    /// Parse `{"density": ..., "basis": ..., "k_cutoff": ...}` as featomic does.
    pub fn from_json(json: &str) -> Result<LodeParameters, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::InvalidParameter(format!("hyper-parameters are not valid JSON: {e}"))
        })?;
        let root = object(&value, "hyper-parameters")?;
        check_keys(
            root,
            "",
            &["density", "basis", "k_cutoff", "accuracy", "reciprocal"],
        )?;

        let density = object(required(root, "", "density")?, "density")?;
        check_keys(
            density,
            "density.",
            &[
                "type",
                "smearing",
                "exponent",
                "center_atom_weight",
                "scaling",
            ],
        )?;
        let kind = string(required(density, "density.", "type")?, "density.type")?;
        if kind != "SmearedPowerLaw" {
            return Err(Error::InvalidParameter(format!(
                "density.type must be 'SmearedPowerLaw' for LODE, got '{kind}'"
            )));
        }
        if density.get("scaling").is_some_and(|v| !v.is_null()) {
            return Err(Error::InvalidParameter(
                "density.scaling is not supported by LODE".into(),
            ));
        }
        let smearing = number(
            required(density, "density.", "smearing")?,
            "density.smearing",
        )?;
        if !(smearing > 0.0 && smearing.is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "density.smearing must be a positive finite number, got {smearing}"
            )));
        }
        let exponent = number(
            required(density, "density.", "exponent")?,
            "density.exponent",
        )?;
        if !(0.0..=MAX_EXPONENT).contains(&exponent) {
            return Err(Error::InvalidParameter(format!(
                "density.exponent must be a real number between 0 and {MAX_EXPONENT}, got {exponent}"
            )));
        }
        let center_atom_weight = match density.get("center_atom_weight") {
            None => 1.0,
            Some(v) => number(v, "density.center_atom_weight")?,
        };
        if !center_atom_weight.is_finite() {
            return Err(Error::InvalidParameter(
                "density.center_atom_weight must be finite".into(),
            ));
        }

        let basis = object(required(root, "", "basis")?, "basis")?;
        check_keys(
            basis,
            "basis.",
            &["type", "max_angular", "radial", "spline_accuracy"],
        )?;
        let kind = string(required(basis, "basis.", "type")?, "basis.type")?;
        if kind != "TensorProduct" {
            return Err(Error::InvalidParameter(format!(
                "basis.type must be 'TensorProduct', got '{kind}'"
            )));
        }
        let max_angular = integer(
            required(basis, "basis.", "max_angular")?,
            "basis.max_angular",
        )?;
        if max_angular > MAX_ANGULAR_LIMIT {
            return Err(Error::InvalidParameter(format!(
                "basis.max_angular={max_angular} is too large (at most {MAX_ANGULAR_LIMIT})"
            )));
        }
        let spline_accuracy = match basis.get("spline_accuracy") {
            None => Some(1e-8),
            Some(Value::Null) => None,
            Some(v) => {
                let accuracy = number(v, "basis.spline_accuracy")?;
                if !(accuracy > 0.0 && accuracy.is_finite()) {
                    return Err(Error::InvalidParameter(format!(
                        "basis.spline_accuracy must be positive (or null for no spline), got {accuracy}"
                    )));
                }
                Some(accuracy)
            }
        };

        let radial = object(required(basis, "basis.", "radial")?, "basis.radial")?;
        check_keys(radial, "basis.radial.", &["type", "max_radial", "radius"])?;
        let kind = string(
            required(radial, "basis.radial.", "type")?,
            "basis.radial.type",
        )?;
        if kind != "Gto" {
            return Err(Error::InvalidParameter(format!(
                "basis.radial.type must be 'Gto', got '{kind}'"
            )));
        }
        let max_radial = integer(
            required(radial, "basis.radial.", "max_radial")?,
            "basis.radial.max_radial",
        )?;
        if max_radial > MAX_RADIAL_LIMIT {
            return Err(Error::InvalidParameter(format!(
                "basis.radial.max_radial={max_radial} is too large (at most {MAX_RADIAL_LIMIT})"
            )));
        }
        let radius = number(
            required(radial, "basis.radial.", "radius")?,
            "basis.radial.radius",
        )?;
        if !(radius > 0.0 && radius.is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "basis.radial.radius must be a positive finite number, got {radius}"
            )));
        }

        let k_cutoff = match root.get("k_cutoff") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let k = number(v, "k_cutoff")?;
                if !(k > 0.0 && k.is_finite()) {
                    return Err(Error::InvalidParameter(format!(
                        "k_cutoff must be a positive finite number, got {k}"
                    )));
                }
                Some(k)
            }
        };

        let accuracy = match root.get("accuracy") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let accuracy = number(v, "accuracy")?;
                if !(accuracy > 0.0 && accuracy <= MAX_ACCURACY) {
                    return Err(Error::InvalidParameter(format!(
                        "accuracy must be a number in (0, {MAX_ACCURACY}], got {accuracy}"
                    )));
                }
                if accuracy < MIN_ACCURACY {
                    return Err(Error::InvalidParameter(format!(
                        "accuracy={accuracy:e} is below what double precision delivers: the \
                         Ewald split's tables would have to be accurate to 1e-2 accuracy, under \
                         the rounding of their quadratures (about 5e-14); use accuracy >= \
                         {MIN_ACCURACY:e}, or k_cutoff for the pure k-space sum"
                    )));
                }
                if k_cutoff.is_some() {
                    return Err(Error::InvalidParameter(
                        "accuracy and k_cutoff can not be given together: accuracy chooses the \
                         k-space cutoff of the Ewald split, k_cutoff that of the pure k-space sum"
                            .into(),
                    ));
                }
                Some(accuracy)
            }
        };

        let reciprocal = match root.get("reciprocal") {
            None | Some(Value::Null) => Reciprocal::Auto,
            Some(v) => match v.as_str() {
                Some("auto") => Reciprocal::Auto,
                Some("kspace") => Reciprocal::KSpace,
                Some("mesh") => Reciprocal::Mesh,
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "reciprocal must be 'auto', 'kspace' or 'mesh', got {v}"
                    )))
                }
            },
        };
        if reciprocal != Reciprocal::Auto && accuracy.is_none() {
            return Err(Error::InvalidParameter(
                "reciprocal chooses how the Ewald split sums its wide part: it needs `accuracy`"
                    .into(),
            ));
        }

        Ok(LodeParameters {
            smearing,
            exponent,
            center_atom_weight,
            max_angular,
            max_radial,
            radius,
            spline_accuracy,
            k_cutoff,
            accuracy,
            reciprocal,
        })
    }

    /// The k-space cutoff: the given one, or featomic's default 1.2π/σ
    pub fn k_cutoff(&self) -> f64 {
        self.k_cutoff
            .unwrap_or(1.2 * std::f64::consts::PI / self.smearing)
    }
}

fn object<'a>(value: &'a Value, name: &str) -> Result<&'a Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| Error::InvalidParameter(format!("{name} must be a dictionary, got {value}")))
}

fn required<'a>(map: &'a Map<String, Value>, prefix: &str, key: &str) -> Result<&'a Value, Error> {
    map.get(key)
        .ok_or_else(|| Error::InvalidParameter(format!("missing hyper-parameter {prefix}{key}")))
}

fn check_keys(map: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), Error> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::InvalidParameter(format!(
                "unknown hyper-parameter {prefix}{key} (expected one of: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn number(value: &Value, name: &str) -> Result<f64, Error> {
    value
        .as_f64()
        .ok_or_else(|| Error::InvalidParameter(format!("{name} must be a number, got {value}")))
}

fn integer(value: &Value, name: &str) -> Result<usize, Error> {
    match value.as_u64() {
        Some(v) => Ok(v as usize),
        None => Err(Error::InvalidParameter(format!(
            "{name} must be a non-negative integer, got {value}"
        ))),
    }
}

fn string<'a>(value: &'a Value, name: &str) -> Result<&'a str, Error> {
    value
        .as_str()
        .ok_or_else(|| Error::InvalidParameter(format!("{name} must be a string, got {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
        "basis": {"type": "TensorProduct", "max_angular": 4,
                  "radial": {"type": "Gto", "max_radial": 5, "radius": 4.0}}
    }"#;

    #[test]
    fn defaults() {
        let p = LodeParameters::from_json(GOOD).unwrap();
        assert_eq!(p.center_atom_weight, 1.0);
        assert_eq!(p.spline_accuracy, Some(1e-8));
        assert!((p.k_cutoff() - 1.2 * std::f64::consts::PI).abs() < 1e-15);
    }

    #[test]
    fn real_exponents() {
        for p in [0.0, 1e-3, 0.5, 2.5, 3.0, 4.3, 9.0] {
            let json = GOOD.replace("\"exponent\": 1", &format!("\"exponent\": {p}"));
            assert_eq!(LodeParameters::from_json(&json).unwrap().exponent, p);
        }
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                GOOD.replace("\"smearing\": 1.0", "\"smearing\": -1.0"),
                "density.smearing",
            ),
            (
                GOOD.replace("\"smearing\": 1.0", "\"smearing\": \"1\""),
                "density.smearing",
            ),
            (
                GOOD.replace("\"exponent\": 1", "\"exponent\": 12"),
                "density.exponent",
            ),
            (
                GOOD.replace("\"exponent\": 1", "\"exponent\": -0.5"),
                "density.exponent",
            ),
            (
                GOOD.replace("\"exponent\": 1", "\"exponent\": 9.01"),
                "density.exponent",
            ),
            (
                GOOD.replace("\"max_angular\": 4", "\"max_angular\": 400"),
                "basis.max_angular",
            ),
            (
                GOOD.replace("\"radius\": 4.0", "\"radius\": 0"),
                "basis.radial.radius",
            ),
            (
                GOOD.replace("\"radius\": 4.0", "\"radius\": 4.0, \"cutoff\": 3"),
                "basis.radial.cutoff",
            ),
            (
                GOOD.replace("\"exponent\": 1", "\"exponent\": 1, \"width\": 1"),
                "density.width",
            ),
            (
                GOOD.replace("4.0}}", "4.0}}, \"accuracy\": 0.5"),
                "accuracy",
            ),
            (GOOD.replace("4.0}}", "4.0}}, \"accuracy\": 0"), "accuracy"),
            (
                GOOD.replace("4.0}}", "4.0}}, \"accuracy\": 1e-16"),
                "below what double precision delivers",
            ),
            (
                GOOD.replace("4.0}}", "4.0}}, \"accuracy\": 1e-4, \"k_cutoff\": 3"),
                "can not be given together",
            ),
        ];
        for (json, key) in cases {
            let error = LodeParameters::from_json(&json).unwrap_err().to_string();
            assert!(error.contains(key), "'{error}' does not name {key}");
        }
    }
}
