//! End-to-end checks of the periodic LODE calculator: finite differences for the gradients and
//! the Madelung constant of rock salt.

use farsighted::{Descriptor, Gradients, LodeSphericalExpansion, Selection, System};

fn calculator(exponent: u32, weight: f64) -> LodeSphericalExpansion {
    LodeSphericalExpansion::from_json(&format!(
        r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": {exponent},
                        "center_atom_weight": {weight}}},
            "basis": {{"type": "TensorProduct", "max_angular": 3, "spline_accuracy": null,
                      "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}}}}"#
    ))
    .unwrap()
}

fn triclinic_system() -> System {
    System {
        types: vec![1, 8, 8, 11, 1],
        positions: vec![
            [0.1, 0.2, 0.3],
            [1.9, 0.4, 2.2],
            [3.1, 2.9, 0.7],
            [0.8, 3.5, 3.3],
            [2.5, 1.2, 4.1],
        ],
        cell: [[5.0, 0.3, -0.2], [0.6, 4.6, 0.1], [-0.4, 0.5, 5.3]],
        pbc: [true; 3],
    }
}

fn compute(
    calculator: &LodeSphericalExpansion,
    system: &System,
    gradients: Gradients,
) -> Descriptor {
    calculator
        .compute(
            std::slice::from_ref(system),
            gradients,
            &Selection::default(),
        )
        .unwrap()
}

/// (plus - minus) / 2δ for one value of one block
fn central_difference(
    plus: &Descriptor,
    minus: &Descriptor,
    block: usize,
    index: usize,
    delta: f64,
) -> f64 {
    (plus.blocks[block].values[index] - minus.blocks[block].values[index]) / (2.0 * delta)
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn positions_gradients_finite_differences() {
    for exponent in [0, 1, 3, 6] {
        let calculator = calculator(exponent, 0.5);
        let system = triclinic_system();
        let reference = compute(
            &calculator,
            &system,
            Gradients {
                positions: true,
                strain: false,
            },
        );
        let delta = 1e-5;
        for atom in 0..system.size() {
            for alpha in 0..3 {
                let mut plus = system.clone();
                plus.positions[atom][alpha] += delta;
                let mut minus = system.clone();
                minus.positions[atom][alpha] -= delta;
                let (plus, minus) = (
                    compute(&calculator, &plus, Gradients::default()),
                    compute(&calculator, &minus, Gradients::default()),
                );
                for (b, block) in reference.blocks.iter().enumerate() {
                    let gradient = block.positions.as_ref().unwrap();
                    let size = block.n_components * block.n_properties;
                    let scale = max_abs(&gradient.values).max(1e-3);
                    for (row, chunk) in gradient.samples.chunks(3).enumerate() {
                        if chunk[2] as usize != atom {
                            continue;
                        }
                        let sample = chunk[0] as usize;
                        for f in 0..size {
                            let fd = central_difference(&plus, &minus, b, sample * size + f, delta);
                            let analytic = gradient.values[(row * 3 + alpha) * size + f];
                            assert!(
                                (fd - analytic).abs() < 1e-6 * scale,
                                "p={exponent} block {b} atom {atom}: {fd} vs {analytic}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn strain_gradients_finite_differences() {
    for exponent in [0, 1, 4] {
        let calculator = calculator(exponent, 0.5);
        let system = triclinic_system();
        let reference = compute(
            &calculator,
            &system,
            Gradients {
                positions: false,
                strain: true,
            },
        );
        let delta = 1e-6;
        let deform = |system: &System, alpha: usize, beta: usize, eps: f64| {
            // r' = r (1 + ε) for row vectors, for positions and cell vectors
            let apply = |v: [f64; 3]| {
                let mut out = v;
                out[beta] += eps * v[alpha];
                out
            };
            let mut deformed = system.clone();
            deformed.positions = system.positions.iter().map(|&r| apply(r)).collect();
            deformed.cell = system.cell.map(apply);
            deformed
        };
        for alpha in 0..3 {
            for beta in 0..3 {
                let plus = compute(
                    &calculator,
                    &deform(&system, alpha, beta, delta),
                    Gradients::default(),
                );
                let minus = compute(
                    &calculator,
                    &deform(&system, alpha, beta, -delta),
                    Gradients::default(),
                );
                for (b, block) in reference.blocks.iter().enumerate() {
                    let strain = block.strain.as_ref().unwrap();
                    let size = block.n_components * block.n_properties;
                    let scale = max_abs(&strain.values).max(1e-3);
                    for sample in 0..block.samples.len() {
                        for f in 0..size {
                            let fd = central_difference(&plus, &minus, b, sample * size + f, delta);
                            let analytic =
                                strain.values[((sample * 3 + alpha) * 3 + beta) * size + f];
                            assert!(
                                (fd - analytic).abs() < 1e-6 * scale,
                                "p={exponent} block {b} ε{alpha}{beta}: {fd} vs {analytic}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The potential at a Na site of rock salt from the l = 0 coefficient of a narrow basis
/// function (mean value theorem: the basis sits where there is no charge)
#[test]
fn rock_salt_madelung_constant() {
    let sigma = 0.3;
    let calculator = LodeSphericalExpansion::from_json(&format!(
        r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": {sigma}, "exponent": 1, "center_atom_weight": 0.0}},
            "basis": {{"type": "TensorProduct", "max_angular": 0, "spline_accuracy": 1e-13,
                      "radial": {{"type": "Gto", "max_radial": 0, "radius": 0.25}}}},
            "k_cutoff": {}}}"#,
        8.8 / sigma
    ))
    .unwrap();
    let a = 5.64; // nearest-neighbour distance a / 2, large compared to the smearing
    let mut positions = Vec::new();
    let mut types = Vec::new();
    for corner in [
        [0.0, 0.0, 0.0],
        [0.0, 0.5, 0.5],
        [0.5, 0.0, 0.5],
        [0.5, 0.5, 0.0],
    ] {
        positions.push(corner.map(|x| x * a));
        types.push(11);
        positions.push([corner[0] * a + 0.5 * a, corner[1] * a, corner[2] * a]);
        types.push(17);
    }
    let system = System {
        types,
        positions,
        cell: [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]],
        pbc: [true; 3],
    };
    let descriptor = compute(&calculator, &system, Gradients::default());
    // ∫ r² R₀ dr for R₀ = N e^{-r²/2s²}, N = √(2 / (s³ Γ(3/2))): N s³ √(π/2)
    let s: f64 = 0.25;
    let norm = (2.0 / (s.powi(3) * 0.5 * std::f64::consts::PI.sqrt())).sqrt();
    let integral = norm * s.powi(3) * (std::f64::consts::PI / 2.0).sqrt();
    let potential = |key: [i32; 4]| {
        let block = descriptor.blocks.iter().find(|b| b.key == key).unwrap();
        block.values[0] / ((4.0 * std::f64::consts::PI).sqrt() * integral)
    };
    let phi_na = potential([0, 1, 11, 11]) - potential([0, 1, 11, 17]);
    // E = -M / d per ion pair: the potential at a cation is -M / d
    let madelung = -phi_na * 0.5 * a;
    let expected = 1.747_564_594_633;
    assert!((madelung - expected).abs() < 1e-6 * expected, "{madelung}");
}
