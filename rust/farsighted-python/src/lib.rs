//! Python binding of the farsighted core. It only converts numpy arrays to and from the core's
//! plain data: the TensorMaps are assembled in Python, so that one libmetatensor lives in the
//! process.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use farsighted::lode::SplineTable;
use farsighted::{
    BlockData, Descriptor, Error, GradientData, Gradients, KSpaceTables, LodeSphericalExpansion,
    Selection, System,
};

fn to_python_error(error: Error) -> PyErr {
    match error {
        Error::InvalidParameter(_) | Error::InvalidSystem(_) => {
            PyValueError::new_err(error.to_string())
        }
        Error::OutOfMemory(_) => PyMemoryError::new_err(error.to_string()),
        _ => PyRuntimeError::new_err(error.to_string()),
    }
}

/// Run the core on `f` without the GIL, turning a panic (a bug: the core returns errors for
/// bad input) into a RuntimeError instead of pyo3's PanicException
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, Error> + Send) -> PyResult<T> {
    let result = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match result {
        Ok(result) => result.map_err(to_python_error),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "internal error in farsighted ({message}): this is a bug, please report it with \
                 the input that caused it"
            )))
        }
    }
}

/// Systems arrive as (types int32 (n,), positions float64 (n, 3), cell float64 (3, 3), pbc bool (3,))
fn extract_system(item: &Bound<'_, PyAny>, index: usize) -> PyResult<System> {
    let (types, positions, cell, pbc): (
        PyReadonlyArray1<i32>,
        PyReadonlyArray2<f64>,
        PyReadonlyArray2<f64>,
        [bool; 3],
    ) = item
        .extract()
        .map_err(|e| PyValueError::new_err(format!("system {index}: {e}")))?;
    let types = types.as_slice()?.to_vec();
    let positions_view = positions.as_array();
    if positions_view.ncols() != 3 || positions_view.nrows() != types.len() {
        return Err(PyValueError::new_err(format!(
            "system {index}: positions must have shape ({}, 3)",
            types.len()
        )));
    }
    let cell_view = cell.as_array();
    if cell_view.shape() != [3, 3] {
        return Err(PyValueError::new_err(format!(
            "system {index}: cell must have shape (3, 3)"
        )));
    }
    Ok(System {
        types,
        positions: positions_view
            .rows()
            .into_iter()
            .map(|r| [r[0], r[1], r[2]])
            .collect(),
        cell: [0, 1, 2].map(|i| [cell_view[[i, 0]], cell_view[[i, 1]], cell_view[[i, 2]]]),
        pbc,
    })
}

fn extract_systems(systems: &Bound<'_, PyList>) -> PyResult<Vec<System>> {
    systems
        .iter()
        .enumerate()
        .map(|(i, item)| extract_system(&item, i))
        .collect()
}

fn array<'py>(py: Python<'py>, data: Vec<f64>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.into_any())
}

fn int_array<'py>(py: Python<'py>, data: Vec<i32>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.into_any())
}

fn gradient_dict<'py>(
    py: Python<'py>,
    gradient: GradientData,
    value_shape: &[usize],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let n_samples = gradient.n_samples();
    let width = gradient.sample_names.len();
    dict.set_item("sample_names", gradient.sample_names.clone())?;
    dict.set_item("component_names", gradient.component_names.clone())?;
    dict.set_item(
        "samples",
        int_array(py, gradient.samples, &[n_samples, width])?,
    )?;
    let mut shape = vec![n_samples];
    shape.extend(std::iter::repeat_n(3, gradient.component_names.len()));
    shape.extend_from_slice(value_shape);
    dict.set_item("values", array(py, gradient.values, &shape)?)?;
    Ok(dict)
}

fn descriptor_to_python<'py>(
    py: Python<'py>,
    descriptor: Descriptor,
) -> PyResult<Bound<'py, PyList>> {
    let blocks = PyList::empty(py);
    for block in descriptor.blocks {
        let dict = PyDict::new(py);
        let n_samples = block.samples.len();
        let shape = [block.n_components, block.n_properties];
        dict.set_item("key", block.key.to_vec())?;
        let samples: Vec<i32> = block.samples.into_iter().flatten().collect();
        dict.set_item("samples", int_array(py, samples, &[n_samples, 2])?)?;
        dict.set_item(
            "values",
            array(py, block.values, &[n_samples, shape[0], shape[1]])?,
        )?;
        if let Some(positions) = block.positions {
            dict.set_item("positions", gradient_dict(py, positions, &shape)?)?;
        }
        if let Some(strain) = block.strain {
            dict.set_item("strain", gradient_dict(py, strain, &shape)?)?;
        }
        blocks.append(dict)?;
    }
    Ok(blocks)
}

/// The Rust LODE spherical expansion; use `farsighted.LodeSphericalExpansion` instead.
#[pyclass(frozen)]
struct LodeCalculator {
    calculator: LodeSphericalExpansion,
}

#[pymethods]
impl LodeCalculator {
    #[new]
    fn new(py: Python<'_>, hypers_json: &str) -> PyResult<Self> {
        let hypers = hypers_json.to_owned();
        let calculator = run(py, move || LodeSphericalExpansion::from_json(&hypers))?;
        Ok(LodeCalculator { calculator })
    }

    /// k_cutoff actually used (the default is 1.2π / smearing)
    #[getter]
    fn k_cutoff(&self) -> f64 {
        self.calculator.parameters().k_cutoff()
    }

    /// The structure-independent tables of the k-space sum, for the TorchScript modules
    fn kspace_tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let calculator = &self.calculator;
        let tables = run(py, || calculator.kspace_tables())?;
        kspace_dict(py, tables)
    }

    /// The structure-independent tables of open systems (pair radial functions, their
    /// multipole tail and the centre's own density), for the TorchScript modules
    fn pair_tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let calculator = &self.calculator;
        let tables = run(py, || calculator.pair_tables())?;
        let n_radial = tables.center_contribution.len();
        let n_angular = tables.spline.n_functions / n_radial.max(1);
        let dict = spline_dict(py, tables.spline)?;
        dict.set_item("d_max", tables.d_max)?;
        dict.set_item("exponent", tables.exponent)?;
        dict.set_item(
            "tail",
            array(py, tables.tail, &[n_angular, tables.tail_terms, n_radial])?,
        )?;
        dict.set_item(
            "center_contribution",
            array(py, tables.center_contribution, &[n_radial])?,
        )?;
        Ok(dict)
    }

    /// The grid index j of σw = σ 2^{j/4} that the cost model of the Ewald split chooses for
    /// this system (values only), or the forced one
    fn ewald_grid(&self, py: Python<'_>, system: &Bound<'_, PyAny>) -> PyResult<i32> {
        let system = extract_system(system, 0)?;
        let calculator = &self.calculator;
        run(py, || calculator.ewald_grid(&system))
    }

    /// The grid index j of `ewald_grid`, and whether the split's remainder has the wide
    /// margins of cells, slabs and clusters at least twice as wide as its cutoff (true) or the
    /// tight ones
    fn ewald_split(&self, py: Python<'_>, system: &Bound<'_, PyAny>) -> PyResult<(i32, bool)> {
        let system = extract_system(system, 0)?;
        let calculator = &self.calculator;
        run(py, || calculator.ewald_split(&system))
    }

    /// The mesh (points along each cell vector, B-spline order) on which the Ewald split sums
    /// its wide part for the values of this system, or None where it sums over k-vectors
    fn mesh_choice(
        &self,
        py: Python<'_>,
        system: &Bound<'_, PyAny>,
    ) -> PyResult<Option<([usize; 3], usize)>> {
        let system = extract_system(system, 0)?;
        let calculator = &self.calculator;
        run(py, || calculator.mesh_choice(&system))
    }

    /// The largest |m|/K at the reach of each cell vector of the meshes of the split with grid
    /// index j and B-splines of `order`, for 3D cells or the internal cells of `slab`s (see
    /// the Rust `mesh_fractions`)
    #[pyo3(signature = (grid, order, slab = false))]
    fn mesh_fractions(
        &self,
        py: Python<'_>,
        grid: i32,
        order: usize,
        slab: bool,
    ) -> PyResult<[f64; 3]> {
        let calculator = &self.calculator;
        run(py, || calculator.mesh_fractions(grid, order, slab))
    }

    /// What sizes the box of every open system on the mesh of the split with grid index j,
    /// margins (`wide`, see `ewald_split`) and B-splines of `order`: the mesh spacing, the
    /// width δ of the window's edges, t, the basis support ρ and the remainder's reach (see
    /// the Rust `FreeSpaceLayout`)
    #[pyo3(signature = (grid, order, wide = false))]
    fn free_space_layout<'py>(
        &self,
        py: Python<'py>,
        grid: i32,
        order: usize,
        wide: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let calculator = &self.calculator;
        let layout = run(py, || calculator.free_space_layout(grid, wide, order))?;
        let dict = PyDict::new(py);
        dict.set_item("spacing", layout.spacing)?;
        dict.set_item("edge", layout.edge)?;
        dict.set_item("reach", layout.reach)?;
        dict.set_item("support", layout.support)?;
        dict.set_item("remainder_cutoff", layout.remainder_cutoff)?;
        Ok(dict)
    }

    /// Use the grid index j for every system instead of the cost model's choice (None: the
    /// cost model again); for tests
    #[pyo3(signature = (grid))]
    fn force_ewald_grid(&self, grid: Option<i32>) {
        self.calculator.force_ewald_grid(grid);
    }

    /// The structure-independent tables of the Ewald split with σw = σ 2^{grid/4} and the
    /// wide or tight margins (see `ewald_split`)
    #[pyo3(signature = (grid, wide = false))]
    fn split_tables<'py>(
        &self,
        py: Python<'py>,
        grid: i32,
        wide: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let calculator = &self.calculator;
        let tables = run(py, || calculator.split_tables_of_grid(grid, wide))?;
        let n_radial = tables.radial_at_zero.len();
        let dict = PyDict::new(py);
        dict.set_item("grid", tables.grid)?;
        dict.set_item("wide_smearing", tables.wide_smearing)?;
        dict.set_item("kspace", kspace_dict(py, tables.kspace)?)?;
        match tables.remainder {
            Some(remainder) => dict.set_item("remainder", spline_dict(py, remainder)?)?,
            None => dict.set_item("remainder", py.None())?,
        }
        match tables.remainder_far {
            Some((start, far)) => {
                let far_dict = spline_dict(py, far)?;
                far_dict.set_item("start", start)?;
                dict.set_item("remainder_far", far_dict)?
            }
            None => dict.set_item("remainder_far", py.None())?,
        }
        dict.set_item("cutoff", tables.cutoff)?;
        let n_self = tables.self_term.len();
        dict.set_item("self_term", array(py, tables.self_term, &[n_self])?)?;
        dict.set_item("removed_constant", tables.removed_constant)?;
        dict.set_item("removed_planar_constant", tables.removed_planar_constant)?;
        dict.set_item(
            "center_contribution",
            array(py, tables.center_contribution, &[n_radial])?,
        )?;
        dict.set_item(
            "radial_at_zero",
            array(py, tables.radial_at_zero, &[n_radial])?,
        )?;
        Ok(dict)
    }

    /// The structure-independent tables of slabs whose atoms span at most `z_max` along the
    /// normal (of the wide part of the Ewald split with σw = σ 2^{grid/4} if `grid` is given)
    #[pyo3(signature = (z_max, grid=None))]
    fn planar_tables<'py>(
        &self,
        py: Python<'py>,
        z_max: f64,
        grid: Option<i32>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let calculator = &self.calculator;
        let tables = run(py, || calculator.planar_tables(z_max, grid))?;
        let dict = spline_dict(py, tables.spline)?;
        dict.set_item("kspace", kspace_dict(py, tables.kspace)?)?;
        dict.set_item("support", tables.support)?;
        match tables.grid {
            Some(grid) => {
                let rows = 2 * grid.n_points - 1;
                let table = PyDict::new(py);
                table.set_item("step", grid.step)?;
                table.set_item("order", grid.order)?;
                table.set_item("n_points", grid.n_points)?;
                table.set_item(
                    "coefficients",
                    array(py, grid.coefficients, &[rows, grid.n_functions])?,
                )?;
                dict.set_item("grid", table)?
            }
            None => dict.set_item("grid", py.None())?,
        }
        Ok(dict)
    }

    /// Default keys for these systems, as an (n_keys, 4) array
    fn default_keys<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let systems = extract_systems(systems)?;
        let keys = self.calculator.default_keys(&systems);
        let n_keys = keys.len();
        int_array(py, keys.into_iter().flatten().collect(), &[n_keys, 4])
    }

    #[pyo3(signature = (systems, positions=false, strain=false, keys=None, samples=None))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyList>,
        positions: bool,
        strain: bool,
        keys: Option<PyReadonlyArray2<'py, i32>>,
        samples: Option<PyReadonlyArray2<'py, i32>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let systems = extract_systems(systems)?;
        let rows = |array: PyReadonlyArray2<'py, i32>,
                    width: usize,
                    name: &str|
         -> PyResult<Vec<Vec<i32>>> {
            let view = array.as_array();
            if view.ncols() != width {
                return Err(PyValueError::new_err(format!(
                    "{name} must have {width} columns"
                )));
            }
            Ok(view.rows().into_iter().map(|r| r.to_vec()).collect())
        };
        let selection = Selection {
            keys: keys
                .map(|k| rows(k, 4, "keys"))
                .transpose()?
                .map(|v| v.into_iter().map(|r| [r[0], r[1], r[2], r[3]]).collect()),
            samples: samples
                .map(|s| rows(s, 2, "samples"))
                .transpose()?
                .map(|v| v.into_iter().map(|r| [r[0], r[1]]).collect()),
        };
        let gradients = Gradients { positions, strain };
        let calculator = &self.calculator;
        let descriptor = run(py, || calculator.compute(&systems, gradients, &selection))?;
        descriptor_to_python(py, descriptor)
    }

    /// ∂L/∂positions, ∂L/∂cell and ∂L/∂strain of each system from ∂L/∂features, given as a
    /// list of (key int32 (4,), samples int32 (n, 2), values float64 (n, 2λ + 1, n_radial))
    fn backward<'py>(
        &self,
        py: Python<'py>,
        systems: &Bound<'py, PyList>,
        blocks: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let systems = extract_systems(systems)?;
        let blocks = blocks
            .iter()
            .enumerate()
            .map(|(b, item)| extract_gradient_block(&item, b))
            .collect::<PyResult<Vec<_>>>()?;
        let calculator = &self.calculator;
        let results = run(py, || calculator.backward(&systems, blocks))?;
        let output = PyList::empty(py);
        for result in results {
            let n_atoms = result.positions.len();
            let positions = result.positions.into_iter().flatten().collect();
            let flat = |m: [[f64; 3]; 3]| m.into_iter().flatten().collect::<Vec<f64>>();
            output.append((
                array(py, positions, &[n_atoms, 3])?,
                array(py, flat(result.cell), &[3, 3])?,
                array(py, flat(result.strain), &[3, 3])?,
            ))?;
        }
        Ok(output)
    }
}

/// {"step", "values" (n_points, n_functions), "derivatives"} of a spline table
fn spline_dict<'py>(py: Python<'py>, table: SplineTable) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let shape = [table.n_points, table.n_functions];
    dict.set_item("step", table.step)?;
    dict.set_item("values", array(py, table.values, &shape)?)?;
    dict.set_item("derivatives", array(py, table.derivatives, &shape)?)?;
    Ok(dict)
}

/// The k-space tables as `LodeCalculator.kspace_tables` returns them
fn kspace_dict<'py>(py: Python<'py>, tables: KSpaceTables) -> PyResult<Bound<'py, PyDict>> {
    let n_functions = tables.values.len() / tables.n_points;
    let n_radial = tables.radial_at_zero.len();
    let dict = PyDict::new(py);
    dict.set_item("k_cutoff", tables.k_cutoff)?;
    dict.set_item("slab_k_bound", tables.slab_k_bound)?;
    dict.set_item("step", tables.step)?;
    let shape = [tables.n_points, n_functions];
    dict.set_item("values", array(py, tables.values, &shape)?)?;
    dict.set_item("derivatives", array(py, tables.derivatives, &shape)?)?;
    dict.set_item(
        "radial_at_zero",
        array(py, tables.radial_at_zero, &[n_radial])?,
    )?;
    dict.set_item(
        "center_contribution",
        array(py, tables.center_contribution, &[n_radial])?,
    )?;
    dict.set_item("fourier_at_zero", tables.fourier_at_zero)?;
    Ok(dict)
}

fn extract_gradient_block(item: &Bound<'_, PyAny>, index: usize) -> PyResult<BlockData> {
    let (key, samples, values): ([i32; 4], PyReadonlyArray2<i32>, PyReadonlyArray3<f64>) = item
        .extract()
        .map_err(|e| PyValueError::new_err(format!("gradient block {index}: {e}")))?;
    let samples = samples.as_array();
    let values = values.as_array();
    if samples.ncols() != 2 || values.shape()[0] != samples.nrows() {
        return Err(PyValueError::new_err(format!(
            "gradient block {index}: samples must have shape (n, 2) and values (n, components, properties)"
        )));
    }
    Ok(BlockData {
        key,
        samples: samples.rows().into_iter().map(|r| [r[0], r[1]]).collect(),
        n_components: values.shape()[1],
        n_properties: values.shape()[2],
        values: values.iter().copied().collect(),
        positions: None,
        strain: None,
    })
}

#[pymodule]
fn _farsighted(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LodeCalculator>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
