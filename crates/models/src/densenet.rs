//! CIFAR-style DenseNet-BC (Huang et al. 2017): 3x3 stem with 2k channels, three dense blocks of
//! bottleneck layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, concatenated), transitions
//! with compression 0.5 and 2x2 average pooling, then BN-ReLU, global average pooling, linear.
//! Depth L gives n = (L-4)/6 layers per block.
use crate::resnet::{conv1x1, conv3x3};
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
    pub blocks: Vec<Vec<DenseLayer>>,
    pub transitions: Vec<Transition>,
    pub bn_final: BatchNorm,
    pub fc: Linear,
}

impl DenseNetBc {
    pub fn new(depth: usize, growth: usize, num_classes: usize, device: &Device) -> Self {
        assert!(depth >= 10 && (depth - 4) % 6 == 0, "DenseNet-BC depth must be 6n+4, got {depth}");
        let n = (depth - 4) / 6;
        let mut c = 2 * growth;
        let conv1 = conv3x3(3, c, 1, device);
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for b in 0..3 {
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
            if b < 2 {
                let out = c / 2;
                transitions.push(Transition { bn: BatchNormConfig::new(c).init(device), conv: conv1x1(c, out, 1, device) });
                c = out;
            }
        }
        Self {
            conv1,
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
        let mut scales = vec![h.clone()];
        for (b, layers) in self.blocks.iter().enumerate() {
            for l in layers {
                let new = l.forward(h.clone());
                h = Tensor::cat(vec![h, new], 1);
            }
            if b < 2 {
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
