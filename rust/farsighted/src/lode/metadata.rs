//! The metadata of `compute`: the keys and samples a calculation produces (selections
//! applied), the blocks' samples and gradient samples, and how the dense per-system results of
//! the methods are copied into the blocks. Nothing here depends on the method.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rayon::prelude::*;

use super::positions::{PositionsLayout, SharedRows};
use super::LodeSphericalExpansion;
use crate::math::harmonics::lm_index;
use crate::output::{BlockData, GradientData};
use crate::{Error, System};

/// Which gradients to compute along with the values
#[derive(Debug, Clone, Copy, Default)]
pub struct Gradients {
    pub positions: bool,
    pub strain: bool,
}

/// Restrict the calculation to some keys and/or samples
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Full keys (o3_lambda, o3_sigma, center_type, neighbor_type); default: all pairs of
    /// types present in a system, for every λ
    pub keys: Option<Vec<[i32; 4]>>,
    /// (system, atom) pairs; default: all atoms
    pub samples: Option<Vec<[i32; 2]>>,
}

/// The samples a selection keeps: None for all, else the set of (system, atom)
pub(crate) type SelectedSamples = Option<HashSet<(usize, usize)>>;

impl LodeSphericalExpansion {
    /// All (center_type, neighbor_type) pairs found together in at least one system, for every λ
    pub fn default_keys(&self, systems: &[System]) -> Vec<[i32; 4]> {
        let mut pairs = BTreeSet::new();
        for system in systems {
            let types = system.type_set();
            for &a in &types {
                for &b in &types {
                    pairs.insert((a, b));
                }
            }
        }
        let mut keys = Vec::new();
        for (center, neighbor) in pairs {
            for l in 0..=self.parameters.max_angular {
                keys.push([l as i32, 1, center, neighbor]);
            }
        }
        keys
    }

    /// The keys of a calculation: the selected ones, checked, or all of them
    pub(crate) fn selected_keys(
        &self,
        systems: &[System],
        selection: &Selection,
    ) -> Result<Vec<[i32; 4]>, Error> {
        match &selection.keys {
            Some(keys) => {
                for key in keys {
                    if key[1] != 1 || key[0] < 0 || key[0] as usize > self.parameters.max_angular {
                        return Err(Error::InvalidParameter(format!(
                            "selected key {key:?} does not exist: o3_sigma must be 1 and o3_lambda between 0 and {}",
                            self.parameters.max_angular
                        )));
                    }
                }
                Ok(keys.clone())
            }
            None => Ok(self.default_keys(systems)),
        }
    }

    /// Samples and gradient samples of every block; the arrays are allocated after the
    /// memory check
    pub(crate) fn block_metadata(
        &self,
        systems: &[System],
        keys: &[[i32; 4]],
        selected: &SelectedSamples,
        gradients: Gradients,
    ) -> Vec<BlockData> {
        let n_properties = self.n_radial();
        keys.iter()
            .map(|&key| {
                let [l, _, center_type, neighbor_type] = key;
                let n_components = 2 * l as usize + 1;
                let mut samples = Vec::new();
                let mut positions_samples = Vec::new();
                for (s, system) in systems.iter().enumerate() {
                    if !system.types.contains(&neighbor_type) {
                        continue;
                    }
                    for (i, &t) in system.types.iter().enumerate() {
                        if t != center_type
                            || selected.as_ref().is_some_and(|set| !set.contains(&(s, i)))
                        {
                            continue;
                        }
                        let sample = samples.len() as i32;
                        samples.push([s as i32, i as i32]);
                        if gradients.positions {
                            for (j, &tj) in system.types.iter().enumerate() {
                                if tj == neighbor_type || j == i {
                                    positions_samples
                                        .extend_from_slice(&[sample, s as i32, j as i32]);
                                }
                            }
                        }
                    }
                }
                let positions = gradients.positions.then(|| GradientData {
                    sample_names: vec!["sample", "system", "atom"],
                    values: Vec::new(),
                    samples: positions_samples,
                    component_names: vec!["xyz"],
                });
                let strain = gradients.strain.then(|| GradientData {
                    sample_names: vec!["sample"],
                    samples: (0..samples.len() as i32).collect(),
                    component_names: vec!["xyz_1", "xyz_2"],
                    values: Vec::new(),
                });
                BlockData {
                    key,
                    values: Vec::new(),
                    samples,
                    n_components,
                    n_properties,
                    positions,
                    strain,
                }
            })
            .collect()
    }

    /// Copy the dense values and strain of every system into the blocks
    pub(crate) fn fill_values(&self, blocks: &mut [BlockData], per_system: &[SystemValues]) {
        let n_radial = self.n_radial();
        let n_features = (self.parameters.max_angular + 1).pow(2) * n_radial;
        blocks.par_iter_mut().for_each(|block| {
            let l = block.key[0] as usize;
            let size = (2 * l + 1) * n_radial;
            let first = lm_index(l, -(l as isize)) * n_radial;
            for (sample, &[s, i]) in block.samples.iter().enumerate() {
                let system = &per_system[s as usize];
                let c = system
                    .centers
                    .binary_search(&(i as usize))
                    .expect("centre was computed");
                let t = system.type_index[&block.key[3]];
                let row = c * system.n_types + t;
                block.values[sample * size..(sample + 1) * size].copy_from_slice(
                    &system.values[row * n_features + first..row * n_features + first + size],
                );
                if let Some(strain) = &mut block.strain {
                    for ab in 0..9 {
                        let source = (row * 9 + ab) * n_features + first;
                        strain.values[(sample * 9 + ab) * size..(sample * 9 + ab + 1) * size]
                            .copy_from_slice(&system.strain[source..source + size]);
                    }
                }
            }
        });
    }
}

/// The selected (system, atom) samples, checked
pub(crate) fn selected_samples(
    systems: &[System],
    selection: &Selection,
) -> Result<SelectedSamples, Error> {
    let Some(samples) = &selection.samples else {
        return Ok(None);
    };
    let mut set = HashSet::new();
    for &[s, i] in samples {
        if s < 0 || s as usize >= systems.len() || i < 0 || i as usize >= systems[s as usize].size()
        {
            return Err(Error::InvalidParameter(format!(
                "selected sample (system={s}, atom={i}) does not exist"
            )));
        }
        set.insert((s as usize, i as usize));
    }
    Ok(Some(set))
}

/// Zeroed arrays of every block, allocated after the memory check
pub(crate) fn allocate(blocks: &mut [BlockData]) {
    for block in blocks {
        let [values, positions, strain] = array_sizes(block);
        block.values = vec![0.0; values];
        if let Some(gradient) = &mut block.positions {
            // N² rows: zeroed (and their pages mapped) by all threads
            gradient.values = (0..positions).into_par_iter().map(|_| 0.0).collect();
        }
        if let Some(gradient) = &mut block.strain {
            gradient.values = vec![0.0; strain];
        }
    }
}

/// Lengths of the values, positions gradient and strain gradient arrays of a block
fn array_sizes(block: &BlockData) -> [usize; 3] {
    let size = block.n_components * block.n_properties;
    let n_samples = block.samples.len();
    let positions = block
        .positions
        .as_ref()
        .map_or(0, |p| p.n_samples() * 3 * size);
    let strain = block.strain.as_ref().map_or(0, |_| n_samples * 9 * size);
    [n_samples * size, positions, strain]
}

/// One system of a `compute` call and where its results go
#[derive(Clone, Copy)]
pub(crate) struct SystemTask<'a> {
    /// index of the system in the input
    pub(crate) s: usize,
    pub(crate) system: &'a System,
    pub(crate) keys: &'a [[i32; 4]],
    pub(crate) selected: &'a SelectedSamples,
    pub(crate) gradients: Gradients,
    /// where the positions gradient rows of this system go, in `outputs` (one per block)
    pub(crate) layout: Option<&'a PositionsLayout>,
    pub(crate) outputs: &'a [Option<SharedRows>],
}

/// Values of one system for its centres and neighbour types, with all features
#[derive(Default)]
pub(crate) struct SystemValues {
    pub(crate) centers: Vec<usize>,
    pub(crate) type_index: BTreeMap<i32, usize>,
    pub(crate) n_types: usize,
    /// (centre, type, feature)
    pub(crate) values: Vec<f64>,
    /// (centre, type, αβ, feature)
    pub(crate) strain: Vec<f64>,
}

impl SystemTask<'_> {
    /// The centres of this system that the keys and the sample selection need, and the index
    /// of each neighbour type the keys ask for
    pub(crate) fn centers_and_types(&self) -> (Vec<usize>, BTreeMap<i32, usize>) {
        let (centers, _, type_index) =
            centers_and_neighbor_types(self.s, self.system, self.keys, self.selected);
        (centers, type_index)
    }
}

impl SystemValues {
    /// values[centre, type of the centre, (0, 0, n)] += coefficient × own[n], the centre's own
    /// density (`center_atom_weight`)
    pub(crate) fn add_own_density(&mut self, system: &System, coefficient: f64, own: &[f64]) {
        if coefficient == 0.0 || self.centers.is_empty() {
            return;
        }
        let n_features = self.values.len() / (self.centers.len() * self.n_types);
        for (c, &i) in self.centers.iter().enumerate() {
            if let Some(&t) = self.type_index.get(&system.types[i]) {
                let start = (c * self.n_types + t) * n_features;
                for (v, x) in self.values[start..start + own.len()].iter_mut().zip(own) {
                    *v += coefficient * x;
                }
            }
        }
    }
}

/// The centres of system `s` that the requested `keys` and sample selection need, the
/// neighbour types the keys ask for, and the index of each of these types
pub(crate) fn centers_and_neighbor_types(
    s: usize,
    system: &System,
    keys: &[[i32; 4]],
    selected: &SelectedSamples,
) -> (Vec<usize>, Vec<i32>, BTreeMap<i32, usize>) {
    let present = system.type_set();
    let mut center_types = BTreeSet::new();
    let mut neighbor_types = BTreeSet::new();
    for key in keys {
        if present.contains(&key[3]) && present.contains(&key[2]) {
            center_types.insert(key[2]);
            neighbor_types.insert(key[3]);
        }
    }
    let centers: Vec<usize> = (0..system.size())
        .filter(|&i| center_types.contains(&system.types[i]))
        .filter(|&i| selected.as_ref().is_none_or(|set| set.contains(&(s, i))))
        .collect();
    let neighbor_types: Vec<i32> = neighbor_types.into_iter().collect();
    let type_index = neighbor_types
        .iter()
        .enumerate()
        .map(|(t, &a)| (a, t))
        .collect();
    (centers, neighbor_types, type_index)
}
