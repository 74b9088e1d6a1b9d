//! Atomic systems as the calculators see them, and their validation.

use crate::Error;

#[derive(Debug, Clone)]
pub struct System {
    /// Atomic types (usually atomic numbers)
    pub types: Vec<i32>,
    /// Cartesian positions, Å
    pub positions: Vec<[f64; 3]>,
    /// Cell vectors as rows, Å
    pub cell: [[f64; 3]; 3],
    /// Periodicity along each cell vector
    pub pbc: [bool; 3],
}

impl System {
    pub fn size(&self) -> usize {
        self.types.len()
    }

    pub fn volume(&self) -> f64 {
        let [a, b, c] = self.cell;
        let cross = [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ];
        (cross[0] * c[0] + cross[1] * c[1] + cross[2] * c[2]).abs()
    }

    /// Reciprocal vectors bᵢ (rows) with aᵢ·bⱼ = 2π δᵢⱼ
    pub fn reciprocal_cell(&self) -> [[f64; 3]; 3] {
        let [a, b, c] = self.cell;
        let cross = |u: [f64; 3], v: [f64; 3]| {
            [
                u[1] * v[2] - u[2] * v[1],
                u[2] * v[0] - u[0] * v[2],
                u[0] * v[1] - u[1] * v[0],
            ]
        };
        let bc = cross(b, c);
        let det = a[0] * bc[0] + a[1] * bc[1] + a[2] * bc[2];
        let factor = 2.0 * std::f64::consts::PI / det;
        let scale = |v: [f64; 3]| [v[0] * factor, v[1] * factor, v[2] * factor];
        [scale(bc), scale(cross(c, a)), scale(cross(a, b))]
    }

    /// Check that this system can be used by a calculator needing full 3D periodicity
    pub fn validate_periodic(&self, index: usize) -> Result<(), Error> {
        let name = format!("system {index}");
        if self.positions.len() != self.types.len() {
            return Err(Error::InvalidSystem(format!(
                "{name}: different number of positions and types"
            )));
        }
        if let Some(atom) = self
            .positions
            .iter()
            .position(|p| p.iter().any(|x| !x.is_finite()))
        {
            return Err(Error::InvalidSystem(format!(
                "{name}: position of atom {atom} is not finite (NaN or infinite)"
            )));
        }
        if self.cell.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::InvalidSystem(format!(
                "{name}: the cell contains NaN or infinite values"
            )));
        }
        if self.pbc != [true, true, true] {
            return Err(Error::InvalidSystem(format!(
                "{name}: only systems periodic in all three directions are supported for now (pbc={:?})",
                self.pbc
            )));
        }
        let lengths: f64 = self
            .cell
            .iter()
            .map(|v| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt())
            .product();
        if !(self.volume() > 1e-8 * lengths && lengths > 0.0) {
            return Err(Error::InvalidSystem(format!(
                "{name}: the cell is singular (zero volume); periodic systems need three independent cell vectors"
            )));
        }
        if self.types.is_empty() {
            return Err(Error::InvalidSystem(format!(
                "{name}: the system contains no atom"
            )));
        }
        Ok(())
    }
}
