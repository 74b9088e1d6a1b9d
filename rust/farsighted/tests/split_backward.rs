//! The backward product of the Ewald split (`accuracy`) against the explicit positions and
//! strain gradients of the same split contracted with random ∂L/∂features, against finite
//! differences of L with respect to the cell, and against the backward product of the
//! converged pure k-space sum.

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

/// Σ G · ∂X/∂r and Σ G · ∂X/∂ε of one system from the explicit gradients
fn contract(descriptor: &Descriptor, gradient: &[BlockData], n_atoms: usize) -> Vec<f64> {
    let mut positions = vec![0.0; 3 * n_atoms];
    let mut strain = vec![0.0; 9];
    for (block, g) in descriptor.blocks.iter().zip(gradient) {
        let size = block.n_components * block.n_properties;
        let explicit = block.positions.as_ref().unwrap();
        for (row, chunk) in explicit.samples.chunks(3).enumerate() {
            let (sample, j) = (chunk[0] as usize, chunk[2] as usize);
            for alpha in 0..3 {
                for f in 0..size {
                    positions[3 * j + alpha] +=
                        g.values[sample * size + f] * explicit.values[(row * 3 + alpha) * size + f];
                }
            }
        }
        let explicit = block.strain.as_ref().unwrap();
        for sample in 0..block.samples.len() {
            for (ab, strain) in strain.iter_mut().enumerate() {
                for f in 0..size {
                    *strain +=
                        g.values[sample * size + f] * explicit.values[(sample * 9 + ab) * size + f];
                }
            }
        }
    }
    positions.extend(strain);
    positions
}

/// max |a - b| / max |b|
fn relative_difference(actual: &[f64], expected: &[f64]) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let error = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    error / scale
}

/// ∂L/∂positions followed by ∂L/∂strain from `backward`
fn backward(calculator: &LodeSphericalExpansion, system: &System, g: &[BlockData]) -> Vec<f64> {
    let result = calculator
        .backward(std::slice::from_ref(system), g)
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
        let expected = contract(&descriptor, &g, system.size());
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
        let expected = contract(&descriptor, &g, slab.size());
        let actual = backward(&calculator, &slab, &g);
        let error = relative_difference(&actual, &expected);
        println!("slab p={p} weight={weight} grid={grid}: {error:.1e}");
        assert!(
            error < 1e-11,
            "slab p={p} grid={grid}: relative error {error:e}"
        );
        // the non-periodic row of ∂L/∂cell is zero by convention
        let result = calculator
            .backward(std::slice::from_ref(&slab), &g)
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
    let loss = |system: &System| -> f64 {
        compute(system)
            .blocks
            .iter()
            .zip(&g)
            .map(|(x, g)| {
                x.values
                    .iter()
                    .zip(&g.values)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum()
    };
    let cell = calculator
        .backward(std::slice::from_ref(&system), &g)
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
