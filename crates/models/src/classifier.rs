//! One enum over the classifier architectures, so callers never match on model types.
//! Adding an architecture = one module + one variant here.
use crate::densenet::DenseNetBc;
use crate::normalize::Normalize;
use crate::resnet::CifarResNet;
use crate::tv_resnet::{BlockKind, TvResNet};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Architecture hyper-parameters, stored in the model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "lowercase", deny_unknown_fields)]
pub enum ArchConfig {
    /// CIFAR ResNet, depth 6n+2, first-stage width.
    Resnet { depth: usize, width: usize, num_classes: usize },
    /// DenseNet-BC, growth rate k, three dense blocks: n = (depth-4)/6 layers each, or the layer
    /// counts in `blocks` (then depth = 2 * sum(blocks) + 4 and must say so).
    Densenet {
        depth: usize,
        growth: usize,
        num_classes: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocks: Option<Vec<usize>>,
    },
    /// torchvision ImageNet ResNet (ResNet-50: layers [3,4,6,3], width 64, bottleneck blocks;
    /// `block = "basic"` for ResNet-18/34).
    TvResnet {
        layers: Vec<usize>,
        width: usize,
        num_classes: usize,
        #[serde(default, skip_serializing_if = "BlockKind::is_bottleneck")]
        block: BlockKind,
    },
    /// torchvision ImageNet DenseNet (DenseNet-169: blocks [6,12,32,32], growth 32, init 64).
    TvDensenet { blocks: Vec<usize>, growth: usize, init_features: usize, num_classes: usize },
}

impl ArchConfig {
    pub fn init(&self, device: &Device) -> Classifier {
        let net = match self {
            ArchConfig::Resnet { depth, width, num_classes } => Net::Resnet(CifarResNet::new(*depth, *width, *num_classes, device)),
            ArchConfig::Densenet { depth, growth, num_classes, blocks } => Net::Densenet(DenseNetBc::new(*depth, *growth, blocks.as_deref(), *num_classes, device)),
            ArchConfig::TvResnet { layers, width, num_classes, block } => Net::TvResnet(TvResNet::new(layers, *width, *num_classes, *block, device)),
            ArchConfig::TvDensenet { blocks, growth, init_features, num_classes } => {
                Net::Densenet(DenseNetBc::imagenet(blocks, *growth, *init_features, *num_classes, device))
            }
        };
        Classifier { norm: self.normalize(), net }
    }
    /// The ImageNet architectures take ImageNet statistics, the CIFAR ones CIFAR-10's.
    pub fn normalize(&self) -> Normalize {
        match self {
            ArchConfig::Resnet { .. } | ArchConfig::Densenet { .. } => Normalize::cifar10(),
            ArchConfig::TvResnet { .. } | ArchConfig::TvDensenet { .. } => Normalize::imagenet(),
        }
    }
    /// True for the torchvision architectures (ImageNet input, `.pth` weights).
    pub fn is_torchvision(&self) -> bool {
        matches!(self, ArchConfig::TvResnet { .. } | ArchConfig::TvDensenet { .. })
    }
    pub fn num_classes(&self) -> usize {
        match self {
            ArchConfig::Resnet { num_classes, .. }
            | ArchConfig::Densenet { num_classes, .. }
            | ArchConfig::TvResnet { num_classes, .. }
            | ArchConfig::TvDensenet { num_classes, .. } => *num_classes,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            ArchConfig::Resnet { depth, width, .. } => format!("ResNet-{depth} (CIFAR, width {width})"),
            ArchConfig::Densenet { depth, growth, blocks: None, .. } => format!("DenseNet-BC-{depth} (k={growth})"),
            ArchConfig::Densenet { depth, growth, blocks: Some(b), .. } => format!("DenseNet-BC-{depth} (blocks {b:?}, k={growth})"),
            ArchConfig::TvResnet { layers, width, block, .. } => {
                let depth = 2 + block.convs() * layers.iter().sum::<usize>();
                format!("ResNet-{depth} (torchvision, layers {layers:?}, width {width})")
            }
            ArchConfig::TvDensenet { blocks, growth, .. } => {
                // Two convs per dense layer, the stem, one conv per transition, the classifier.
                let depth = 2 * blocks.iter().sum::<usize>() + blocks.len() + 1;
                format!("DenseNet-{depth} (torchvision, blocks {blocks:?}, k={growth})")
            }
        }
    }
}

#[derive(Module, Debug)]
pub enum Net {
    Resnet(CifarResNet),
    /// CIFAR DenseNet-BC and torchvision's ImageNet DenseNet (same module, different stem).
    Densenet(DenseNetBc),
    TvResnet(TvResNet),
}

/// A classifier on [0,1] images: normalisation, then the network.
#[derive(Module, Debug)]
pub struct Classifier {
    pub norm: Normalize,
    pub net: Net,
}

/// What the interpreters need from one forward pass.
pub struct Features {
    pub logits: Tensor<2>,
    /// Last convolutional feature map (after the final ReLU), the CAM input.
    pub last: Tensor<4>,
    /// Intermediate scales, finest first (the RTS encoder taps).
    pub scales: Vec<Tensor<4>>,
}

impl Classifier {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.features(x).logits
    }
    pub fn features(&self, x: Tensor<4>) -> Features {
        let z = self.norm.forward(x);
        let (logits, last, scales) = match &self.net {
            Net::Resnet(m) => m.forward_features(z),
            Net::Densenet(m) => m.forward_features(z),
            Net::TvResnet(m) => m.forward_features(z),
        };
        Features { logits, last, scales }
    }
    /// Weight matrix of the final linear layer, [features, classes] (burn's layout).
    pub fn fc_weight(&self) -> Tensor<2> {
        match &self.net {
            Net::Resnet(m) => m.fc.weight.val(),
            Net::Densenet(m) => m.fc.weight.val(),
            Net::TvResnet(m) => m.fc.weight.val(),
        }
    }
}
