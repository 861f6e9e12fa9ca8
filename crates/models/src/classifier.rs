//! One enum over the classifier architectures, so callers never match on model types.
//! Adding an architecture = one module + one variant here.
use crate::densenet::DenseNetBc;
use crate::normalize::Normalize;
use crate::resnet::CifarResNet;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Architecture hyper-parameters, stored in the model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "lowercase", deny_unknown_fields)]
pub enum ArchConfig {
    /// CIFAR ResNet, depth 6n+2, first-stage width.
    Resnet { depth: usize, width: usize, num_classes: usize },
    /// DenseNet-BC, depth 6n+4, growth rate k.
    Densenet { depth: usize, growth: usize, num_classes: usize },
}

impl ArchConfig {
    pub fn init(&self, device: &Device) -> Classifier {
        let norm = Normalize::cifar10();
        match *self {
            ArchConfig::Resnet { depth, width, num_classes } => {
                Classifier { norm, net: Net::Resnet(CifarResNet::new(depth, width, num_classes, device)) }
            }
            ArchConfig::Densenet { depth, growth, num_classes } => {
                Classifier { norm, net: Net::Densenet(DenseNetBc::new(depth, growth, num_classes, device)) }
            }
        }
    }
    pub fn num_classes(&self) -> usize {
        match *self {
            ArchConfig::Resnet { num_classes, .. } | ArchConfig::Densenet { num_classes, .. } => num_classes,
        }
    }
    pub fn describe(&self) -> String {
        match *self {
            ArchConfig::Resnet { depth, width, .. } => format!("ResNet-{depth} (CIFAR, width {width})"),
            ArchConfig::Densenet { depth, growth, .. } => format!("DenseNet-BC-{depth} (k={growth})"),
        }
    }
}

#[derive(Module, Debug)]
pub enum Net {
    Resnet(CifarResNet),
    Densenet(DenseNetBc),
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
        };
        Features { logits, last, scales }
    }
    /// Weight matrix of the final linear layer, [features, classes] (burn's layout).
    pub fn fc_weight(&self) -> Tensor<2> {
        match &self.net {
            Net::Resnet(m) => m.fc.weight.val(),
            Net::Densenet(m) => m.fc.weight.val(),
        }
    }
}
