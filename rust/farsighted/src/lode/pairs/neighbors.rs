//! Neighbours in a system periodic in some directions: all (j, T) with |rⱼ + T - rᵢ| < cutoff
//! for one centre i at a time, including j = i with T ≠ 0, from a cell list in fractional
//! coordinates. The cutoff may exceed the cell (many images) and the cell may be
//! triclinic; directions without pbc have no images. The cell must be non-singular.

use crate::System;

/// One neighbour of a centre: atom j at d = rⱼ + T - rᵢ
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neighbor {
    pub atom: usize,
    pub vector: [f64; 3],
}

/// Bins per cutoff d_c along each periodic direction: a centre's candidates fill (2·2 + 1)³
/// bins of at least d_c / 2, at least 15.6 d_c³ in a rectangular cell around the sphere's
/// 4.2 d_c³, where bins of d_c would give 27 d_c³
const BINS_PER_CUTOFF: f64 = 2.0;

/// The most bins per atom: a dilute system in a large cell gets larger bins rather than more
/// empty ones than it has atoms
const MAX_BINS_PER_ATOM: f64 = 4.0;

/// Atoms binned in fractional coordinates, from which the neighbours of one centre are listed
/// when its pair sum needs them: a list of all centres' neighbours would hold 900 pairs per
/// atom at the split's usual cutoffs (2.9 GB for 10⁵ atoms)
pub(crate) struct CellList {
    cell: [[f64; 3]; 3],
    cutoff2: f64,
    /// the bin of each atom
    bins: Vec<[i64; 3]>,
    n_bins: [i64; 3],
    /// how many bins away a neighbour can be, per direction
    reach: [i64; 3],
    /// the atoms by bin, and their positions wrapped into the cell along the periodic
    /// directions, so that the candidates of a bin are read from contiguous memory
    atoms: Vec<usize>,
    wrapped: Vec<[f64; 3]>,
    /// the atoms of bin b are atoms[starts[b]..starts[b + 1]]
    starts: Vec<usize>,
    /// where each atom's wrapped position is in `wrapped`
    slot: Vec<usize>,
    /// whether a neighbour may be seen with several shifts: the offsets -reach..=reach wrap
    /// around the cell (narrower than about 2.5 cutoffs)
    images: bool,
}

impl CellList {
    pub fn new(system: &System, cutoff: f64) -> CellList {
        let reciprocal = system.reciprocal_cell();
        let two_pi = 2.0 * std::f64::consts::PI;
        let widths = system.plane_spacings();
        let bins_of = |per_cutoff: f64| {
            [0, 1, 2].map(|a| match system.pbc[a] {
                true => ((per_cutoff * widths[a] / cutoff).floor() as i64).max(1),
                false => 1,
            })
        };
        let limit = MAX_BINS_PER_ATOM * system.size().max(1) as f64;
        let too_many = |n: [i64; 3]| n.iter().map(|&x| x as f64).product::<f64>() > limit;
        let mut per_cutoff = BINS_PER_CUTOFF;
        let mut n_bins = bins_of(per_cutoff);
        while too_many(n_bins) && n_bins.iter().any(|&n| n > 1) {
            per_cutoff *= 0.8;
            n_bins = bins_of(per_cutoff);
        }
        let reach = [0, 1, 2].map(|a| match system.pbc[a] {
            true => (cutoff * n_bins[a] as f64 / widths[a]).ceil() as i64,
            false => 0,
        });
        // wrap periodic coordinates into the cell and bin the atoms
        let fractional = |r: &[f64; 3], a: usize| {
            (r[0] * reciprocal[a][0] + r[1] * reciprocal[a][1] + r[2] * reciprocal[a][2]) / two_pi
        };
        let mut wrapped = system.positions.clone();
        let mut bins: Vec<[i64; 3]> = Vec::with_capacity(system.size());
        for r in &mut wrapped {
            let mut bin = [0_i64; 3];
            for a in 0..3 {
                if !system.pbc[a] {
                    continue;
                }
                let f = fractional(r, a);
                let image = f.floor();
                for (x, c) in r.iter_mut().zip(&system.cell[a]) {
                    *x -= image * c;
                }
                bin[a] = (((f - image) * n_bins[a] as f64) as i64).min(n_bins[a] - 1);
            }
            bins.push(bin);
        }
        // counting sort of the atoms by bin, stable: the atoms of a bin in ascending order
        let mut starts = vec![0; (n_bins[0] * n_bins[1] * n_bins[2]) as usize + 1];
        for &b in &bins {
            starts[bin_index(n_bins, b) + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        let mut next = starts.clone();
        let mut atoms = vec![0; system.size()];
        let mut slot = vec![0; system.size()];
        for (j, &b) in bins.iter().enumerate() {
            let at = &mut next[bin_index(n_bins, b)];
            atoms[*at] = j;
            slot[j] = *at;
            *at += 1;
        }
        CellList {
            cell: system.cell,
            cutoff2: cutoff * cutoff,
            wrapped: atoms.iter().map(|&j| wrapped[j]).collect(),
            bins,
            n_bins,
            reach,
            atoms,
            starts,
            slot,
            // offsets -reach..=reach reach distinct bins when 2 reach + 1 <= n_bins
            images: (0..3).any(|a| 2 * reach[a] + 1 > n_bins[a]),
        }
    }

    /// All (j, d = rⱼ + T - rᵢ) with |d| < cutoff, the centre itself at T = 0 excluded, the
    /// images of one atom next to each other
    pub fn neighbors(&self, i: usize) -> Vec<Neighbor> {
        let ri = self.wrapped[self.slot[i]];
        let reach = self.reach;
        let mut neighbors = Vec::new();
        for dx in -reach[0]..=reach[0] {
            for dy in -reach[1]..=reach[1] {
                for dz in -reach[2]..=reach[2] {
                    let offset = [dx, dy, dz];
                    let mut bin = [0; 3];
                    let mut shift = [0.0; 3];
                    for a in 0..3 {
                        let b = self.bins[i][a] + offset[a];
                        bin[a] = b.rem_euclid(self.n_bins[a]);
                        let image = b.div_euclid(self.n_bins[a]) as f64;
                        for (s, c) in shift.iter_mut().zip(&self.cell[a]) {
                            *s += image * c;
                        }
                    }
                    let is_origin = shift == [0.0; 3];
                    let index = bin_index(self.n_bins, bin);
                    let members = self.starts[index]..self.starts[index + 1];
                    let origin = [0, 1, 2].map(|a| shift[a] - ri[a]);
                    for (&j, rj) in self.atoms[members.clone()]
                        .iter()
                        .zip(&self.wrapped[members])
                    {
                        let d = [0, 1, 2].map(|a| rj[a] + origin[a]);
                        if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < self.cutoff2
                            && !(j == i && is_origin)
                        {
                            neighbors.push(Neighbor { atom: j, vector: d });
                        }
                    }
                }
            }
        }
        if self.images {
            neighbors.sort_by_key(|neighbor| neighbor.atom);
        }
        neighbors
    }
}

/// The index of bin b among `n_bins`, the last direction contiguous
fn bin_index(n_bins: [i64; 3], b: [i64; 3]) -> usize {
    ((b[0] * n_bins[1] + b[1]) * n_bins[2] + b[2]) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All images within the cutoff by brute force over a large range of shifts
    fn brute_force(system: &System, i: usize, cutoff: f64, range: i64) -> Vec<(usize, [i64; 3])> {
        let mut result = Vec::new();
        let span = |a: usize| if system.pbc[a] { range } else { 0 };
        for n0 in -span(0)..=span(0) {
            for n1 in -span(1)..=span(1) {
                for n2 in -span(2)..=span(2) {
                    let n = [n0, n1, n2];
                    for j in 0..system.size() {
                        if j == i && n == [0; 3] {
                            continue;
                        }
                        let d = [0, 1, 2].map(|a| {
                            system.positions[j][a] - system.positions[i][a]
                                + (0..3).map(|b| n[b] as f64 * system.cell[b][a]).sum::<f64>()
                        });
                        if d.iter().map(|x| x * x).sum::<f64>() < cutoff * cutoff {
                            result.push((j, n));
                        }
                    }
                }
            }
        }
        result
    }

    #[test]
    fn same_pairs_as_brute_force() {
        let cell = [[3.1, 0.0, 0.0], [1.2, 2.9, 0.0], [-0.7, 0.8, 3.4]];
        let positions = vec![
            [0.1, 0.2, 0.3],
            [2.5, -1.0, 4.0],
            [7.0, 1.0, -2.0],
            [1.5, 1.5, 1.5],
        ];
        for pbc in [[true; 3], [true, true, false], [false, true, true]] {
            let system = System {
                types: vec![1, 2, 1, 2],
                positions: positions.clone(),
                cell,
                pbc,
            };
            for cutoff in [1.0, 2.9, 4.0, 7.5] {
                let list = CellList::new(&system, cutoff);
                for i in 0..4 {
                    let neighbors = list.neighbors(i);
                    let expected = brute_force(&system, i, cutoff, 12);
                    assert_eq!(
                        neighbors.len(),
                        expected.len(),
                        "pbc={pbc:?} cutoff={cutoff}"
                    );
                    // every neighbour vector is one of the expected images
                    for neighbor in &neighbors {
                        let distance2: f64 = neighbor.vector.iter().map(|x| x * x).sum();
                        assert!(distance2 < cutoff * cutoff);
                        let found = expected.iter().any(|&(j, n)| {
                            j == neighbor.atom
                                && (0..3).all(|a| {
                                    let d = system.positions[j][a] - system.positions[i][a]
                                        + (0..3)
                                            .map(|b| n[b] as f64 * system.cell[b][a])
                                            .sum::<f64>();
                                    (d - neighbor.vector[a]).abs() < 1e-10
                                })
                        });
                        assert!(found, "pbc={pbc:?} cutoff={cutoff} i={i}");
                    }
                    // the images of one atom are next to each other
                    let mut seen = Vec::new();
                    for neighbor in &neighbors {
                        if seen.last() != Some(&neighbor.atom) {
                            assert!(!seen.contains(&neighbor.atom), "pbc={pbc:?} i={i}");
                            seen.push(neighbor.atom);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn same_pairs_as_brute_force_with_half_cutoff_bins() {
        // 64 atoms in a triclinic cell of about 10 Å: 6 or 7 bins of half a 3 Å cutoff each way
        let mut state = 12345_u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        let cell = [[10.0, 0.0, 0.0], [1.5, 9.5, 0.0], [-1.0, 0.5, 10.5]];
        let positions = (0..64)
            .map(|_| {
                [
                    uniform() * 12.0 - 1.0,
                    uniform() * 12.0 - 1.0,
                    uniform() * 12.0 - 1.0,
                ]
            })
            .collect();
        let system = System {
            types: vec![1; 64],
            positions,
            cell,
            pbc: [true; 3],
        };
        let list = CellList::new(&system, 3.0);
        assert_eq!(list.n_bins, [6, 6, 7]);
        for i in 0..64 {
            let mut found: Vec<usize> = list.neighbors(i).iter().map(|n| n.atom).collect();
            let mut expected: Vec<usize> = brute_force(&system, i, 3.0, 1)
                .into_iter()
                .map(|(j, _)| j)
                .collect();
            found.sort();
            expected.sort();
            assert_eq!(found, expected, "i={i}");
        }
    }
}
