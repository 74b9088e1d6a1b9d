//! Backward product of a pair sum Xᵢ,f = Σ_{(j, d)} P_f(d), P_f(d) = Fₗₙ(|d|) Yₗₘ(d̂), over
//! the pairs (j, d = rⱼ + T - rᵢ) of centre i: for L = Σᵢ Σ_f Gᵢ,f Xᵢ,f,
//!
//!   ∂L/∂rⱼ += vᵢⱼ, ∂L/∂rᵢ -= vᵢⱼ, Ξ_αβ += d_α vᵢⱼ,β with vᵢⱼ = Σ_f Gᵢ,f ∇_d P_f(d),
//!
//! Ξ the strain derivative (virial). Generic over the radial functions and the pairs so that
//! open systems (all j ≠ i, no image) and real-space parts over a neighbour list (several
//! images of one j, j = i with T ≠ 0) share it.

use super::pair_projection::PairProjection;

/// ∂L/∂positions and ∂L/∂strain of the pair sums of one system, summed over centres
#[derive(Debug, Clone)]
pub(crate) struct PairGradients {
    pub positions: Vec<[f64; 3]>,
    pub strain: [[f64; 3]; 3],
}

impl PairGradients {
    pub fn new(n_atoms: usize) -> PairGradients {
        PairGradients {
            positions: vec![[0.0; 3]; n_atoms],
            strain: [[0.0; 3]; 3],
        }
    }

    /// Sum of two partial accumulations (for rayon's reduce)
    pub fn add(mut self, other: PairGradients) -> PairGradients {
        for (a, b) in self.positions.iter_mut().zip(&other.positions) {
            for alpha in 0..3 {
                a[alpha] += b[alpha];
            }
        }
        for alpha in 0..3 {
            for beta in 0..3 {
                self.strain[alpha][beta] += other.strain[alpha][beta];
            }
        }
        self
    }
}

/// Accumulate the backward product of the pairs (j, d) of centre `center` into `output`.
///
/// `radial(|d|, F, dF/dd)` gives the pair radial functions (index l * n_radial + n, as for
/// [`PairProjection`]); `g(j)` the row of G (all features lm_index(l, m) * n_radial + n) for
/// the neighbour type of atom j, or `None` when it is zero. A neighbour may appear several
/// times (periodic images); for j = i only the strain changes.
pub(crate) fn pair_backward<'g, R, G>(
    projection: &mut PairProjection,
    radial: R,
    center: usize,
    pairs: impl IntoIterator<Item = (usize, [f64; 3])>,
    g: G,
    output: &mut PairGradients,
) where
    R: Fn(f64, &mut [f64], &mut [f64]),
    G: Fn(usize) -> Option<&'g [f64]>,
{
    for (j, d) in pairs {
        let Some(row) = g(j) else {
            continue;
        };
        let mut v = [0.0; 3];
        projection.for_each(d, &radial, |feature, _, gradient| {
            let weight = row[feature];
            for a in 0..3 {
                v[a] += weight * gradient[a];
            }
        });
        for a in 0..3 {
            output.positions[j][a] += v[a];
            output.positions[center][a] -= v[a];
            for (strain, v) in output.strain[a].iter_mut().zip(v) {
                *strain += d[a] * v;
            }
        }
    }
}
