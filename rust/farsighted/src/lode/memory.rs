//! Memory model of `compute` and `backward`: what a calculation will allocate, estimated from
//! counts alone (atoms of each type, keys, selected samples, k-vectors, mesh points) and
//! checked against the memory the process may still allocate (`crate::available_memory`)
//! before anything large is allocated, the output's metadata included. When it does not fit,
//! the error names the largest part and what reduces it.
//!
//! Parts of `compute` (bytes):
//! - the output: values, positions gradients (one row per centre and neighbour of its
//!   neighbour type: N² for N atoms of one type) and strain gradients, with their samples;
//! - what every system keeps until the blocks are filled: its dense values and strain, the
//!   layout of its positions gradient rows;
//! - what each system computed at once needs (up to one per thread): k-vectors and their
//!   tables, the per-thread accumulators and scratch, the accumulators of the pair sums (the
//!   real-space part of the Ewald split, open systems), whose neighbours are listed one centre
//!   at a time (30 kB per thread at the usual cutoffs).

use std::collections::{BTreeMap, BTreeSet};

use super::backward::{Layouts, SystemInput};
use super::kspace::{self, kvectors};
use super::metadata::SelectedSamples;
use super::pairs::accumulators_per_thread;
use super::plan::{Geometry, Method, Plan};
use super::slab;
use super::{Gradients, LodeSphericalExpansion};
use crate::memory::gib;
use crate::{Error, System};

/// Sizes of the arrays of one output block, counted before they exist
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BlockCounts {
    pub samples: usize,
    /// rows of the positions gradient (0 without it)
    pub positions_samples: usize,
}

/// Bytes of the pair sum's accumulators (lode/pairs/mod.rs) of a system whose plan has pair
/// sums, with `values` values: the per-thread copies the sum chooses, and two more for their
/// reduction and order
fn pair_accumulators(plan: &Plan, values: f64, positions: bool) -> f64 {
    if plan.method == Method::KSpace {
        return 0.0;
    }
    let bytes = 8.0 * values;
    let copies = accumulators_per_thread(bytes as usize, positions) * rayon::current_num_threads();
    (copies as f64 + 2.0) * bytes
}

/// One part of an estimate, and what makes it smaller
struct Part {
    bytes: f64,
    advice: String,
}

/// The parts of an estimate, reported by the largest one when their sum does not fit
#[derive(Default)]
struct Estimate {
    parts: Vec<Part>,
}

impl Estimate {
    fn add(&mut self, bytes: f64, advice: impl Into<String>) {
        self.parts.push(Part {
            bytes,
            advice: advice.into(),
        });
    }

    fn check(&self, what: &str) -> Result<(), Error> {
        let total: f64 = self.parts.iter().map(|p| p.bytes).sum();
        let Some(available) = crate::available_memory() else {
            return Ok(());
        };
        // NaN (absurd inputs) does not fit either
        if total <= available as f64 {
            return Ok(());
        }
        let largest = self
            .parts
            .iter()
            .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
            .expect("an estimate has parts");
        Err(Error::OutOfMemory(format!(
            "{what} needs about {} but only {} can be allocated; {} of it for {}",
            gib(total),
            gib(available as f64),
            gib(largest.bytes),
            largest.advice
        )))
    }
}

/// Atoms of each type in a system, and the selected centres of each type
struct TypeCounts {
    atoms: BTreeMap<i32, usize>,
    centers: BTreeMap<i32, usize>,
}

impl LodeSphericalExpansion {
    /// The number of samples and positions gradient rows of each block of `keys`, as
    /// `block_metadata` will make them
    pub(crate) fn block_counts(
        &self,
        systems: &[System],
        keys: &[[i32; 4]],
        selected: &SelectedSamples,
        gradients: Gradients,
    ) -> Vec<BlockCounts> {
        let counts: Vec<TypeCounts> = systems
            .iter()
            .enumerate()
            .map(|(s, system)| {
                let mut atoms = BTreeMap::new();
                let mut centers = BTreeMap::new();
                for (i, &t) in system.types.iter().enumerate() {
                    *atoms.entry(t).or_insert(0) += 1;
                    if selected.as_ref().is_none_or(|set| set.contains(&(s, i))) {
                        *centers.entry(t).or_insert(0) += 1;
                    }
                }
                TypeCounts { atoms, centers }
            })
            .collect();
        keys.iter()
            .map(|&[_, _, center_type, neighbor_type]| {
                let mut block = BlockCounts::default();
                for system in &counts {
                    let Some(&neighbors) = system.atoms.get(&neighbor_type) else {
                        continue;
                    };
                    let centers = system.centers.get(&center_type).copied().unwrap_or(0);
                    block.samples += centers;
                    if gradients.positions {
                        // the neighbours of the type, and the centre itself
                        let own = usize::from(center_type != neighbor_type);
                        block.positions_samples += centers * (neighbors + own);
                    }
                }
                block
            })
            .collect()
    }

    /// Refuse calculations that would not fit in memory, before allocating anything large
    pub(crate) fn check_memory(
        &self,
        systems: &[System],
        plans: &[Plan],
        keys: &[[i32; 4]],
        counts: &[BlockCounts],
        gradients: Gradients,
    ) -> Result<(), Error> {
        let n_radial = self.n_radial() as f64;
        let n_features = (self.parameters.max_angular + 1).pow(2) as f64 * n_radial;
        let mut estimate = Estimate::default();

        // the output; metadata twice (the core's arrays, and the Labels made of them)
        let (mut values, mut positions, mut strain) = (0.0, 0.0, 0.0);
        for (key, count) in keys.iter().zip(counts) {
            let size = (2 * key[0] + 1) as f64 * n_radial;
            let samples = count.samples as f64;
            values += samples * (8.0 * size + 2.0 * 8.0);
            positions += count.positions_samples as f64 * (24.0 * size + 2.0 * 12.0);
            if gradients.strain {
                strain += samples * (72.0 * size + 2.0 * 4.0);
            }
        }
        estimate.add(
            positions,
            "the positions gradients (a row for every pair of atoms): the backward product \
             (`backward`) gives forces and stress without them; or select fewer samples, or \
             compute fewer atoms at once",
        );
        estimate.add(
            values + strain,
            "the features and their strain gradients: reduce the basis (max_angular, \
             max_radial), the number of systems per call, or the gradients requested",
        );

        let value_columns = n_features * if gradients.strain { 10.0 } else { 1.0 };
        let table_columns = value_columns
            + if gradients.positions {
                3.0 * n_features
            } else {
                0.0
            };
        let threads = rayon::current_num_threads() as f64;
        let chunk = kspace::K_CHUNK as f64;
        let n_blocks = keys.len() as f64;
        let (mut kept, mut tables, mut scratch, mut pairs) = (0.0, 0.0_f64, 0.0_f64, 0.0_f64);
        let mut largest_k = (0.0, 0.0, 0.0);
        for (system, plan) in systems.iter().zip(plans) {
            let n_atoms = system.size() as f64;
            let n_types = system.types.iter().collect::<BTreeSet<_>>().len() as f64;
            let rows = n_atoms * n_types;
            // kept until the blocks are filled: dense values (and strain), and where the
            // positions gradient rows go
            kept += 8.0 * rows * value_columns;
            if gradients.positions {
                kept += 24.0 * n_blocks * n_atoms;
            }

            let n_k = self.estimated_k_vectors(system, plan);
            if n_k > largest_k.0 {
                let internal = slab::kspace_system(system, plan.geometry, self.basis.support());
                largest_k = (n_k, internal.volume(), self.k_space_cutoff(plan));
            }
            // the mesh computes values only (no gradients, lode/ewald/cost.rs); for slabs on
            // their internal cell. Its buffers are freed before the pairs are summed
            // (lode/ewald/mod.rs): the larger of the two parts counts.
            if let Some(mesh) = self.mesh_memory(plan, n_atoms, n_types, n_k, false) {
                let mesh = mesh + 8.0 * rows * n_features;
                let pair_part = pair_accumulators(plan, rows * value_columns, gradients.positions);
                if mesh >= pair_part {
                    scratch = scratch.max(mesh);
                } else {
                    pairs = pairs.max(pair_part);
                }
                continue;
            }
            // k-vector lists and tables
            tables = tables.max(n_k * (40.0 + 8.0 * table_columns));
            // per-accumulator outputs and scratch of the values, the unpacked values, and the
            // per-thread scratch of the positions gradients
            let mut system_scratch =
                4.0 * threads * 8.0 * (rows * value_columns + 2.0 * chunk * (n_atoms + rows))
                    + 2.0 * 8.0 * rows * value_columns;
            if gradients.positions {
                system_scratch += threads * 8.0 * n_atoms * (2.0 * chunk + 3.0 * n_features);
            }
            scratch = scratch.max(system_scratch);
            pairs = pairs.max(pair_accumulators(
                plan,
                rows * value_columns,
                gradients.positions,
            ));
        }
        let in_flight = threads.min(systems.len() as f64);
        estimate.add(
            tables * in_flight,
            self.k_space_advice(largest_k.0, largest_k.1, largest_k.2),
        );
        estimate.add(
            kept + scratch * in_flight,
            "the per-system accumulators: compute fewer systems or atoms at once, or reduce \
             the basis (max_angular, max_radial)",
        );
        estimate.add(
            pairs * in_flight,
            "the accumulators of the pair sums (the Ewald split's real-space part, open \
             systems): compute fewer systems or atoms at once",
        );
        estimate.check("this calculation")
    }

    /// Refuse backward products whose scratch would not fit in memory
    pub(crate) fn check_backward_memory(
        &self,
        systems: &[System],
        plans: &[Plan],
        inputs: &[SystemInput],
    ) -> Result<(), Error> {
        let n_features = ((self.parameters.max_angular + 1).pow(2) * self.n_radial()) as f64;
        let threads = rayon::current_num_threads() as f64;
        let chunk = kspace::K_CHUNK as f64;
        let (mut kept, mut tables, mut scratch) = (0.0, 0.0, 0.0_f64);
        let mut largest_k = (0.0, 0.0, 0.0);
        for ((system, input), plan) in systems.iter().zip(inputs).zip(plans) {
            let n_atoms = system.size() as f64;
            let rows = (input.centers.len() * input.neighbor_types.len()) as f64;
            // G in the layouts of the plan
            kept += Layouts::of(plan).bytes(rows, n_features);
            if plan.method == Method::Pairs {
                // per-task positions accumulators
                kept += 4.0 * threads * 24.0 * n_atoms;
                continue;
            }
            let n_types = input.neighbor_types.len() as f64;
            let n_k = self.estimated_k_vectors(system, plan);
            if n_k > largest_k.0 {
                let internal = slab::kspace_system(system, plan.geometry, self.basis.support());
                largest_k = (n_k, internal.volume(), self.k_space_cutoff(plan));
            }
            // the result
            kept += 8.0 * 4.0 * n_atoms;
            tables += 40.0 * n_k;
            if let Some(mesh) = self.mesh_memory(plan, n_atoms, n_types, n_k, true) {
                scratch = scratch.max(mesh);
                continue;
            }
            // per thread: phases, weights, phase and H matrices, M, the tables of one
            // chunk, the positions accumulator
            let per_thread = 8.0
                * (3.0 * n_atoms * chunk
                    + 4.0 * rows * chunk
                    + 4.0 * n_types * chunk
                    + 11.0 * chunk * n_features
                    + 3.0 * n_atoms);
            scratch = scratch.max(4.0 * threads * per_thread);
        }
        let mut estimate = Estimate::default();
        estimate.add(
            tables,
            self.k_space_advice(largest_k.0, largest_k.1, largest_k.2),
        );
        estimate.add(
            kept + scratch,
            "∂L/∂features and the per-thread accumulators: fewer systems or atoms at once, or \
             a smaller basis (max_angular, max_radial)",
        );
        estimate.check("this backward product")
    }

    /// Bytes of the mesh of a plan whose split sums its wide part on one (None otherwise), with
    /// 1.25 n_k kernel points: the half spectrum holds the half space and the whole plane
    /// m₃ = 0 (n_k + 2.6% at 10⁴ atoms, measured), and the list of points that the tables are
    /// built from is a tenth of them more while they are built
    fn mesh_memory(
        &self,
        plan: &Plan,
        n_atoms: f64,
        n_types: f64,
        n_k: f64,
        backward: bool,
    ) -> Option<f64> {
        let Method::Split {
            mesh: Some(size), ..
        } = plan.method
        else {
            return None;
        };
        let l = (self.parameters.max_angular + 1) as f64;
        let sizes = (l * l, l * self.n_radial() as f64);
        Some(size.memory(n_atoms, n_types, 1.25 * n_k, sizes, backward))
    }

    /// The k-space cutoff of a plan: the wide part's for the Ewald split, 0 for pair sums
    fn k_space_cutoff(&self, plan: &Plan) -> f64 {
        match plan.method {
            Method::KSpace => self.kspace.k_cutoff,
            Method::Split { grid, .. } => self.split_k_cutoff(grid),
            Method::Pairs => 0.0,
        }
    }

    /// The number of half-space k-vectors a system sums over (0 for pair sums)
    fn estimated_k_vectors(&self, system: &System, plan: &Plan) -> f64 {
        let k_cutoff = self.k_space_cutoff(plan);
        match (plan.method, plan.geometry) {
            (Method::Pairs, _) => 0.0,
            // the sphere of the wide part on the box (lode/mesh/open.rs)
            (_, Geometry::Open) => match self.free_space(system, plan) {
                Ok(Some(free)) => kvectors::estimated_count(&free.system, k_cutoff),
                _ => 0.0,
            },
            (method, Geometry::Slab) => {
                // the cylinder |k∥| < k_cutoff of the internal cell, cut at the slab's k bound
                // (the wide part's for a mesh, which holds the same k-vectors; otherwise the
                // calculator's, larger, which needs no scan of its own)
                let internal = slab::internal_system(system, self.basis.support());
                let bound = match method {
                    Method::Split {
                        grid,
                        mesh: Some(_),
                        ..
                    } => self.split_slab_k_bound(grid),
                    _ => self.kspace.slab_k_bound().max(k_cutoff),
                };
                slab::estimated_k_count(&internal, k_cutoff, bound)
            }
            (_, Geometry::Bulk) => kvectors::estimated_count(system, k_cutoff),
        }
    }

    /// What makes the k-space part smaller
    fn k_space_advice(&self, n_k: f64, volume: f64, k_cutoff: f64) -> String {
        let sum = format!(
            "the k-space sum over about {n_k:.2e} k-vectors (a cell of {volume:.3e} Å³, \
             k-space cutoff {k_cutoff:.3} Å⁻¹)"
        );
        if self.parameters.accuracy.is_some() {
            format!(
                "{sum}: a larger `accuracy` or smearing makes it smaller; a molecule or \
                 cluster in a large box is better computed with open boundaries (pbc all False)"
            )
        } else {
            format!(
                "{sum}: give `accuracy` instead (an Ewald split, whose k-space part uses a \
                 wider smearing and the rest is summed in real space), or, for a molecule \
                 or cluster in a large box, use open boundaries (pbc all False)"
            )
        }
    }
}
