//! The backward product against the explicit positions and strain gradients contracted with
//! random ∂L/∂features, and against finite differences of L with respect to the cell.

use farsighted::{
    BackwardGradients, BlockData, Descriptor, Gradients, LodeSphericalExpansion, Selection, System,
};

fn calculator(exponent: u32, weight: f64) -> LodeSphericalExpansion {
    LodeSphericalExpansion::from_json(&format!(
        r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": {exponent},
                        "center_atom_weight": {weight}}},
            "basis": {{"type": "TensorProduct", "max_angular": 3, "spline_accuracy": null,
                      "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}}}}"#
    ))
    .unwrap()
}

fn systems() -> Vec<System> {
    vec![
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
        },
        System {
            types: vec![8, 1, 1, 6],
            positions: vec![
                [0.3, -0.2, 0.1],
                [2.1, 1.4, 0.6],
                [-1.0, 2.6, 2.9],
                [3.2, 0.2, 3.0],
            ],
            cell: [[4.4, -0.5, 0.4], [1.1, 4.9, 0.2], [0.3, -0.6, 4.7]],
            pbc: [true; 3],
        },
    ]
}

/// Deterministic numbers in [-1, 1)
fn random_values(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Random G with the metadata of `descriptor`
fn random_gradient(descriptor: &Descriptor, seed: u64) -> Vec<BlockData> {
    descriptor
        .blocks
        .iter()
        .enumerate()
        .map(|(b, block)| BlockData {
            values: random_values(seed + b as u64, block.values.len()),
            positions: None,
            strain: None,
            ..block.clone()
        })
        .collect()
}

/// ∂L/∂positions and ∂L/∂strain of one system
type Reference = (Vec<[f64; 3]>, [[f64; 3]; 3]);

/// Σ G · ∂X/∂r and Σ G · ∂X/∂ε from the explicit gradients
fn contract(descriptor: &Descriptor, gradient: &[BlockData], systems: &[System]) -> Vec<Reference> {
    let mut result: Vec<_> = systems
        .iter()
        .map(|s| (vec![[0.0; 3]; s.size()], [[0.0; 3]; 3]))
        .collect();
    for (block, g) in descriptor.blocks.iter().zip(gradient) {
        let size = block.n_components * block.n_properties;
        let positions = block.positions.as_ref().unwrap();
        for (row, chunk) in positions.samples.chunks(3).enumerate() {
            let (sample, s, j) = (chunk[0] as usize, chunk[1] as usize, chunk[2] as usize);
            for alpha in 0..3 {
                for f in 0..size {
                    result[s].0[j][alpha] += g.values[sample * size + f]
                        * positions.values[(row * 3 + alpha) * size + f];
                }
            }
        }
        let strain = block.strain.as_ref().unwrap();
        for (sample, &[s, _]) in block.samples.iter().enumerate() {
            for ab in 0..9 {
                for f in 0..size {
                    result[s as usize].1[ab / 3][ab % 3] +=
                        g.values[sample * size + f] * strain.values[(sample * 9 + ab) * size + f];
                }
            }
        }
    }
    result
}

/// h⁻ᵀ (Ξ − Rᵀ ∂L/∂R) with the inverse from cofactors
fn reference_cell(
    system: &System,
    strain: &[[f64; 3]; 3],
    positions: &[[f64; 3]],
) -> [[f64; 3]; 3] {
    let h = system.cell;
    let det = h[0][0] * (h[1][1] * h[2][2] - h[1][2] * h[2][1])
        - h[0][1] * (h[1][0] * h[2][2] - h[1][2] * h[2][0])
        + h[0][2] * (h[1][0] * h[2][1] - h[1][1] * h[2][0]);
    // (h⁻ᵀ)_{ij} = cofactor_{ij} / det
    let cofactor = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        h[r0][c0] * h[r1][c1] - h[r0][c1] * h[r1][c0]
    };
    let mut rest = *strain;
    for (r, g) in system.positions.iter().zip(positions) {
        for a in 0..3 {
            for b in 0..3 {
                rest[a][b] -= r[a] * g[b];
            }
        }
    }
    let mut cell = [[0.0; 3]; 3];
    for (i, row) in cell.iter_mut().enumerate() {
        for (b, value) in row.iter_mut().enumerate() {
            *value = (0..3).map(|a| cofactor(i, a) / det * rest[a][b]).sum();
        }
    }
    cell
}

fn relative_difference(actual: &[f64], expected: &[f64]) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let error = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    error / scale
}

fn check_against_explicit(calculator: &LodeSphericalExpansion, selection: &Selection, seed: u64) {
    let systems = systems();
    let all = Gradients {
        positions: true,
        strain: true,
    };
    let descriptor = calculator.compute(&systems, all, selection).unwrap();
    let gradient = random_gradient(&descriptor, seed);
    let backward = calculator.backward(&systems, &gradient).unwrap();
    let reference = contract(&descriptor, &gradient, &systems);
    for (s, (system, (positions, strain))) in systems.iter().zip(&reference).enumerate() {
        let BackwardGradients {
            positions: actual_positions,
            cell,
            strain: actual_strain,
        } = &backward[s];
        let flat = |v: &[[f64; 3]]| v.iter().flatten().copied().collect::<Vec<f64>>();
        let errors = [
            relative_difference(&flat(actual_positions), &flat(positions)),
            relative_difference(&flat(actual_strain), &flat(strain)),
            relative_difference(
                &flat(cell),
                &flat(&reference_cell(system, strain, positions)),
            ),
        ];
        for (error, name) in errors.iter().zip(["positions", "strain", "cell"]) {
            assert!(
                *error < 1e-10,
                "system {s}, {name}: relative error {error:e}"
            );
        }
    }
}

#[test]
fn backward_matches_explicit_gradients() {
    for exponent in [0, 1, 6] {
        for weight in [1.0, 0.5] {
            let calculator = calculator(exponent, weight);
            check_against_explicit(&calculator, &Selection::default(), 7 + exponent as u64);
        }
    }
}

#[test]
fn backward_with_selection() {
    let selection = Selection {
        keys: Some(vec![[0, 1, 1, 8], [1, 1, 8, 8], [3, 1, 1, 1], [2, 1, 8, 1]]),
        samples: Some(vec![[0, 0], [0, 2], [1, 0], [1, 2], [0, 4]]),
    };
    for exponent in [1, 6] {
        check_against_explicit(&calculator(exponent, 0.5), &selection, 3);
    }
}

/// L = Σ G X as a function of the cell, at fixed Cartesian positions
#[test]
fn cell_gradient_finite_differences() {
    let calculator = calculator(1, 1.0);
    let system = systems().remove(0);
    let compute = |system: &System| {
        calculator
            .compute(
                std::slice::from_ref(system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap()
    };
    let descriptor = compute(&system);
    let gradient = random_gradient(&descriptor, 11);
    let loss = |system: &System| -> f64 {
        compute(system)
            .blocks
            .iter()
            .zip(&gradient)
            .map(|(x, g)| {
                x.values
                    .iter()
                    .zip(&g.values)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum()
    };
    let backward = calculator
        .backward(std::slice::from_ref(&system), &gradient)
        .unwrap();
    let delta = 1e-6;
    let scale = backward[0]
        .cell
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..3 {
        for beta in 0..3 {
            let mut plus = system.clone();
            plus.cell[i][beta] += delta;
            let mut minus = system.clone();
            minus.cell[i][beta] -= delta;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * delta);
            let analytic = backward[0].cell[i][beta];
            assert!(
                (numeric - analytic).abs() < 1e-6 * scale,
                "h{i}{beta}: {numeric} vs {analytic}"
            );
        }
    }
}

#[test]
fn bad_gradients() {
    let calculator = calculator(1, 1.0);
    let systems = systems();
    let descriptor = calculator
        .compute(&systems, Gradients::default(), &Selection::default())
        .unwrap();
    let gradient = random_gradient(&descriptor, 1);
    let expect_error = |blocks: Vec<BlockData>, message: &str| {
        let error = calculator
            .backward(&systems, &blocks)
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{error}");
    };

    let mut wrong = gradient.clone();
    wrong[0].values.pop();
    expect_error(wrong, "values for");

    let mut wrong = gradient.clone();
    wrong[1].n_properties = 2;
    expect_error(wrong, "properties");

    let mut wrong = gradient.clone();
    wrong[0].samples[0] = [0, 1];
    expect_error(wrong, "not center_type");

    let mut wrong = gradient.clone();
    wrong[0].samples[0] = [2, 0];
    expect_error(wrong, "does not exist");

    let mut wrong = gradient.clone();
    wrong.push(wrong[0].clone());
    expect_error(wrong, "appears twice");

    let mut wrong = gradient.clone();
    wrong[0].values[0] = f64::NAN;
    expect_error(wrong, "NaN");

    let mut wrong = gradient;
    wrong[0].key[0] = 9;
    expect_error(wrong, "does not exist");
}
