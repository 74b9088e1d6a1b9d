//! The mesh against the k-space sum it approximates

use crate::lode::{Gradients, LodeSphericalExpansion, Selection};
use crate::output::Descriptor;
use crate::System;

fn calculator(sigma: f64, p: f64, extra: &str) -> LodeSphericalExpansion {
    LodeSphericalExpansion::from_json(&format!(
        r#"{{
        "density": {{"type": "SmearedPowerLaw", "smearing": {sigma}, "exponent": {p},
                     "center_atom_weight": 0.4}},
        "basis": {{"type": "TensorProduct", "max_angular": 3, "spline_accuracy": 1e-10,
                  "radial": {{"type": "Gto", "max_radial": 3, "radius": 3.5}}}}
        {extra}
    }}"#
    ))
    .unwrap()
}

/// A random triclinic cell with two types, `n` atoms
pub(crate) fn random_cell(n: usize, seed: u64, scale: f64) -> System {
    let mut seed = seed;
    let mut random = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let cell =
        [[5.2, 0.0, 0.0], [1.1, 4.9, 0.0], [-0.6, 0.7, 5.5]].map(|row| row.map(|x| x * scale));
    let positions = (0..n)
        .map(|_| {
            let f = [random(), random(), random()];
            [0, 1, 2].map(|a| (0..3).map(|b| f[b] * cell[b][a]).sum::<f64>())
        })
        .collect();
    System {
        types: (0..n).map(|i| if i % 2 == 0 { 11 } else { 17 }).collect(),
        positions,
        cell,
        pbc: [true; 3],
    }
}

/// max over blocks of max |a - b| / max |b|
fn worst_error(a: &Descriptor, b: &Descriptor) -> f64 {
    let mut worst = 0.0_f64;
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        assert_eq!(x.key, y.key);
        let scale = y.values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let error = x
            .values
            .iter()
            .zip(&y.values)
            .fold(0.0_f64, |m, (p, q)| m.max((p - q).abs()));
        if scale > 0.0 {
            worst = worst.max(error / scale);
        }
    }
    worst
}

/// The worst error per block of the values on the mesh against the k-space sum, both with
/// σw = σ 2^{grid/4}, and the mesh chosen
fn mesh_against_k_sum(
    system: &System,
    (sigma, p, accuracy, grid): (f64, f64, f64, i32),
) -> (f64, Option<([usize; 3], usize)>) {
    let compute = |reciprocal: &str| {
        let calculator = calculator(
            sigma,
            p,
            &format!(r#", "accuracy": {accuracy}, "reciprocal": "{reciprocal}""#),
        );
        calculator.force_ewald_grid(Some(grid));
        let result = calculator
            .compute(
                std::slice::from_ref(system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap();
        (result, calculator.mesh_choice(system).unwrap())
    };
    let (reference, none) = compute("kspace");
    assert!(none.is_none());
    let (mesh, size) = compute("mesh");
    (worst_error(&mesh, &reference), size)
}

#[test]
fn mesh_equals_the_k_space_sum_within_accuracy() {
    // (σ, p, ε, grid of σw = σ 2^{j/4}, cell scale)
    let cases = [
        (1.0, 1.0, 1e-4, 4, 1.0),
        (1.0, 1.0, 1e-6, 4, 1.6),
        (0.5, 1.0, 1e-5, 8, 1.3),
        (1.0, 6.0, 1e-5, 4, 1.3),
        (0.8, 0.0, 1e-5, 4, 1.3),
        (1.0, 1.0, 1e-8, 0, 1.0),
    ];
    let mut report = Vec::new();
    let mut failures = 0;
    for (k, &(sigma, p, accuracy, grid, scale)) in cases.iter().enumerate() {
        let system = random_cell(24, 7 + k as u64, scale);
        let (error, size) = mesh_against_k_sum(&system, (sigma, p, accuracy, grid));
        report.push(format!(
            "sigma={sigma} p={p} accuracy={accuracy:e} grid={grid} mesh={size:?}: error/accuracy = {:.3}",
            error / accuracy
        ));
        if error > accuracy {
            failures += 1;
        }
    }
    println!("{report:#?}");
    assert_eq!(failures, 0, "{report:#?}");
}

/// Open clusters: the split with its wide part on the mesh of a box (mesh/open.rs) against
/// the pair sums over all pairs, without any split
#[test]
fn open_mesh_equals_the_pair_sums_within_accuracy() {
    // (σ, p, ε, grid of σw = σ 2^{j/4})
    let cases = [
        (1.0, 1.0, 1e-4, 4),
        (0.5, 1.0, 1e-5, 8),
        (1.0, 6.0, 1e-5, 4),
        (0.8, 0.0, 1e-5, 4),
    ];
    let mut report = Vec::new();
    let mut failures = 0;
    for (k, &(sigma, p, accuracy, grid)) in cases.iter().enumerate() {
        let mut system = random_cell(30, 3 + k as u64, 1.5);
        system.pbc = [false; 3];
        let reference = calculator(sigma, p, "")
            .compute(
                std::slice::from_ref(&system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap();
        let split = calculator(
            sigma,
            p,
            &format!(r#", "accuracy": {accuracy}, "reciprocal": "mesh""#),
        );
        split.force_ewald_grid(Some(grid));
        let result = split
            .compute(
                std::slice::from_ref(&system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap();
        let size = split.mesh_choice(&system).unwrap();
        let error = worst_error(&result, &reference);
        report.push(format!(
            "sigma={sigma} p={p} accuracy={accuracy:e} grid={grid} mesh={size:?}: error/accuracy = {:.3}",
            error / accuracy
        ));
        if size.is_none() || error > accuracy {
            failures += 1;
        }
    }
    println!("{report:#?}");
    assert_eq!(failures, 0, "{report:#?}");
}

/// A random slab with a triclinic in-plane cell, two types, `n` atoms over `thickness` Å
fn random_slab(n: usize, seed: u64, thickness: f64) -> System {
    let mut system = random_cell(n, seed, 1.0);
    let cell = [[5.3, 0.0, 0.0], [1.4, 4.6, 0.0], [0.0; 3]];
    for (j, r) in system.positions.iter_mut().enumerate() {
        // in-plane fractional coordinates from the 3D ones, heights over the thickness
        let f = [r[0] / 6.0, r[1] / 6.0];
        let z = thickness * (j as f64 / n as f64 - 0.5) + 0.3 * r[2].sin();
        *r =
            [0, 1, 2].map(|a| f[0] * cell[0][a] + f[1] * cell[1][a] + if a == 2 { z } else { 0.0 });
    }
    system.cell = cell;
    system.pbc = [true, true, false];
    system
}

#[test]
fn slab_mesh_equals_the_slab_k_space_sum_within_accuracy() {
    // (σ, p, ε, grid of σw = σ 2^{j/4}); measured error/ε: 1.4e-2, 2.8e-3, 2.1e-4 (p = 0:
    // tests/test_mesh.py)
    let cases = [
        (1.0, 1.0, 1e-4, 4),
        (1.0, 1.0, 1e-7, 4),
        (0.8, 6.0, 1e-5, 4),
    ];
    let mut report = Vec::new();
    let mut failures = 0;
    for (k, &(sigma, p, accuracy, grid)) in cases.iter().enumerate() {
        // 40 atoms over 4 Å: the planar part on a grid of heights too (at most N/2 points)
        let system = random_slab(40, 3 + k as u64, 4.0);
        let (error, size) = mesh_against_k_sum(&system, (sigma, p, accuracy, grid));
        report.push(format!(
            "slab sigma={sigma} p={p} accuracy={accuracy:e} grid={grid} mesh={size:?}: \
             error/accuracy = {:.2e}",
            error / accuracy
        ));
        if error > accuracy {
            failures += 1;
        }
    }
    println!("{report:#?}");
    assert_eq!(failures, 0, "{report:#?}");
}

/// The kernel of a slab holds exactly the k-vectors of its k-space sum, ±k
#[test]
fn slab_kernel_holds_the_slab_k_vectors() {
    let system = random_slab(6, 1, 3.0);
    let calculator = calculator(1.0, 1.0, r#", "accuracy": 1e-5, "reciprocal": "mesh""#);
    calculator.force_ewald_grid(Some(4));
    let split = calculator
        .split_tables(4, crate::lode::ewald::Margins::Tight)
        .unwrap();
    let wide = &split.wide;
    let internal = crate::lode::slab::internal_system(&system, wide.basis.support());
    let (dims, order) = calculator.mesh_choice(&system).unwrap().unwrap();
    let fft = super::Fft3::new(dims);
    let assignment = super::Assignment::new(&internal, super::MeshSize { dims, order });
    let kernel = super::Kernel::new(
        wide,
        crate::lode::plan::Geometry::Slab,
        &internal,
        &fft,
        &assignment,
        false,
        None,
    )
    .unwrap();
    let kvectors = crate::lode::slab::slab_k_vectors(&internal, wide.k_cutoff, wide.slab_k_bound());
    // every k of the sum, or its opposite, is a point of the half spectrum of the kernel
    let index = |n: [i32; 3]| {
        let n = if n[2] < 0 { n.map(|x| -x) } else { n };
        let m = [0, 1, 2].map(|d| n[d].rem_euclid(dims[d] as i32) as usize);
        fft.spectrum_index(m)
    };
    let points: std::collections::BTreeSet<usize> = kernel.points.iter().copied().collect();
    assert_eq!(points.len(), kernel.points.len());
    for n in &kvectors.indices {
        assert!(points.contains(&index(*n)), "{n:?}");
    }
    // the kernel's weights count each ±k pair twice
    let weight: f64 = kernel.multiplicity.iter().sum();
    assert_eq!(weight, 2.0 * kvectors.indices.len() as f64);
}

/// Timing of the mesh against the k-space sum of the split on a large box (not a test: run
/// with `cargo test --release -- --ignored --nocapture mesh_timing`, MESH_TIMING_ATOMS atoms)
#[test]
#[ignore]
fn mesh_timing() {
    let n: usize = std::env::var("MESH_TIMING_ATOMS")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(16000);
    // 0.04 atoms/Å³: the cell of random_cell has a volume of 139.4 Å³ at scale 1
    let scale = (n as f64 / 0.04 / 139.4).powf(1.0 / 3.0);
    let system = random_cell(n, 1, scale);
    let systems = std::slice::from_ref(&system);
    for reciprocal in ["mesh", "kspace"] {
        let calculator = LodeSphericalExpansion::from_json(&format!(
            r#"{{
            "density": {{"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1}},
            "basis": {{"type": "TensorProduct", "max_angular": 4,
                      "radial": {{"type": "Gto", "max_radial": 5, "radius": 4.0}}}},
            "accuracy": 1e-5, "reciprocal": "{reciprocal}"
        }}"#
        ))
        .unwrap();
        let run = || {
            calculator
                .compute(systems, Gradients::default(), &Selection::default())
                .unwrap()
        };
        run();
        let start = std::time::Instant::now();
        run();
        println!(
            "{n} atoms, {reciprocal}: {:.2} s (mesh {:?})",
            start.elapsed().as_secs_f64(),
            calculator.mesh_choice(&system).unwrap()
        );
    }
}
