//! The plan of one system: its geometry, decided and validated once, paired with the method
//! that computes its features. [`LodeSphericalExpansion::plan`] is the only place that chooses
//! a method, and [`LodeSphericalExpansion::run_values`] / [`LodeSphericalExpansion::run_backward`]
//! the only places that dispatch on it: a new method or a new geometry
//! (wires) is a variant here and a folder of its own.
//!
//! | geometry | `accuracy` | method                                                     |
//! |----------|------------|------------------------------------------------------------|
//! | bulk     | none       | k-space sum (lode/kspace/)                                 |
//! | slab     | none       | k-space sum of the k∥ ≠ 0 part + planar part (lode/slab/)  |
//! | bulk     | ε          | Ewald split: k-space wide part + real-space pairs (lode/ewald/) |
//! | bulk     | ε          | Ewald split with the wide part on a mesh, smooth PME (lode/mesh/) |
//! | slab     | ε          | Ewald split on the slab's k-space sum (lode/ewald/)        |
//! | slab     | ε          | Ewald split, the k∥ ≠ 0 part of the wide part on a mesh of the internal cell (lode/mesh/) |
//! | open     | none       | pair sums over every other atom (lode/pairs/)              |
//! | open     | ε          | pair sums, or for large systems the Ewald split with the wide part on the mesh of a box (lode/mesh/open.rs) |

use super::backward::{BackwardGradients, SystemInput};
use super::ewald::Margins;
use super::mesh::open::FreeSpace;
use super::mesh::MeshSize;
use super::metadata::{SystemTask, SystemValues};
use super::{pairs, slab, Gradients, LodeSphericalExpansion};
use crate::{Error, System};

/// Where a system is periodic, and what its cell means
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Geometry {
    /// periodic along its three cell vectors
    Bulk,
    /// periodic along two cell vectors; the third is ignored (lode/slab/)
    Slab,
    /// no periodicity (molecules, clusters); the cell is ignored
    Open,
}

impl Geometry {
    /// The geometry of system `index` from its pbc, once the system was checked for it
    pub fn of(system: &System, index: usize) -> Result<Geometry, Error> {
        match system.pbc.iter().filter(|&&p| p).count() {
            3 => {
                system.validate_periodic(index)?;
                Ok(Geometry::Bulk)
            }
            2 => {
                slab::validate_slab(system, index)?;
                Ok(Geometry::Slab)
            }
            0 => {
                pairs::open::validate_open(system, index)?;
                Ok(Geometry::Open)
            }
            _ => Err(Error::InvalidSystem(format!(
                "system {index}: systems periodic in one direction only (wires, pbc={:?}) are \
                 not implemented; use two periodic directions (slabs), three, or none",
                system.pbc
            ))),
        }
    }

    /// ∂L/∂h for the cell vectors hᵢ (rows) from Ξ = ∂L/∂ε and ∂L/∂R: zero for open systems,
    /// whose cell is ignored, and for the non-periodic row of slabs
    pub fn cell_gradient(
        self,
        system: &System,
        strain: &[[f64; 3]; 3],
        positions: &[[f64; 3]],
    ) -> [[f64; 3]; 3] {
        match self {
            Geometry::Bulk => super::backward::cell_gradient(system, strain, positions),
            Geometry::Slab => slab::backward::slab_cell_gradient(system, strain, positions),
            Geometry::Open => [[0.0; 3]; 3],
        }
    }
}

/// How the features of a system are summed
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// the reciprocal-space sum with the calculator's smearing (lode/kspace/, lode/slab/)
    KSpace,
    /// the Ewald split with σw = σ 2^{grid/4} and the `margins` of its truncations: the wide
    /// part summed over k-vectors, or on a mesh by smooth PME (lode/mesh/), and pair sums of
    /// the short-ranged remainder over the periodic images (lode/ewald/)
    Split {
        grid: i32,
        margins: Margins,
        mesh: Option<MeshSize>,
    },
    /// pair projections over every other atom, no images (lode/pairs/)
    Pairs,
}

impl Method {
    /// Whether the sum includes the centre's own density (the k-space sums do, the pairs
    /// exclude j = i): `center_atom_weight` then removes (1 - w) of it, or adds w of it
    fn includes_own_density(self) -> bool {
        match self {
            Method::KSpace | Method::Split { .. } => true,
            Method::Pairs => false,
        }
    }
}

/// A geometry and the method that computes it
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub geometry: Geometry,
    pub method: Method,
}

impl LodeSphericalExpansion {
    /// The plan of every system: `gradients` are those the split's cost model weighs (the
    /// ones requested for `compute`, none for `backward`, which differentiates the values)
    pub(crate) fn plans(
        &self,
        systems: &[System],
        gradients: Gradients,
    ) -> Result<Vec<Plan>, Error> {
        systems
            .iter()
            .enumerate()
            .map(|(index, system)| self.plan(system, index, gradients))
            .collect()
    }

    /// The geometry of system `index`, validated, and the method for it
    pub(crate) fn plan(
        &self,
        system: &System,
        index: usize,
        gradients: Gradients,
    ) -> Result<Plan, Error> {
        let geometry = Geometry::of(system, index)?;
        let method = match (geometry, self.parameters.accuracy) {
            (Geometry::Open, None) => Method::Pairs,
            (Geometry::Open, Some(_)) => match self.choose_open(system, gradients)? {
                Some((grid, margins, size)) => Method::Split {
                    grid,
                    margins,
                    mesh: Some(size),
                },
                None => Method::Pairs,
            },
            (_, Some(_)) => {
                let (grid, margins, mesh) = self.choose_split(system, geometry, gradients)?;
                Method::Split {
                    grid,
                    margins,
                    mesh,
                }
            }
            (_, None) => Method::KSpace,
        };
        Ok(Plan { geometry, method })
    }

    /// Build the tables that the plans need before the systems are computed in parallel (their
    /// construction runs parallel loops, whose waits could pick up a task asking for the same
    /// table)
    pub(crate) fn prepare(&self, systems: &[System], plans: &[Plan]) -> Result<(), Error> {
        let kspace_slabs = systems
            .iter()
            .zip(plans)
            .filter(|(_, plan)| *plan == &PLAIN_SLAB)
            .map(|(system, _)| system);
        self.kspace.prepare_slabs(kspace_slabs, false)?;
        for (system, plan) in systems.iter().zip(plans) {
            match (plan.geometry, plan.method) {
                (Geometry::Bulk, Method::KSpace) => self.kspace.radial().map(|_| ())?,
                (Geometry::Slab, Method::KSpace) => (),
                (
                    Geometry::Slab,
                    Method::Split {
                        grid,
                        margins,
                        mesh,
                    },
                ) => self
                    .split_tables(grid, margins)?
                    .wide
                    .prepare_slabs([system], mesh.is_some())?,
                (_, Method::Split { grid, margins, .. }) => self
                    .split_tables(grid, margins)?
                    .wide
                    .radial()
                    .map(|_| ())?,
                (_, Method::Pairs) => self.pair_radial().map(|_| ())?,
                (Geometry::Open, Method::KSpace) => return Err(mismatch(plan)),
            }
        }
        Ok(())
    }

    /// Values (and strain) of one system by its plan, the centre's own density weighted by
    /// `center_atom_weight`; positions gradients are written into the task's outputs
    pub(crate) fn run_values(&self, plan: &Plan, task: SystemTask) -> Result<SystemValues, Error> {
        let mut result = match plan.method {
            Method::KSpace => self.kspace.values(plan.geometry, None, task)?,
            Method::Split {
                grid,
                margins,
                mesh,
            } => {
                let split = self.split_tables(grid, margins)?;
                let free = self.free_space(task.system, plan)?;
                self.split_values(&split, plan.geometry, mesh, free.as_ref(), task)?
            }
            Method::Pairs if plan.geometry == Geometry::Open => {
                self.open_values(self.pair_radial()?, task)?
            }
            Method::Pairs => return Err(mismatch(plan)),
        };
        let weight = self.parameters.center_atom_weight;
        let coefficient = match plan.method.includes_own_density() {
            true => -(1.0 - weight),
            false => weight,
        };
        result.add_own_density(task.system, coefficient, self.kspace.center_contribution());
        Ok(result)
    }

    /// ∂L/∂positions and ∂L/∂cell of one system by its plan
    pub(crate) fn run_backward(
        &self,
        plan: &Plan,
        s: usize,
        system: &System,
        input: &SystemInput,
    ) -> Result<BackwardGradients, Error> {
        let total = match plan.method {
            Method::KSpace => self
                .kspace
                .backward(plan.geometry, None, s, system, input)?,
            Method::Split {
                grid,
                margins,
                mesh,
            } => {
                let split = self.split_tables(grid, margins)?;
                let free = self.free_space(system, plan)?;
                self.split_backward(&split, plan.geometry, mesh, free.as_ref(), s, system, input)?
            }
            Method::Pairs if plan.geometry == Geometry::Open => {
                self.open_backward(self.pair_radial()?, system, input)
            }
            Method::Pairs => return Err(mismatch(plan)),
        };
        let cell = plan
            .geometry
            .cell_gradient(system, &total.strain, &total.positions);
        Ok(BackwardGradients {
            positions: total.positions,
            cell,
            strain: total.strain,
        })
    }
}

impl LodeSphericalExpansion {
    /// The box of an open system whose split sums its wide part on a mesh (lode/mesh/open.rs),
    /// the one its plan sized; None for the other plans
    pub(crate) fn free_space(
        &self,
        system: &System,
        plan: &Plan,
    ) -> Result<Option<FreeSpace>, Error> {
        let Method::Split {
            grid,
            margins,
            mesh: Some(size),
        } = plan.method
        else {
            return Ok(None);
        };
        if plan.geometry != Geometry::Open {
            return Ok(None);
        }
        let free = FreeSpace::new(
            system,
            &self.free_space_parameters(grid, margins),
            size.order,
        );
        if free.size != size {
            return Err(Error::InvalidSystem(format!(
                "internal error: the mesh of an open system changed from {size:?} to {:?}",
                free.size
            )));
        }
        Ok(Some(free))
    }
}

/// The plan of slabs without `accuracy`, which share one planar table
const PLAIN_SLAB: Plan = Plan {
    geometry: Geometry::Slab,
    method: Method::KSpace,
};

/// A plan that `plan` never makes
fn mismatch(plan: &Plan) -> Error {
    Error::InvalidSystem(format!(
        "internal error: no {:?} method for the {:?} geometry",
        plan.method, plan.geometry
    ))
}
