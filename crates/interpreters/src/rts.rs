//! RTS: real-time saliency (Dabkowski & Gal), spec 2.3, adapted to the CIFAR classifiers.
//! The classifier's own scales are the encoder (finest pass-throughs at 32x32 and 16x16, the
//! last feature map at 8x8 as "s5"); a class-selector embedding gates s5; two U-Net up-blocks
//! (pixel-shuffle upsampler, concatenation, bottleneck residual block) go back to 32x32; a 1x1
//! head gives (a, b) and the mask M = |a| / (|a| + |b|) in [0,1], higher = more salient.
//! (The paper uses three up-blocks from 7x7 to 56x56 on ResNet-50; CIFAR has one scale fewer.
//! With a torchvision ResNet the same network takes `widths` of length 3 and gives 56x56 maps.)
//!
//! Training: `rts_train` (`cargo xtask train-rts`); the trained network is the `Interpreter::Rts`
//! variant through [`RtsSpec`], whose weights are loaded once per process and cached.
use advedge_models::{Classifier, Features};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use crate::error::InterpreterError;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Int, Tensor};

fn conv(cin: usize, cout: usize, k: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .with_bias(bias)
        .init(device)
}

/// PixelShuffle(2): [B, 4C, H, W] -> [B, C, 2H, 2W].
pub fn pixel_shuffle2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c / 4, 2, 2, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([b, c / 4, 2 * h, 2 * w])
}

/// 1x1 -> 3x3 -> 1x1 bottleneck (ratio 4) with BN and ReLU; a 1x1 conv with bias on the
/// residual path when the channel count changes.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub c1: Conv2d,
    pub b1: BatchNorm,
    pub c2: Conv2d,
    pub b2: BatchNorm,
    pub c3: Conv2d,
    pub b3: BatchNorm,
    pub shortcut: Option<Conv2d>,
}

impl Bottleneck {
    pub fn new(cin: usize, cout: usize, device: &Device) -> Self {
        let mid = (cout / 4).max(1);
        Self {
            c1: conv(cin, mid, 1, false, device),
            b1: BatchNormConfig::new(mid).init(device),
            c2: conv(mid, mid, 3, false, device),
            b2: BatchNormConfig::new(mid).init(device),
            c3: conv(mid, cout, 1, false, device),
            b3: BatchNormConfig::new(cout).init(device),
            shortcut: (cin != cout).then(|| conv(cin, cout, 1, true, device)),
        }
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = relu(self.b1.forward(self.c1.forward(x.clone())));
        let h = relu(self.b2.forward(self.c2.forward(h)));
        let h = self.b3.forward(self.c3.forward(h));
        let s = match &self.shortcut {
            Some(c) => c.forward(x),
            None => x,
        };
        relu(h + s)
    }
}

#[derive(Module, Debug)]
pub struct UpBlock {
    pub up: Conv2d,
    pub up_bn: BatchNorm,
    pub block: Bottleneck,
}

impl UpBlock {
    pub fn new(cin: usize, cskip: usize, cout: usize, device: &Device) -> Self {
        Self { up: conv(cin, 4 * cout, 3, false, device), up_bn: BatchNormConfig::new(4 * cout).init(device), block: Bottleneck::new(cout + cskip, cout, device) }
    }
    pub fn forward(&self, x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
        let u = relu(pixel_shuffle2(relu(self.up_bn.forward(self.up.forward(x)))));
        self.block.forward(Tensor::cat(vec![u, skip], 1))
    }
}

/// The saliency network on top of a classifier's features.
#[derive(Module, Debug)]
pub struct RtsNet {
    /// Class selector E [classes, C5], N(0, 1/sqrt(C5)).
    pub embed: Param<Tensor<2>>,
    pub ups: Vec<UpBlock>,
    pub head: Conv2d,
}

impl RtsNet {
    /// `channels`: channel counts of the encoder scales used, coarsest first (s5, then the
    /// pass-throughs). `widths`: output channels of each up-block.
    pub fn new(num_classes: usize, channels: &[usize], widths: &[usize], device: &Device) -> Self {
        assert_eq!(channels.len(), widths.len() + 1);
        let c5 = channels[0];
        let embed = Initializer::Normal { mean: 0.0, std: 1.0 / (c5 as f64).sqrt() }.init([num_classes, c5], device);
        let mut cin = c5;
        let ups = widths
            .iter()
            .zip(&channels[1..])
            .map(|(&w, &skip)| {
                let u = UpBlock::new(cin, skip, w, device);
                cin = w;
                u
            })
            .collect();
        Self { embed, ups, head: conv(cin, 2, 1, true, device) }
    }

    /// Mask [B,1,H,W] and the selector's exists-logits [B,2] for classes `c`, from classifier
    /// features (scales finest first, as `Classifier::features` returns them), confidence κ.
    pub fn forward(&self, f: &Features, classes: Tensor<1, Int>, kappa: f64) -> (Tensor<4>, Tensor<2>) {
        let n = f.scales.len();
        let s5 = f.last.clone();
        let [b, c5, h, w] = s5.dims();
        let e = self.embed.val().select(0, classes).reshape([b, c5, 1, 1]);
        let a = (s5.clone() * e).sum_dim(1); // [B,1,h,w]
        let mean_a = a.clone().mean_dims(&[1, 2, 3]).reshape([b, 1]);
        let exists = Tensor::cat(vec![mean_a.clone().neg() / 2.0, mean_a / 2.0], 1);
        let mut x = s5 * sigmoid(a - kappa);
        for (k, up) in self.ups.iter().enumerate() {
            x = up.forward(x, f.scales[n - 2 - k].clone());
        }
        let ab = self.head.forward(x);
        let (pa, pb) = (ab.clone().narrow(1, 0, 1).abs(), ab.narrow(1, 1, 1).abs());
        let _ = (h, w);
        (pa.clone() / (pa + pb + 1e-12), exists)
    }
}

/// A trained RTS network as an interpreter setting. `name` and `fingerprint` identify the
/// weights (they enter grid-cell keys); `path` is where this process found them (not serialised,
/// so keys do not depend on the checkout's location).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtsSpec {
    pub name: String,
    pub fingerprint: String,
    pub widths: Vec<usize>,
    /// Selector confidence κ (spec 2.3: 5 in the AdvEdge notebooks).
    pub kappa: f64,
    #[serde(skip)]
    pub path: PathBuf,
}

/// Channel counts the decoder sees for `ups` up-blocks: the last feature map, then the
/// pass-through scales from coarse to fine (CIFAR: 2 up-blocks; ResNet-50: 3, spec 2.3). Channel
/// counts do not depend on the input size, so a 32x32 probe serves every architecture.
pub fn encoder_channels(model: &Classifier, device: &Device, ups: usize) -> Vec<usize> {
    let f = model.features(Tensor::zeros([1, 3, 32, 32], device));
    let n = f.scales.len();
    std::iter::once(f.last.dims()[1]).chain((0..ups).map(|k| f.scales[n - 2 - k].dims()[1])).collect()
}

/// Load trained weights into `net`: an unreadable, truncated or mismatched file is an error
/// naming the file and what is wrong.
pub fn load_net(net: &mut RtsNet, path: &Path) -> Result<(), InterpreterError> {
    let bad = |reason: String| InterpreterError::RtsWeights { path: path.to_path_buf(), reason };
    let r = net.load_from(&mut SafetensorsStore::from_file(path)).map_err(|e| bad(e.to_string()))?;
    if r.missing.is_empty() && r.errors.is_empty() { Ok(()) } else { Err(bad(format!("missing {:?}, errors {:?}", r.missing, r.errors))) }
}

/// The network of `spec` for `model`, on `model`'s device, in inference mode. Loaded from disk
/// once per (path, device) and cloned afterwards. Panics with the path if the file is unusable
/// (the runner checks it exists when it builds the spec).
pub fn load_cached(spec: &RtsSpec, model: &Classifier) -> RtsNet {
    static CACHE: OnceLock<Mutex<HashMap<String, RtsNet>>> = OnceLock::new();
    let device = model.fc_weight().device();
    let key = format!("{}|{:?}", spec.path.display(), device);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(n) = cache.lock().expect("rts cache").get(&key) {
        return n.clone();
    }
    let channels = encoder_channels(model, &device, spec.widths.len());
    let mut net = RtsNet::new(model.fc_weight().dims()[1], &channels, &spec.widths, &device);
    load_net(&mut net, &spec.path).unwrap_or_else(|e| panic!("RTS weights {}: {e}", spec.path.display()));
    let net = net.valid();
    cache.lock().expect("rts cache").insert(key, net.clone());
    net
}

/// RTS maps [B,1,32,32] for `classes`. Differentiable w.r.t. `x` when `x` and `model` live on
/// an autodiff device (the network is then moved there and frozen).
pub fn rts_map(spec: &RtsSpec, model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>) -> Tensor<4> {
    rts_from_features(spec, model, &model.features(x), classes)
}

/// RTS maps from already computed classifier features (the attacks reuse the forward pass).
pub fn rts_from_features(spec: &RtsSpec, model: &Classifier, f: &Features, classes: Tensor<1, Int>) -> Tensor<4> {
    let net = load_cached(spec, model).to_device(&f.logits.device()).freeze();
    net.forward(f, classes, spec.kappa).0
}
