//! torchvision's ImageNet ResNet (ResNet-50 = bottleneck blocks, layers [3, 4, 6, 3], width 64;
//! ResNet-18/34 = basic blocks, [2, 2, 2, 2] / [3, 4, 6, 3]): 7x7/2 stem + BN + ReLU + 3x3/2 max
//! pool, four stages of blocks (stride on the 3x3 conv, "ResNet v1.5" as in torchvision), global
//! average pooling, one linear layer.
//! Field names follow torchvision (`conv1`, `bn1`, `layerK` -> `stages[K-1]`, `downsample.0/1` ->
//! `downsample.conv/bn`, `fc`) so its state dicts load with a few key renames (see `torchvision`).
//! The stem width is a parameter only so tests can build a tiny twin; torchvision uses 64.
use crate::resnet::{conv1x1, conv3x3, shortcut, BasicBlock, Downsample};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

/// Output channels = 4 x the bottleneck width.
pub const EXPANSION: usize = 4;

/// The stem's 3x3 / stride 2 / padding 1 max pool.
pub fn stem_pool_options() -> MaxPoolOptions<2> {
    MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1])
}

pub fn stem_pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, stem_pool_options())
}

/// The 7x7 / stride 2 / padding 3 stem convolution (no bias) of torchvision's ResNet and DenseNet.
pub fn stem_conv(cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([3, cout], [7, 7])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
        .with_bias(false)
        .init(device)
}

/// 1x1 -> 3x3 (stride) -> 1x1 x4, each with BN; ReLU after the first two and after the sum.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    pub fn new(cin: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let cout = planes * EXPANSION;
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv1x1(cin, cout, stride, device),
            bn: BatchNormConfig::new(cout).init(device),
        });
        Self {
            conv1: conv1x1(cin, planes, 1, device),
            bn1: BatchNormConfig::new(planes).init(device),
            conv2: conv3x3(planes, planes, stride, device),
            bn2: BatchNormConfig::new(planes).init(device),
            conv3: conv1x1(planes, cout, 1, device),
            bn3: BatchNormConfig::new(cout).init(device),
            downsample,
        }
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = relu(self.bn2.forward(self.conv2.forward(out)));
        let out = self.bn3.forward(self.conv3.forward(out));
        relu(out + shortcut(&self.downsample, x))
    }
}

/// Which residual block a torchvision ResNet stacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3x3 convolutions (ResNet-18, ResNet-34); torchvision's `BasicBlock`, which is this
    /// crate's CIFAR `BasicBlock` (same layers, same names).
    Basic,
    /// 1x1, 3x3, 1x1 x4 (ResNet-50, -101, -152).
    #[default]
    Bottleneck,
}

impl BlockKind {
    pub fn is_bottleneck(&self) -> bool {
        *self == BlockKind::Bottleneck
    }
    /// Output channels per unit of block width.
    pub fn expansion(&self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => EXPANSION,
        }
    }
    /// Convolutions per block (for the depth in a model's name).
    pub fn convs(&self) -> usize {
        match self {
            BlockKind::Basic => 2,
            BlockKind::Bottleneck => 3,
        }
    }
}

/// One residual block of a torchvision ResNet.
#[derive(Module, Debug)]
pub enum TvBlock {
    Basic(BasicBlock),
    Bottleneck(Bottleneck),
}

impl TvBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            TvBlock::Basic(b) => b.forward(x),
            TvBlock::Bottleneck(b) => b.forward(x),
        }
    }
}

#[derive(Module, Debug)]
pub struct TvResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub stages: Vec<Vec<TvBlock>>,
    pub fc: Linear,
}

impl TvResNet {
    /// `layers`: blocks per stage ([3, 4, 6, 3] for ResNet-50); `width`: stem channels and
    /// first-stage block width (64 in torchvision; stages double it).
    pub fn new(layers: &[usize], width: usize, num_classes: usize, block: BlockKind, device: &Device) -> Self {
        let mut cin = width;
        let stages = layers
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                let planes = width << s;
                (0..n)
                    .map(|b| {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        let blk = match block {
                            BlockKind::Basic => TvBlock::Basic(BasicBlock::new(cin, planes, stride, device)),
                            BlockKind::Bottleneck => TvBlock::Bottleneck(Bottleneck::new(cin, planes, stride, device)),
                        };
                        cin = planes * block.expansion();
                        blk
                    })
                    .collect()
            })
            .collect();
        Self {
            conv1: stem_conv(width, device),
            bn1: BatchNormConfig::new(width).init(device),
            stages,
            fc: LinearConfig::new(cin, num_classes).init(device),
        }
    }

    /// Forward on a normalised input; returns (logits, layer4 output, scales). Scales: the stem
    /// output before the max pool (RTS's s1), then each stage's output (s2..s5).
    pub fn forward_features(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<4>, Vec<Tensor<4>>) {
        let s1 = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut h = stem_pool(s1.clone());
        let mut scales = vec![s1];
        for stage in &self.stages {
            for blk in stage {
                h = blk.forward(h);
            }
            scales.push(h.clone());
        }
        let pooled = h.clone().mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
        (self.fc.forward(pooled), h, scales)
    }
}
