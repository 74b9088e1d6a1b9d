//! Conversion of a [`Descriptor`] to a `metatensor::TensorMap` (feature `metatensor`).

use metatensor::{Labels, TensorBlock, TensorMap};
use ndarray::{ArrayD, IxDyn};

use crate::{Descriptor, Error, GradientData};

fn metatensor_error(error: metatensor::Error) -> Error {
    Error::Metatensor(error.to_string())
}

fn array(values: Vec<f64>, shape: &[usize]) -> Result<ArrayD<f64>, Error> {
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| Error::Metatensor(e.to_string()))
}

fn range_labels(name: &str, values: impl Iterator<Item = i32>) -> Labels {
    Labels::new([name], values.map(|v| [v]).collect::<Vec<_>>())
}

fn gradient_block(
    gradient: GradientData,
    o3_mu: &Labels,
    properties: &Labels,
    shape: [usize; 2],
) -> Result<TensorBlock, Error> {
    let n_samples = gradient.n_samples();
    let width = gradient.sample_names.len();
    let samples_array = ndarray::Array2::from_shape_vec((n_samples, width), gradient.samples)
        .map_err(|e| Error::Metatensor(e.to_string()))?;
    let samples = Labels::new(&gradient.sample_names, samples_array);
    let mut components: Vec<Labels> = gradient
        .component_names
        .iter()
        .map(|name| range_labels(name, 0..3))
        .collect();
    let mut value_shape = vec![n_samples];
    value_shape.extend(std::iter::repeat_n(3, components.len()));
    value_shape.extend_from_slice(&shape);
    components.push(o3_mu.clone());
    TensorBlock::new(
        array(gradient.values, &value_shape)?,
        &samples,
        &components,
        properties,
    )
    .map_err(metatensor_error)
}

/// Build the `TensorMap` holding `descriptor`, with featomic's metadata
pub fn descriptor_to_tensormap(descriptor: Descriptor) -> Result<TensorMap, Error> {
    let keys: Vec<[i32; 4]> = descriptor.blocks.iter().map(|b| b.key).collect();
    let mut blocks = Vec::with_capacity(descriptor.blocks.len());
    for block in descriptor.blocks {
        let l = block.key[0];
        let o3_mu = range_labels(descriptor.component_name, -l..=l);
        let properties = range_labels(descriptor.property_name, 0..block.n_properties as i32);
        let samples = Labels::new(descriptor.sample_names, block.samples.clone());
        let shape = [block.n_components, block.n_properties];
        let values = array(block.values, &[block.samples.len(), shape[0], shape[1]])?;
        let mut tensor_block =
            TensorBlock::new(values, &samples, std::slice::from_ref(&o3_mu), &properties)
                .map_err(metatensor_error)?;
        if let Some(positions) = block.positions {
            let gradient = gradient_block(positions, &o3_mu, &properties, shape)?;
            tensor_block
                .add_gradient("positions", gradient)
                .map_err(metatensor_error)?;
        }
        if let Some(strain) = block.strain {
            let gradient = gradient_block(strain, &o3_mu, &properties, shape)?;
            tensor_block
                .add_gradient("strain", gradient)
                .map_err(metatensor_error)?;
        }
        blocks.push(tensor_block);
    }
    let keys = Labels::new(descriptor.key_names, keys);
    TensorMap::new(keys, blocks).map_err(metatensor_error)
}

#[cfg(test)]
mod tests {
    use crate::{Gradients, LodeSphericalExpansion, Selection, System};

    #[test]
    fn tensormap_metadata() {
        let calculator = LodeSphericalExpansion::from_json(
            r#"{"density": {"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
                "basis": {"type": "TensorProduct", "max_angular": 2,
                          "radial": {"type": "Gto", "max_radial": 2, "radius": 3.0}}}"#,
        )
        .unwrap();
        let system = System {
            types: vec![11, 17],
            positions: vec![[0.0, 0.0, 0.0], [2.0, 1.0, 0.5]],
            cell: [[4.0, 0.0, 0.0], [0.0, 4.5, 0.0], [0.5, 0.0, 5.0]],
            pbc: [true; 3],
        };
        let gradients = Gradients {
            positions: true,
            strain: true,
        };
        let descriptor = calculator
            .compute(&[system], gradients, &Selection::default())
            .unwrap();
        let first_values = descriptor.blocks[1].values.clone();
        let tensor = super::descriptor_to_tensormap(descriptor).unwrap();
        assert_eq!(
            tensor.keys().names(),
            ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
        );
        assert_eq!(tensor.keys().count(), 4 * 3);
        let block = tensor.block_by_id(1);
        assert_eq!(block.samples().names(), ["system", "atom"]);
        assert_eq!(block.components()[0].names(), ["o3_mu"]);
        assert_eq!(block.properties().count(), 3);
        let values = block.values();
        let values = values.as_ndarray_lock::<f64>().read().unwrap();
        assert_eq!(values.shape(), [1, 3, 3]);
        assert_eq!(values.iter().copied().collect::<Vec<f64>>(), first_values);
        let strain = block.gradient("strain").unwrap();
        assert_eq!(strain.components().len(), 3);
        assert_eq!(
            block.gradient("positions").unwrap().samples().names(),
            ["sample", "system", "atom"]
        );
    }
}
