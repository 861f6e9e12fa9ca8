//! CIFAR-style ResNet (He et al. 2016, section 4.2): 3x3 stem, three stages of basic blocks at
//! widths w, 2w, 4w, global average pooling, one linear layer. Depth = 6n + 2.
//! Downsampling shortcuts are 1x1 conv + BN ("option B"), as in torchvision.
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

pub(crate) fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

pub(crate) fn conv1x1(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [1, 1]).with_stride([stride, stride]).with_bias(false).init(device)
}

/// 1x1 conv + BN on the shortcut when shape changes.
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

/// A residual block's shortcut: identity, or the downsampling conv + BN.
pub fn shortcut(ds: &Option<Downsample>, x: Tensor<4>) -> Tensor<4> {
    match ds {
        Some(d) => d.bn.forward(d.conv.forward(x)),
        None => x,
    }
}

/// conv-bn-relu-conv-bn (+ shortcut) - relu.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    pub fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv1x1(cin, cout, stride, device),
            bn: BatchNormConfig::new(cout).init(device),
        });
        Self {
            conv1: conv3x3(cin, cout, stride, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv3x3(cout, cout, 1, device),
            bn2: BatchNormConfig::new(cout).init(device),
            downsample,
        }
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        relu(out + shortcut(&self.downsample, x))
    }
}

#[derive(Module, Debug)]
pub struct CifarResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub stages: Vec<Vec<BasicBlock>>,
    pub fc: Linear,
}

impl CifarResNet {
    /// `depth` = 6n+2 (20, 32, 44, 56, 110), `width` = channels of the first stage (16 in He et al.).
    pub fn new(depth: usize, width: usize, num_classes: usize, device: &Device) -> Self {
        assert!(depth >= 8 && (depth - 2) % 6 == 0, "ResNet depth must be 6n+2, got {depth}");
        let n = (depth - 2) / 6;
        let mut stages = Vec::new();
        let mut cin = width;
        for s in 0..3 {
            let cout = width << s;
            let blocks = (0..n)
                .map(|b| {
                    let stride = if s > 0 && b == 0 { 2 } else { 1 };
                    let blk = BasicBlock::new(cin, cout, stride, device);
                    cin = cout;
                    blk
                })
                .collect();
            stages.push(blocks);
        }
        Self {
            conv1: conv3x3(3, width, 1, device),
            bn1: BatchNormConfig::new(width).init(device),
            stages,
            fc: LinearConfig::new(4 * width, num_classes).init(device),
        }
    }

    /// Forward on a normalised input; returns (logits, last feature map, scales).
    /// Scales: stem output, then each stage's output (the last equals the last feature map).
    pub fn forward_features(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<4>, Vec<Tensor<4>>) {
        let mut h = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut scales = vec![h.clone()];
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
