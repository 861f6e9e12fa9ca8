//! The input gradient d(-log p_c)/dx of a classifier, built as an explicit forward graph.
//!
//! A forward pass records each ReLU's pre-activation ("tape"); the backward pass is then written
//! per layer type with `layers::*`. With `ReluDeriv::Exact` the result equals autodiff's input
//! gradient; with `ReluDeriv::Soft` it is the attack's smoothed saliency, whose own gradient is
//! one ordinary `backward()` away (this is how the Grad attack gets second derivatives).
use crate::layers::{
    bn_backward, bn_forward, conv_backward, conv_forward, gap_backward, maxpool_backward, maxpool_forward, pool2_backward, ReluDeriv,
};
use advedge_models::classifier::Net;
use advedge_models::densenet::{pool2, DenseNetBc};
use advedge_models::resnet::{BasicBlock, CifarResNet, Downsample};
use advedge_models::tv_resnet::{stem_pool_options, Bottleneck, TvBlock, TvResNet};
use advedge_models::Classifier;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Int, Tensor};

fn hw(x: &Tensor<4>) -> [usize; 2] {
    let d = x.dims();
    [d[2], d[3]]
}

/// d(-log softmax(z)_c)/dz = softmax(z) - onehot(c).
pub fn ce_logit_grad(logits: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<2> {
    let [_, k] = logits.dims();
    softmax(logits, 1) - classes.one_hot(k).float()
}

fn shortcut_forward(ds: &Option<Downsample>, x: Tensor<4>) -> Tensor<4> {
    match ds {
        Some(d) => bn_forward(&d.bn, conv_forward(&d.conv, x)),
        None => x,
    }
}

fn shortcut_backward(ds: &Option<Downsample>, g: Tensor<4>, x_hw: [usize; 2]) -> Tensor<4> {
    match ds {
        Some(d) => conv_backward(&d.conv, bn_backward(&d.bn, g), x_hw),
        None => g,
    }
}

struct BlockTape {
    x_hw: [usize; 2],
    z1: Tensor<4>,
    zout: Tensor<4>,
}

fn block_forward(b: &BasicBlock, x: Tensor<4>) -> (Tensor<4>, BlockTape) {
    let x_hw = hw(&x);
    let z1 = bn_forward(&b.bn1, conv_forward(&b.conv1, x.clone()));
    let main = bn_forward(&b.bn2, conv_forward(&b.conv2, relu(z1.clone())));
    let zout = main + shortcut_forward(&b.downsample, x);
    (relu(zout.clone()), BlockTape { x_hw, z1, zout })
}

fn block_backward(b: &BasicBlock, t: BlockTape, g: Tensor<4>, d: ReluDeriv) -> Tensor<4> {
    let gz = d.apply(t.zout, g);
    let z1_hw = hw(&t.z1);
    let ga1 = conv_backward(&b.conv2, bn_backward(&b.bn2, gz.clone()), z1_hw);
    let gz1 = d.apply(t.z1, ga1);
    let gx = conv_backward(&b.conv1, bn_backward(&b.bn1, gz1), t.x_hw);
    gx + shortcut_backward(&b.downsample, gz, t.x_hw)
}

fn resnet_input_grad(m: &CifarResNet, xn: Tensor<4>, classes: Tensor<1, Int>, d: ReluDeriv) -> (Tensor<2>, Tensor<4>) {
    let x_hw = hw(&xn);
    let z0 = bn_forward(&m.bn1, conv_forward(&m.conv1, xn));
    let mut h = relu(z0.clone());
    let mut tapes = Vec::new();
    for stage in &m.stages {
        for blk in stage {
            let (out, t) = block_forward(blk, h);
            h = out;
            tapes.push(t);
        }
    }
    let last_hw = hw(&h);
    let pooled = h.mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
    let logits = m.fc.forward(pooled);
    let gz = ce_logit_grad(logits.clone(), classes);
    let gp = gz.matmul(m.fc.weight.val().transpose());
    let mut g = gap_backward(gp, last_hw);
    let blocks: Vec<&BasicBlock> = m.stages.iter().flatten().collect();
    for (blk, t) in blocks.into_iter().zip(tapes).rev() {
        g = block_backward(blk, t, g, d);
    }
    let g = bn_backward(&m.bn1, d.apply(z0, g));
    (logits, conv_backward(&m.conv1, g, x_hw))
}

struct BottleneckTape {
    x_hw: [usize; 2],
    z1: Tensor<4>,
    z2: Tensor<4>,
    zout: Tensor<4>,
}

fn bottleneck_forward(b: &Bottleneck, x: Tensor<4>) -> (Tensor<4>, BottleneckTape) {
    let x_hw = hw(&x);
    let z1 = bn_forward(&b.bn1, conv_forward(&b.conv1, x.clone()));
    let z2 = bn_forward(&b.bn2, conv_forward(&b.conv2, relu(z1.clone())));
    let main = bn_forward(&b.bn3, conv_forward(&b.conv3, relu(z2.clone())));
    let zout = main + shortcut_forward(&b.downsample, x);
    (relu(zout.clone()), BottleneckTape { x_hw, z1, z2, zout })
}

fn bottleneck_backward(b: &Bottleneck, t: BottleneckTape, g: Tensor<4>, d: ReluDeriv) -> Tensor<4> {
    let gz = d.apply(t.zout, g);
    let ga2 = conv_backward(&b.conv3, bn_backward(&b.bn3, gz.clone()), hw(&t.z2));
    let ga1 = conv_backward(&b.conv2, bn_backward(&b.bn2, d.apply(t.z2, ga2)), hw(&t.z1));
    let gx = conv_backward(&b.conv1, bn_backward(&b.bn1, d.apply(t.z1, ga1)), t.x_hw);
    gx + shortcut_backward(&b.downsample, gz, t.x_hw)
}

enum TvTape {
    Basic(BlockTape),
    Bottleneck(BottleneckTape),
}

fn tv_resnet_input_grad(m: &TvResNet, xn: Tensor<4>, classes: Tensor<1, Int>, d: ReluDeriv) -> (Tensor<2>, Tensor<4>) {
    let x_hw = hw(&xn);
    let z0 = bn_forward(&m.bn1, conv_forward(&m.conv1, xn));
    let z0_hw = hw(&z0);
    let (mut h, pool_idx) = maxpool_forward(relu(z0.clone()), stem_pool_options());
    let mut tapes = Vec::new();
    for blk in m.stages.iter().flatten() {
        let (out, t) = match blk {
            TvBlock::Basic(b) => block_forward(b, h).map_tape(TvTape::Basic),
            TvBlock::Bottleneck(b) => bottleneck_forward(b, h).map_tape(TvTape::Bottleneck),
        };
        h = out;
        tapes.push(t);
    }
    let last_hw = hw(&h);
    let logits = m.fc.forward(h.mean_dim(3).mean_dim(2).flatten::<2>(1, 3));
    let gp = ce_logit_grad(logits.clone(), classes).matmul(m.fc.weight.val().transpose());
    let mut g = gap_backward(gp, last_hw);
    let blocks: Vec<&TvBlock> = m.stages.iter().flatten().collect();
    for (blk, t) in blocks.into_iter().zip(tapes).rev() {
        g = match (blk, t) {
            (TvBlock::Basic(b), TvTape::Basic(t)) => block_backward(b, t, g, d),
            (TvBlock::Bottleneck(b), TvTape::Bottleneck(t)) => bottleneck_backward(b, t, g, d),
            _ => unreachable!("each tape was recorded by its own block"),
        };
    }
    let g = maxpool_backward(g, pool_idx, z0_hw);
    let g = bn_backward(&m.bn1, d.apply(z0, g));
    (logits, conv_backward(&m.conv1, g, x_hw))
}

/// `(output, tape)` of a block's forward, with the tape wrapped.
trait MapTape<T> {
    fn map_tape<U>(self, f: impl FnOnce(T) -> U) -> (Tensor<4>, U);
}

impl<T> MapTape<T> for (Tensor<4>, T) {
    fn map_tape<U>(self, f: impl FnOnce(T) -> U) -> (Tensor<4>, U) {
        (self.0, f(self.1))
    }
}

fn densenet_input_grad(m: &DenseNetBc, xn: Tensor<4>, classes: Tensor<1, Int>, d: ReluDeriv) -> (Tensor<2>, Tensor<4>) {
    let x_hw = hw(&xn);
    let mut h = conv_forward(&m.conv1, xn);
    // ImageNet stem: norm0, ReLU, 3x3/2 max pool (pre-activation and argmax kept for backward).
    let stem = m.norm0.as_ref().map(|bn| {
        let z0 = bn_forward(bn, h.clone());
        let (pooled, idx) = maxpool_forward(relu(z0.clone()), stem_pool_options());
        h = pooled;
        (z0, idx)
    });
    // Per block: for each layer (channels before it, z1, z2); per transition: (z, in_hw).
    let mut layer_tapes: Vec<Vec<(usize, Tensor<4>, Tensor<4>)>> = Vec::new();
    let mut trans_tapes: Vec<(Tensor<4>, [usize; 2])> = Vec::new();
    for (bi, layers) in m.blocks.iter().enumerate() {
        let mut tapes = Vec::new();
        for l in layers {
            let c = h.dims()[1];
            let z1 = bn_forward(&l.bn1, h.clone());
            let z2 = bn_forward(&l.bn2, conv_forward(&l.conv1, relu(z1.clone())));
            let new = conv_forward(&l.conv2, relu(z2.clone()));
            h = Tensor::cat(vec![h, new], 1);
            tapes.push((c, z1, z2));
        }
        layer_tapes.push(tapes);
        if bi < m.transitions.len() {
            let t = &m.transitions[bi];
            let z = bn_forward(&t.bn, h.clone());
            let in_hw = hw(&z);
            h = pool2(conv_forward(&t.conv, relu(z.clone())));
            trans_tapes.push((z, in_hw));
        }
    }
    let zf = bn_forward(&m.bn_final, h);
    let last = relu(zf.clone());
    let last_hw = hw(&last);
    let pooled = last.mean_dim(3).mean_dim(2).flatten::<2>(1, 3);
    let logits = m.fc.forward(pooled);
    let gz = ce_logit_grad(logits.clone(), classes);
    let gp = gz.matmul(m.fc.weight.val().transpose());
    let mut g = bn_backward(&m.bn_final, d.apply(zf, gap_backward(gp, last_hw)));
    for bi in (0..m.blocks.len()).rev() {
        if bi < m.transitions.len() {
            let t = &m.transitions[bi];
            let (z, in_hw) = trans_tapes.pop().expect("transition tape");
            let ga = conv_backward(&t.conv, pool2_backward(g), in_hw);
            g = bn_backward(&t.bn, d.apply(z, ga));
        }
        let tapes = layer_tapes.pop().expect("block tape");
        for (l, (c, z1, z2)) in m.blocks[bi].iter().zip(tapes).rev() {
            let total = g.dims()[1];
            let g_old = g.clone().narrow(1, 0, c);
            let g_new = g.narrow(1, c, total - c);
            let ga2 = conv_backward(&l.conv2, g_new, hw(&z2));
            let gy1 = bn_backward(&l.bn2, d.apply(z2, ga2));
            let ga1 = conv_backward(&l.conv1, gy1, hw(&z1));
            g = g_old + bn_backward(&l.bn1, d.apply(z1, ga1));
        }
    }
    if let (Some(bn), Some((z0, idx))) = (&m.norm0, stem) {
        let z0_hw = hw(&z0);
        g = bn_backward(bn, d.apply(z0, maxpool_backward(g, idx, z0_hw)));
    }
    (logits, conv_backward(&m.conv1, g, x_hw))
}

/// Logits and d(-log p_c)/dx (per sample, not batch-averaged) for [0,1] images `x`, built
/// explicitly. Batch norm always uses running statistics here.
pub fn input_gradient(model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>, d: ReluDeriv) -> (Tensor<2>, Tensor<4>) {
    let dev = x.device();
    let xn = model.norm.forward(x);
    let (logits, gn) = match &model.net {
        Net::Resnet(m) => resnet_input_grad(m, xn, classes, d),
        Net::Densenet(m) => densenet_input_grad(m, xn, classes, d),
        Net::TvResnet(m) => tv_resnet_input_grad(m, xn, classes, d),
    };
    // Chain rule through the normalisation layer: dN/dx = 1/std per channel.
    (logits, gn * model.norm.inv_std(&dev))
}
