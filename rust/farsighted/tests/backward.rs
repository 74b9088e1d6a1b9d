//! The backward product against the explicit positions and strain gradients contracted with
//! random ∂L/∂features, and against finite differences of L with respect to the cell.

mod common;

use common::{contract, flat, random_gradient, relative_difference};
use farsighted::{
    BackwardGradients, BlockData, Gradients, LodeSphericalExpansion, Selection, System,
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

fn check_against_explicit(calculator: &LodeSphericalExpansion, selection: &Selection, seed: u64) {
    let systems = systems();
    let all = Gradients {
        positions: true,
        strain: true,
    };
    let descriptor = calculator.compute(&systems, all, selection).unwrap();
    let gradient = random_gradient(&descriptor, seed);
    let backward = calculator.backward(&systems, gradient.clone()).unwrap();
    let reference = contract(&descriptor, &gradient, &systems);
    for (s, (system, (positions, strain))) in systems.iter().zip(&reference).enumerate() {
        let BackwardGradients {
            positions: actual_positions,
            cell,
            strain: actual_strain,
        } = &backward[s];
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
    let loss = |system: &System| common::loss(&compute(system), &gradient);
    let backward = calculator
        .backward(std::slice::from_ref(&system), gradient.clone())
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
            .backward(&systems, blocks)
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
