//! Atomic systems as the calculators see them, and their validation.

use std::collections::BTreeSet;

use crate::Error;

/// Atoms closer than this are reported as overlapping, most likely duplicated
pub const OVERLAP_DISTANCE: f64 = 1e-3;

/// Largest |fractional coordinate| accepted along a periodic direction. A position is only
/// known to 1e-16 of its size: 1e6 cells away from the origin, an atom's place in its cell is
/// uncertain by 1e-10 of the cell, and further away the features lose the digits the wrapping
/// into the cell loses (at 1e300 all of them). Unwrapped MD trajectories stay far below.
pub const MAX_FRACTIONAL_COORDINATE: f64 = 1e6;

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

    /// The distinct atomic types of the system, sorted: a set to look types up in, where a
    /// scan of the atoms per look-up would cost O(N) each time
    pub fn type_set(&self) -> BTreeSet<i32> {
        self.types.iter().copied().collect()
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

    /// The distance between the lattice planes of each cell vector's direction, 2π / |b_d|:
    /// the cell's height along that direction
    pub fn plane_spacings(&self) -> [f64; 3] {
        let two_pi = 2.0 * std::f64::consts::PI;
        self.reciprocal_cell()
            .map(|b| two_pi / (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt())
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
                "{name}: pbc={:?} is not 3D periodic; the calculators check slabs (two \
                 periodic directions) and open systems (none) with their own rules",
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
        let reciprocal = self.reciprocal_cell();
        for (atom, r) in self.positions.iter().enumerate() {
            for (d, b) in reciprocal.iter().enumerate() {
                let f = (b[0] * r[0] + b[1] * r[1] + b[2] * r[2]) / (2.0 * std::f64::consts::PI);
                if f.is_nan() || f.abs() > MAX_FRACTIONAL_COORDINATE {
                    return Err(Error::InvalidSystem(format!(
                        "{name}: atom {atom} is {f:.3e} cell vectors away from the origin along \
                         cell vector {d}; periodic positions must be within \
                         {MAX_FRACTIONAL_COORDINATE:e} cell vectors of the cell (further away \
                         wrapping them into the cell loses their digits): wrap them first"
                    )));
                }
            }
        }
        if let Some((i, j)) = self.overlapping_atoms(OVERLAP_DISTANCE) {
            return Err(Error::InvalidSystem(format!(
                "{name}: atoms {i} and {j} are closer than {OVERLAP_DISTANCE} Å (or one of their \
                 periodic images is); is an atom duplicated?"
            )));
        }
        Ok(())
    }

    /// A pair of atoms (including periodic images) closer than `distance`, found by hashing
    /// fractional coordinates into bins at least `distance` high along each direction
    fn overlapping_atoms(&self, distance: f64) -> Option<(usize, usize)> {
        let reciprocal = self.reciprocal_cell();
        let two_pi = 2.0 * std::f64::consts::PI;
        let bins = self
            .plane_spacings()
            .map(|height| ((height / distance).floor() as i64).clamp(1, 1 << 20));
        let mut grid: std::collections::HashMap<[i64; 3], Vec<usize>> =
            std::collections::HashMap::new();
        let mut fractional = Vec::with_capacity(self.size());
        for (i, r) in self.positions.iter().enumerate() {
            let f = [0, 1, 2].map(|d| {
                let b = reciprocal[d];
                let x = (b[0] * r[0] + b[1] * r[1] + b[2] * r[2]) / two_pi;
                x - x.floor()
            });
            let bin = [0, 1, 2].map(|d| ((f[d] * bins[d] as f64) as i64).min(bins[d] - 1));
            grid.entry(bin).or_default().push(i);
            fractional.push((bin, f));
        }
        for (i, &(bin, fi)) in fractional.iter().enumerate() {
            for offset in 0..27 {
                let shift = [offset % 3 - 1, offset / 3 % 3 - 1, offset / 9 - 1];
                let neighbor = [0, 1, 2].map(|d| (bin[d] + shift[d]).rem_euclid(bins[d]));
                for &j in grid.get(&neighbor).into_iter().flatten() {
                    if j <= i {
                        continue;
                    }
                    // minimum-image difference in fractional coordinates, then Cartesian
                    let df = [0, 1, 2].map(|d| {
                        let x = fractional[j].1[d] - fi[d];
                        x - x.round()
                    });
                    let dr =
                        [0, 1, 2].map(|a| (0..3).map(|d| df[d] * self.cell[d][a]).sum::<f64>());
                    if dr.iter().map(|x| x * x).sum::<f64>() < distance * distance {
                        return Some((i, j));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(positions: Vec<[f64; 3]>) -> System {
        System {
            types: vec![1; positions.len()],
            positions,
            cell: [[4.0, 0.0, 0.0], [1.5, 4.0, 0.0], [0.5, -0.7, 3.0]],
            pbc: [true; 3],
        }
    }

    #[test]
    fn overlapping_atoms() {
        assert!(system(vec![[0.1, 0.2, 0.3], [1.0, 1.0, 1.0]])
            .validate_periodic(0)
            .is_ok());
        let error =
            system(vec![[0.1, 0.2, 0.3], [1.0, 1.0, 1.0], [0.1, 0.2, 0.3004]]).validate_periodic(0);
        assert!(error.unwrap_err().to_string().contains("atoms 0 and 2"));
        // a periodic image: shifted by one cell vector, across the cell boundary
        let image = [0.1 + 4.0 + 1.5, 0.2 + 4.0, 0.3];
        assert!(system(vec![[0.1, 0.2, 0.3], image])
            .validate_periodic(0)
            .is_err());
        let near_image = [0.1 + 4.0 + 1.5 + 2e-3, 0.2 + 4.0, 0.3];
        assert!(system(vec![[0.1, 0.2, 0.3], near_image])
            .validate_periodic(0)
            .is_ok());
    }

    #[test]
    fn far_away_atoms() {
        // 1e5 cells away is fine, 1e300 Å is not (wrapping it loses every digit)
        assert!(system(vec![[0.1, 0.2, 0.3], [4e5, 1.0, 1.0]])
            .validate_periodic(0)
            .is_ok());
        for x in [1e300, -1e300, 4e7] {
            let error = system(vec![[0.1, 0.2, 0.3], [x, 1.0, 1.0]])
                .validate_periodic(0)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("atom 1") && error.contains("wrap"),
                "{error}"
            );
        }
    }
}
