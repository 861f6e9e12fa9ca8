//! CAM: class activation map (Zhou et al.), spec 2.2: sum_k w_{c,k} A_k over the last feature
//! map, no upsampling (8x8 for our CIFAR models, 7x7 at ImageNet scale), min-max normalised.
use crate::grad::minmax;
use advedge_models::Classifier;
use burn::tensor::{Int, Tensor};

/// Raw (unnormalised) CAM [B,1,h,w] from features [B,K,h,w] and the fc weight [K, classes].
pub fn cam_raw(last: Tensor<4>, fc_weight: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<4> {
    let [b, k, h, w] = last.dims();
    let wc = fc_weight.transpose().select(0, classes); // [B, K]
    (last * wc.reshape([b, k, 1, 1])).sum_dim(1).reshape([b, 1, h, w])
}

/// Min-max normalised CAM (the spec has no epsilon; we floor the range at 1e-12 so a constant
/// map gives zeros instead of NaN).
pub fn cam_map(model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>) -> Tensor<4> {
    let f = model.features(x);
    minmax(cam_raw(f.last, model.fc_weight(), classes), 1e-12)
}
