//! The sums of every backward product: ∂L/∂rⱼ and the strain derivative Ξ of one system,
//! accumulated over k-vectors (lode/kspace/backward.rs), over centres (the planar part of
//! slabs, lode/slab/backward.rs; pair sums, lode/pairs/backward.rs), and added term by term
//! (the Ewald split). The plan turns the total into ∂L/∂cell by the geometry.

/// ∂L/∂positions and Ξ = ∂L/∂ε of (a part of) one system
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    /// ∂L/∂rⱼ
    pub positions: Vec<[f64; 3]>,
    /// Ξ_αβ for r' = r (1 + ε), h' = h (1 + ε)
    pub strain: [[f64; 3]; 3],
}

impl Accumulator {
    pub fn new(n_atoms: usize) -> Accumulator {
        Accumulator {
            positions: vec![[0.0; 3]; n_atoms],
            strain: [[0.0; 3]; 3],
        }
    }

    /// The sum of two partial accumulations (rayon's reduce, and the terms of a method)
    pub fn add(mut self, other: Accumulator) -> Accumulator {
        for (a, b) in self.positions.iter_mut().zip(&other.positions) {
            for alpha in 0..3 {
                a[alpha] += b[alpha];
            }
        }
        for (a, b) in self.strain.iter_mut().zip(&other.strain) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }
}
