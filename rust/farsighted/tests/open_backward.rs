//! The backward product of open systems against the explicit positions and strain gradients
//! contracted with random ∂L/∂features, and against finite differences of L = Σ G X.

mod common;

use common::{contract, flat, random_gradient, relative_difference};
use farsighted::{Gradients, LodeSphericalExpansion, Selection, System};

fn calculator(exponent: u32, weight: f64) -> LodeSphericalExpansion {
    LodeSphericalExpansion::from_json(&format!(
        r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 0.8, "exponent": {exponent},
                        "center_atom_weight": {weight}}},
            "basis": {{"type": "TensorProduct", "max_angular": 3,
                      "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}}}}"#
    ))
    .unwrap()
}

fn open(types: Vec<i32>, positions: Vec<[f64; 3]>) -> System {
    System {
        types,
        positions,
        cell: [[0.0; 3]; 3],
        pbc: [false; 3],
    }
}

/// Three types; an ion pair (Na⁺ Cl⁻, not neutral as a density of one type); a single atom;
/// a cluster wider than the splines (multipole tail beyond d_max ≈ 24 Å)
fn open_systems() -> Vec<System> {
    vec![
        open(
            vec![1, 8, 8, 11, 1, 6],
            vec![
                [0.1, 0.2, 0.3],
                [1.9, 0.4, 2.2],
                [3.1, 2.9, 0.7],
                [0.8, 3.5, 3.3],
                [2.5, 1.2, 4.1],
                [-1.3, 0.6, -0.9],
            ],
        ),
        open(vec![11, 17], vec![[0.0, 0.0, 0.0], [1.6, 1.2, -1.1]]),
        open(vec![11], vec![[0.3, -0.4, 1.0]]),
        open(
            vec![8, 1, 1, 8],
            vec![
                [0.0, 0.0, 0.0],
                [0.9, 0.3, -0.2],
                [-0.4, 0.8, 0.3],
                [24.0, -16.0, 10.0],
            ],
        ),
    ]
}

fn periodic() -> System {
    System {
        types: vec![8, 1, 1, 11],
        positions: vec![
            [0.3, -0.2, 0.1],
            [2.1, 1.4, 0.6],
            [-1.0, 2.6, 2.9],
            [3.2, 0.2, 3.0],
        ],
        cell: [[4.4, -0.5, 0.4], [1.1, 4.9, 0.2], [0.3, -0.6, 4.7]],
        pbc: [true; 3],
    }
}

/// Largest relative error of the positions and strain gradients over the systems
fn check_against_explicit(
    calculator: &LodeSphericalExpansion,
    systems: &[System],
    selection: &Selection,
    seed: u64,
) -> f64 {
    let all = Gradients {
        positions: true,
        strain: true,
    };
    let descriptor = calculator.compute(systems, all, selection).unwrap();
    let gradient = random_gradient(&descriptor, seed);
    let backward = calculator.backward(systems, gradient.clone()).unwrap();
    let reference = contract(&descriptor, &gradient, systems);
    let mut largest: f64 = 0.0;
    for (s, (system, (positions, strain))) in systems.iter().zip(&reference).enumerate() {
        let result = &backward[s];
        let errors = [
            relative_difference(&flat(&result.positions), &flat(positions)),
            relative_difference(&flat(&result.strain), &flat(strain)),
        ];
        // the periodic path's own tolerance (its tests) for the periodic systems of mixed lists
        let tolerance = if system.pbc == [false; 3] {
            1e-12
        } else {
            1e-10
        };
        for (error, name) in errors.iter().zip(["positions", "strain"]) {
            assert!(
                *error < tolerance,
                "system {s}, {name}: relative error {error:e}"
            );
            largest = largest.max(*error);
        }
        if system.pbc == [false; 3] {
            assert_eq!(
                result.cell, [[0.0; 3]; 3],
                "system {s}: the cell is ignored"
            );
        }
    }
    largest
}

#[test]
fn open_backward_matches_explicit_gradients() {
    for exponent in [0, 1, 6] {
        for weight in [1.0, 0.5] {
            let error = check_against_explicit(
                &calculator(exponent, weight),
                &open_systems(),
                &Selection::default(),
                5 + exponent as u64,
            );
            println!("p = {exponent}, w = {weight}: largest relative error {error:e}");
        }
    }
}

#[test]
fn single_atom_has_no_gradient() {
    let calculator = calculator(1, 1.0);
    let system = open(vec![11], vec![[0.3, -0.4, 1.0]]);
    let descriptor = calculator
        .compute(
            std::slice::from_ref(&system),
            Gradients::default(),
            &Selection::default(),
        )
        .unwrap();
    let backward = calculator
        .backward(&[system], random_gradient(&descriptor, 2))
        .unwrap();
    assert_eq!(backward[0].positions, vec![[0.0; 3]]);
    assert_eq!(backward[0].strain, [[0.0; 3]; 3]);
    assert_eq!(backward[0].cell, [[0.0; 3]; 3]);
}

#[test]
fn open_backward_with_selection() {
    let selection = Selection {
        keys: Some(vec![[0, 1, 1, 8], [1, 1, 8, 8], [3, 1, 1, 1], [2, 1, 8, 6]]),
        samples: Some(vec![[0, 0], [0, 2], [0, 4], [3, 1], [3, 3]]),
    };
    for exponent in [1, 6] {
        check_against_explicit(&calculator(exponent, 0.5), &open_systems(), &selection, 3);
    }
}

#[test]
fn mixed_open_and_periodic() {
    let mut systems = open_systems();
    systems.insert(1, periodic());
    let error = check_against_explicit(&calculator(1, 1.0), &systems, &Selection::default(), 9);
    println!("mixed: largest relative error {error:e}");
}

/// L = Σ G X against central differences of the positions
#[test]
fn open_positions_finite_differences() {
    let calculator = calculator(1, 1.0);
    let system = open_systems().remove(0);
    let compute = |system: &System| {
        calculator
            .compute(
                std::slice::from_ref(system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap()
    };
    let gradient = random_gradient(&compute(&system), 13);
    let loss = |system: &System| common::loss(&compute(system), &gradient);
    let backward = calculator
        .backward(std::slice::from_ref(&system), gradient.clone())
        .unwrap();
    let analytic: Vec<f64> = backward[0].positions.iter().flatten().copied().collect();
    let delta = 1e-5;
    let mut numeric = Vec::new();
    for j in 0..system.size() {
        for alpha in 0..3 {
            let mut plus = system.clone();
            plus.positions[j][alpha] += delta;
            let mut minus = system.clone();
            minus.positions[j][alpha] -= delta;
            numeric.push((loss(&plus) - loss(&minus)) / (2.0 * delta));
        }
    }
    let error = relative_difference(&analytic, &numeric);
    println!("finite differences: relative error {error:e}");
    assert!(error < 1e-7, "relative error {error:e}");
}
