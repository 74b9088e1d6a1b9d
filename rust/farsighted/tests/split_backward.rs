//! The backward product of the Ewald split (`accuracy`) against the explicit positions and
//! strain gradients of the same split contracted with random ∂L/∂features, against finite
//! differences of L with respect to the cell, and against the backward product of the
//! converged pure k-space sum.

mod common;

use common::{contract, flat, random_gradient, relative_difference};
use farsighted::{BlockData, Descriptor, Gradients, LodeSphericalExpansion, Selection, System};

const ALL: Gradients = Gradients {
    positions: true,
    strain: true,
};

fn calculator(exponent: f64, weight: f64, extra: &str) -> LodeSphericalExpansion {
    LodeSphericalExpansion::from_json(&format!(
        r#"{{"density": {{"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": {exponent},
                        "center_atom_weight": {weight}}},
            "basis": {{"type": "TensorProduct", "max_angular": 3, "spline_accuracy": 1e-10,
                      "radial": {{"type": "Gto", "max_radial": 2, "radius": 3.0}}}}
            {extra}}}"#
    ))
    .unwrap()
}

/// A triclinic two-type cell, smaller than the real-space cutoffs (several images of each atom)
fn system() -> System {
    System {
        types: vec![11, 17, 17, 11, 17, 11],
        positions: vec![
            [0.1, 0.2, 0.3],
            [1.9, 0.4, 2.2],
            [3.1, 2.9, 0.7],
            [0.8, 3.5, 3.3],
            [2.5, 1.2, 4.1],
            [4.0, 3.9, 2.0],
        ],
        cell: [[5.0, 0.3, -0.2], [0.6, 4.6, 0.1], [-0.4, 0.5, 5.3]],
        pbc: [true; 3],
    }
}

/// ∂L/∂positions followed by ∂L/∂strain from the explicit gradients
fn flat_reference(descriptor: &Descriptor, g: &[BlockData], system: &System) -> Vec<f64> {
    let (positions, strain) = contract(descriptor, g, std::slice::from_ref(system)).remove(0);
    let mut all = flat(&positions);
    all.extend(flat(&strain));
    all
}

/// ∂L/∂positions followed by ∂L/∂strain from `backward`
fn backward(calculator: &LodeSphericalExpansion, system: &System, g: &[BlockData]) -> Vec<f64> {
    let result = calculator
        .backward(std::slice::from_ref(system), g.to_vec())
        .unwrap()
        .remove(0);
    let mut flat: Vec<f64> = result.positions.iter().flatten().copied().collect();
    flat.extend(result.strain.iter().flatten());
    flat
}

#[test]
fn split_backward_matches_explicit_gradients() {
    let system = system();
    let selection = Selection {
        keys: Some(vec![
            [0, 1, 11, 17],
            [1, 1, 17, 17],
            [3, 1, 11, 11],
            [2, 1, 17, 11],
        ]),
        samples: Some(vec![[0, 0], [0, 2], [0, 3], [0, 4]]),
    };
    // (p, centre weight, grid index j of σw = 2^{j/4} σ, selection)
    let cases = [
        (1.0, 1.0, 4, Selection::default()),
        (1.0, 0.5, 6, selection.clone()),
        (6.0, 1.0, 4, Selection::default()),
        (6.0, 0.3, 3, selection.clone()),
        (2.5, 1.0, 4, Selection::default()),
        (4.3, 0.5, 5, selection),
    ];
    for (seed, (p, weight, grid, selection)) in cases.into_iter().enumerate() {
        let calculator = calculator(p, weight, r#", "accuracy": 1e-6"#);
        // the same split for the explicit gradients and the backward product
        calculator.force_ewald_grid(Some(grid));
        let (wide, _, cutoff) = calculator.ewald_choice(&system, ALL).unwrap().unwrap();
        assert!(
            cutoff > 5.3,
            "the real-space part must reach several images"
        );
        let descriptor = calculator
            .compute(std::slice::from_ref(&system), ALL, &selection)
            .unwrap();
        let g = random_gradient(&descriptor, 100 + seed as u64);
        let expected = flat_reference(&descriptor, &g, &system);
        let actual = backward(&calculator, &system, &g);
        let error = relative_difference(&actual, &expected);
        println!("p={p} weight={weight} sigma_w={wide:.3} d_c={cutoff:.2}: {error:.1e}");
        assert!(error < 1e-12, "p={p} grid={grid}: relative error {error:e}");
    }
}

#[test]
fn slab_split_backward_matches_explicit_gradients() {
    // periodic along the first and third cell vectors (a tilted plane), open along the second
    let mut slab = system();
    slab.pbc = [true, false, true];
    // (p, centre weight, grid index j of σw = 2^{j/4} σ): p ≤ 2 has the planar constant
    let cases = [(1.0, 1.0, 4), (1.5, 0.5, 5), (6.0, 0.3, 4)];
    for (seed, (p, weight, grid)) in cases.into_iter().enumerate() {
        let calculator = calculator(p, weight, r#", "accuracy": 1e-6"#);
        calculator.force_ewald_grid(Some(grid));
        let descriptor = calculator
            .compute(std::slice::from_ref(&slab), ALL, &Selection::default())
            .unwrap();
        let g = random_gradient(&descriptor, 200 + seed as u64);
        let expected = flat_reference(&descriptor, &g, &slab);
        let actual = backward(&calculator, &slab, &g);
        let error = relative_difference(&actual, &expected);
        println!("slab p={p} weight={weight} grid={grid}: {error:.1e}");
        assert!(
            error < 1e-11,
            "slab p={p} grid={grid}: relative error {error:e}"
        );
        // the non-periodic row of ∂L/∂cell is zero by convention
        let result = calculator
            .backward(std::slice::from_ref(&slab), g.clone())
            .unwrap()
            .remove(0);
        assert_eq!(result.cell[1], [0.0; 3]);
    }
}

/// L = Σ G X as a function of the cell, at fixed Cartesian positions
#[test]
fn split_cell_gradient_finite_differences() {
    let calculator = calculator(1.0, 1.0, r#", "accuracy": 1e-8"#);
    // the cost model may move σw with the cell: keep one split
    calculator.force_ewald_grid(Some(4));
    let system = system();
    let compute = |system: &System| {
        calculator
            .compute(
                std::slice::from_ref(system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap()
    };
    let g = random_gradient(&compute(&system), 11);
    let loss = |system: &System| common::loss(&compute(system), &g);
    let cell = calculator
        .backward(std::slice::from_ref(&system), g.clone())
        .unwrap()
        .remove(0)
        .cell;
    let delta = 1e-5;
    let mut numeric = Vec::new();
    for i in 0..3 {
        for beta in 0..3 {
            let mut plus = system.clone();
            plus.cell[i][beta] += delta;
            let mut minus = system.clone();
            minus.cell[i][beta] -= delta;
            numeric.push((loss(&plus) - loss(&minus)) / (2.0 * delta));
        }
    }
    let analytic: Vec<f64> = cell.iter().flatten().copied().collect();
    let error = relative_difference(&analytic, &numeric);
    println!("cell gradient against finite differences: {error:.1e}");
    assert!(error < 1e-6, "{analytic:?} vs {numeric:?}");
}

/// The split computes the features of the pure k-space sum within `accuracy`: so does its
/// backward product, against a converged k-space reference
#[test]
fn split_backward_matches_converged_k_space() {
    let system = system();
    for (seed, p) in [1.0, 6.0, 2.5].into_iter().enumerate() {
        let reference = calculator(p, 1.0, r#", "k_cutoff": 9.0"#);
        let split = calculator(p, 1.0, r#", "accuracy": 1e-6"#);
        let descriptor = reference
            .compute(
                std::slice::from_ref(&system),
                Gradients::default(),
                &Selection::default(),
            )
            .unwrap();
        let g = random_gradient(&descriptor, 200 + seed as u64);
        let expected = backward(&reference, &system, &g);
        // the split of the values (the cost model's choice), and one with a long real-space part
        for grid in [None, Some(6)] {
            split.force_ewald_grid(grid);
            let (wide, _, cutoff) = split
                .ewald_choice(&system, Gradients::default())
                .unwrap()
                .unwrap();
            let error = relative_difference(&backward(&split, &system, &g), &expected);
            println!("p={p} sigma_w={wide:.3} d_c={cutoff:.2}: {error:.1e}");
            assert!(
                error < 1e-5,
                "p={p} grid={grid:?}: relative error {error:e}"
            );
        }
    }
}
