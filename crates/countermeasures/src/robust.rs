//! Interpretation-aware robust training (paper Eq. 20-21, after Boopathy et al. 2020) and its
//! evaluation (Table VII), with CAM as the interpreter.
//!
//! Training objective: CE(f(x), y) + gamma * D(x, x'), with x' the PGD maximiser of D in the
//! L_inf ball of radius eps and D the 2-class discrepancy of spec 12:
//! D = 1/2 (|I(x,y) - I(x',y)|_1 + |I(x,y') - I(x',y')|_1), y' = argmax f(x'), I = min-max CAM.
//! The inner maximisation runs on a frozen copy (eval-mode batch norm); the outer loss on the
//! training model. Evaluation: accuracy under untargeted PGD, and Kendall's tau-b between the
//! benign CAM and the CAM after a PGD attack that maximises |I(x',y) - I(x,y)|_1 (our stand-in
//! for Boopathy's top-k "attack against interpretability", which the spec does not define).
use advedge_interpreters::cam::cam_raw;
use advedge_interpreters::grad::minmax;
use advedge_metrics::{bootstrap_mean, kendall_tau_b, wilson, BOOTSTRAP_REPS, Z95};
use advedge_models::train::Objective;
use advedge_models::{tensor_io, Classifier, Features};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Distribution, Int, Tensor};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Min-max normalised CAMs [B,1,h,w] of `classes` from one forward's features (the CAM
/// interpreter's own `cam_raw` and `minmax`, as `cam::cam_map` does).
fn cams(model: &Classifier, last: Tensor<4>, classes: Tensor<1, Int>) -> Tensor<4> {
    minmax(cam_raw(last, model.fc_weight(), classes), 1e-12)
}

/// Per-sample L1 norm of a map difference.
fn l1(a: Tensor<4>) -> Tensor<1> {
    let [b, ..] = a.dims();
    a.abs().reshape([b as i32, -1]).sum_dim(1).reshape([b])
}

/// D(x, x') per sample (see module docs). `x` and `x_adv` in [0,1].
pub fn discrepancy(model: &Classifier, x: Tensor<4>, x_adv: Tensor<4>, y: Tensor<1, Int>) -> Tensor<1> {
    discrepancy_from(model, model.features(x), x_adv, y)
}

/// [`discrepancy`] with the features of x already computed.
fn discrepancy_from(model: &Classifier, fx: Features, x_adv: Tensor<4>, y: Tensor<1, Int>) -> Tensor<1> {
    let fa = model.features(x_adv);
    let y2 = fa.logits.clone().detach().argmax(1).flatten::<1>(0, 1);
    let d_y = l1(cams(model, fx.last.clone(), y.clone()) - cams(model, fa.last.clone(), y));
    let d_y2 = l1(cams(model, fx.last, y2.clone()) - cams(model, fa.last, y2));
    (d_y + d_y2) * 0.5
}

/// L_inf PGD from a uniform random start drawn on the device: see [`pgd_from`].
fn pgd(x: Tensor<4>, eps: f64, alpha: f64, steps: usize, gain: impl Fn(Tensor<4>) -> Tensor<1>) -> Tensor<4> {
    if eps == 0.0 || steps == 0 {
        return x.detach();
    }
    let noise = Tensor::<4>::random(x.dims(), Distribution::Uniform(-eps, eps), &x.device());
    pgd_from(x, noise, eps, alpha, steps, gain)
}

/// L_inf PGD from `x + noise`: `steps` signed-gradient ascent steps of size `alpha` on
/// `gain(x')` (summed over the batch), projected onto the eps-ball around `x` and [0,1].
/// `model` must be frozen (eval-mode batch norm) and live on an autodiff device.
fn pgd_from(x: Tensor<4>, noise: Tensor<4>, eps: f64, alpha: f64, steps: usize, gain: impl Fn(Tensor<4>) -> Tensor<1>) -> Tensor<4> {
    let x = x.detach();
    if eps == 0.0 || steps == 0 {
        return x;
    }
    let mut xa = (x.clone() + noise).clamp(0.0, 1.0);
    for _ in 0..steps {
        let v = xa.detach().autodiff().require_grad();
        let g = v.grad(&gain(v.clone()).sum().backward()).expect("input gradient").to_device(&x.device());
        let step = v.detach() + g.sign() * alpha;
        xa = (x.clone() + (step - x.clone()).clamp(-eps, eps)).clamp(0.0, 1.0);
    }
    xa.detach()
}

/// The training objective of Eq. 21 (`gamma` = 0 or `steps` = 0 gives plain cross-entropy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CamRobust {
    pub gamma: f64,
    /// L_inf radius of the inner maximisation, in [0,1] pixel units.
    pub eps: f64,
    pub steps: usize,
    pub alpha: f64,
}

impl Objective for CamRobust {
    fn loss(&self, model: &Classifier, x: Tensor<4>, y: Tensor<1, Int>, fx: Features) -> Tensor<1> {
        let ce = CrossEntropyLossConfig::new().init(&fx.logits.device()).forward(fx.logits.clone(), y.clone());
        if self.gamma == 0.0 || self.steps == 0 {
            return ce;
        }
        let frozen = model.clone().freeze();
        let x_adv = pgd(x.clone(), self.eps, self.alpha, self.steps, |v| discrepancy(&frozen, x.clone(), v, y.clone()));
        ce + discrepancy_from(model, fx, x_adv, y).mean() * self.gamma
    }
    fn tag(&self) -> String {
        format!("cam-robust gamma={} eps={} steps={} alpha={}", self.gamma, self.eps, self.steps, self.alpha)
    }
}

/// How Table VII attacks a model. Every image meets `restarts` random starts x `step_factors`
/// step sizes (alpha = factor x eps / steps; Madry et al. use 2.5) of `steps`-step PGD and keeps
/// its worst outcome over every iterate of every run: misclassified at any of them, and the
/// lowest tau. A single schedule
/// understates the attack: more steps at alpha = 2.5 eps / steps take smaller steps and raised
/// NT's tau at 4/255 from 0.611 to 0.661 while AT's stayed flat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustEval {
    pub steps: usize,
    pub restarts: usize,
    pub step_factors: Vec<f64>,
    /// Images per forward pass (the outcomes do not depend on it).
    pub batch: usize,
    /// Seeds the random starts: image i's start for (eps, restart, factor) follows from
    /// (seed, eps index, restart, factor index, i) alone.
    pub seed: u64,
}

impl Default for RobustEval {
    fn default() -> Self {
        RobustEval { steps: 10, restarts: 1, step_factors: vec![2.5], batch: 100, seed: 0 }
    }
}

/// Table VII numbers of one model at one eps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RobustPoint {
    /// eps in units of 1/255.
    pub eps255: f64,
    pub accuracy: f64,
    /// 95 % Wilson interval of the accuracy.
    pub accuracy_ci: (f64, f64),
    /// Mean Kendall tau-b between benign and attacked CAMs (None at eps = 0).
    pub kendall_tau: Option<f64>,
    /// 95 % percentile bootstrap over images of the mean tau.
    pub tau_ci: Option<(f64, f64)>,
    /// Per image, in the order evaluated: still correct under every attack; its lowest tau
    /// (empty at eps = 0). Claims pair these across models.
    pub correct: Vec<bool>,
    pub taus: Vec<f64>,
}

/// Seed of the bootstrap over images of the mean tau.
const TAU_BOOTSTRAP_SEED: u64 = 7;

/// Uniform(-eps, eps) start noise for images `first..first + b`, each from its own generator
/// keyed by (seed, tags, image index), so an image's start does not depend on the batch.
fn start_noise(seed: u64, tags: [usize; 3], first: usize, b: usize, px: usize, eps: f64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut out = Vec::with_capacity(b * px);
    for i in first..first + b {
        let key = [tags[0], tags[1], tags[2], i].iter().fold(seed ^ 0x9e37_79b9_7f4a_7c15, |h, &t| (h ^ t as u64).wrapping_mul(0x100_0000_01b3).rotate_left(17));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(key);
        out.extend((0..px).map(|_| rng.gen_range(-eps..=eps) as f32));
    }
    out
}

/// PGD accuracy and interpretation-attack tau at each eps (units of 1/255) on `images` (in
/// [0,1]) with `labels`, under the attacks of `cfg`.
pub fn evaluate(model: &Classifier, images: &[f32], labels: &[u32], side: usize, eps255: &[f64], cfg: &RobustEval) -> Vec<RobustPoint> {
    let dev = model.fc_weight().device();
    let ad = dev.clone().autodiff();
    let frozen = model.clone().to_device(&ad).freeze();
    let n = labels.len();
    let px = 3 * side * side;
    let batch = cfg.batch.max(1);
    eps255
        .iter()
        .enumerate()
        .map(|(ei, &e)| {
            let eps = e / 255.0;
            // At eps = 0 every attack returns x: one pass gives the clean accuracy.
            let schedules: Vec<(usize, usize, f64)> = if e > 0.0 {
                (0..cfg.restarts.max(1)).flat_map(|r| cfg.step_factors.iter().enumerate().map(move |(fi, f)| (r, fi, *f))).collect()
            } else {
                vec![(0, 0, 0.0)]
            };
            let (mut correct, mut taus) = (vec![true; n], vec![0.0; if e > 0.0 { n } else { 0 }]);
            for start in (0..n).step_by(batch) {
                let end = (start + batch).min(n);
                let b = end - start;
                let x = tensor_io::images(images[start * px..end * px].to_vec(), b, side, side, &ad);
                let y = tensor_io::labels(&labels[start..end], &ad);
                let ce = CrossEntropyLossConfig::new().init(&ad);
                let benign = (e > 0.0).then(|| cams(&frozen, frozen.features(x.clone()).last, y.clone()).detach());
                // Every iterate counts, the random start and the last included: the gains record
                // what they see at each point they differentiate, and the last point is checked.
                let correct_b = RefCell::new(vec![true; b]);
                let mark = |logits: &Tensor<2>| {
                    let pred = tensor_io::to_vec_int(logits.clone().detach().argmax(1).flatten::<1>(0, 1));
                    for (c, (p, l)) in correct_b.borrow_mut().iter_mut().zip(pred.iter().zip(&labels[start..end])) {
                        *c &= *p == *l as i64;
                    }
                };
                let ben = benign.as_ref().map(|t| tensor_io::to_vec(t.clone())).unwrap_or_default();
                let taus_b = RefCell::new(vec![f64::INFINITY; b]);
                let record_tau = |cam: &Tensor<4>| {
                    let adv = tensor_io::to_vec(cam.clone().detach());
                    let m = ben.len() / b;
                    for (j, t) in taus_b.borrow_mut().iter_mut().enumerate() {
                        *t = t.min(kendall_tau_b(&ben[j * m..(j + 1) * m], &adv[j * m..(j + 1) * m]));
                    }
                };
                for &(r, fi, factor) in &schedules {
                    let alpha = factor * eps / cfg.steps.max(1) as f64;
                    let noise = |kind: usize| tensor_io::images(start_noise(cfg.seed, [ei, r * 1024 + fi, kind], start, b, px, eps), b, side, side, &ad);
                    let xa = pgd_from(x.clone(), noise(0), eps, alpha, cfg.steps, |v| {
                        let logits = frozen.forward(v);
                        mark(&logits);
                        ce.forward(logits, y.clone()).reshape([1])
                    });
                    mark(&frozen.forward(xa));
                    if let Some(benign) = &benign {
                        let xi = pgd_from(x.clone(), noise(1), eps, alpha, cfg.steps, |v| {
                            let cam = cams(&frozen, frozen.features(v).last, y.clone());
                            record_tau(&cam);
                            l1(cam - benign.clone())
                        });
                        record_tau(&cams(&frozen, frozen.features(xi).last, y.clone()));
                    }
                }
                correct[start..end].copy_from_slice(&correct_b.into_inner());
                if e > 0.0 {
                    taus[start..end].copy_from_slice(&taus_b.into_inner());
                }
            }
            let k = correct.iter().filter(|c| **c).count();
            let kendall_tau = (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64);
            let tau_ci = (taus.len() > 1).then(|| bootstrap_mean(&taus, BOOTSTRAP_REPS, TAU_BOOTSTRAP_SEED));
            RobustPoint { eps255: e, accuracy: k as f64 / n.max(1) as f64, accuracy_ci: wilson(k, n, Z95), kendall_tau, tau_ci, correct, taus }
        })
        .collect()
}
