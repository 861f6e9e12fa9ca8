//! The attacker's side of MASK shared by the bi-level loops of both frameworks (`pgd_mask`,
//! `optim_mask`): the running mask estimate with its inner Adam state, and the store of the best
//! 8-bit success seen at a refresh.
use crate::interp_loss::Best;
use crate::snapshot::{bits, set_word_pos, unbits, word_pos, SavedInner};
use advedge_interpreters::mask::{self, MaskConfig};
use advedge_models::{tensor_io, Classifier};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;

/// The attacker's running mask estimate m and its inner Adam state (μ, ν, k) of spec 5.4,
/// with the v2 jitter stream (one jitter per batch and call, as in `mask::optimise`).
pub struct InnerMask<'a> {
    cfg: &'a MaskConfig,
    lr: f32,
    b: usize,
    s: usize,
    pub m: Vec<f32>,
    mu: Vec<f32>,
    nu: Vec<f32>,
    k: i32,
    rng: rand_chacha::ChaCha8Rng,
}

impl<'a> InnerMask<'a> {
    pub fn new(cfg: &'a MaskConfig, lr: f32, b: usize, seed: u64) -> Self {
        let ml = b * cfg.mask_size * cfg.mask_size;
        Self { cfg, lr, b, s: cfg.mask_size, m: vec![0.5; ml], mu: vec![0.0; ml], nu: vec![0.0; ml], k: 0, rng: rand::SeedableRng::seed_from_u64(seed) }
    }
    /// The state a snapshot keeps (the settings come from the attack's own arguments).
    pub fn saved(&self) -> SavedInner {
        SavedInner { m: bits(&self.m), mu: bits(&self.mu), nu: bits(&self.nu), k: self.k, word_pos: word_pos(&self.rng) }
    }
    pub fn restore(&mut self, s: &SavedInner) {
        (self.m, self.mu, self.nu, self.k) = (unbits(&s.m), unbits(&s.mu), unbits(&s.nu), s.k);
        set_word_pos(&mut self.rng, s.word_pos);
    }
    fn jitter(&mut self) -> (usize, usize) {
        match &self.cfg.v2 {
            Some(v2) => (self.rng.gen_range(0..=v2.max_jitter), self.rng.gen_range(0..=v2.max_jitter)),
            None => (0, 0),
        }
    }
    fn mask_tensor(&self, d: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(self.m.clone(), [self.b, 1, self.s, self.s]), d)
    }
    /// After a refresh: m ← the fresh MASK map; μ ← μ/2, ν ← ν/4, k ← 100.
    pub fn reset(&mut self, m_now: Vec<f32>) {
        self.m = m_now;
        self.mu.iter_mut().for_each(|v| *v *= 0.5);
        self.nu.iter_mut().for_each(|v| *v *= 0.25);
        self.k = 100;
    }
    /// `n` Adam steps on m at the (detached) images `x`.
    pub fn plain_steps(&mut self, model: &Classifier, x: &Tensor<4>, t: &Tensor<1, burn::tensor::Int>, n: usize) {
        for _ in 0..n {
            let mt = self.mask_tensor(&x.device());
            let reg = mask::regulariser_grad(mt.clone(), self.cfg);
            let j = self.jitter();
            let gm = tensor_io::to_vec(mask::mask_grad_explicit(model, mt, x.clone(), t.clone(), self.cfg, reg, j).0);
            self.k += 1;
            let (bc1, bc2) = (1.0 - 0.9f32.powi(self.k), 1.0 - 0.999f32.powi(self.k));
            for q in 0..self.m.len() {
                self.mu[q] = 0.9 * self.mu[q] + 0.1 * gm[q];
                self.nu[q] = 0.999 * self.nu[q] + 0.001 * gm[q] * gm[q];
                self.m[q] = (self.m[q] - self.lr * (self.mu[q] / bc1) / ((self.nu[q] / bc2).sqrt() + 1e-8)).clamp(0.0, 1.0);
            }
        }
    }
    /// `n` Adam steps keeping the graph from the autodiff images `x` (and through μ, ν within
    /// the call; m is detached between steps): returns ℓ_int = mean_k Σ_b ‖m_k − m0‖².
    pub fn graph_steps(&mut self, mad: &Classifier, x: &Tensor<4>, t: &Tensor<1, burn::tensor::Int>, m0: &Tensor<4>, n: usize) -> Tensor<1> {
        let ad = x.device();
        let shape = [self.b, 1, self.s, self.s];
        let mut mu = Tensor::<4>::from_data(TensorData::new(self.mu.clone(), shape), &ad);
        let mut nu = Tensor::<4>::from_data(TensorData::new(self.nu.clone(), shape), &ad);
        let mut total: Option<Tensor<1>> = None;
        for _ in 0..n {
            let mt = self.mask_tensor(&ad);
            let reg = mask::regulariser_grad(mt.clone().inner(), self.cfg).to_device(&ad);
            let j = self.jitter();
            let (gm, _) = mask::mask_grad_explicit(mad, mt.clone(), x.clone(), t.clone(), self.cfg, reg, j);
            self.k += 1;
            let (bc1, bc2) = (1.0 - 0.9f64.powi(self.k), 1.0 - 0.999f64.powi(self.k));
            mu = mu * 0.9 + gm.clone() * 0.1;
            nu = nu * 0.999 + gm.powf_scalar(2.0) * 0.001;
            let mk = (mt - (mu.clone() / bc1) / ((nu.clone() / bc2).sqrt() + 1e-8) * self.lr as f64).clamp(0.0, 1.0);
            let d = (mk.clone() - m0.clone()).powf_scalar(2.0).sum();
            total = Some(match total { Some(t) => t + d, None => d });
            self.m = tensor_io::to_vec(mk.inner()); // detached between steps
        }
        self.mu = tensor_io::to_vec(mu.inner());
        self.nu = tensor_io::to_vec(nu.inner());
        total.expect("at least one graph step") / n as f64
    }
}

/// Store (x_q, m_q) per image where it is a success (prediction = target) whose mask is closer
/// to m0 (L2) than anything stored; maps are stored as displayed (1 − m).
pub fn store_best(best: &mut [Best], xq: &[f32], m_q: &[f32], m0: &[f32], p: &[f32], pred: &[u32], targets: &[u32]) {
    let b = best.len();
    let (n, ml) = (xq.len() / b, m_q.len() / b);
    for j in 0..b {
        let d = m_q[j * ml..(j + 1) * ml].iter().zip(&m0[j * ml..(j + 1) * ml]).map(|(a, c)| ((a - c) as f64).powi(2)).sum::<f64>().sqrt();
        let better = best[j].as_ref().map(|bb| d < bb.3).unwrap_or(true);
        if pred[j] == targets[j] && better {
            let shown: Vec<f32> = m_q[j * ml..(j + 1) * ml].iter().map(|v| 1.0 - v).collect();
            best[j] = Some((xq[j * n..(j + 1) * n].to_vec(), shown, p[j], d));
        }
    }
}

