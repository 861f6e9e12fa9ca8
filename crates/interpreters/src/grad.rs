//! Grad: vanilla gradient saliency (Simonyan et al.), spec 2.1.
//! S = minmax(avgpool_k(max_ch |d(-log p_c)/dx|)). At 224x224 the paper pools by 4 (56x56);
//! at CIFAR's 32x32 we pool by 2 (16x16 maps) so a map cell still covers a few pixels.
use crate::backprop::input_gradient;
use crate::layers::ReluDeriv;
use advedge_models::Classifier;
use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Int, Tensor};

/// Min-max normalise each map of a [B,1,H,W] batch to [0,1]: (A - min) / max(max - min, floor).
pub fn minmax(a: Tensor<4>, floor: f64) -> Tensor<4> {
    let [b, c, h, w] = a.dims();
    let flat = a.reshape([b, c * h * w]);
    let mn = flat.clone().min_dim(1);
    let shifted = flat - mn;
    let mx = shifted.clone().max_dim(1).clamp_min(floor);
    (shifted / mx).reshape([b, c, h, w])
}

/// Post-processing of an input gradient [B,3,H,W] into a saliency map [B,1,H/k,W/k].
///
/// Each image's map is first divided by its own largest value (detached), then min-max
/// normalised. min-max is scale-invariant, so this changes nothing in exact arithmetic, nor the
/// derivative (the scale's own derivative term vanishes: ∇h·a = 0 for a degree-0 homogeneous h).
/// It matters where the gradient is tiny: on an image the classifier is sure about (p = 1.0 in
/// f32) the gradient is ~1e-12, far below the 1e-8 floor that guards a constant map, and the map
/// collapsed to near zero instead of spanning [0, 1]. Deviation from the authors' code, which
/// normalises with an absolute floor (docs/deviations.md).
pub fn saliency_from_gradient(g: Tensor<4>, pool: usize) -> Tensor<4> {
    let a = g.abs().max_dim(1);
    let a = if pool > 1 { avg_pool2d(a, AvgPoolOptions::new([pool, pool])) } else { a };
    let [b, c, h, w] = a.dims();
    let scale = a.clone().detach().reshape([b, c * h * w]).max_dim(1).clamp_min(f32::MIN_POSITIVE as f64).reshape([b, 1, 1, 1]);
    minmax(a / scale, 1e-8)
}

/// Benign Grad maps via burn's first-order autodiff (batch norm in eval mode).
pub fn grad_map_autodiff(model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>, pool: usize) -> Tensor<4> {
    let dev = x.device();
    let ad = if dev.is_autodiff() { dev.clone() } else { dev.clone().autodiff() };
    // Batch norm takes batch statistics on an autodiff device unless the module is frozen: move a
    // frozen copy (parameters are shared, not copied) so running statistics are used.
    let model = model.clone().to_device(&ad).freeze();
    let x = x.detach().autodiff().require_grad();
    // Σ_b −log p_c (a sum, not the batch mean, so that each image's gradient is its own and
    // does not carry a 1/B that would make its map depend on the batch size).
    let logits = model.forward(x.clone());
    let k = logits.dims()[1];
    let loss = -(log_softmax(logits, 1) * classes.to_device(&ad).one_hot(k).float()).sum();
    let grads = loss.backward();
    let g = x.grad(&grads).expect("input gradient");
    saliency_from_gradient(g, pool)
}

/// Grad maps through the explicit backward graph: differentiable w.r.t. `x` when `x` tracks
/// gradients (use `ReluDeriv::PAPER` for the attack's smoothed map).
pub fn grad_map_explicit(model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>, pool: usize, d: ReluDeriv) -> Tensor<4> {
    let (_, g) = input_gradient(model, x, classes, d);
    saliency_from_gradient(g, pool)
}
