//! C&W (spec 6) and StAdv (spec 7): optimiser-driven frameworks sharing one loop.
//! C&W optimises w with x̃ = (tanh w + 1)/2; StAdv optimises a per-pixel flow F and warps x.
//! Both: Adam (lr 0.01, AMSGrad), phase 1 on the edge view x̂ = x + E ⊙ (x̃ - x), phase 2 on the
//! unweighted x̃ with a new Adam (and a new one per stage for Grad), Grad keeps the best point
//! with p_t > 0.75 every 10 steps, CAM and RTS return the final iterate; MASK runs the
//! bi-level loop of `optim_mask`.
use advedge_models::adam::Adam;
use crate::edges::{edge_weights, EdgeMode};
use crate::interp_loss::{per_sample_int, selects_best, update_best, Best};
use crate::losses::{ce_sum, smoothed_per_sample, target_probs, ClsLoss, EncoderTerm, AUTHORS_BATCH};
use crate::pgd::{scale_count, Schedule};
use crate::progress::Ticker;
use crate::rng::image_rng;
use crate::{AttackBatch, EdgeScope, ImageOutcome, Variant};
use advedge_interpreters::Interpreter;
use advedge_models::{tensor_io, Classifier};
use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cw,
    Stadv,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    pub kind: Kind,
    pub lr: f32,
    pub warmup_iters: usize,
    pub schedule: Schedule,
    /// Weight of the classification CE in phase 2 (2 for C&W, 2 for StAdv-CAM, 1 for StAdv-Grad).
    pub ce_weight: f64,
    /// Label-smoothed CE in phase 2 (C&W-RTS, spec 6).
    #[serde(default)]
    pub smoothing: bool,
    /// RTS only: the encoder classification term added in phase 2.
    #[serde(default)]
    pub encoder: Option<EncoderTerm>,
    /// MASK only: the bi-level phase 2 (spec 6, 7), which replaces `schedule`.
    #[serde(default)]
    pub mask: Option<MaskOptim>,
    /// C&W-CAM counts the batch L2 once per sample of the authors' batch of 10 (spec 6 ⚠): L2 is
    /// multiplied by [`AUTHORS_BATCH`], a constant, so results do not depend on our batch size.
    pub l2_times_batch: bool,
    /// Weight of the C&W f term in phase 1.
    pub cw_f_weight: f64,
    /// StAdv flow-smoothness weight τ.
    pub flow_tau: f64,
    pub edge_threshold: f32,
    pub edge_scope: EdgeScope,
    /// RTS only: aim at M(x; t) (authors, default) or M(x; y).
    #[serde(default, skip_serializing_if = "crate::RtsReference::is_default")]
    pub rts_reference: crate::RtsReference,
    pub select_every: usize,
    pub select_min_prob: f32,
    pub soft_tau: f64,
    pub seed: u64,
}

impl OptimConfig {
    pub fn paper(kind: Kind, interp: &Interpreter) -> Self {
        // Exhaustive, so that a new interpreter has to choose its settings here.
        let (grad, rts, is_mask) = match interp {
            Interpreter::Grad { .. } => (true, false, false),
            Interpreter::Cam => (false, false, false),
            Interpreter::Rts(_) => (false, true, false),
            Interpreter::Mask(_) => (false, false, true),
        };
        let stages = Schedule::Stages { stages: vec![(0.003, 301), (0.01, 201), (0.05, 101), (0.2, 101)] };
        OptimConfig {
            kind,
            lr: 0.01,
            warmup_iters: match (kind, grad) { _ if is_mask => 400, (_, true) => 450, (Kind::Cw, false) => 300, (Kind::Stadv, false) => 200 },
            mask: is_mask.then(MaskOptim::paper),
            // C&W: CAM 1500, RTS 1000; StAdv: 600 (RTS from [A2], spec 7).
            schedule: if grad { stages } else { Schedule::Ramp { c0: 5.0, iters: match (kind, rts) { (Kind::Cw, false) => 1500, (Kind::Cw, true) => 1000, _ => 600 } } },
            // C&W-RTS: 2·smoothed CE + 0.5·Σ(-z_enc,t); StAdv-RTS ([A2]): CE + 0.1·CE_enc.
            smoothing: rts && kind == Kind::Cw,
            encoder: match (rts, kind) {
                (false, _) => None,
                (true, Kind::Cw) => Some(EncoderTerm { loss: ClsLoss::RawLogit, weight: 0.5 }),
                (true, Kind::Stadv) => Some(EncoderTerm { loss: ClsLoss::Ce, weight: 0.1 }),
            },
            ce_weight: if kind == Kind::Stadv && (grad || rts) { 1.0 } else { 2.0 },
            l2_times_batch: kind == Kind::Cw && !grad,
            cw_f_weight: 1e-4,
            flow_tau: 5e-4,
            edge_threshold: 0.1,
            edge_scope: EdgeScope::Warmup,
            // StAdv-RTS has no authors' notebook; [A2]'s version aims at M(x; y) (spec 7).
            rts_reference: if rts && kind == Kind::Stadv { crate::RtsReference::True } else { crate::RtsReference::Target },
            select_every: 10,
            select_min_prob: 0.75,
            soft_tau: 1e-4,
            seed: 0,
        }
    }
    pub fn scaled(mut self, f: f64) -> Self {
        self.warmup_iters = scale_count(self.warmup_iters, f);
        self.schedule = self.schedule.scaled(f);
        self.select_every = scale_count(self.select_every, f);
        self.mask = self.mask.map(|m| m.scaled(f));
        self
    }
}

/// Settings of the bi-level MASK loop in the optimiser frameworks (spec 6, 7; `optim_mask`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskOptim {
    pub outer_iters: usize,
    pub refresh_every: usize,
    /// MASK v2 iterations of each refresh.
    pub refresh_iters: usize,
    pub inner_plain: usize,
    pub inner_graph: usize,
    pub inner_lr: f32,
    pub outer_lr: f32,
    pub int_weight: f64,
    pub margin_floor: f64,
    /// StAdv: weight of Σ L_flow in the outer loss.
    pub flow_weight: f64,
}

impl MaskOptim {
    pub fn paper() -> Self {
        MaskOptim { outer_iters: 1000, refresh_every: 50, refresh_iters: 300, inner_plain: 4, inner_graph: 4, inner_lr: 0.01, outer_lr: 0.005, int_weight: 500.0, margin_floor: -5.0, flow_weight: 0.004 }
    }
    pub fn scaled(mut self, f: f64) -> Self {
        self.outer_iters = scale_count(self.outer_iters, f);
        self.refresh_every = scale_count(self.refresh_every, f);
        self.refresh_iters = scale_count(self.refresh_iters, f);
        self
    }
}

/// x̃(w) = (tanh w + 1) / 2.
pub fn tanh_image(w: Tensor<4>) -> Tensor<4> {
    (w.tanh() + 1.0) / 2.0
}

/// w0 = atanh(2x - 1), with x clamped to [1e-6, 1 - 1e-6] so saturated pixels stay finite.
pub fn tanh_init(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| (2.0 * v.clamp(1e-6, 1.0 - 1e-6) - 1.0).atanh()).collect()
}

/// Bilinear warp of `x` [B,C,H,W] by `flow` [B,2,H,W] (channel 0 = rows, 1 = columns, pixels).
/// Sampling coordinates are clamped to the image (spec 7), so the gradient vanishes there.
pub fn warp(x: Tensor<4>, flow: Tensor<4>) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let dev = x.device();
    let rows = Tensor::<1>::from_data(TensorData::new((0..h).map(|i| i as f32).collect::<Vec<_>>(), [h]), &dev).reshape([1, h, 1]);
    let cols = Tensor::<1>::from_data(TensorData::new((0..w).map(|j| j as f32).collect::<Vec<_>>(), [w]), &dev).reshape([1, 1, w]);
    let u = (flow.clone().narrow(1, 0, 1).reshape([b, h, w]) + rows).clamp(0.0, (h - 1) as f64);
    let v = (flow.narrow(1, 1, 1).reshape([b, h, w]) + cols).clamp(0.0, (w - 1) as f64);
    // align_corners = true maps -1..1 onto pixel centres 0..size-1.
    let gy = u * (2.0 / (h - 1) as f64) - 1.0;
    let gx = v * (2.0 / (w - 1) as f64) - 1.0;
    let grid = Tensor::stack::<4>(vec![gx, gy], 3);
    x.grid_sample_2d(grid, GridSampleOptions::new(InterpolateMode::Bilinear).with_padding_mode(GridSamplePaddingMode::Border).with_align_corners(true))
}

/// Per-sample flow smoothness Σ_p Σ_{q ∈ 4 diagonal neighbours} sqrt(|F_p - F_q|² + 1e-8), with
/// replicate padding (spec 4.2 ⚠: diagonal, not 4-connected, neighbours).
pub fn flow_loss(flow: Tensor<4>) -> Tensor<1> {
    let [b, _, h, w] = flow.dims();
    // replicate-pad by one pixel
    let top = flow.clone().narrow(2, 0, 1);
    let bottom = flow.clone().narrow(2, h - 1, 1);
    let p = Tensor::cat(vec![top, flow.clone(), bottom], 2);
    let left = p.clone().narrow(3, 0, 1);
    let right = p.clone().narrow(3, w - 1, 1);
    let p = Tensor::cat(vec![left, p, right], 3);
    let mut total: Option<Tensor<1>> = None;
    for (dy, dx) in [(0usize, 0usize), (0, 2), (2, 0), (2, 2)] {
        let q = p.clone().narrow(2, dy, h).narrow(3, dx, w);
        let d = ((flow.clone() - q).powf_scalar(2.0).sum_dim(1) + 1e-8).sqrt().sum_dims(&[1, 2, 3]).reshape([b]);
        total = Some(match total { Some(t) => t + d, None => d });
    }
    total.expect("four neighbours")
}

/// C&W's f = max(max_j z_j·1[j≠t] − z_t, −κ) with κ = 0, per sample (spec 4.1 ⚠: the target slot
/// contributes a 0 to the max).
pub fn cw_f(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, k] = logits.dims();
    let onehot = targets.one_hot(k).float();
    let zt = (logits.clone() * onehot.clone()).sum_dim(1);
    let other = (logits * (onehot.neg() + 1.0)).max_dim(1);
    (other - zt).clamp_min(0.0).reshape([b])
}

fn ce_per_sample(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, k] = logits.dims();
    -(log_softmax(logits, 1) * targets.one_hot(k).float()).sum_dim(1).reshape([b])
}

/// Per-pixel edge factor [B,1,H,W] of the phase-1 "edge view" x + E ⊙ (x̃ − x). C&W and StAdv
/// keep W in AdvEdge+ (W·1[W>β]); spec 3.
pub fn edge_view_factor(variant: Variant, threshold: f32, batch: &AttackBatch, ad: &Device) -> Tensor<4> {
    let (b, h, w, n) = (batch.len(), batch.height, batch.width, batch.image_len());
    let mode = match variant {
        Variant::Plain | Variant::Adv2 => EdgeMode::None,
        Variant::AdvEdge => EdgeMode::Weighted,
        Variant::AdvEdgePlus => EdgeMode::Binary { threshold, keep_weight: true },
    };
    let factor: Vec<f32> = (0..b).flat_map(|i| mode.factor(&edge_weights(&batch.images[i * n..(i + 1) * n], h, w))).collect();
    Tensor::<1>::from_data(TensorData::new(factor, [b * h * w]), ad).reshape([b, 1, h, w])
}

/// Initial parameters: C&W w0 = atanh(2x − 1); StAdv flow F ~ U(−0.1, 0.1) from each image's
/// own stream. Returns (shape, values).
pub fn init_params(kind: Kind, batch: &AttackBatch, seed: u64) -> ([usize; 4], Vec<f32>) {
    let (b, h, w) = (batch.len(), batch.height, batch.width);
    match kind {
        Kind::Cw => ([b, 3, h, w], tanh_init(&batch.images)),
        Kind::Stadv => {
            let mut v = Vec::with_capacity(b * 2 * h * w);
            for &i in &batch.indices {
                let mut r = image_rng(seed, i as u64, 3);
                v.extend((0..2 * h * w).map(|_| 0.2 * (r.gen::<f32>() - 0.5)));
            }
            ([b, 2, h, w], v)
        }
    }
}

/// Run C&W or StAdv against `interp` on `batch`, any interpreter but MASK (whose bi-level loop
/// is `optim_mask`; [`crate::run`] picks).
pub fn run(model: &Classifier, interp: &Interpreter, variant: Variant, cfg: &OptimConfig, batch: &AttackBatch) -> Vec<ImageOutcome> {
    assert!(!matches!(interp, Interpreter::Mask(_)), "C&W / StAdv x MASK is optim_mask::run (advedge_attacks::run dispatches)");
    let t0 = Instant::now();
    let dev: Device = model.fc_weight().device();
    let ad = dev.clone().autodiff();
    let mad = model.clone().to_device(&ad).freeze();
    let (b, h, w) = (batch.len(), batch.height, batch.width);
    let k = model.fc_weight().dims()[1] as u32;
    let targets: Vec<u32> = batch.targets(cfg.seed, k);
    let t_ad = tensor_io::labels(&targets, &ad);
    let t_plain = tensor_io::labels(&targets, &dev);
    let x0 = batch.images.clone();
    let x0_ad = tensor_io::images(x0.clone(), b, h, w, &ad);
    // Reference map: g(x; y), or g(x; t) for RTS with `rts_reference = Target` (spec 1.1, 7).
    let aim_t = cfg.rts_reference.aims_at_target(interp);
    let ref_classes = if aim_t { &targets } else { &batch.labels };
    let m0 = interp.explain(model, tensor_io::images(x0.clone(), b, h, w, &dev), tensor_io::labels(ref_classes, &dev));
    let m0_ad = m0.clone().to_device(&ad);
    let e_ad = edge_view_factor(variant, cfg.edge_threshold, batch, &ad);
    let (pshape, mut p) = init_params(cfg.kind, batch, cfg.seed);
    let chunk = p.len() / b;
    let render = |pt: Tensor<4>| -> Tensor<4> {
        match cfg.kind {
            Kind::Cw => tanh_image(pt),
            Kind::Stadv => warp(x0_ad.clone(), pt),
        }
    };
    let edge_view = |img: Tensor<4>| x0_ad.clone() + e_ad.clone() * (img - x0_ad.clone());
    let mut alive = vec![true; b];
    let mut failure: Vec<Option<String>> = vec![None; b];
    let mut iters = 0;
    let mut rngs: Vec<_> = batch.indices.iter().map(|&i| image_rng(cfg.seed, i as u64, 2)).collect();
    let mut best: Vec<Best> = vec![None; b];

    // Phase 1: classification on the edge view.
    let mut adam = Adam::new(p.len(), cfg.lr, true);
    let mut tick = Ticker::new("phase 1 (edge view)", cfg.warmup_iters);
    for i in 0..cfg.warmup_iters {
        let pt = Tensor::<4>::from_data(TensorData::new(p.clone(), pshape), &ad).require_grad();
        let img = render(pt.clone());
        let view = if variant == Variant::Plain { img } else { edge_view(img) };
        let logits = mad.forward(view.clone());
        let loss = match cfg.kind {
            Kind::Cw => (view - x0_ad.clone()).powf_scalar(2.0).sum() + cw_f(logits, t_ad.clone()).sum() * cfg.cw_f_weight,
            Kind::Stadv => ce_sum(logits, t_ad.clone()) + flow_loss(pt.clone()).sum() * cfg.flow_tau,
        };
        checked_step(&mut p, &mut adam, loss, &pt, chunk, format!("warm-up step {i}"), &mut alive, &mut failure);
        iters += 1;
        tick.tick(i + 1);
    }

    // Phase 2: joint loss (c = 0 for the plain attack).
    let steps = cfg.schedule.steps();
    let mut adam = Adam::new(p.len(), cfg.lr, true);
    let mut tick = Ticker::new("phase 2 (joint loss)", steps.len());
    for (s, &(c, i, _len)) in steps.iter().enumerate() {
        if i == 0 && s > 0 {
            adam = Adam::new(p.len(), cfg.lr, true); // new optimiser per Grad stage
        }
        let c = if variant == Variant::Plain { 0.0 } else { c };
        let pt = Tensor::<4>::from_data(TensorData::new(p.clone(), pshape), &ad).require_grad();
        let img = render(pt.clone());
        let img = if cfg.edge_scope == EdgeScope::All && variant != Variant::Plain { edge_view(img) } else { img };
        let (logits, int) = per_sample_int(interp, &mad, img.clone(), t_ad.clone(), m0_ad.clone(), cfg.soft_tau);
        if selects_best(interp) && variant != Variant::Plain && i % cfg.select_every == 0 {
            let probs = target_probs(logits.clone().inner(), &targets);
            let xs = tensor_io::to_vec(img.clone().inner());
            update_best(&mut best, interp, model, &xs, [h, w], &probs, t_plain.clone(), m0.clone(), &alive, cfg.select_min_prob);
        }
        let enc = cfg.encoder.map(|e| e.loss.sum(logits.clone(), t_ad.clone()) * e.weight);
        let ce = if cfg.smoothing {
            let conf: Vec<f32> = rngs.iter_mut().map(|r| r.gen_range((0.95 + 0.04 * i as f32 / _len as f32)..=1.0)).collect();
            smoothed_per_sample(logits, t_ad.clone(), &conf, &ad)
        } else {
            ce_per_sample(logits, t_ad.clone())
        } * cfg.ce_weight;
        let penalty = match cfg.kind {
            Kind::Cw => {
                let l2 = (img - x0_ad.clone()).powf_scalar(2.0).sum();
                if cfg.l2_times_batch { l2 * AUTHORS_BATCH } else { l2 }
            }
            Kind::Stadv => flow_loss(pt.clone()).sum() * cfg.flow_tau,
        };
        let loss = (ce + int * c).sum() + penalty;
        let loss = match enc { Some(e) => loss + e, None => loss };
        checked_step(&mut p, &mut adam, loss, &pt, chunk, format!("phase-2 step {s}"), &mut alive, &mut failure);
        iters += 1;
        tick.tick(s + 1);
    }

    let final_img = tensor_io::to_vec(render(Tensor::<4>::from_data(TensorData::new(p.clone(), pshape), &ad)).inner());
    crate::outcome::finish(model, interp, variant, batch, final_img, &targets, m0, aim_t, &best, &failure, iters, t0)
}

/// One Adam step on the flat parameters `p` (`chunk` values per sample) from the gradient of
/// `loss` with respect to `pt`. A sample whose gradient is not finite is frozen from then on:
/// `alive` turns false and `failure` says at which step (`what`).
pub(crate) fn checked_step(p: &mut [f32], adam: &mut Adam, loss: Tensor<1>, pt: &Tensor<4>, chunk: usize, what: String, alive: &mut [bool], failure: &mut [Option<String>]) {
    let g = tensor_io::to_vec(pt.grad(&loss.backward()).expect("param grad"));
    for j in 0..alive.len() {
        if alive[j] && g[j * chunk..(j + 1) * chunk].iter().any(|v| !v.is_finite()) {
            alive[j] = false;
            failure[j] = Some(format!("non-finite gradient at {what}"));
        }
    }
    adam.step(p, &g, alive, chunk);
}
