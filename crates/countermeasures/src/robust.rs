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
use advedge_metrics::kendall_tau_b;
use advedge_models::train::Objective;
use advedge_models::{tensor_io, Classifier, Features};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Distribution, Int, Tensor};
use serde::{Deserialize, Serialize};

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

/// L_inf PGD with a uniform random start: `steps` signed-gradient ascent steps of size `alpha` on
/// `gain(x')` (summed over the batch), projected onto the eps-ball around `x` and [0,1].
/// `model` must be frozen (eval-mode batch norm) and live on an autodiff device.
fn pgd(x: Tensor<4>, eps: f64, alpha: f64, steps: usize, gain: impl Fn(Tensor<4>) -> Tensor<1>) -> Tensor<4> {
    let x = x.detach();
    if eps == 0.0 || steps == 0 {
        return x;
    }
    let noise = Tensor::<4>::random(x.dims(), Distribution::Uniform(-eps, eps), &x.device());
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

/// Table VII numbers of one model at one eps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RobustPoint {
    /// eps in units of 1/255.
    pub eps255: f64,
    pub accuracy: f64,
    /// Mean Kendall tau-b between benign and attacked CAMs (None at eps = 0).
    pub kendall_tau: Option<f64>,
}

/// PGD accuracy and interpretation-attack tau at each eps (units of 1/255) on `x` (in [0,1]),
/// `y`, in batches of `batch`. `steps` PGD steps with alpha = 2.5 eps / steps (Madry et al.);
/// the random starts come from the device generator seeded with `seed`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(model: &Classifier, images: &[f32], labels: &[u32], side: usize, eps255: &[f64], steps: usize, batch: usize, seed: u64) -> Vec<RobustPoint> {
    let dev = model.fc_weight().device();
    let ad = dev.clone().autodiff();
    ad.seed(seed);
    let frozen = model.clone().to_device(&ad).freeze();
    let n = labels.len();
    let px = 3 * side * side;
    eps255
        .iter()
        .map(|&e| {
            let eps = e / 255.0;
            let alpha = 2.5 * eps / steps.max(1) as f64;
            let (mut correct, mut taus) = (0usize, Vec::new());
            for start in (0..n).step_by(batch) {
                let end = (start + batch).min(n);
                let b = end - start;
                let x = tensor_io::images(images[start * px..end * px].to_vec(), b, side, side, &ad);
                let y = tensor_io::labels(&labels[start..end], &ad);
                let ce = CrossEntropyLossConfig::new().init(&ad);
                let xa = pgd(x.clone(), eps, alpha, steps, |v| ce.forward(frozen.forward(v), y.clone()).reshape([1]));
                let pred = tensor_io::to_vec_int(frozen.forward(xa).argmax(1).flatten::<1>(0, 1));
                correct += pred.iter().zip(&labels[start..end]).filter(|(p, l)| **p == **l as i64).count();
                if e > 0.0 {
                    let benign = cams(&frozen, frozen.features(x.clone()).last, y.clone()).detach();
                    let xi = pgd(x.clone(), eps, alpha, steps, |v| l1(cams(&frozen, frozen.features(v).last, y.clone()) - benign.clone()));
                    let adv = tensor_io::to_vec(cams(&frozen, frozen.features(xi).last, y.clone()));
                    let ben = tensor_io::to_vec(benign);
                    let m = ben.len() / b;
                    taus.extend((0..b).map(|j| kendall_tau_b(&ben[j * m..(j + 1) * m], &adv[j * m..(j + 1) * m])));
                }
            }
            let kendall_tau = (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64);
            RobustPoint { eps255: e, accuracy: correct as f64 / n.max(1) as f64, kendall_tau }
        })
        .collect()
}
