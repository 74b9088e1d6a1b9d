//! LODE features of rock-salt NaCl with their positions and strain gradients.
//!
//! Run with `cargo run --release -p farsighted --example rock_salt`. Every ion of a perfect
//! rock-salt crystal sits on a site of cubic symmetry (O_h), on which no spherical tensor of
//! order 1, 2 or 3 is invariant: those features vanish, and the example checks it, as well as
//! the translation invariance of the positions gradients (Σⱼ ∂Xᵢ/∂rⱼ = 0).

use farsighted::{Gradients, LodeSphericalExpansion, Selection, System};

fn rock_salt(a: f64) -> System {
    let fcc = [
        [0.0, 0.0, 0.0],
        [0.0, 0.5, 0.5],
        [0.5, 0.0, 0.5],
        [0.5, 0.5, 0.0],
    ];
    let mut types = Vec::new();
    let mut positions = Vec::new();
    for (type_, shift) in [(11, 0.0), (17, 0.5)] {
        for site in fcc {
            types.push(type_);
            positions.push([a * (site[0] + shift), a * site[1], a * site[2]]);
        }
    }
    System {
        types,
        positions,
        cell: [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]],
        pbc: [true; 3],
    }
}

fn main() -> Result<(), farsighted::Error> {
    let calculator = LodeSphericalExpansion::from_json(
        r#"{
            "density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
            "basis": {"type": "TensorProduct", "max_angular": 2,
                      "radial": {"type": "Gto", "max_radial": 3, "radius": 4.0}}
        }"#,
    )?;
    let system = rock_salt(5.64);
    let gradients = Gradients {
        positions: true,
        strain: true,
    };
    let descriptor = calculator.compute(&[system], gradients, &Selection::default())?;

    println!("block (λ, σ, centre, neighbour)   samples   max |value|   max |Σⱼ ∂/∂rⱼ|");
    for block in &descriptor.blocks {
        let largest = block.values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        // Σⱼ ∂Xᵢ/∂rⱼ = 0: translating the whole crystal changes nothing
        let positions = block
            .positions
            .as_ref()
            .expect("positions gradients requested");
        let width = block.n_components * block.n_properties;
        let mut translation = vec![0.0; block.samples.len() * 3 * width];
        for (g, sample) in positions.samples.chunks(3).enumerate() {
            let start = sample[0] as usize * 3 * width;
            let values = &positions.values[g * 3 * width..(g + 1) * 3 * width];
            for (sum, v) in translation[start..start + 3 * width].iter_mut().zip(values) {
                *sum += v;
            }
        }
        let drift = translation.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        println!(
            "{:>3?}   {:>7}   {:>11.3e}   {:>14.1e}",
            block.key,
            block.samples.len(),
            largest,
            drift
        );
        if block.key[0] % 2 == 1 {
            assert!(
                largest < 1e-12,
                "odd-λ features vanish on inversion centres"
            );
        }
        assert!(drift < 1e-10 * largest.max(1.0));
    }
    println!("checks passed: λ = 1, 2 features vanish, gradients are translation invariant");
    Ok(())
}
