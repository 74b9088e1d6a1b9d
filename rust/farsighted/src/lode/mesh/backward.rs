//! Backward product of smooth PME (mesh/mod.rs): given G = ∂L/∂features, ∂L/∂positions and the
//! strain derivative Ξ, at about twice the cost of the values.
//!
//! With Γ_ac(g) = Σᵢ G_iac Mₚ(uᵢ - g) (G of channel c spread from the centres) Parseval gives
//!
//!   L = Σ_{a,c} Σ_m K_c(k) |b(m)|² F[Q_a](m) F[Γ_ac](m)*
//!
//! - centres: ∂L/∂rᵢ = Σ_{a,c} G_iac ∇φ_ac(rᵢ), the interpolated gradient of the values' mesh
//!   φ_ac (one inverse FFT per channel, as for the values);
//! - neighbours: ∂L/∂Q_a(g) = ψ_a(g) = F⁻¹[Y_a*](g) with Y_a = Σ_c K_c |b|² F[Γ_ac]* (one
//!   forward FFT per channel, one inverse per type), and ∂L/∂rⱼ = ∇ψ_a(rⱼ) for j ∈ a;
//! - strain: the fractional coordinates, hence Q and Γ, do not change under
//!   r' = r (1 + ε), h' = h (1 + ε); only the kernel does, through k' = (1 + ε)⁻ᵀ k and 1/V:
//!   Ξ_αβ = Σ_m (-k_β ∂K_c/∂k_α) |b|² F[Q_a] F[Γ_ac]* - δ_αβ L.
//!
//! Slabs: the same on the internal cell with the slab's kernel (`KSet::Slab`), as the k-sum's
//! backward product there (lode/slab/backward.rs adds the planar part).

use rayon::prelude::*;
use rustfft::num_complex::Complex64;

use super::{
    batches_per_task, channels, i_power, type_spectra, Assignment, BatchBuffers, Fft3, FreeSpace,
    Kernel, MeshSize, BATCH,
};
use crate::lode::accumulator::Accumulator;
use crate::lode::backward::SystemInput;
use crate::lode::kspace::KSpace;
use crate::lode::plan::Geometry;
use crate::{Error, System};

/// What each thread sums over its channels
struct Partial {
    accumulator: Accumulator,
    /// Y_a per (type, kernel point)
    adjoint: Vec<Complex64>,
    /// Σ G · (lattice part of the features), whose strain derivative is -δ_αβ times it
    lattice: f64,
}

impl KSpace {
    /// The backward product of the k-space sum over the k-set of `geometry` of one system by
    /// smooth PME (for slabs, `system` is the internal cell), and Σ G X over it (whose strain
    /// derivative is -δ_αβ times itself, the volume factor 1/V): the mesh's counterpart of
    /// `backward_sum`, with G by feature (`SystemInput::by_feature`)
    pub fn mesh_backward_sum(
        &self,
        geometry: Geometry,
        size: MeshSize,
        system: &System,
        input: &SystemInput,
    ) -> Result<(Accumulator, f64), Error> {
        let fft = Fft3::new(size.dims);
        self.mesh_backward_with(geometry, size, &fft, None, system, input)
    }

    /// ∂L/∂positions of the free-space sum of an open system in the box `free` (mesh/open.rs),
    /// without strain: the caller takes the virial of the positions gradient
    pub fn open_mesh_backward_sum(
        &self,
        free: &FreeSpace,
        input: &SystemInput,
    ) -> Result<Accumulator, Error> {
        let fft = Fft3::new(free.size.dims);
        let windowed = free.windowed_fourier(&self.density, &fft);
        let (accumulator, _) = self.mesh_backward_with(
            Geometry::Open,
            free.size,
            &fft,
            Some(&windowed),
            &free.system,
            input,
        )?;
        Ok(accumulator)
    }

    fn mesh_backward_with(
        &self,
        geometry: Geometry,
        size: MeshSize,
        fft: &Fft3,
        windowed: Option<&[f64]>,
        system: &System,
        input: &SystemInput,
    ) -> Result<(Accumulator, f64), Error> {
        let g = input.by_feature.as_slice();
        let n_atoms = system.size();
        if input.centers.is_empty() {
            return Ok((Accumulator::new(n_atoms), 0.0));
        }
        let assignment = Assignment::new(system, size);
        let with_strain = windowed.is_none();
        let kernel = Kernel::new(
            self,
            geometry,
            system,
            fft,
            &assignment,
            with_strain,
            windowed,
        )?;
        let n_points = kernel.points.len();
        let n_radial = self.n_radial;
        let max_angular = self.max_angular;
        let n_lm = (max_angular + 1).pow(2);
        let n_features = n_lm * n_radial;
        let types = &input.neighbor_types;
        let n_types = types.len();

        let spectra = type_spectra(system, types, &assignment, fft, &kernel);

        // ∂u_d/∂r = K_d b_d / 2π
        let reciprocal = system.reciprocal_cell();
        let to_cartesian = |gradient: [f64; 3]| {
            [0, 1, 2].map(|x| {
                (0..3)
                    .map(|d| {
                        gradient[d] * size.dims[d] as f64 * reciprocal[d][x]
                            / (2.0 * std::f64::consts::PI)
                    })
                    .sum::<f64>()
            })
        };

        let channels = channels(n_types, max_angular, n_radial);
        let by_position = assignment.mesh_order(&input.centers);
        // by batches of channels whose meshes are interleaved, as for the values: the
        // interpolation reads, and the spreading writes, BATCH channels per cache line
        let task_bytes = size.backward_task_memory(n_atoms as f64, n_types as f64, n_points as f64);
        let partial = channels
            .par_chunks(BATCH)
            .with_min_len(batches_per_task(&channels, task_bytes, 0.0))
            .fold(
                || {
                    let partial = Partial {
                        accumulator: Accumulator::new(n_atoms),
                        adjoint: vec![Complex64::default(); n_types * n_points],
                        lattice: 0.0,
                    };
                    (partial, BatchBuffers::new(fft))
                },
                |(mut partial, mut buffers), batch| {
                    // G of the batch's channels, by centre in mesh order
                    let weights: Vec<(usize, [f64; BATCH])> = by_position
                        .iter()
                        .map(|&c| {
                            let mut w = [0.0; BATCH];
                            for (w, &(t, l, m, n)) in w.iter_mut().zip(batch) {
                                let feature = (l * l + m) * n_radial + n;
                                *w = g[(c * n_types + t) * n_features + feature];
                            }
                            (input.centers[c], w)
                        })
                        .filter(|(_, w)| w.iter().any(|&x| x != 0.0))
                        .collect();
                    if weights.is_empty() {
                        return (partial, buffers);
                    }

                    // centres: G ∇φ_ac
                    buffers.channel_meshes(fft, &kernel, &spectra, n_radial, batch);
                    for (i, w) in &weights {
                        let gradients = assignment.gradient_batch::<BATCH>(&buffers.meshes, *i);
                        let gradient =
                            gradients.map(|row| row.iter().zip(w).map(|(x, w)| x * w).sum());
                        let gradient = to_cartesian(gradient);
                        for (p, x) in partial.accumulator.positions[*i].iter_mut().zip(gradient) {
                            *p += x;
                        }
                    }

                    // neighbours and strain: F[Γ_ac], one channel at a time in the input
                    // spectrum of the meshes above
                    let BatchBuffers {
                        scratch,
                        input: spectrum,
                        planes,
                        meshes,
                    } = &mut buffers;
                    kernel.support.clear_rows(fft, meshes, BATCH);
                    for (i, w) in &weights {
                        assignment.spread_batch::<BATCH>(meshes, *i, w);
                    }
                    let planes = &mut planes[..batch.len()];
                    fft.forward_interleaved(meshes, BATCH, planes, &kernel.support, scratch);
                    for (plane, &(t, l, m, n)) in planes.iter_mut().zip(batch) {
                        let lm = l * l + m;
                        let phase = i_power(l);
                        fft.forward_planes(plane, spectrum, &kernel.support, scratch);
                        let adjoint = &mut partial.adjoint[t * n_points..(t + 1) * n_points];
                        let strain = &mut partial.accumulator.strain;
                        for (p, &index) in kernel.points.iter().enumerate() {
                            let conjugate = spectrum[index].conj();
                            let y = kernel.harmonics[p * kernel.n_lm + lm];
                            let radial = kernel.radial[p * kernel.n_functions + l * n_radial + n];
                            let kernel_value = phase * (radial * y);
                            adjoint[p] += kernel_value * conjugate;
                            // Re[iˡ F[Q] F[Γ]*], counted for the point and its opposite
                            let Some(derivatives) = &kernel.derivatives else {
                                continue;
                            };
                            let product =
                                (phase * spectra[t][index] * conjugate).re * kernel.multiplicity[p];
                            partial.lattice += radial * y * product;
                            // -k_β ∂(K/iˡ)/∂k_α = -[R' |k| k̂_α k̂_β Y + R k̂_β (∇Y_α - l k̂_α Y)]
                            let direction = derivatives.directions[p];
                            let radial_derivative = derivatives.radial
                                [p * kernel.n_functions + l * n_radial + n]
                                * derivatives.norms[p];
                            let harmonics = &kernel.harmonics[p * kernel.n_lm..][..kernel.n_lm];
                            let gradient_y = derivatives.harmonics.gradient(lm, harmonics);
                            for alpha in 0..3 {
                                let d_alpha = radial_derivative * direction[alpha] * y
                                    + radial
                                        * (gradient_y[alpha] - l as f64 * direction[alpha] * y);
                                for beta in 0..3 {
                                    strain[alpha][beta] -= direction[beta] * d_alpha * product;
                                }
                            }
                        }
                    }
                    // the forward transforms wrote the whole spectrum; the inverse ones of
                    // the next batch take it zero outside the kernel's support
                    spectrum.fill(Complex64::default());
                    (partial, buffers)
                },
            )
            .map(|(partial, ..)| partial)
            .reduce_with(|a, b| Partial {
                accumulator: a.accumulator.add(b.accumulator),
                adjoint: a
                    .adjoint
                    .iter()
                    .zip(&b.adjoint)
                    .map(|(x, y)| x + y)
                    .collect(),
                lattice: a.lattice + b.lattice,
            });
        let Some(partial) = partial else {
            return Ok((Accumulator::new(n_atoms), 0.0));
        };

        // neighbours: ∇ψ_a at the atoms of type a
        let neighbors: Vec<(usize, [f64; 3])> = types
            .par_iter()
            .enumerate()
            .flat_map_iter(|(t, &a)| {
                let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
                for (p, &index) in kernel.points.iter().enumerate() {
                    spectrum[index] = partial.adjoint[t * n_points + p].conj();
                }
                let mut psi = vec![0.0; fft.size()];
                fft.inverse(&mut spectrum, &mut psi, &kernel.support, &mut fft.scratch());
                (0..n_atoms)
                    .filter(|&j| system.types[j] == a)
                    .map(|j| (j, to_cartesian(assignment.gradient(&psi, j))))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut accumulator = partial.accumulator;
        for (j, gradient) in neighbors {
            for (p, x) in accumulator.positions[j].iter_mut().zip(gradient) {
                *p += x;
            }
        }
        Ok((accumulator, partial.lattice))
    }
}
