//! Neighbour list of a system periodic in some directions: all (j, T) with
//! |rⱼ + T - rᵢ| < cutoff for the requested centres i, including j = i with T ≠ 0, by a cell list
//! in fractional coordinates. The cutoff may exceed the cell (many images) and the cell may be
//! triclinic; directions without pbc have no images. The cell must be non-singular.

use rayon::prelude::*;

use crate::System;

/// One neighbour of a centre: atom j at d = rⱼ + T - rᵢ
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neighbor {
    pub atom: usize,
    pub vector: [f64; 3],
}

/// For each of `centers`, its neighbours within `cutoff` (the centre itself at T = 0 excluded)
pub(crate) fn neighbor_list(system: &System, centers: &[usize], cutoff: f64) -> Vec<Vec<Neighbor>> {
    let reciprocal = system.reciprocal_cell();
    let cell = system.cell;
    let two_pi = 2.0 * std::f64::consts::PI;
    // per direction: number of bins, and how many bins away a neighbour can be
    let mut n_bins = [1_i64; 3];
    let mut reach = [0_i64; 3];
    for a in 0..3 {
        if system.pbc[a] {
            let norm = reciprocal[a].iter().map(|x| x * x).sum::<f64>().sqrt();
            // distance between the lattice planes of direction a
            let width = two_pi / norm;
            n_bins[a] = ((width / cutoff).floor() as i64).clamp(1, 1 << 10);
            reach[a] = (cutoff * n_bins[a] as f64 / width).ceil() as i64;
        }
    }
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
            for (x, c) in r.iter_mut().zip(&cell[a]) {
                *x -= image * c;
            }
            bin[a] = (((f - image) * n_bins[a] as f64) as i64).min(n_bins[a] - 1);
        }
        bins.push(bin);
    }
    let bin_index = |b: [i64; 3]| ((b[0] * n_bins[1] + b[1]) * n_bins[2] + b[2]) as usize;
    let mut members: Vec<Vec<usize>> =
        vec![Vec::new(); (n_bins[0] * n_bins[1] * n_bins[2]) as usize];
    for (j, &b) in bins.iter().enumerate() {
        members[bin_index(b)].push(j);
    }

    let cutoff2 = cutoff * cutoff;
    centers
        .par_iter()
        .map(|&i| {
            let ri = wrapped[i];
            let mut neighbors = Vec::new();
            for dx in -reach[0]..=reach[0] {
                for dy in -reach[1]..=reach[1] {
                    for dz in -reach[2]..=reach[2] {
                        let offset = [dx, dy, dz];
                        let mut bin = [0; 3];
                        let mut shift = [0.0; 3];
                        for a in 0..3 {
                            let b = bins[i][a] + offset[a];
                            bin[a] = b.rem_euclid(n_bins[a]);
                            let image = b.div_euclid(n_bins[a]) as f64;
                            for (s, c) in shift.iter_mut().zip(&cell[a]) {
                                *s += image * c;
                            }
                        }
                        let is_origin = shift == [0.0; 3];
                        for &j in &members[bin_index(bin)] {
                            if j == i && is_origin {
                                continue;
                            }
                            let d = [0, 1, 2].map(|a| wrapped[j][a] + shift[a] - ri[a]);
                            if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < cutoff2 {
                                neighbors.push(Neighbor { atom: j, vector: d });
                            }
                        }
                    }
                }
            }
            neighbors
        })
        .collect()
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
                let list = neighbor_list(&system, &[0, 1, 2, 3], cutoff);
                for (i, neighbors) in list.iter().enumerate() {
                    let expected = brute_force(&system, i, cutoff, 12);
                    assert_eq!(
                        neighbors.len(),
                        expected.len(),
                        "pbc={pbc:?} cutoff={cutoff}"
                    );
                    // every neighbour vector is one of the expected images
                    for neighbor in neighbors {
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
                }
            }
        }
    }
}
