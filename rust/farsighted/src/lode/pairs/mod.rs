//! Sum of pair projections Fₗₙ(|d|) Yₗₘ(d̂) over the neighbours of every centre, shared by open
//! systems (all other atoms) and the real-space remainder of the Ewald split (periodic images
//! within a cutoff). Values go to (centre, type, feature) rows, strain to the virial
//! Σ d_α ∂/∂d_β, and positions gradients ∂/∂rⱼ are accumulated into the gradient rows of the
//! centres' samples (a neighbour seen with several shifts sums its terms).
//!
//! A pair of two centres is computed once and added to both: seen from j, d → -d, so
//! Fₗₙ Yₗₘ and the virial d ⊗ ∇ get (-1)ˡ and the gradient ∂Vⱼ/∂rᵢ = (-1)ˡ⁺¹ ∂Vᵢ/∂rⱼ.

pub(crate) mod backward;
pub(crate) mod neighbors;
pub(crate) mod open;
pub(crate) mod projection;
pub(crate) mod radial;

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::lode::morton::morton_order;
use crate::lode::pairs::neighbors::Neighbor;
use crate::lode::pairs::projection::PairProjection;
use crate::lode::positions::{channel_rows, swapped_pair_sign, PositionsLayout, SharedRows};
use crate::lode::radial::RadialFunctions;
use crate::System;

/// What is shared by all centres of one system
pub(crate) struct PairSum<'a, R: RadialFunctions> {
    /// Fₗₙ(|d|), index l * n_radial + n
    pub radial: &'a R,
    pub system: &'a System,
    pub type_index: &'a BTreeMap<i32, usize>,
    pub max_angular: usize,
    pub n_radial: usize,
    pub strain: bool,
    pub layout: Option<&'a PositionsLayout>,
    pub outputs: &'a [Option<SharedRows>],
}

/// Largest memory of the per-thread accumulators of all centres that the symmetric sum needs:
/// 1 GiB, or a quarter of the memory available where that is more (values of 10⁶ atoms on two
/// threads: 4.8 GB); beyond it each centre sums all its own pairs, twice the work
fn symmetric_memory() -> usize {
    let available = crate::available_memory().unwrap_or(0) as usize;
    (1 << 30).max(available / 4)
}
/// Most accumulators per thread of the symmetric sum: more than one lets rayon balance the
/// threads when the machine is shared; fewer are used where memory asks for it (10⁵ atoms)
const ACCUMULATORS: usize = 4;

/// Accumulators per thread of the symmetric sum of accumulators of `bytes` each (0: each
/// centre sums all its own pairs); positions gradients need the symmetric sum (their rows are
/// shared), whatever its memory
pub(crate) fn accumulators_per_thread(bytes: usize, positions: bool) -> usize {
    if positions {
        return ACCUMULATORS;
    }
    let threads = rayon::current_num_threads();
    (symmetric_memory() / (threads * bytes).max(1)).min(ACCUMULATORS)
}

/// Whether, of two centres i ≠ j among `n` atoms, the task of i computes their pairs for both
/// (symmetric sums): about half of the pairs of each centre, so that the tasks are balanced
pub(crate) fn owns(n: usize, i: usize, j: usize) -> bool {
    let ahead = (j + n - i) % n;
    2 * ahead < n || (2 * ahead == n && i < j)
}

/// n zeros, each page written once: the accumulators are read before they are written, and a
/// freshly mapped page that is read first maps the shared zero page, whose copy on the first
/// write then interrupts every thread to flush its TLB (12% of the remainder's time at 10⁴
/// atoms, 2 threads)
fn written_zeros(n: usize) -> Vec<f64> {
    let mut zeros = vec![0.0; n];
    for page in zeros.chunks_mut(512) {
        page[0] = std::hint::black_box(0.0);
    }
    zeros
}

/// Values (centre, type, feature) and strain (centre, type, αβ, feature) of all centres
pub(crate) struct PairSums {
    pub values: Vec<f64>,
    pub strain: Vec<f64>,
}

impl PairSums {
    fn add(mut self, other: PairSums) -> PairSums {
        for (a, b) in [
            (&mut self.values, other.values),
            (&mut self.strain, other.strain),
        ] {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self
    }
}

/// Indices into `centers` sorted along a Morton curve through boxes of 4 Å (any geometry:
/// Cartesian positions, relative to the smallest of each coordinate), so that centres near
/// each other in space are near each other in the order
pub(crate) fn spatial_order(system: &System, centers: &[usize]) -> Vec<usize> {
    const BOX: f64 = 4.0;
    let lowest = centers.iter().fold([f64::INFINITY; 3], |low, &i| {
        [0, 1, 2].map(|a| low[a].min(system.positions[i][a]))
    });
    morton_order(centers.len(), |c| {
        let r = system.positions[centers[c]];
        [0, 1, 2].map(|a| ((r[a] - lowest[a]) / BOX) as u64)
    })
}

/// Per-thread scratch
struct PairScratch {
    projection: PairProjection,
    /// (xyz, feature)
    gradient: Vec<f64>,
    /// the positions gradient rows of the current neighbour, by `channel_rows`
    accumulated: Vec<f64>,
    /// which l are in `accumulated`
    used: Vec<bool>,
}

/// The current neighbour j of centre i, whose gradient rows are in `accumulated`
struct Pending<'a> {
    j: usize,
    /// blocks (index, l) of rows (i, j), and of the mirrored rows (j, i)
    forward: &'a [(usize, usize)],
    mirrored: &'a [(usize, usize)],
}

impl<R: RadialFunctions> PairSum<'_, R> {
    pub fn n_features(&self) -> usize {
        (self.max_angular + 1).pow(2) * self.n_radial
    }

    fn scratch(&self) -> PairScratch {
        PairScratch {
            projection: PairProjection::new(self.max_angular, self.n_radial),
            gradient: vec![0.0; 3 * self.n_features()],
            accumulated: vec![0.0; 3 * self.n_features()],
            used: vec![false; self.max_angular + 1],
        }
    }

    /// Pair sums of all `centers`, with the neighbours (j, d = rⱼ + T - rᵢ) of centre
    /// `centers[c]` from `neighbors(c)` (j = i, an image of the centre, enters the strain but
    /// not the positions gradients), the images of one
    /// neighbour consecutive (their gradients are summed before they are added to the large,
    /// rarely cached gradient arrays). Every pair must be listed from both of its centres.
    pub fn sum_centers<N, I>(&self, centers: &[usize], neighbors: N) -> PairSums
    where
        N: Fn(usize) -> I + Sync,
        I: Iterator<Item = Neighbor>,
    {
        let strain_blocks = if self.strain { 9 } else { 0 };
        let row = self.type_index.len() * self.n_features();
        let accumulator_bytes = centers.len() * row * (1 + strain_blocks) * 8;
        let accumulators = accumulators_per_thread(accumulator_bytes, self.layout.is_some());
        self.sum_centers_with(centers, neighbors, accumulators)
    }

    /// `sum_centers`, with the symmetric sum into `accumulators` accumulators per thread, or
    /// (zero) each centre over all its pairs
    fn sum_centers_with<N, I>(
        &self,
        centers: &[usize],
        neighbors: N,
        accumulators: usize,
    ) -> PairSums
    where
        N: Fn(usize) -> I + Sync,
        I: Iterator<Item = Neighbor>,
    {
        let row = self.type_index.len() * self.n_features();
        let strain_blocks = if self.strain { 9 } else { 0 };
        let zero = |n_centers: usize| PairSums {
            values: written_zeros(n_centers * row),
            strain: written_zeros(strain_blocks * n_centers * row),
        };
        let threads = rayon::current_num_threads();
        if accumulators == 0 {
            // each centre sums all its pairs into its own rows
            let per_center: Vec<PairSums> = (0..centers.len())
                .into_par_iter()
                .map_init(
                    || self.scratch(),
                    |scratch, c| {
                        let mut sums = zero(1);
                        self.add_center(0, centers[c], neighbors(c), None, scratch, &mut sums);
                        sums
                    },
                )
                .collect();
            let mut sums = zero(0);
            for center in per_center {
                sums.values.extend(center.values);
                sums.strain.extend(center.strain);
            }
            return sums;
        }

        // the accumulators' rows, and the tasks, in space-filling order: the mirrored terms of
        // a centre go to the rows of its neighbours, which are then near its own in memory
        // instead of anywhere in the accumulators (10⁵ atoms: 240 MB each)
        let order = spatial_order(self.system, centers);
        let mut row_of = vec![None; self.system.size()];
        for (r, &c) in order.iter().enumerate() {
            row_of[centers[c]] = Some(r);
        }
        // a few accumulators of all centres per thread (the tasks are balanced by `owns`, the
        // threads not always)
        let by_row = (0..centers.len())
            .into_par_iter()
            .with_min_len(centers.len().div_ceil(accumulators * threads).max(1))
            .fold(
                || (self.scratch(), zero(centers.len())),
                |(mut scratch, mut sums), r| {
                    let (c, index) = (order[r], Some(row_of.as_slice()));
                    self.add_center(r, centers[c], neighbors(c), index, &mut scratch, &mut sums);
                    (scratch, sums)
                },
            )
            .map(|(_, sums)| sums)
            // without an identity: rayon would allocate one per task, beside its accumulator
            .reduce_with(PairSums::add)
            .unwrap_or_else(|| zero(0));
        // back to the order of `centers` (written before read: no need to write the pages)
        let mut sums = PairSums {
            values: vec![0.0; centers.len() * row],
            strain: vec![0.0; strain_blocks * centers.len() * row],
        };
        let strain_row = strain_blocks * row;
        for (r, &c) in order.iter().enumerate() {
            sums.values[c * row..][..row].copy_from_slice(&by_row.values[r * row..][..row]);
            sums.strain[c * strain_row..][..strain_row]
                .copy_from_slice(&by_row.strain[r * strain_row..][..strain_row]);
        }
        sums
    }

    /// Add the pairs of centre i (row c of `sums`); with `center_index` (the row of each atom
    /// that is a centre), a pair with another centre is added to both by the task that owns it
    fn add_center(
        &self,
        c: usize,
        i: usize,
        neighbors: impl Iterator<Item = Neighbor>,
        center_index: Option<&[Option<usize>]>,
        scratch: &mut PairScratch,
        sums: &mut PairSums,
    ) {
        let n_features = self.n_features();
        let row = self.type_index.len() * n_features;
        let ti = self.system.types[i];
        let t_mirrored = self.type_index.get(&ti).copied();
        let mut pending: Option<Pending> = None;
        for Neighbor { atom: j, vector: d } in neighbors {
            // the pair with another centre is computed by one of them, for both
            let mirror = match center_index.and_then(|index| index[j]) {
                Some(cj) if j != i => {
                    if !owns(self.system.size(), i, j) {
                        continue;
                    }
                    Some(cj)
                }
                _ => None,
            };
            let tj = self.system.types[j];
            let t_forward = self.type_index.get(&tj).copied();
            let mirrored = mirror.zip(t_mirrored);
            if t_forward.is_none() && mirrored.is_none() {
                continue;
            }
            if pending.as_ref().is_some_and(|p| p.j != j) {
                self.flush(i, pending.take().expect("pending"), scratch);
            }

            let projection = &mut scratch.projection;
            if self.strain || self.layout.is_some() {
                projection.prepare(d, |distance, f, df| self.radial.compute(distance, f, df));
            } else {
                // values only: no derivatives of the radial functions and harmonics
                projection.prepare_values(d, |distance, f, df| {
                    self.radial.compute_values(distance, f, df)
                });
            }
            let targets = [(t_forward.map(|t| (c, t)), false), (mirrored, true)];
            for (target, mirrored) in targets {
                let Some((center, t)) = target else {
                    continue;
                };
                let start = center * row + t * n_features;
                projection.add_values(&mut sums.values[start..start + n_features], mirrored);
            }
            if self.strain {
                let gradient = &mut scratch.gradient;
                projection.for_each_prepared(|feature, _, g| {
                    for a in 0..3 {
                        gradient[a * n_features + feature] = g[a];
                    }
                });
                for (target, mirrored) in targets {
                    let Some((center, t)) = target else {
                        continue;
                    };
                    let out =
                        &mut sums.strain[9 * (center * row + t * n_features)..][..9 * n_features];
                    // d ⊗ ∇ is even under d → -d: (-1)ˡ from Yₗₘ only
                    for (ab, target) in out.chunks_exact_mut(n_features).enumerate() {
                        let source = &gradient[(ab % 3) * n_features..][..n_features];
                        projection.add_row(target, d[ab / 3], source, mirrored);
                    }
                }
            }

            let Some(layout) = self.layout.filter(|_| j != i) else {
                continue;
            };
            let forward = if t_forward.is_some() {
                layout.blocks(ti, tj)
            } else {
                &[]
            };
            let mirrored_blocks = if mirrored.is_some() {
                layout.blocks(tj, ti)
            } else {
                &[]
            };
            for &(_, l) in forward.iter().chain(mirrored_blocks) {
                scratch.used[l] = true;
            }
            for l in 0..=self.max_angular {
                if scratch.used[l] {
                    let rows = &mut scratch.accumulated[channel_rows(l, self.n_radial)];
                    scratch.projection.add_gradient(l, rows);
                }
            }
            pending = Some(Pending {
                j,
                forward,
                mirrored: mirrored_blocks,
            });
        }
        if let Some(pending) = pending {
            self.flush(i, pending, scratch);
        }
    }

    /// Add the accumulated gradient rows of neighbour j to the rows (i, j) and, mirrored, to the
    /// rows (j, i); reset them
    fn flush(&self, i: usize, pending: Pending, scratch: &mut PairScratch) {
        let layout = self
            .layout
            .expect("gradients are accumulated with a layout");
        let j = pending.j;
        let (ti, tj) = (self.system.types[i], self.system.types[j]);
        let targets = [
            (pending.forward, i, j, tj, false),
            (pending.mirrored, j, i, ti, true),
        ];
        for (blocks, center, neighbor, neighbor_type, mirrored) in targets {
            for &(b, l) in blocks {
                let Some(out_row) = layout.row(self.system, b, neighbor_type, center, neighbor)
                else {
                    continue;
                };
                let sign = if mirrored { swapped_pair_sign(l) } else { 1.0 };
                let rows = &scratch.accumulated[channel_rows(l, self.n_radial)];
                let output = self.outputs[b]
                    .as_ref()
                    .expect("block has positions gradients");
                // SAFETY: the rows (i, j) and (j, i) of a pair are written by the task that owns
                // the pair only (rows of i with a neighbour that is no centre: by i's task)
                let out = unsafe { output.row(out_row) };
                for (o, a) in out.iter_mut().zip(rows) {
                    *o += sign * a;
                }
            }
        }
        for (l, used) in scratch.used.iter_mut().enumerate() {
            if *used {
                scratch.accumulated[channel_rows(l, self.n_radial)]
                    .iter_mut()
                    .for_each(|a| *a = 0.0);
                *used = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lode::pairs::open::open_pairs;
    use crate::lode::LodeSphericalExpansion;

    /// The symmetric sum (each pair once, for both centres) and the sum of each centre over all
    /// its pairs agree, values and strain, with a subset of the atoms as centres
    #[test]
    fn symmetric_and_per_center_sums_agree() {
        let calculator = LodeSphericalExpansion::from_json(
            r#"{"density": {"type": "SmearedPowerLaw", "smearing": 0.7, "exponent": 1},
                "basis": {"type": "TensorProduct", "max_angular": 3,
                          "radial": {"type": "Gto", "max_radial": 2, "radius": 3.0}}}"#,
        )
        .unwrap();
        let system = System {
            types: vec![1, 8, 1, 8, 6],
            positions: vec![
                [0.0, 0.0, 0.0],
                [1.1, 0.3, -0.4],
                [-0.7, 1.6, 0.5],
                [2.0, -1.2, 1.3],
                [0.4, 0.9, 2.2],
            ],
            cell: [[0.0; 3]; 3],
            pbc: [false; 3],
        };
        let type_index: BTreeMap<i32, usize> = [(1, 0), (6, 1), (8, 2)].into_iter().collect();
        let sum = PairSum {
            radial: calculator.pair_radial().unwrap(),
            system: &system,
            type_index: &type_index,
            max_angular: 3,
            n_radial: 3,
            strain: true,
            layout: None,
            outputs: &[],
        };
        let centers = [0, 1, 3, 4];
        let neighbors = |c: usize| open_pairs(&system, centers[c]);
        let symmetric = sum.sum_centers_with(&centers, neighbors, ACCUMULATORS);
        let per_center = sum.sum_centers_with(&centers, neighbors, 0);
        for (a, b) in [
            (&symmetric.values, &per_center.values),
            (&symmetric.strain, &per_center.strain),
        ] {
            let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
            assert!(scale > 0.0);
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-13 * scale, "{x} {y}");
            }
        }
    }
}
