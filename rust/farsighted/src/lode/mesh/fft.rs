//! Three-dimensional real FFTs on a mesh of K₁ × K₂ × K₃ points (row-major, K₃ fastest), from
//! the 1D transforms of `realfft`/`rustfft`. The half spectrum (m₃ = 0..K₃/2) is kept in the
//! transposed order [m₂][m₃][m₁], so that every 1D transform runs over contiguous memory and
//! the transposition (the `transpose` crate, cache-blocked) is done once each way. Each
//! transform runs on one thread: the mesh method parallelises over the independent transforms
//! of its channels.
//!
//! The kernels of the mesh method vanish outside the sphere |k| < k_c, which crosses about a
//! third of the lines along m₁ and half of the columns m₃ of the half spectrum: the transforms
//! take the [`Support`] of the kernel and skip the 1D transforms outside it. In space, they
//! skip the rows and planes of the mesh that hold no atom (in the box of an open cluster,
//! most of them).

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

/// Buffers of one thread: a line of the real transform, the half spectrum in mesh order (of
/// `forward` and `inverse`, allocated on first use)
pub(crate) struct Scratch {
    line: Vec<Complex64>,
    spectrum: Vec<Complex64>,
    fft: Vec<Complex64>,
}

/// The lines along m₁ (index m₂ half + m₃ of the transposed half spectrum) and the columns m₃
/// that hold a point of a kernel: an inverse transform takes its input to be zero outside
/// them, and a forward transform leaves its output untransformed there. In space, the rows
/// (g₁, g₂) (index g₁ K₂ + g₂) and the planes g₁ that hold the atoms: a forward transform
/// takes its input to be zero outside them, and an inverse one leaves its output unwritten
/// there (the box of an open system is about 4/5 empty rows, mesh/open.rs).
pub(crate) struct Support {
    lines: Vec<bool>,
    columns: Vec<bool>,
    rows: Vec<bool>,
    planes: Vec<bool>,
}

impl Support {
    /// The support of the points at `indices` of the transposed half spectrum
    pub fn new(fft: &Fft3, indices: &[usize]) -> Support {
        let mut lines = vec![false; fft.dims[1] * fft.half];
        let mut columns = vec![false; fft.half];
        for index in indices {
            let line = index / fft.dims[0];
            lines[line] = true;
            columns[line % fft.half] = true;
        }
        Support {
            lines,
            columns,
            ..Support::full(fft)
        }
    }

    /// The same support in k-space, in space the rows `rows` (g₁ K₂ + g₂) only
    pub fn with_rows(self, fft: &Fft3, rows: Vec<bool>) -> Support {
        debug_assert_eq!(rows.len(), fft.dims[0] * fft.dims[1]);
        let planes = rows
            .chunks(fft.dims[1])
            .map(|r| r.contains(&true))
            .collect();
        Support {
            rows,
            planes,
            ..self
        }
    }

    /// Zero the lines of the support in a transposed half spectrum of `fft`: the only ones the
    /// inverse transforms modify, so that a spectrum zero elsewhere is ready for new input
    pub fn clear(&self, fft: &Fft3, spectrum: &mut [Complex64]) {
        for (line, selected) in spectrum.chunks_mut(fft.dims[0]).zip(&self.lines) {
            if *selected {
                line.fill(Complex64::default());
            }
        }
    }

    /// Zero the rows of the support in real meshes interleaved `width` wide (point-major): the
    /// only ones that spreading writes and the transforms read or write
    pub fn clear_rows(&self, fft: &Fft3, meshes: &mut [f64], width: usize) {
        for (row, selected) in meshes.chunks_mut(fft.dims[2] * width).zip(&self.rows) {
            if *selected {
                row.fill(0.0);
            }
        }
    }

    /// Every line and column, row and plane
    pub fn full(fft: &Fft3) -> Support {
        Support {
            lines: vec![true; fft.dims[1] * fft.half],
            columns: vec![true; fft.half],
            rows: vec![true; fft.dims[0] * fft.dims[1]],
            planes: vec![true; fft.dims[0]],
        }
    }
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
            spectrum: Vec::new(),
            fft: vec![Complex64::default(); fft_scratch.max(1)],
        }
    }

    /// The half spectrum of `scratch`, allocated on first use: the batches of channels
    /// (`forward_planes`, `inverse_planes`) do without it
    fn spectrum_scratch(&self, scratch: &mut Scratch) -> Vec<Complex64> {
        let spectrum = std::mem::take(&mut scratch.spectrum);
        if spectrum.is_empty() {
            return vec![Complex64::default(); self.spectrum_size()];
        }
        spectrum
    }

    /// F(m) = Σ_g Q(g) e^{-2πi m·g/K} of a real mesh (modified: it is the transform's
    /// scratch), written into `output` (transposed half spectrum) on `support`
    pub fn forward(
        &self,
        mesh: &mut [f64],
        output: &mut [Complex64],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let (k3, half) = (self.dims[2], self.half);
        debug_assert_eq!(mesh.len(), self.size());
        // along g₃ (real to complex), into [g₁][g₂][m₃] order
        let mut planes = self.spectrum_scratch(scratch);
        let rows = mesh.chunks_mut(k3).zip(planes.chunks_mut(half));
        for ((line, out), &selected) in rows.zip(&support.rows) {
            if !selected {
                out.fill(Complex64::default());
                continue;
            }
            self.forward_real
                .process_with_scratch(line, out, &mut scratch.fft)
                .expect("sizes match the plan");
        }
        self.forward_planes(&mut planes, output, support, scratch);
        scratch.spectrum = planes;
    }

    /// The first 1D transforms (along g₃, real to complex) of the real meshes interleaved
    /// point-major in `input` (channel q of point g at g × width + q, width ≥ planes.len()),
    /// written into `planes` in [g₁][g₂][m₃] order: the counterpart of `inverse_interleaved`,
    /// the input zero outside the rows of `support`
    pub fn forward_interleaved(
        &self,
        input: &[f64],
        width: usize,
        planes: &mut [Vec<Complex64>],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let (k3, half) = (self.dims[2], self.half);
        debug_assert!(width >= planes.len() && input.len() == self.size() * width);
        let mut line = vec![0.0; k3];
        for (r, values) in input.chunks(k3 * width).enumerate() {
            for (q, plane) in planes.iter_mut().enumerate() {
                let out = &mut plane[r * half..(r + 1) * half];
                if !support.rows[r] {
                    out.fill(Complex64::default());
                    continue;
                }
                for (l, x) in line.iter_mut().zip(values.iter().skip(q).step_by(width)) {
                    *l = *x;
                }
                self.forward_real
                    .process_with_scratch(&mut line, out, &mut scratch.fft)
                    .expect("sizes match the plan");
            }
        }
    }

    /// The 1D transforms along g₂ and g₁ of `planes` ([g₁][g₂][m₃] order, after the
    /// transforms along g₃; modified), written into `output` (transposed half spectrum) on
    /// `support`: the last steps of `forward`
    pub fn forward_planes(
        &self,
        planes: &mut [Complex64],
        output: &mut [Complex64],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let [k1, k2, _] = self.dims;
        let half = self.half;
        // (planes without atoms are zero, and so are their transforms)
        self.columns(planes, support, &*self.forward[1], scratch);
        // [g₁][m₂ m₃] → [m₂ m₃][g₁], then along g₁
        transpose::transpose(planes, output, k2 * half, k1);
        for (line, selected) in output.chunks_mut(k1).zip(&support.lines) {
            if *selected {
                self.forward[0].process_with_scratch(line, &mut scratch.fft);
            }
        }
    }

    /// φ(g) = Σ_m X(m) e^{2πi m·g/K} of a Hermitian spectrum given by its half (transposed,
    /// zero outside `support`; modified: it is the transform's scratch), written into the real
    /// mesh `output`
    pub fn inverse(
        &self,
        input: &mut [Complex64],
        output: &mut [f64],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let mut planes = self.spectrum_scratch(scratch);
        self.inverse_planes(input, &mut planes, support, scratch);
        let (k3, half) = (self.dims[2], self.half);
        let rows = planes.chunks_mut(half).zip(output.chunks_mut(k3));
        for ((line, out), _) in rows.zip(&support.rows).filter(|(_, &s)| s) {
            self.inverse_line(line, out, &mut scratch.fft);
        }
        scratch.spectrum = planes;
    }

    /// The last 1D transforms (along m₃, complex to real) of the spectra `planes` given by
    /// `inverse_planes`, written interleaved point-major into `output` on the rows of
    /// `support`: channel q of point g at g × width + q (width ≥ planes.len()). They run line
    /// by line over all channels, so that each line of the interleaved mesh is written while
    /// it is in cache. `planes` are modified.
    pub fn inverse_interleaved(
        &self,
        planes: &mut [Vec<Complex64>],
        width: usize,
        output: &mut [f64],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let (k3, half) = (self.dims[2], self.half);
        debug_assert!(width >= planes.len() && output.len() == self.size() * width);
        let mut line = vec![0.0; k3];
        let rows = output.chunks_mut(k3 * width).enumerate();
        for (r, out) in rows.filter(|(r, _)| support.rows[*r]) {
            for (q, plane) in planes.iter_mut().enumerate() {
                let input = &mut plane[r * half..(r + 1) * half];
                self.inverse_line(input, &mut line, &mut scratch.fft);
                for (o, x) in out.iter_mut().skip(q).step_by(width).zip(&line) {
                    *o = *x;
                }
            }
        }
    }

    /// The 1D transforms along m₁ and m₂ of `input` (transposed half spectrum, zero outside
    /// `support`; modified), written into `planes` in [g₁][g₂][m₃] order on the planes g₁ of
    /// `support`: the first steps of `inverse`
    pub fn inverse_planes(
        &self,
        input: &mut [Complex64],
        planes: &mut [Complex64],
        support: &Support,
        scratch: &mut Scratch,
    ) {
        let [k1, k2, _] = self.dims;
        let half = self.half;
        debug_assert_eq!(input.len(), self.spectrum_size());
        for (line, selected) in input.chunks_mut(k1).zip(&support.lines) {
            if *selected {
                self.inverse[0].process_with_scratch(line, &mut scratch.fft);
            }
        }
        // [m₂ m₃][g₁] → [g₁][m₂ m₃]
        transpose::transpose(input, planes, k1, k2 * half);
        self.columns(planes, support, &*self.inverse[1], scratch);
    }

    /// The 1D transforms along the second axis of the columns m₃ of `support` in the planes
    /// [m₂ or g₂][m₃] of fixed g₁ of `support`, in [g₁][m₂ or g₂][m₃] order
    fn columns(
        &self,
        planes: &mut [Complex64],
        support: &Support,
        transform: &dyn Fft<f64>,
        scratch: &mut Scratch,
    ) {
        let (k2, half) = (self.dims[1], self.half);
        let line = &mut scratch.line[..k2];
        let slabs = planes.chunks_mut(k2 * half).zip(&support.planes);
        for (slab, _) in slabs.filter(|(_, &selected)| selected) {
            for (m3, selected) in support.columns.iter().enumerate() {
                if !*selected {
                    continue;
                }
                for (i, x) in line.iter_mut().enumerate() {
                    *x = slab[i * half + m3];
                }
                transform.process_with_scratch(line, &mut scratch.fft);
                for (i, x) in line.iter().enumerate() {
                    slab[i * half + m3] = *x;
                }
            }
        }
    }

    /// The complex-to-real transform along m₃ of one line (modified) into `out`
    fn inverse_line(&self, line: &mut [Complex64], out: &mut [f64], fft_scratch: &mut [Complex64]) {
        // the imaginary parts of m₃ = 0 and K₃/2 are rounding errors of a Hermitian input
        line[0].im = 0.0;
        if self.dims[2] % 2 == 0 {
            line[self.half - 1].im = 0.0;
        }
        self.inverse_real
            .process_with_scratch(line, out, fft_scratch)
            .expect("sizes match the plan");
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
        let support = Support::full(&fft);
        fft.forward(&mut mesh.clone(), &mut spectrum, &support, &mut scratch);
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
        fft.inverse(&mut spectrum.clone(), &mut back, &support, &mut scratch);
        for (b, x) in back.iter().zip(&mesh) {
            assert!((b / fft.size() as f64 - x).abs() < 1e-13);
        }
        assert_eq!(fast_size(11), 12);
        assert_eq!(fast_size(97), 98);
    }

    #[test]
    fn pruned_transforms_equal_the_full_ones() {
        let dims = [8, 9, 10];
        let fft = Fft3::new(dims);
        let (full, mut scratch) = (Support::full(&fft), fft.scratch());
        // the points of a small kernel: |m₂| ≤ 1, m₃ ≤ 1 (signed frequencies)
        let mut points = Vec::new();
        for m1 in 0..dims[0] {
            for m2 in [0, 1, dims[1] - 1] {
                for m3 in [0, 1] {
                    points.push(fft.spectrum_index([m1, m2, m3]));
                }
            }
        }
        let support = Support::new(&fft, &points);
        assert!(support.lines.iter().any(|x| !x) && support.columns.iter().any(|x| !x));
        let mesh: Vec<f64> = (0..fft.size()).map(|i| ((i * 31) % 17) as f64).collect();
        let transform = |support: &Support, scratch: &mut Scratch| {
            let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
            fft.forward(&mut mesh.clone(), &mut spectrum, support, scratch);
            spectrum
        };
        let (expected, pruned) = (
            transform(&full, &mut scratch),
            transform(&support, &mut scratch),
        );
        let mut input = vec![Complex64::default(); fft.spectrum_size()];
        for &p in &points {
            assert!((expected[p] - pruned[p]).norm() < 1e-12);
            input[p] = expected[p];
        }
        let inverse = |support: &Support, scratch: &mut Scratch| {
            let mut output = vec![0.0; fft.size()];
            fft.inverse(&mut input.clone(), &mut output, support, scratch);
            output
        };
        let expected = inverse(&full, &mut scratch);
        for (a, b) in inverse(&support, &mut scratch).iter().zip(&expected) {
            assert!((a - b).abs() < 1e-10);
        }
        // two channels interleaved
        let mut planes = vec![vec![Complex64::default(); fft.spectrum_size()]; 2];
        for plane in &mut planes {
            fft.inverse_planes(&mut input.clone(), plane, &support, &mut scratch);
        }
        let mut interleaved = vec![0.0; 2 * fft.size()];
        fft.inverse_interleaved(&mut planes, 2, &mut interleaved, &support, &mut scratch);
        for (g, x) in expected.iter().enumerate() {
            assert!((interleaved[2 * g] - x).abs() < 1e-10);
            assert!((interleaved[2 * g + 1] - x).abs() < 1e-10);
        }
    }

    #[test]
    fn transforms_restricted_to_rows_equal_the_full_ones() {
        let dims = [8, 9, 10];
        let fft = Fft3::new(dims);
        let mut scratch = fft.scratch();
        let full = Support::full(&fft);
        // the atoms in the rows g₂ = 1..4 of the planes g₁ = 2..5
        let rows: Vec<bool> = (0..dims[0] * dims[1])
            .map(|r| (2..5).contains(&(r / dims[1])) && (1..4).contains(&(r % dims[1])))
            .collect();
        let support = Support::full(&fft).with_rows(&fft, rows.clone());
        assert_eq!(support.planes.iter().filter(|&&x| x).count(), 3);
        let mesh: Vec<f64> = (0..fft.size())
            .map(|i| match rows[i / dims[2]] {
                true => ((i * 31) % 17) as f64,
                false => 0.0,
            })
            .collect();
        let forward = |support: &Support, scratch: &mut Scratch| {
            let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
            fft.forward(&mut mesh.clone(), &mut spectrum, support, scratch);
            spectrum
        };
        let expected = forward(&full, &mut scratch);
        for (a, b) in forward(&support, &mut scratch).iter().zip(&expected) {
            assert!((a - b).norm() < 1e-10);
        }
        // two channels interleaved, the second twice the first
        let interleaved: Vec<f64> = mesh.iter().flat_map(|&x| [x, 2.0 * x]).collect();
        let mut planes = vec![vec![Complex64::default(); fft.spectrum_size()]; 2];
        fft.forward_interleaved(&interleaved, 2, &mut planes, &support, &mut scratch);
        for (q, plane) in planes.iter_mut().enumerate() {
            let mut spectrum = vec![Complex64::default(); fft.spectrum_size()];
            fft.forward_planes(plane, &mut spectrum, &support, &mut scratch);
            for (a, b) in spectrum.iter().zip(&expected) {
                assert!((a - b * (q + 1) as f64).norm() < 1e-10);
            }
        }
        // the inverse equals the full one on the rows
        let inverse = |support: &Support, scratch: &mut Scratch| {
            let mut output = vec![0.0; fft.size()];
            fft.inverse(&mut expected.clone(), &mut output, support, scratch);
            output
        };
        let back = inverse(&full, &mut scratch);
        for (g, (a, b)) in inverse(&support, &mut scratch)
            .iter()
            .zip(&back)
            .enumerate()
        {
            if rows[g / dims[2]] {
                assert!((a - b).abs() < 1e-9);
            }
        }
    }
}
