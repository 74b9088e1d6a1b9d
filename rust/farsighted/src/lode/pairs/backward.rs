//! Backward product of a pair sum Xᵢ,f = Σ_{(j, d)} P_f(d), P_f(d) = Fₗₙ(|d|) Yₗₘ(d̂), over
//! the pairs (j, d = rⱼ + T - rᵢ) of centre i: for L = Σᵢ Σ_f Gᵢ,f Xᵢ,f,
//!
//!   ∂L/∂rⱼ += vᵢⱼ, ∂L/∂rᵢ -= vᵢⱼ, Ξ_αβ += d_α vᵢⱼ,β with vᵢⱼ = Σ_f Gᵢ,f ∇_d P_f(d),
//!
//! Ξ the strain derivative (virial). Generic over the radial functions and the pairs so that
//! open systems (all j ≠ i, no image) and real-space parts over a neighbour list (several
//! images of one j, j = i with T ≠ 0) share it.

use rayon::prelude::*;

use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::kspace::ParityFeatures;
use crate::lode::pairs::neighbors::Neighbor;
use crate::lode::pairs::projection::PairProjection;
use crate::lode::radial::RadialFunctions;

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
    pairs: impl IntoIterator<Item = Neighbor>,
    g: G,
    output: &mut Accumulator,
) where
    R: Fn(f64, &mut [f64], &mut [f64]),
    G: Fn(usize) -> Option<&'g [f64]>,
{
    for Neighbor { atom: j, vector: d } in pairs {
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

/// G of one system as (centre × neighbour type, feature lm_index(l, m) * n_radial + n) rows,
/// the layout of [`PairProjection`], from the per-parity rows of `input`
pub(crate) fn feature_rows(input: &SystemInput, max_angular: usize, n_radial: usize) -> Vec<f64> {
    let n_features = (max_angular + 1).pow(2) * n_radial;
    let n_rows = input.centers.len() * input.neighbor_types.len();
    let mut g = vec![0.0; n_rows * n_features];
    for (parity, odd) in [false, true].into_iter().enumerate() {
        let features = ParityFeatures::new(max_angular, n_radial, odd);
        let n_local = features.len();
        for row in 0..n_rows {
            let source = &input.g[parity][row * n_local..(row + 1) * n_local];
            for (&global, &value) in features.global.iter().zip(source) {
                g[row * n_features + global] = value;
            }
        }
    }
    g
}

/// Backward product of the pair sums of all centres of `input`, the centres in parallel:
/// `pairs(c, i)` lists the pairs (j, d) of the c-th centre i, `g` holds the rows of
/// [`feature_rows`]
pub(crate) fn pair_sums_backward<P, I>(
    radial: &impl RadialFunctions,
    system: &crate::System,
    input: &SystemInput,
    g: &[f64],
    (max_angular, n_radial): (usize, usize),
    pairs: P,
) -> Accumulator
where
    P: Fn(usize, usize) -> I + Sync,
    I: Iterator<Item = Neighbor>,
{
    let n_atoms = system.size();
    let n_features = (max_angular + 1).pow(2) * n_radial;
    let n_types = input.neighbor_types.len();
    let nonzero: Vec<bool> = g
        .chunks(n_features)
        .map(|row| row.iter().any(|&v| v != 0.0))
        .collect();
    let atom_type = input.atom_type_index(system);

    // at most ~4 accumulators of N vectors per thread
    let min_len = input.centers.len() / (4 * rayon::current_num_threads()).max(1);
    input
        .centers
        .par_iter()
        .enumerate()
        .with_min_len(min_len.max(1))
        .fold(
            || {
                (
                    Accumulator::new(n_atoms),
                    PairProjection::new(max_angular, n_radial),
                )
            },
            |(mut output, mut projection), (c, &i)| {
                let row = |j: usize| {
                    let r = c * n_types + atom_type[j]?;
                    nonzero[r].then(|| &g[r * n_features..(r + 1) * n_features])
                };
                pair_backward(
                    &mut projection,
                    |r, f, df| radial.compute(r, f, df),
                    i,
                    pairs(c, i),
                    row,
                    &mut output,
                );
                (output, projection)
            },
        )
        .map(|(output, _)| output)
        .reduce(|| Accumulator::new(n_atoms), Accumulator::add)
}
