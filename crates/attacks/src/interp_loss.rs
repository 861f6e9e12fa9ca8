//! The interpretation side of every framework (spec 4.3), in one place: the differentiable
//! adversarial map for the target, its distance to the benign map, and the Grad best-point
//! selection. Adding an interpreter means adding its arm here (or, for a bi-level one like
//! MASK, its own loop that the frameworks dispatch to).
use advedge_interpreters::backprop::input_gradient;
use advedge_interpreters::cam::cam_raw;
use advedge_interpreters::grad::{grad_map_explicit, minmax, saliency_from_gradient};
use advedge_interpreters::{Interpreter, ReluDeriv};
use advedge_models::{tensor_io, Classifier};
use burn::tensor::{Int, Tensor};

/// Logits and the interpretation loss ℓ_int summed over the batch (spec 4.3).
pub fn logits_and_int(interp: &Interpreter, model: &Classifier, x: Tensor<4>, targets: Tensor<1, Int>, m0: Tensor<4>, soft_tau: f64) -> (Tensor<2>, Tensor<1>) {
    let (logits, per) = per_sample_int(interp, model, x, targets, m0, soft_tau);
    (logits, per.sum())
}

/// Per-sample ℓ_int terms: CAM Σ_b mean (ĉ - m0)²; Grad Σ (S̃ - m0)² with the soft-ReLU surrogate.
pub fn per_sample_int(interp: &Interpreter, model: &Classifier, x: Tensor<4>, targets: Tensor<1, Int>, m0: Tensor<4>, soft_tau: f64) -> (Tensor<2>, Tensor<1>) {
    match interp {
        Interpreter::Cam => {
            let f = model.features(x);
            let s = minmax(cam_raw(f.last, model.fc_weight(), targets), 1e-12);
            (f.logits, (s - m0).powf_scalar(2.0).mean_dims(&[1, 2, 3]).flatten::<1>(0, 3))
        }
        Interpreter::Grad { pool } => {
            let (logits, g) = input_gradient(model, x, targets, ReluDeriv::Soft { tau: soft_tau });
            let s = saliency_from_gradient(g, *pool);
            (logits, (s - m0).powf_scalar(2.0).sum_dims(&[1, 2, 3]).flatten::<1>(0, 3))
        }
        // Spec 4.3: Σ_b mean (M(x*; t) - m0)².
        Interpreter::Rts(spec) => {
            let f = model.features(x);
            let m = advedge_interpreters::rts::rts_from_features(spec, model, &f, targets);
            (f.logits, (m - m0).powf_scalar(2.0).mean_dims(&[1, 2, 3]).flatten::<1>(0, 3))
        }
        // The MASK attacks are bi-level loops of their own (mask_attack, mask_optim): the
        // frameworks dispatch to them before ever asking for a one-shot interpretation loss.
        Interpreter::Mask(_) => unreachable!("MASK attacks run in mask_attack / mask_optim"),
    }
}

/// Does this interpreter's attack return a selected best point (Grad) rather than the final
/// iterate (CAM)?
pub fn selects_best(interp: &Interpreter) -> bool {
    match interp {
        Interpreter::Grad { .. } | Interpreter::Mask(_) => true,
        Interpreter::Cam | Interpreter::Rts(_) => false,
    }
}

/// Best point per image: (image, real map, p_t, distance).
pub type Best = Option<(Vec<f32>, Vec<f32>, f32, f64)>;

/// Grad selection (spec 5.1): store x if p_t > `min_prob` and its real-ReLU map is closer to m0
/// than anything stored so far. `x` is the batch of current images (flattened CHW).
#[allow(clippy::too_many_arguments)]
pub fn update_best(best: &mut [Best], interp: &Interpreter, model: &Classifier, x: &[f32], hw: [usize; 2], probs: &[f32], targets: Tensor<1, Int>, m0: Tensor<4>, alive: &[bool], min_prob: f32) {
    let Interpreter::Grad { pool } = interp else { return };
    let b = best.len();
    let n = x.len() / b;
    let xt = tensor_io::images(x.to_vec(), b, hw[0], hw[1], &m0.device());
    let real = grad_map_explicit(model, xt, targets, *pool, ReluDeriv::Exact);
    let d = tensor_io::to_vec((real.clone() - m0).powf_scalar(2.0).sum_dims(&[1, 2, 3]));
    let rv = tensor_io::to_vec(real);
    let ml = rv.len() / b;
    for j in 0..b {
        let better = best[j].as_ref().map(|bb| (d[j] as f64) < bb.3).unwrap_or(true);
        if alive[j] && probs[j] > min_prob && better {
            best[j] = Some((x[j * n..(j + 1) * n].to_vec(), rv[j * ml..(j + 1) * ml].to_vec(), probs[j], d[j] as f64));
        }
    }
}
