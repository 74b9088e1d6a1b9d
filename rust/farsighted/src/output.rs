//! Calculator output as plain arrays and metadata, in metatensor's layout: every block has
//! samples, components and properties, and optional `positions` and `strain` gradients.
//! The Python package and the `metatensor` feature turn this into a TensorMap.

/// Gradient of a block with respect to one parameter
#[derive(Debug, Clone, Default)]
pub struct GradientData {
    /// names of the gradient sample dimensions
    pub sample_names: Vec<&'static str>,
    /// flattened (n_samples, sample_names.len())
    pub samples: Vec<i32>,
    /// names of the gradient-specific component dimensions (before the block's components)
    pub component_names: Vec<&'static str>,
    /// flattened (n_samples, 3[, 3], n_components, n_properties)
    pub values: Vec<f64>,
}

impl GradientData {
    pub fn n_samples(&self) -> usize {
        self.samples.len() / self.sample_names.len().max(1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct BlockData {
    /// o3_lambda, o3_sigma, center_type, neighbor_type
    pub key: [i32; 4],
    /// (system, atom)
    pub samples: Vec<[i32; 2]>,
    /// 2λ + 1, for o3_mu = -λ..=λ
    pub n_components: usize,
    /// radial index n = 0..n_properties
    pub n_properties: usize,
    /// flattened (n_samples, n_components, n_properties)
    pub values: Vec<f64>,
    pub positions: Option<GradientData>,
    pub strain: Option<GradientData>,
}

/// All blocks of one calculation, in key order
#[derive(Debug, Clone, Default)]
pub struct Descriptor {
    pub key_names: [&'static str; 4],
    pub sample_names: [&'static str; 2],
    pub component_name: &'static str,
    pub property_name: &'static str,
    pub blocks: Vec<BlockData>,
}
