//! Classification losses of spec 4.1, per batch (summed over samples).
use advedge_models::tensor_io;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// A classification loss on the target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClsLoss {
    /// Σ -log p_t.
    Ce,
    /// Σ -z_t (authors' PGD-CAM / PGD-RTS quirk).
    RawLogit,
    /// Σ μ(z), μ = max_{j≠t} z_j − z_t (PGD-MASK warm-up).
    Margin,
}

impl ClsLoss {
    pub fn sum(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        match self {
            ClsLoss::Ce => ce_sum(logits, targets),
            ClsLoss::RawLogit => raw_logit_sum(logits, targets),
            ClsLoss::Margin => margin_sum(logits, targets),
        }
    }
}

/// The RTS attacks' extra "encoder" classification term (spec 2.3): weight × loss on the RTS
/// encoder's own logits. Our CIFAR RTS uses the classifier itself as its encoder, so the term
/// acts on the classifier's logits (the paper's encoder is a separate ResNet-50).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderTerm {
    pub loss: ClsLoss,
    pub weight: f64,
}

/// Σ_b -log p_t.
pub fn ce_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let k = logits.dims()[1];
    -(log_softmax(logits, 1) * targets.one_hot(k).float()).sum()
}

/// Σ_b -z_t: the raw logit "NLL" the authors' PGD-CAM/RTS warm-up uses (spec 4.1 ⚠).
pub fn raw_logit_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let k = logits.dims()[1];
    -(logits * targets.one_hot(k).float()).sum()
}

/// Σ_b μ(z) with μ = max_{j≠t} z_j − z_t (the target entry is overwritten with −100000 before
/// the max, as in the authors' code).
pub fn margin_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    margin_per_sample(logits, targets).sum()
}

/// [`margin_sum`] per sample, [B].
pub fn margin_per_sample(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, k] = logits.dims();
    let onehot = targets.one_hot(k).float();
    let zt = (logits.clone() * onehot.clone()).sum_dim(1);
    let other = (logits * (onehot.clone().neg() + 1.0) + onehot * -100000.0).max_dim(1);
    (other - zt).reshape([b])
}

/// The batch size of the authors' notebooks. Two of their quirks make one image's loss depend on
/// its batch (C&W-CAM's B·L2, spec 6; PGD-MASK's batch-summed step-search threshold, spec 5.4):
/// we keep them with this constant in place of the batch size, so that an image's outcome never
/// depends on the images beside it.
pub const AUTHORS_BATCH: f64 = 10.0;

/// Label-smoothed CE with per-sample confidences: q_t = conf, q_j = (1-conf)/(K-1).
/// The authors divide by 9 (CIFAR-10's K-1) at every scale; at K = 10 this is exact.
pub fn smoothed_ce_sum(logits: Tensor<2>, targets: Tensor<1, Int>, conf: &[f32], device: &Device) -> Tensor<1> {
    smoothed_per_sample(logits, targets, conf, device).sum()
}

/// [`smoothed_ce_sum`] per sample, [B].
pub fn smoothed_per_sample(logits: Tensor<2>, targets: Tensor<1, Int>, conf: &[f32], device: &Device) -> Tensor<1> {
    let [b, k] = logits.dims();
    let conf_t = Tensor::<1>::from_data(TensorData::new(conf.to_vec(), [b]), device).reshape([b, 1]);
    let onehot = targets.one_hot(k).float();
    let rest = (conf_t.clone().neg().add_scalar(1.0)) / 9.0;
    let q = onehot.clone() * conf_t + (onehot.neg().add_scalar(1.0)) * rest;
    -(log_softmax(logits, 1) * q).sum_dim(1).reshape([b])
}

/// Per-sample softmax probability of each target.
pub fn target_probs(logits: Tensor<2>, targets: &[u32]) -> Vec<f32> {
    let k = logits.dims()[1];
    let p = tensor_io::to_vec(burn::tensor::activation::softmax(logits, 1));
    targets.iter().enumerate().map(|(i, &t)| p[i * k + t as usize]).collect()
}

/// Per-sample argmax.
pub fn argmax(logits: Tensor<2>) -> Vec<u32> {
    tensor_io::to_vec_int(logits.argmax(1).flatten::<1>(0, 1)).into_iter().map(|v| v as u32).collect()
}
