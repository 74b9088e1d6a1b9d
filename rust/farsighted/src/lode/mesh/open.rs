//! Open systems (molecules, clusters) on the mesh: the wide part of the Ewald split in free
//! space, by smooth PME on a periodic box that holds the cluster with room to spare.
//!
//! The free-space wide part ⟨a c|Vᵢ⟩ = Σ_{j∈a} ∫ b_c(x - rᵢ) v_w(x - rⱼ) dx only reads the
//! potential v_w (the density g_σw) at separations y with |y_d| ≤ e_d + ρ along each Cartesian
//! direction d, e_d the extent of the cluster and ρ the support of the basis. There the window
//!
//!   W(y) = Π_d ½ erfc((|y_d| - c_d)/δ),   c_d = e_d + ρ + tδ,
//!
//! is 1 within τ, and beyond c_d + tδ it is 0 within τ (½ erfc(t) ≤ τ): the sum with v_w W
//! instead of v_w is the free-space one. v_w W fits in a periodic box of sides
//! L_d ≥ 2(c_d + tδ), and no periodic image of a pair reaches it, so that the periodic sum of
//! smooth PME over the box (mesh/mod.rs) with the kernel's ĝ replaced by the transform of
//! v_w W gives the free-space sum. That transform is the discrete transform of v_w W sampled
//! on the mesh (one forward FFT), times V/K₁K₂K₃: v_w W is smooth, its samples alias
//! nothing. It is kept on the sphere |k| < k_c of the wide part, k = 0 included (there is no
//! background in free space). The edges of the window spread ĝ_w by e^{-k²δ²/4}, below τ at
//! k_c with δ = 2t/k_c.
//!
//! The box is Hockney's zero padding: about twice the cluster along each direction, 8 times
//! its volume, the price of free space; the transforms skip the rows and planes of the mesh
//! that hold no atom (`Support` in mesh/fft.rs), which take about a half of their work. The
//! mesh spacing is the periodic one for the split's k_c and accuracy (mesh/size.rs), and the
//! box a whole number of it, so that the mesh is one lattice in space: the features are
//! smooth functions of the positions (the window changes by whole steps with the extent), and
//! the backward product is their exact derivative. The cell of the box is ignored like the
//! cell of any open system: the strain derivative is the virial Σᵢ rᵢ ⊗ ∂/∂rᵢ.

use rayon::prelude::*;

use super::fft::{fast_size, Fft3, Support};
use super::size::ORDERS;
use super::{KSet, MeshSize};
use crate::density::SmearedPowerLaw;
use crate::math::special::erfc;
use crate::System;

/// The extent of an open system along each Cartesian direction
pub(crate) fn extents(system: &System) -> [f64; 3] {
    [0, 1, 2].map(|d| {
        let (low, high) = system
            .positions
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), r| {
                (l.min(r[d]), h.max(r[d]))
            });
        high - low
    })
}

/// The share of the work of full transforms that those of the box do: they skip its rows and
/// planes without atoms, about a half (module documentation). With full transforms in the
/// cost model, a cluster of 10⁴ atoms (ε = 1e-5) took σw = 2^{10/4} Å and the tight margins,
/// 11.6 s, where σw = 2^{9/4} Å with the wide ones takes 8.6 s.
const TRANSFORM_SHARE: f64 = 0.5;

/// τ / ε, the window's departure from 1: it reaches the features only through the potential
/// in the window's edges, beyond every atom's basis, so that τ = ε left clusters of 300 to
/// 512 atoms within 1.5e-3 to 5.4e-3 ε (docs: theory, open systems on the mesh)
const WINDOW_TOLERANCE: f64 = 1.0;

/// An open system in a periodic box for the mesh of its wide part (module documentation)
pub(crate) struct FreeSpace {
    /// the system in the box diag(L₁, L₂, L₃), periodic along every direction
    pub system: System,
    pub size: MeshSize,
    /// c_d of the window
    half_widths: [f64; 3],
    /// δ of the window
    edge: f64,
}

/// What sizes the box and mesh of an open system
pub(crate) struct FreeSpaceParameters {
    /// the wide density g_σw
    pub density: SmearedPowerLaw,
    pub max_angular: usize,
    /// k_c of the wide part
    pub k_cutoff: f64,
    /// ε of the split
    pub accuracy: f64,
    /// ρ, the support of the basis
    pub support: f64,
    /// the reach of the real-space remainder, which no image may enter either
    pub remainder_cutoff: f64,
}

/// What sizes the box of every open system for B-splines of one order: its mesh spacing, the
/// window's edges, and the margins around the cluster (module documentation). The box of a
/// cluster of extents e_d has the half widths c_d = h ⌈(e_d + ρ + tδ)/h⌉ and K_d =
/// fast_size(max(⌈max(2(c_d + tδ), e_d + d_c)/h⌉, order)) points of spacing h.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreeSpaceLayout {
    /// h, the mesh spacing
    pub spacing: f64,
    /// δ, the width of the window's edges
    pub edge: f64,
    /// t = √ln(1/τ): the window is 1 within τ at tδ inside c_d, 0 within τ at tδ outside
    pub reach: f64,
    /// ρ, the support of the basis
    pub support: f64,
    /// the reach of the real-space remainder, which no image may enter either
    pub remainder_cutoff: f64,
}

impl FreeSpaceLayout {
    pub(crate) fn new(parameters: &FreeSpaceParameters, order: usize) -> FreeSpaceLayout {
        let tolerance = WINDOW_TOLERANCE * parameters.accuracy;
        // ½ erfc(t) < e^{-t²} ≤ τ, and e^{-k_c²δ²/4} = τ
        let t = (1.0 / tolerance).ln().sqrt();
        let [fraction, ..] = MeshSize::fractions_of(
            &parameters.density,
            parameters.max_angular,
            KSet::Open {
                k_cutoff: parameters.k_cutoff,
            },
            parameters.accuracy,
            order,
        );
        FreeSpaceLayout {
            spacing: 2.0 * std::f64::consts::PI * fraction / parameters.k_cutoff,
            edge: 2.0 * t / parameters.k_cutoff,
            reach: t,
            support: parameters.support,
            remainder_cutoff: parameters.remainder_cutoff,
        }
    }
}

impl FreeSpace {
    /// The box and mesh for B-splines of `order`
    pub fn new(system: &System, parameters: &FreeSpaceParameters, order: usize) -> FreeSpace {
        let FreeSpaceLayout {
            spacing,
            edge,
            reach: t,
            support,
            remainder_cutoff,
        } = FreeSpaceLayout::new(parameters, order);
        let extents = extents(system);
        // whole steps, so that the window and box change only when the extent crosses one
        let steps = |x: f64| (x / spacing).ceil() * spacing;
        let half_widths = extents.map(|e| steps(e + support + t * edge));
        let dims = [0, 1, 2].map(|d| {
            let length = (2.0 * (half_widths[d] + t * edge)).max(extents[d] + remainder_cutoff);
            fast_size(((length / spacing).ceil() as usize).max(order))
        });
        let mut cell = [[0.0; 3]; 3];
        for d in 0..3 {
            cell[d][d] = dims[d] as f64 * spacing;
        }
        FreeSpace {
            system: System {
                types: system.types.clone(),
                positions: system.positions.clone(),
                cell,
                pbc: [true; 3],
            },
            size: MeshSize { dims, order },
            half_widths,
            edge,
        }
    }

    /// The box and mesh of the smallest cost of the values over the orders
    pub fn cheapest(system: &System, parameters: &FreeSpaceParameters) -> FreeSpace {
        ORDERS
            .iter()
            .map(|&order| FreeSpace::new(system, parameters, order))
            .min_by(|a, b| a.cost().total_cmp(&b.cost()))
            .expect("some orders")
    }

    /// The cost of the values on this box's mesh (`MeshSize::cost`), whose transforms skip
    /// the rows and planes without atoms
    pub fn cost(&self) -> f64 {
        self.size
            .cost_with_transforms(self.system.size(), 1, TRANSFORM_SHARE)
    }

    /// The transform of v_w W at every point of the transposed half spectrum of `fft` (real:
    /// v_w W is even along each direction)
    pub fn windowed_fourier(&self, density: &SmearedPowerLaw, fft: &Fft3) -> Vec<f64> {
        debug_assert_eq!(fft.dims, self.size.dims);
        let dims = self.size.dims;
        let spacing = [0, 1, 2].map(|d| self.system.cell[d][d] / dims[d] as f64);
        // |y_d| of mesh index g (the nearest image) and the window along d there
        let distances: Vec<Vec<f64>> = (0..3)
            .map(|d| {
                (0..dims[d])
                    .map(|g| g.min(dims[d] - g) as f64 * spacing[d])
                    .collect()
            })
            .collect();
        let windows: Vec<Vec<f64>> = (0..3)
            .map(|d| {
                distances[d]
                    .iter()
                    .map(|y| 0.5 * erfc((y - self.half_widths[d]) / self.edge))
                    .collect()
            })
            .collect();
        let (k2, k3) = (dims[1], dims[2]);
        let mut mesh = vec![0.0; fft.size()];
        // the slabs g₁ ≤ K₁/2, then their mirror images; within a slab, by the same symmetry
        mesh.par_chunks_mut(k2 * k3)
            .enumerate()
            .filter(|(g1, _)| 2 * g1 <= dims[0])
            .for_each(|(g1, slab)| {
                let (y1, w1) = (distances[0][g1], windows[0][g1]);
                for g2 in 0..=k2 / 2 {
                    for g3 in 0..=k3 / 2 {
                        let w = w1 * windows[1][g2] * windows[2][g3];
                        if w < f64::MIN_POSITIVE {
                            continue;
                        }
                        let (y2, y3) = (distances[1][g2], distances[2][g3]);
                        let r = (y1 * y1 + y2 * y2 + y3 * y3).sqrt();
                        let value = w * density.real_space(r);
                        for a in [g2, (k2 - g2) % k2] {
                            for b in [g3, (k3 - g3) % k3] {
                                slab[a * k3 + b] = value;
                            }
                        }
                    }
                }
            });
        let slab = k2 * k3;
        for g1 in 1..dims[0] {
            let mirror = dims[0] - g1;
            if mirror < g1 {
                let (source, target) = mesh.split_at_mut(g1 * slab);
                target[..slab].copy_from_slice(&source[mirror * slab..(mirror + 1) * slab]);
            }
        }
        let mut spectrum = vec![Default::default(); fft.spectrum_size()];
        fft.forward(
            &mut mesh,
            &mut spectrum,
            &Support::full(fft),
            &mut fft.scratch(),
        );
        let volume_element = spacing[0] * spacing[1] * spacing[2];
        spectrum.iter().map(|x| x.re * volume_element).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v_w W of a Gaussian charge: its transform at small k against the free-space ĝ_w,
    /// which the window leaves unchanged beyond the scale of the box
    #[test]
    fn window_keeps_the_fourier_transform_where_it_is_sharp() {
        let density = SmearedPowerLaw {
            smearing: 1.5,
            exponent: 0.0,
        };
        let system = System {
            types: vec![1, 1],
            positions: vec![[0.0; 3], [4.0, 3.0, 2.0]],
            cell: [[0.0; 3]; 3],
            pbc: [false; 3],
        };
        let parameters = FreeSpaceParameters {
            density,
            max_angular: 2,
            k_cutoff: 4.0,
            accuracy: 1e-8,
            support: 3.0,
            remainder_cutoff: 5.0,
        };
        let free = FreeSpace::new(&system, &parameters, 6);
        let fft = Fft3::new(free.size.dims);
        let table = free.windowed_fourier(&density, &fft);
        // a Gaussian is already inside the window: the transform is ĝ exactly
        let mut worst = 0.0_f64;
        let lengths = [0, 1, 2].map(|d| free.system.cell[d][d]);
        for m in [[0, 0, 0], [1, 0, 0], [0, 2, 1], [3, 1, 2]] {
            let k = [0, 1, 2].map(|d| 2.0 * std::f64::consts::PI * m[d] as f64 / lengths[d]);
            let norm = (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]).sqrt();
            let expected = match norm {
                0.0 => density.fourier_at_zero().unwrap(),
                _ => density.fourier(norm).0,
            };
            let got = table[fft.spectrum_index(m)];
            worst = worst.max((got - expected).abs() / expected.abs());
        }
        assert!(worst < 1e-10, "{worst:e}");
    }
}
