//! Backward product of a pair sum Xᵢ,f = Σ_{(j, d)} P_f(d), P_f(d) = Fₗₙ(|d|) Yₗₘ(d̂), over
//! the pairs (j, d = rⱼ + T - rᵢ) of centre i: for L = Σᵢ Σ_f Gᵢ,f Xᵢ,f,
//!
//!   ∂L/∂rⱼ += vᵢⱼ, ∂L/∂rᵢ -= vᵢⱼ, Ξ_αβ += d_α vᵢⱼ,β with vᵢⱼ = Σ_f Gᵢ,f ∇_d P_f(d),
//!
//! Ξ the strain derivative (virial). A pair of two centres is computed once, for both: since
//! P_f(-d) = (-1)ˡ P_f(d), the two terms are one gradient contracted with Gᵢ,f + (-1)ˡ Gⱼ,f.
//! Generic over the radial functions and the pairs so that open systems (all j ≠ i, no image)
//! and real-space parts over a neighbour list (several images of one j, j = i with T ≠ 0)
//! share it.

use rayon::prelude::*;

use super::{owns, spatial_order};
use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::pairs::neighbors::Neighbor;
use crate::lode::pairs::projection::PairProjection;
use crate::lode::radial::RadialFunctions;

/// Backward product of the pair sums of all centres of `input`, the centres in parallel:
/// `pairs(c, i)` lists the pairs (j, d) of the c-th centre i, a pair of two centres from both
/// of them (the task that [`owns`] it computes it), with G by feature
/// (`SystemInput::by_feature`).
/// For j = i (an image of the centre) only the strain changes.
pub(crate) fn pair_sums_backward<P, I>(
    radial: &impl RadialFunctions,
    system: &crate::System,
    input: &SystemInput,
    (max_angular, n_radial): (usize, usize),
    pairs: P,
) -> Accumulator
where
    P: Fn(usize, usize) -> I + Sync,
    I: Iterator<Item = Neighbor>,
{
    let g = input.by_feature.as_slice();
    let n_atoms = system.size();
    let n_features = (max_angular + 1).pow(2) * n_radial;
    let n_types = input.neighbor_types.len();
    let nonzero: Vec<bool> = g
        .chunks(n_features)
        .map(|row| row.iter().any(|&v| v != 0.0))
        .collect();
    let atom_type = input.atom_type_index(system);
    let mut center_of = vec![None; n_atoms];
    for (c, &i) in input.centers.iter().enumerate() {
        center_of[i] = Some(c);
    }
    // the row of G of centre c (its c-th) for the type of atom j, None where it is zero
    let row = |c: usize, j: usize| {
        let r = c * n_types + atom_type[j]?;
        nonzero[r].then(|| &g[r * n_features..(r + 1) * n_features])
    };

    // at most ~4 accumulators of N vectors per thread; the centres in space-filling order, so
    // that the rows of G and of the accumulators that the pairs of a centre read and write
    // are mostly those of the centres just before it, still in cache (as in the values,
    // `sum_centers`)
    let min_len = input.centers.len() / (4 * rayon::current_num_threads()).max(1);
    spatial_order(system, &input.centers)
        .into_par_iter()
        .map(|c| (c, &input.centers[c]))
        .with_min_len(min_len.max(1))
        .fold(
            || {
                (
                    Accumulator::new(n_atoms),
                    PairProjection::new(max_angular, n_radial),
                    vec![0.0; n_features],
                )
            },
            |(mut output, mut projection, mut both), (c, &i)| {
                for Neighbor { atom: j, vector: d } in pairs(c, i) {
                    let mirrored = match center_of[j] {
                        Some(_) if j != i && !owns(n_atoms, i, j) => continue,
                        Some(cj) if j != i => row(cj, i),
                        _ => None,
                    };
                    let weights = match (row(c, j), mirrored) {
                        (None, None) => continue,
                        (Some(forward), None) => forward,
                        (forward, Some(mirrored)) => {
                            projection.pair_weights(forward, mirrored, &mut both);
                            &both
                        }
                    };
                    projection.prepare_gradients(d, |r, f, df| radial.compute(r, f, df));
                    let v = projection.contract_gradient(weights);
                    for a in 0..3 {
                        output.positions[j][a] += v[a];
                        output.positions[i][a] -= v[a];
                        for (strain, v) in output.strain[a].iter_mut().zip(v) {
                            *strain += d[a] * v;
                        }
                    }
                }
                (output, projection, both)
            },
        )
        .map(|(output, ..)| output)
        .reduce(|| Accumulator::new(n_atoms), Accumulator::add)
}
