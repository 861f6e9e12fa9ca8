//! MASK: meaningful perturbation (Fong & Vedaldi), spec 2.4, variants v1 and v2, batched.
//! A mask m in [0,1]^{s x s} per image (1 = keep, 0 = replace by the blurred image) minimises
//!   L = λ1 mean|1 - m| + λtv TV_β(m) + p_c(Φ),  Φ = M ⊙ x + (1 - M) ⊙ blur(x),  M = up(m),
//! by Adam (lr 0.1) from m = 0.5 with clamping to [0,1] after each step. Salient = low m; the
//! displayed map is 1 - m ("higher = more salient"), distances use m itself.
//!
//! Upsampling (bilinear, align_corners = false, torch semantics) and the Gaussian blur (cv2
//! kernel, reflect-101 padding) are written as small matrices, so they are exact and
//! differentiable. CIFAR adaptation: the paper's 28x28 mask and 11-tap σ=10 blur at 224 px
//! become an 8x8 mask and a 5-tap σ=1.5 blur at 32 px (configurable).
//!
//! v2 (used by the C&W and StAdv MASK attacks): the image is resized to `resize_to`, blurred, and
//! both are cropped at a random jitter each iteration (one jitter per batch and iteration, from a
//! seeded generator); the upsampled mask is itself blurred; the L1 term is a sum, not a mean.
//! CIFAR adaptation of 224 -> 228 with jitter 0..3, a 21-tap σ=3.5 image blur and an 11-tap σ=2
//! mask blur: 32 -> 33 with jitter 0..1, 5-tap σ=1 and 3-tap σ=0.5.
use advedge_models::adam::Adam;
use advedge_models::{tensor_io, Classifier};
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    /// `None` = v1; `Some` = v2 settings.
    pub v2: Option<V2>,
    pub mask_size: usize,
    pub blur_ksize: usize,
    pub blur_sigma: f64,
    pub l1: f64,
    pub tv: f64,
    pub tv_beta: f64,
    pub lr: f32,
    pub iters: usize,
}

/// The extra settings of MASK v2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V2 {
    pub resize_to: usize,
    pub max_jitter: usize,
    pub mask_blur_ksize: usize,
    pub mask_blur_sigma: f64,
    pub seed: u64,
}

impl MaskConfig {
    /// v1 at CIFAR scale (see module docs for the adaptation).
    pub fn v1_cifar() -> Self {
        Self { v2: None, mask_size: 8, blur_ksize: 5, blur_sigma: 1.5, l1: 1e-2, tv: 1e-4, tv_beta: 3.0, lr: 0.1, iters: 500 }
    }
    /// v1 at the paper's scale (spec 2.4): 28x28 mask, 11-tap blur with σ = 10, 500 iterations.
    pub fn v1_paper() -> Self {
        Self { v2: None, mask_size: 28, blur_ksize: 11, blur_sigma: 10.0, l1: 1e-2, tv: 1e-4, tv_beta: 3.0, lr: 0.1, iters: 500 }
    }
    /// v2 at the paper's scale (spec 2.4): resize to 228, jitter 0..=3, 21-tap image blur
    /// (σ = 3.5, cv2's default for 21 taps), 11-tap mask blur with σ = 2, 300 iterations.
    pub fn v2_paper() -> Self {
        Self {
            v2: Some(V2 { resize_to: 228, max_jitter: 3, mask_blur_ksize: 11, mask_blur_sigma: 2.0, seed: 0 }),
            mask_size: 28,
            blur_ksize: 21,
            blur_sigma: 3.5,
            l1: 1e-4,
            tv: 1e-2,
            tv_beta: 3.0,
            lr: 0.1,
            iters: 300,
        }
    }
    /// v2 at CIFAR scale: λ1 = 1e-4 on the sum, λtv = 1e-2, 300 iterations.
    pub fn v2_cifar() -> Self {
        Self {
            v2: Some(V2 { resize_to: 33, max_jitter: 1, mask_blur_ksize: 3, mask_blur_sigma: 0.5, seed: 0 }),
            mask_size: 8,
            blur_ksize: 5,
            blur_sigma: 1.0,
            l1: 1e-4,
            tv: 1e-2,
            tv_beta: 3.0,
            lr: 0.1,
            iters: 300,
        }
    }
}

/// Bilinear resize of square images [B,C,S,S] to [B,C,T,T] (torch align_corners = false).
pub fn resize(x: Tensor<4>, to: usize) -> Tensor<4> {
    let [b, c, s, _] = x.dims();
    let u = mat(upsample_matrix(to, s), to, s, b * c, &x.device()).reshape([b, c, to, s]);
    u.clone().matmul(x).matmul(u.swap_dims(2, 3))
}

/// cv2.getGaussianKernel: σ <= 0 uses 0.3((k-1)/2 - 1) + 0.8; normalised to sum 1.
pub fn gaussian_kernel(k: usize, sigma: f64) -> Vec<f64> {
    let s = if sigma <= 0.0 { 0.3 * ((k as f64 - 1.0) / 2.0 - 1.0) + 0.8 } else { sigma };
    let c = (k as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..k).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * s * s)).exp()).collect();
    let t: f64 = w.iter().sum();
    w.into_iter().map(|v| v / t).collect()
}

fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mut i = i;
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * (n - 1) - i };
    }
    i as usize
}

/// Row-blur matrix B (n x n): blur(v) = B v, with reflect-101 padding.
pub fn blur_matrix(n: usize, k: usize, sigma: f64) -> Vec<f64> {
    let w = gaussian_kernel(k, sigma);
    let r = (k / 2) as isize;
    let mut b = vec![0.0; n * n];
    for i in 0..n {
        for (t, wt) in w.iter().enumerate() {
            let j = reflect101(i as isize + t as isize - r, n);
            b[i * n + j] += wt;
        }
    }
    b
}

/// Bilinear upsampling matrix U (out x inp), torch `interpolate(..., align_corners=False)`.
pub fn upsample_matrix(out: usize, inp: usize) -> Vec<f64> {
    let scale = inp as f64 / out as f64;
    let mut u = vec![0.0; out * inp];
    for o in 0..out {
        let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(inp - 1);
        let i1 = (i0 + 1).min(inp - 1);
        let l = src - i0 as f64;
        u[o * inp + i0] += 1.0 - l;
        u[o * inp + i1] += l;
    }
    u
}

fn mat(v: Vec<f64>, r: usize, c: usize, b: usize, dev: &Device) -> Tensor<4> {
    Tensor::<2>::from_data(TensorData::new(v.into_iter().map(|x| x as f32).collect::<Vec<_>>(), [r, c]), dev)
        .reshape([1, 1, r, c])
        .expand([b, 1, r, c])
}

/// Separable blur of a [B,C,H,W] batch (H = W).
pub fn blur(x: Tensor<4>, k: usize, sigma: f64) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    assert_eq!(h, w, "square images only");
    let m = mat(blur_matrix(h, k, sigma), h, h, b * c, &x.device()).reshape([b, c, h, h]);
    m.clone().matmul(x).matmul(m.swap_dims(2, 3))
}

/// Upsample masks [B,1,s,s] to [B,1,S,S].
pub fn upsample(m: Tensor<4>, size: usize) -> Tensor<4> {
    let [b, _, s, _] = m.dims();
    let u = mat(upsample_matrix(size, s), size, s, b, &m.device());
    u.clone().matmul(m).matmul(u.swap_dims(2, 3))
}

/// TV_β with the authors' transposed pairing (spec 2.4 ⚠), per sample.
pub fn tv(m: Tensor<4>, beta: f64) -> Tensor<1> {
    let [b, _, s, _] = m.dims();
    let dh = m.clone().narrow(3, 1, s - 1) - m.clone().narrow(3, 0, s - 1); // [b,1,s,s-1]: m[r,a+1]-m[r,a]
    let dv = m.clone().narrow(2, 1, s - 1) - m.narrow(2, 0, s - 1); // [b,1,s-1,s]
    (dh.swap_dims(2, 3).powf_scalar(2.0) + dv.powf_scalar(2.0) + 1e-8).powf_scalar(beta / 2.0).sum_dims(&[1, 2, 3]).reshape([b])
}

/// Per-sample MASK objective at masks `m` for images `x` (blurred `xb`) and classes `c`.
/// For v2, `x` and `xb` are the jittered crops of the resized image and its blur.
pub fn objective(model: &Classifier, m: Tensor<4>, x: Tensor<4>, xb: Tensor<4>, classes: Tensor<1, Int>, cfg: &MaskConfig) -> Tensor<1> {
    let [b, _, h, _] = x.dims();
    let mut up = upsample(m.clone(), h);
    if let Some(v2) = &cfg.v2 {
        up = blur(up, v2.mask_blur_ksize, v2.mask_blur_sigma);
    }
    let phi = up.clone() * x + (up.neg() + 1.0) * xb;
    let k = model.fc_weight().dims()[1];
    let p = (softmax(model.forward(phi), 1) * classes.one_hot(k).float()).sum_dim(1).reshape([b]);
    let dist = (m.clone().neg() + 1.0).abs();
    let l1 = if cfg.v2.is_some() { dist.sum_dims(&[1, 2, 3]) } else { dist.mean_dims(&[1, 2, 3]) }.reshape([b]);
    l1 * cfg.l1 + tv(m, cfg.tv_beta) * cfg.tv + p
}

/// Optimise MASK masks for a batch (v1 or v2 per `cfg.v2`); returns m [B,1,s,s] (salient = low).
pub fn optimise(model: &Classifier, x: Tensor<4>, classes: Tensor<1, Int>, cfg: &MaskConfig) -> Tensor<4> {
    let dev = x.device();
    let ad = dev.clone().autodiff();
    let mad = model.clone().to_device(&ad).freeze();
    let b = x.dims()[0];
    let s = cfg.mask_size;
    let size = x.dims()[2];
    let xr = match &cfg.v2 {
        Some(v2) => resize(x.clone(), v2.resize_to),
        None => x.clone(),
    };
    let xb = blur(xr.clone(), cfg.blur_ksize, cfg.blur_sigma);
    let (xa, xba) = (xr.autodiff(), xb.autodiff());
    let ca = classes.to_device(&ad);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.v2.as_ref().map(|v| v.seed).unwrap_or(0));
    let mut m = vec![0.5f32; b * s * s];
    let mut adam = Adam::new(m.len(), cfg.lr, false);
    for _ in 0..cfg.iters {
        let mt = Tensor::<4>::from_data(TensorData::new(m.clone(), [b, 1, s, s]), &ad).require_grad();
        let (xi, xbi) = match &cfg.v2 {
            Some(v2) => {
                let (j1, j2) = (rng.gen_range(0..=v2.max_jitter), rng.gen_range(0..=v2.max_jitter));
                let crop = |t: Tensor<4>| t.narrow(2, j1, size).narrow(3, j2, size);
                (crop(xa.clone()), crop(xba.clone()))
            }
            None => (xa.clone(), xba.clone()),
        };
        let loss = objective(&mad, mt.clone(), xi, xbi, ca.clone(), cfg).sum();
        let g = tensor_io::to_vec(mt.grad(&loss.backward()).expect("mask grad"));
        adam.step(&mut m, &g, &[true], usize::MAX);
        m.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    }
    Tensor::from_data(TensorData::new(m, [b, 1, s, s]), &dev)
}


/// Adjoint of [`upsample`]: maps a gradient on the upsampled [B,1,S,S] mask back to [B,1,s,s]
/// (Uᵀ G U).
pub fn upsample_adjoint(g: Tensor<4>, s: usize) -> Tensor<4> {
    let [b, _, size, _] = g.dims();
    let u = mat(upsample_matrix(size, s), size, s, b, &g.device());
    u.clone().swap_dims(2, 3).matmul(g).matmul(u)
}

/// Adjoint of [`blur`] on [B,1,S,S] maps (Bᵀ G B).
pub fn blur_adjoint(g: Tensor<4>, k: usize, sigma: f64) -> Tensor<4> {
    let [b, c, h, _] = g.dims();
    let m = mat(blur_matrix(h, k, sigma), h, h, b * c, &g.device()).reshape([b, c, h, h]);
    m.clone().swap_dims(2, 3).matmul(g).matmul(m)
}

/// The images MASK compares at one call: (x, blurred x) for v1; for v2 the resized image and
/// its blur, both cropped at `jitter` (rows, columns).
pub fn mask_views(x: Tensor<4>, cfg: &MaskConfig, jitter: (usize, usize)) -> (Tensor<4>, Tensor<4>) {
    let size = x.dims()[2];
    match &cfg.v2 {
        Some(v2) => {
            let xr = resize(x, v2.resize_to);
            let xb = blur(xr.clone(), cfg.blur_ksize, cfg.blur_sigma);
            let crop = |t: Tensor<4>| t.narrow(2, jitter.0, size).narrow(3, jitter.1, size);
            (crop(xr), crop(xb))
        }
        None => {
            let xb = blur(x.clone(), cfg.blur_ksize, cfg.blur_sigma);
            (x, xb)
        }
    }
}

/// ∂L_mask/∂m (spec 2.4, v1 or v2 at a given v2 `jitter`), built as an explicit forward graph so
/// that it can itself be differentiated with respect to the image `x` (the bi-level MASK
/// attacks, spec 5.4 and 6, need ∂/∂x of the inner Adam steps). The classifier part uses the
/// explicit input gradient (`backprop::input_gradient`, exact ReLU: PyTorch's double backward
/// treats ReLU masks as constants too): ∂p_c/∂Φ = -p_c ∂(-log p_c)/∂Φ, then Φ = M⊙x' + (1-M)⊙x'_b
/// with M = U m Uᵀ (v2: blurred again), back through the adjoints of blur and upsampling.
/// The L1 and TV terms do not depend on x; their gradient `reg_grad` is passed in (from
/// [`regulariser_grad`]). Returns (∂L/∂m [B,1,s,s], logits at Φ).
pub fn mask_grad_explicit(model: &Classifier, m: Tensor<4>, x: Tensor<4>, classes: Tensor<1, Int>, cfg: &MaskConfig, reg_grad: Tensor<4>, jitter: (usize, usize)) -> (Tensor<4>, Tensor<2>) {
    let [b, _, h, _] = x.dims();
    let s = m.dims()[2];
    let (xc, xbc) = mask_views(x, cfg, jitter);
    let mut up = upsample(m, h);
    if let Some(v2) = &cfg.v2 {
        up = blur(up, v2.mask_blur_ksize, v2.mask_blur_sigma);
    }
    let phi = up.clone() * xc.clone() + (up.neg() + 1.0) * xbc.clone();
    let (logits, g_ce) = crate::backprop::input_gradient(model, phi, classes.clone(), crate::ReluDeriv::Exact);
    let k = logits.dims()[1];
    let p = (softmax(logits.clone(), 1) * classes.one_hot(k).float()).sum_dim(1).reshape([b, 1, 1, 1]);
    let dp_dphi = g_ce * p.neg();
    let mut g_up = ((xc - xbc) * dp_dphi).sum_dim(1);
    if let Some(v2) = &cfg.v2 {
        g_up = blur_adjoint(g_up, v2.mask_blur_ksize, v2.mask_blur_sigma);
    }
    (upsample_adjoint(g_up, s) + reg_grad, logits)
}

/// ∂/∂m of the per-image L1 and TV terms of MASK v1 at `m` (no classifier involved).
pub fn regulariser_grad(m: Tensor<4>, cfg: &MaskConfig) -> Tensor<4> {
    let dev = m.device();
    let ad = dev.clone().autodiff();
    let mt = m.autodiff().require_grad();
    let dist = (mt.clone().neg() + 1.0).abs();
    let l1 = if cfg.v2.is_some() { dist.sum_dims(&[1, 2, 3]) } else { dist.mean_dims(&[1, 2, 3]) };
    let loss = l1.sum() * cfg.l1 + tv(mt.clone(), cfg.tv_beta).sum() * cfg.tv;
    let _ = ad;
    mt.grad(&loss.backward()).expect("mask regulariser grad").to_device(&dev)
}
