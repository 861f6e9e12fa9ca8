//! CIFAR-style DenseNet-BC (Huang et al. 2017): 3x3 stem with 2k channels, three dense blocks of
//! bottleneck layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, concatenated), transitions
//! with compression 0.5 and 2x2 average pooling, then BN-ReLU, global average pooling, linear.
//! Depth L gives n = (L-4)/6 layers per block, or explicit per-block counts (more layers where
//! the maps are small: cheaper per parameter on a CPU), with L = 2 * sum + 4.
//!
//! The same module is torchvision's ImageNet DenseNet (DenseNet-169: k = 32, blocks [6, 12, 32, 32],
//! 64 stem channels) when built by [`DenseNetBc::imagenet`]: a 7x7/2 stem conv, `norm0`, ReLU and a
//! 3x3/2 max pool, then four blocks. Layer and key names map onto torchvision's in `torchvision`.
use crate::resnet::{conv1x1, conv3x3};
use crate::tv_resnet::{stem_conv, stem_pool};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct DenseLayer {
    pub bn1: BatchNorm,
    pub conv1: Conv2d,
    pub bn2: BatchNorm,
    pub conv2: Conv2d,
}

impl DenseLayer {
    /// Returns only the k new channels.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(relu(self.bn1.forward(x)));
        self.conv2.forward(relu(self.bn2.forward(h)))
    }
}

#[derive(Module, Debug)]
pub struct Transition {
    pub bn: BatchNorm,
    pub conv: Conv2d,
}

/// 2x2 average pooling, stride 2.
pub fn pool2(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

impl Transition {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        pool2(self.conv.forward(relu(self.bn.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct DenseNetBc {
    pub conv1: Conv2d,
    /// ImageNet stem only: BN after the 7x7 conv (followed by ReLU and the max pool).
    pub norm0: Option<BatchNorm>,
    pub blocks: Vec<Vec<DenseLayer>>,
    pub transitions: Vec<Transition>,
    pub bn_final: BatchNorm,
    pub fc: Linear,
}

impl DenseNetBc {
    pub fn new(depth: usize, growth: usize, blocks: Option<&[usize]>, num_classes: usize, device: &Device) -> Self {
        let sizes = match blocks {
            Some(b) => {
                assert!(b.len() == 3 && depth == 2 * b.iter().sum::<usize>() + 4, "DenseNet-BC blocks {b:?} need depth {}, got {depth}", 2 * b.iter().sum::<usize>() + 4);
                [b[0], b[1], b[2]]
            }
            None => {
                assert!(depth >= 10 && (depth - 4) % 6 == 0, "DenseNet-BC depth must be 6n+4, got {depth}");
                [(depth - 4) / 6; 3]
            }
        };
        let conv1 = conv3x3(3, 2 * growth, 1, device);
        Self::build(conv1, None, &sizes, growth, num_classes, device)
    }

    /// torchvision's ImageNet DenseNet (`torchvision.models.DenseNet(growth, blocks, init_features)`,
    /// bn_size 4, no dropout).
    pub fn imagenet(blocks: &[usize], growth: usize, init_features: usize, num_classes: usize, device: &Device) -> Self {
        let norm0 = Some(BatchNormConfig::new(init_features).init(device));
        Self::build(stem_conv(init_features, device), norm0, blocks, growth, num_classes, device)
    }

    fn build(conv1: Conv2d, norm0: Option<BatchNorm>, sizes: &[usize], growth: usize, num_classes: usize, device: &Device) -> Self {
        let mut c = conv1.weight.dims()[0];
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (b, &n) in sizes.iter().enumerate() {
            let mut layers = Vec::new();
            for _ in 0..n {
                layers.push(DenseLayer {
                    bn1: BatchNormConfig::new(c).init(device),
                    conv1: conv1x1(c, 4 * growth, 1, device),
                    bn2: BatchNormConfig::new(4 * growth).init(device),
                    conv2: conv3x3(4 * growth, growth, 1, device),
                });
                c += growth;
            }
            blocks.push(layers);
            if b + 1 < sizes.len() {
                let out = c / 2;
                transitions.push(Transition { bn: BatchNormConfig::new(c).init(device), conv: conv1x1(c, out, 1, device) });
                c = out;
            }
        }
        Self {
            conv1,
            norm0,
            blocks,
            transitions,
            bn_final: BatchNormConfig::new(c).init(device),
            fc: LinearConfig::new(c, num_classes).init(device),
        }
    }

    /// Forward on a normalised input; returns (logits, last feature map after the final
    /// BN-ReLU, scales = stem output and each block's output).
    pub fn forward_features(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<4>, Vec<Tensor<4>>) {
        let mut h = self.conv1.forward(x);
        if let Some(bn) = &self.norm0 {
            h = relu(bn.forward(h));
        }
        let mut scales = vec![h.clone()];
        if self.norm0.is_some() {
            h = stem_pool(h);
        }
        for (b, layers) in self.blocks.iter().enumerate() {
            for l in layers {
                let new = l.forward(h.clone());
                h = Tensor::cat(vec![h, new], 1);
            }
            if b < self.transitions.len() {
                scales.push(h.clone());
                h = self.transitions[b].forward(h);
            }
        }
        let last = relu(self.bn_final.forward(h));
        scales.push(last.clone());
        let pooled = last.clone().mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
        (self.fc.forward(pooled), last, scales)
    }
}
