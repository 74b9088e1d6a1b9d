//! Three-dimensional real FFTs on a mesh of K₁ × K₂ × K₃ points (row-major, K₃ fastest), from
//! the 1D transforms of `realfft`/`rustfft`. The half spectrum (m₃ = 0..K₃/2) is kept in the
//! transposed order [m₂][m₃][m₁], so that every 1D transform runs over contiguous memory and
//! the transposition is done once each way. Each transform runs on one thread: the mesh
//! method parallelises over the independent transforms of its channels.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

/// The plans of one mesh
pub(crate) struct Fft3 {
    pub dims: [usize; 3],
    /// K₃/2 + 1
    pub half: usize,
    forward_real: Arc<dyn RealToComplex<f64>>,
    inverse_real: Arc<dyn ComplexToReal<f64>>,
    forward: [Arc<dyn Fft<f64>>; 2],
    inverse: [Arc<dyn Fft<f64>>; 2],
}

/// Buffers of one thread: a line of the real transform, the half spectrum in mesh order
pub(crate) struct Scratch {
    line: Vec<Complex64>,
    spectrum: Vec<Complex64>,
    fft: Vec<Complex64>,
}

impl Fft3 {
    pub fn new(dims: [usize; 3]) -> Fft3 {
        let mut real = RealFftPlanner::<f64>::new();
        let mut complex = FftPlanner::<f64>::new();
        Fft3 {
            dims,
            half: dims[2] / 2 + 1,
            forward_real: real.plan_fft_forward(dims[2]),
            inverse_real: real.plan_fft_inverse(dims[2]),
            forward: [0, 1].map(|d| complex.plan_fft_forward(dims[d])),
            inverse: [0, 1].map(|d| complex.plan_fft_inverse(dims[d])),
        }
    }

    /// Number of real mesh points
    pub fn size(&self) -> usize {
        self.dims.iter().product()
    }

    /// Number of complex points of the half spectrum
    pub fn spectrum_size(&self) -> usize {
        self.dims[0] * self.dims[1] * self.half
    }

    /// Position of (m₁, m₂, m₃), m₃ ≤ K₃/2, in the transposed half spectrum
    #[inline]
    pub fn spectrum_index(&self, m: [usize; 3]) -> usize {
        (m[1] * self.half + m[2]) * self.dims[0] + m[0]
    }

    pub fn scratch(&self) -> Scratch {
        let longest = self.dims.iter().copied().max().unwrap_or(1);
        let fft_scratch = [
            self.forward_real.get_scratch_len(),
            self.inverse_real.get_scratch_len(),
            self.forward[0].get_inplace_scratch_len(),
            self.forward[1].get_inplace_scratch_len(),
            self.inverse[0].get_inplace_scratch_len(),
            self.inverse[1].get_inplace_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Scratch {
            line: vec![Complex64::default(); longest],
            spectrum: vec![Complex64::default(); self.spectrum_size()],
            fft: vec![Complex64::default(); fft_scratch.max(1)],
        }
    }

    /// F(m) = Σ_g Q(g) e^{-2πi m·g/K} of a real mesh (modified: it is the transform's
    /// scratch), written into `output` (transposed half spectrum)
    pub fn forward(&self, mesh: &mut [f64], output: &mut [Complex64], scratch: &mut Scratch) {
        let [k1, k2, k3] = self.dims;
        let half = self.half;
        debug_assert_eq!(mesh.len(), self.size());
        let spectrum = &mut scratch.spectrum;
        // along m₃: [g₁][g₂][m₃]
        for (line, out) in mesh.chunks_mut(k3).zip(spectrum.chunks_mut(half)) {
            self.forward_real
                .process_with_scratch(line, out, &mut scratch.fft)
                .expect("sizes match the plan");
        }
        // along m₂, within each g₁
        for slab in spectrum.chunks_mut(k2 * half) {
            for m3 in 0..half {
                let line = &mut scratch.line[..k2];
                for (g2, x) in line.iter_mut().enumerate() {
                    *x = slab[g2 * half + m3];
                }
                self.forward[1].process_with_scratch(line, &mut scratch.fft);
                for (m2, x) in line.iter().enumerate() {
                    slab[m2 * half + m3] = *x;
                }
            }
        }
        // transposed to [m₂][m₃][g₁], then along m₁
        for g1 in 0..k1 {
            for r in 0..k2 * half {
                output[r * k1 + g1] = spectrum[g1 * k2 * half + r];
            }
        }
        for line in output.chunks_mut(k1) {
            self.forward[0].process_with_scratch(line, &mut scratch.fft);
        }
    }

    /// φ(g) = Σ_m X(m) e^{2πi m·g/K} of a Hermitian spectrum given by its half (transposed;
    /// modified: it is the transform's scratch), written into the real mesh `output`
    pub fn inverse(&self, input: &mut [Complex64], output: &mut [f64], scratch: &mut Scratch) {
        let [k1, k2, _] = self.dims;
        let half = self.half;
        debug_assert_eq!(input.len(), self.spectrum_size());
        for line in input.chunks_mut(k1) {
            self.inverse[0].process_with_scratch(line, &mut scratch.fft);
        }
        let spectrum = &mut scratch.spectrum;
        for g1 in 0..k1 {
            for r in 0..k2 * half {
                spectrum[g1 * k2 * half + r] = input[r * k1 + g1];
            }
        }
        for slab in spectrum.chunks_mut(k2 * half) {
            for m3 in 0..half {
                let line = &mut scratch.line[..k2];
                for (m2, x) in line.iter_mut().enumerate() {
                    *x = slab[m2 * half + m3];
                }
                self.inverse[1].process_with_scratch(line, &mut scratch.fft);
                for (g2, x) in line.iter().enumerate() {
                    slab[g2 * half + m3] = *x;
                }
            }
        }
        let k3 = self.dims[2];
        for (line, out) in spectrum.chunks_mut(half).zip(output.chunks_mut(k3)) {
            // the imaginary parts of m₃ = 0 and K₃/2 are rounding errors of a Hermitian input
            line[0].im = 0.0;
            if k3 % 2 == 0 {
                line[half - 1].im = 0.0;
            }
            self.inverse_real
                .process_with_scratch(line, out, &mut scratch.fft)
                .expect("sizes match the plan");
        }
    }
}

/// The smallest n ≥ `minimum` whose prime factors are 2, 3, 5 and 7, which FFTs do fastest
pub(crate) fn fast_size(minimum: usize) -> usize {
    let mut n = minimum.max(1);
    loop {
        let mut m = n;
        for p in [2, 3, 5, 7] {
            while m % p == 0 {
                m /= p;
            }
        }
        if m == 1 {
            return n;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_equal_the_direct_sums() {
        let dims = [5, 6, 4];
        let fft = Fft3::new(dims);
        let mut scratch = fft.scratch();
        let mesh: Vec<f64> = (0..fft.size())
            .map(|i| ((i * 7919) % 113) as f64 / 113.0)
            .collect();
        let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
        fft.forward(&mut mesh.clone(), &mut spectrum, &mut scratch);
        let point = |g: [usize; 3]| (g[0] * dims[1] + g[1]) * dims[2] + g[2];
        for m1 in 0..dims[0] {
            for m2 in 0..dims[1] {
                for m3 in 0..fft.half {
                    let mut direct = Complex64::default();
                    for g1 in 0..dims[0] {
                        for g2 in 0..dims[1] {
                            for g3 in 0..dims[2] {
                                let phase = -2.0
                                    * std::f64::consts::PI
                                    * ((m1 * g1) as f64 / dims[0] as f64
                                        + (m2 * g2) as f64 / dims[1] as f64
                                        + (m3 * g3) as f64 / dims[2] as f64);
                                direct += mesh[point([g1, g2, g3])]
                                    * Complex64::new(phase.cos(), phase.sin());
                            }
                        }
                    }
                    let got = spectrum[fft.spectrum_index([m1, m2, m3])];
                    assert!((got - direct).norm() < 1e-12, "{m1} {m2} {m3}");
                }
            }
        }
        // the inverse is unnormalised: it returns K₁K₂K₃ times the mesh
        let mut back = vec![0.0; fft.size()];
        fft.inverse(&mut spectrum, &mut back, &mut scratch);
        for (b, x) in back.iter().zip(&mesh) {
            assert!((b / fft.size() as f64 - x).abs() < 1e-13);
        }
        assert_eq!(fast_size(11), 12);
        assert_eq!(fast_size(97), 98);
    }
}
