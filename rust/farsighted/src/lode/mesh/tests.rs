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
        let systems = std::slice::from_ref(&system);
        let compute = |reciprocal: &str| {
            let calculator = calculator(
                sigma,
                p,
                &format!(r#", "accuracy": {accuracy}, "reciprocal": "{reciprocal}""#),
            );
            calculator.force_ewald_grid(Some(grid));
            let result = calculator
                .compute(systems, Gradients::default(), &Selection::default())
                .unwrap();
            let mesh = calculator.mesh_choice(&system).unwrap();
            (result, mesh)
        };
        let (reference, _) = compute("kspace");
        let (mesh, size) = compute("mesh");
        let error = worst_error(&mesh, &reference);
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
