//! Backward passes of each layer type, written as ordinary differentiable tensor ops.
//!
//! burn has no gradient-of-gradient, so the Grad attack cannot differentiate an autodiff input
//! gradient. Instead the input gradient is *built* from these functions (one per layer type),
//! which only use forward ops (conv_transpose2d, multiplications, reshapes); a single first-order
//! autodiff pass through the result then gives the exact second-order quantity.
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::module::max_pool2d_with_indices;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Int, IndexingUpdateOp, Tensor};

/// Which derivative the ReLU layers use in the backward graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReluDeriv {
    /// 1[z > 0]: the true derivative (first-order saliency, monitoring maps).
    Exact,
    /// The spec's soft derivative h(z) = z/sqrt(z^2+tau) (+1 for z < 0), tau = 1e-4 in the paper.
    /// Forward stays the exact ReLU; only the backward factor changes (spec 2.1).
    Soft { tau: f64 },
}

impl ReluDeriv {
    pub const PAPER: ReluDeriv = ReluDeriv::Soft { tau: 1e-4 };

    /// g * relu'(z) with this derivative.
    pub fn apply(self, z: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
        match self {
            ReluDeriv::Exact => g * z.greater_elem(0.0).float(),
            ReluDeriv::Soft { tau } => {
                let neg = z.clone().lower_elem(0.0).float();
                let s = z.clone() / (z.clone() * z).add_scalar(tau).sqrt();
                g * (s + neg)
            }
        }
    }
}

fn padding(conv: &Conv2d) -> [usize; 2] {
    match &conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) => {
            assert!(t == b && l == r, "asymmetric padding is not supported by the explicit backward");
            [*t, *l]
        }
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Same => [conv.kernel_size[0] / 2, conv.kernel_size[1] / 2],
    }
}

/// Forward of a conv layer (same as `Conv2d::forward`, spelled out so tape code stays explicit).
pub fn conv_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let opts = ConvOptions::new(conv.stride, padding(conv), conv.dilation, conv.groups);
    conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), opts)
}

/// Input gradient of a conv layer: the transposed convolution with the same weights.
/// `in_hw` is the spatial size of the conv's input (fixes the output padding for strides > 1).
pub fn conv_backward(conv: &Conv2d, g: Tensor<4>, in_hw: [usize; 2]) -> Tensor<4> {
    let p = padding(conv);
    let [_, _, gh, gw] = g.dims();
    let full = |gdim: usize, s: usize, p: usize, k: usize, d: usize| (gdim - 1) * s + d * (k - 1) + 1 - 2 * p;
    let op = [
        in_hw[0] - full(gh, conv.stride[0], p[0], conv.kernel_size[0], conv.dilation[0]),
        in_hw[1] - full(gw, conv.stride[1], p[1], conv.kernel_size[1], conv.dilation[1]),
    ];
    let opts = ConvTransposeOptions::new(conv.stride, p, op, conv.dilation, conv.groups);
    conv_transpose2d(g, conv.weight.val(), None, opts)
}

/// gamma / sqrt(running_var + eps), shape [1, C, 1, 1]: batch norm's eval-mode slope.
pub fn bn_slope(bn: &BatchNorm) -> Tensor<4> {
    let c = bn.gamma.dims()[0];
    let var = bn.running_var.value();
    (bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt()).reshape([1, c, 1, 1])
}

/// Eval-mode batch norm, independent of the module's training flag.
pub fn bn_forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let c = bn.gamma.dims()[0];
    let dev = x.device();
    let mean = bn.running_mean.value().to_device(&dev).reshape([1, c, 1, 1]);
    let beta = bn.beta.val().reshape([1, c, 1, 1]);
    (x - mean) * bn_slope(bn).to_device(&dev) + beta
}

/// Input gradient of eval-mode batch norm.
pub fn bn_backward(bn: &BatchNorm, g: Tensor<4>) -> Tensor<4> {
    let dev = g.device();
    g * bn_slope(bn).to_device(&dev)
}

/// Input gradient of global average pooling over [H, W].
pub fn gap_backward(g: Tensor<2>, hw: [usize; 2]) -> Tensor<4> {
    let [b, c] = g.dims();
    (g / (hw[0] * hw[1]) as f64).reshape([b, c, 1, 1]).expand([b, c, hw[0], hw[1]])
}

/// Input gradient of 2x2/stride-2 average pooling: spread each value over its window, / 4.
pub fn pool2_backward(g: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = g.dims();
    (g / 4.0).reshape([b, c, h, 1, w, 1]).expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

/// Max pooling that also returns the argmax positions (flat `h*w` indices into each input plane).
pub fn maxpool_forward(x: Tensor<4>, opts: MaxPoolOptions<2>) -> (Tensor<4>, Tensor<4, Int>) {
    max_pool2d_with_indices(x, opts)
}

/// Input gradient of max pooling: each output gradient goes to its window's argmax (summed where
/// windows overlap), written as a scatter-add so it stays differentiable in `g`. The argmax
/// positions are piecewise constant in the input, so no gradient flows through them.
pub fn maxpool_backward(g: Tensor<4>, indices: Tensor<4, Int>, in_hw: [usize; 2]) -> Tensor<4> {
    let [b, c, oh, ow] = g.dims();
    let zeros = Tensor::<3>::zeros([b, c, in_hw[0] * in_hw[1]], &g.device());
    zeros
        .scatter(2, indices.reshape([b, c, oh * ow]), g.reshape([b, c, oh * ow]), IndexingUpdateOp::Add)
        .reshape([b, c, in_hw[0], in_hw[1]])
}
