//! Per-channel normalisation as the first layer of every model: N(x) = (x - mean) / std.
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// Constant (non-trainable) normalisation layer.
#[derive(Module, Debug)]
pub struct Normalize {
    mean: [f32; 3],
    std: [f32; 3],
}

/// CIFAR-10 training-set statistics (the usual values).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// ImageNet statistics (torchvision).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Normalize {
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Self {
        Self { mean, std }
    }
    pub fn cifar10() -> Self {
        Self::new(CIFAR10_MEAN, CIFAR10_STD)
    }
    pub fn imagenet() -> Self {
        Self::new(IMAGENET_MEAN, IMAGENET_STD)
    }
    pub fn std(&self) -> [f32; 3] {
        self.std
    }
    fn column(v: [f32; 3], device: &Device) -> Tensor<4> {
        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [3]), device).reshape([1, 3, 1, 1])
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let d = x.device();
        (x - Self::column(self.mean, &d)) / Self::column(self.std, &d)
    }
    /// The chain-rule factor dN/dx per channel (1/std), shape [1,3,1,1].
    pub fn inv_std(&self, device: &Device) -> Tensor<4> {
        Self::column(self.std.map(|s| 1.0 / s), device)
    }
}
