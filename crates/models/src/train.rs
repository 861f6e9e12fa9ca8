//! Seeded, resumable training on CIFAR-10 with SGD + momentum, weight decay, a one-cycle
//! schedule (linear warm-up, cosine decay) and crop+flip augmentation.
//!
//! Checkpoints (model, optimizer, progress) are written every `ckpt_every` steps and at each epoch
//! end into `<run_dir>`, committed by an atomic rename of `state.json` (which names the step's
//! model and optimiser files), so a kill at any moment leaves a consistent checkpoint; rerunning
//! the same command resumes from the last one. The
//! epoch permutation and each image's augmentation are functions of (seed, epoch, position), so a
//! resumed run sees exactly the batches an uninterrupted one would.
use crate::card::EpochLog;
use crate::{tensor_io, ArchConfig, Classifier, Features, ModelError};
use advedge_data::{augment_crop_flip, Dataset, Rng64};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr_max: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Fraction of all steps spent warming up linearly from lr_max/10 to lr_max.
    pub warmup_frac: f64,
    pub seed: u64,
    /// Checkpoint every this many steps (and at every epoch end).
    pub ckpt_every: usize,
    /// Train on only the first N training images (tests, smoke runs).
    pub limit_train: Option<usize>,
    /// Warm start: initialise from these weights (same architecture) instead of random init.
    /// Used to continue a finished run with a second one-cycle (recorded in the model card).
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 10, batch_size: 128, lr_max: 0.2, momentum: 0.9, weight_decay: 5e-4, warmup_frac: 0.15, seed: 0, ckpt_every: 100, limit_train: None, init_from: None }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: &str| Err(ModelError::Config(m.to_string()));
        if self.epochs == 0 { return bad("epochs must be > 0"); }
        if self.batch_size == 0 { return bad("batch_size must be > 0"); }
        if !(self.lr_max > 0.0 && self.lr_max.is_finite()) { return bad("lr_max must be positive"); }
        if !(0.0..1.0).contains(&self.warmup_frac) { return bad("warmup_frac must be in [0,1)"); }
        if self.ckpt_every == 0 { return bad("ckpt_every must be > 0"); }
        Ok(())
    }
    /// Learning rate at global step `s` of `total`.
    pub fn lr_at(&self, s: usize, total: usize) -> f64 {
        let warm = ((total as f64) * self.warmup_frac).max(1.0);
        let s = s as f64;
        if s < warm {
            self.lr_max * (0.1 + 0.9 * s / warm)
        } else {
            let p = ((s - warm) / (total as f64 - warm).max(1.0)).min(1.0);
            self.lr_max * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        }
    }
}

/// Progress saved beside the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub arch: ArchConfig,
    pub config: TrainConfig,
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub elapsed_secs: f64,
    pub epoch_loss_sum: f64,
    pub epoch_correct: usize,
    pub epoch_seen: usize,
    pub history: Vec<EpochLog>,
    /// [`Objective::tag`] of the run (a resume with another objective is refused).
    #[serde(default = "default_objective")]
    pub objective: String,
    /// The checkpoint's model and optimiser files (named by their step; see
    /// [`tensor_io::commit_checkpoint`]). Absent in older checkpoints: `model.bpk`, `optim.bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<[String; 2]>,
}

fn default_objective() -> String {
    CrossEntropy.tag()
}

/// The per-batch training loss. Plain training is [`CrossEntropy`]; the countermeasures crate
/// plugs in its interpretation-aware objective (Table VII) without a second training loop.
pub trait Objective {
    /// Scalar loss of a batch `x` (in [0,1]) with labels `y`, given the features of `model(x)`
    /// (one forward pass serves the objective and the accuracy count).
    fn loss(&self, model: &Classifier, x: Tensor<4>, y: Tensor<1, Int>, fx: Features) -> Tensor<1>;
    /// Identifies the objective and its settings in checkpoints.
    fn tag(&self) -> String;
}

/// Mean cross-entropy.
pub struct CrossEntropy;

impl Objective for CrossEntropy {
    fn loss(&self, _: &Classifier, _: Tensor<4>, y: Tensor<1, Int>, fx: Features) -> Tensor<1> {
        CrossEntropyLossConfig::new().init(&fx.logits.device()).forward(fx.logits, y)
    }
    fn tag(&self) -> String {
        "cross-entropy".into()
    }
}

pub struct Checkpoint {
    pub dir: PathBuf,
}

impl Checkpoint {
    // Burnpack (not safetensors) keeps each parameter's ParamId, which keys the optimiser's
    // momentum buffers: with fresh ids a resumed run silently restarts momentum from zero.
    fn state(&self) -> PathBuf { self.dir.join("state.json") }

    /// Model and optimiser files of `st` (step-stamped; the legacy names for old checkpoints).
    fn files(&self, st: &TrainState) -> (PathBuf, PathBuf) {
        tensor_io::checkpoint_files(&self.dir, &st.files, ["model.bpk", "optim.bin"])
    }

    /// Payload first, then the state file that names it (the commit point).
    fn save(&self, model: &Classifier, optim: &ModuleOptimizer, st: &mut TrainState) -> Result<(), ModelError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| ModelError::Io { path: self.dir.clone(), source: e })?;
        let tag = format!("e{}-s{}", st.epoch, st.step_in_epoch);
        let files = [format!("model-{tag}.bpk"), format!("optim-{tag}.bin")];
        st.files = Some(files.clone());
        let json = serde_json::to_string_pretty(st).expect("state serialises");
        tensor_io::save_training_checkpoint(&self.dir, model, optim, &files, &json, &["model", "optim"])
    }

    fn load(&self, device: &Device, optim: ModuleOptimizer) -> Result<Option<(Classifier, ModuleOptimizer, TrainState)>, ModelError> {
        if !self.state().is_file() {
            return Ok(None);
        }
        let s = std::fs::read_to_string(self.state()).map_err(|e| ModelError::Io { path: self.state(), source: e })?;
        let st: TrainState = serde_json::from_str(&s).map_err(|e| ModelError::Card { path: self.state(), reason: e.to_string() })?;
        let (mp, op) = self.files(&st);
        let model = tensor_io::load_checkpoint(&st.arch, &mp, device)?;
        let optim = optim.load(&op).map_err(|e| ModelError::Weights { path: op.clone(), reason: format!("{e:?}") })?;
        Ok(Some((model, optim, st)))
    }
}

fn sgd(cfg: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(cfg.momentum).with_dampening(0.0).with_nesterov(true)))
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init()
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // SplitMix64-style mixing of (seed, a, b) into one stream id.
    let mut z = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Outcome of a finished training run.
pub struct Trained {
    pub model: Classifier,
    pub state: TrainState,
}

/// Train (or resume) `arch` on `train`; checkpoints go to `run_dir`. A checkpoint written by a
/// different architecture or config is refused rather than silently mixed.
pub fn train(arch: &ArchConfig, cfg: &TrainConfig, train: &Dataset, run_dir: &Path, device: &Device) -> Result<Trained, ModelError> {
    train_until(arch, cfg, train, run_dir, device, None)?.ok_or_else(|| ModelError::Config("training stopped early".into()))
}

/// [`train`], but stop (after checkpointing) once `stop_after` global steps are done, returning
/// `None`: this is how tests simulate a run killed mid-epoch.
pub fn train_until(arch: &ArchConfig, cfg: &TrainConfig, train: &Dataset, run_dir: &Path, device: &Device, stop_after: Option<usize>) -> Result<Option<Trained>, ModelError> {
    train_with(arch, cfg, train, run_dir, device, stop_after, &CrossEntropy)
}

/// [`train_until`] with another training objective.
pub fn train_with(
    arch: &ArchConfig,
    cfg: &TrainConfig,
    train: &Dataset,
    run_dir: &Path,
    device: &Device,
    stop_after: Option<usize>,
    objective: &dyn Objective,
) -> Result<Option<Trained>, ModelError> {
    cfg.validate()?;
    let ck = Checkpoint { dir: run_dir.to_path_buf() };
    let (mut model, mut optim, mut st) = match ck.load(device, sgd(cfg))? {
        Some((m, o, st)) => {
            if &st.arch != arch || &st.config != cfg || st.objective != objective.tag() {
                return Err(ModelError::Config(format!(
                    "checkpoint in {} was made with another architecture/config/objective; delete it or use another run dir",
                    run_dir.display()
                )));
            }
            tracing::info!("resuming from {} at epoch {} step {}", run_dir.display(), st.epoch + 1, st.step_in_epoch);
            (m, o, st)
        }
        None => {
            device.seed(cfg.seed);
            let st = TrainState { arch: arch.clone(), config: cfg.clone(), epoch: 0, step_in_epoch: 0, elapsed_secs: 0.0, epoch_loss_sum: 0.0, epoch_correct: 0, epoch_seen: 0, history: vec![], objective: objective.tag(), files: None };
            let model = match &cfg.init_from {
                Some(p) => {
                    tracing::info!("warm start from {}", p.display());
                    tensor_io::load_weights_trainable(arch, p, device)?
                }
                None => arch.init(device),
            };
            (model, sgd(cfg), st)
        }
    };
    let n = cfg.limit_train.unwrap_or(train.len()).min(train.len());
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let total = steps_per_epoch * cfg.epochs;
    let (h, w) = (train.height, train.width);
    let img_len = train.image_len();
    let t_start = Instant::now();
    let base_elapsed = st.elapsed_secs;

    while st.epoch < cfg.epochs {
        let mut perm: Vec<usize> = train.spread_indices(n);
        perm.shuffle(&mut Rng64::seed_from_u64(mix(cfg.seed, st.epoch as u64, 0)));
        let bar = progress(steps_per_epoch as u64, st.step_in_epoch as u64, &format!("epoch {}/{}", st.epoch + 1, cfg.epochs));
        let epoch_t0 = Instant::now();
        let mut lr = 0.0;
        while st.step_in_epoch < steps_per_epoch {
            let s = st.step_in_epoch;
            let idx = &perm[s * cfg.batch_size..((s + 1) * cfg.batch_size).min(n)];
            let b = idx.len();
            let mut buf = vec![0f32; b * img_len];
            buf.par_chunks_mut(img_len).zip(idx.par_iter()).enumerate().for_each(|(k, (out, &i))| {
                let mut rng = Rng64::seed_from_u64(mix(cfg.seed, st.epoch as u64 + 1, (s * cfg.batch_size + k) as u64 + 1));
                augment_crop_flip(train.image_u8(i), h, w, 4, &mut rng, out);
            });
            let labels: Vec<u32> = idx.iter().map(|&i| train.labels[i]).collect();
            let x = tensor_io::images(buf, b, h, w, device);
            let y = tensor_io::labels(&labels, device);
            let fx = model.features(x.clone());
            let logits = fx.logits.clone();
            let loss = objective.loss(&model, x, y.clone(), fx);
            let pred = tensor_io::to_vec_int(logits.detach().argmax(1).flatten::<1>(0, 1));
            let correct = pred.iter().zip(&labels).filter(|(p, l)| **p == **l as i64).count();
            let loss_v = tensor_io::to_vec(loss.clone().detach())[0] as f64;
            if !loss_v.is_finite() {
                return Err(ModelError::Config(format!("loss became {loss_v} at epoch {} step {s}; lower lr_max", st.epoch + 1)));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = cfg.lr_at(st.epoch * steps_per_epoch + s, total);
            model = optim.step(lr, model, grads);
            st.step_in_epoch += 1;
            st.epoch_loss_sum += loss_v * b as f64;
            st.epoch_correct += correct;
            st.epoch_seen += b;
            bar.set_message(format!("loss {:.3} acc {:.3} lr {:.4}", st.epoch_loss_sum / st.epoch_seen as f64, st.epoch_correct as f64 / st.epoch_seen as f64, lr));
            bar.inc(1);
            let stop = stop_after == Some(st.epoch * steps_per_epoch + st.step_in_epoch);
            if (st.step_in_epoch % cfg.ckpt_every == 0 || stop) && st.step_in_epoch < steps_per_epoch {
                st.elapsed_secs = base_elapsed + t_start.elapsed().as_secs_f64();
                ck.save(&model, &optim, &mut st)?;
            }
            if stop && st.step_in_epoch < steps_per_epoch {
                return Ok(None);
            }
        }
        bar.finish_and_clear();
        let log = EpochLog {
            epoch: st.epoch + 1,
            train_loss: st.epoch_loss_sum / st.epoch_seen.max(1) as f64,
            train_accuracy: st.epoch_correct as f64 / st.epoch_seen.max(1) as f64,
            lr_end: lr,
            seconds: epoch_t0.elapsed().as_secs_f64(),
        };
        tracing::info!("epoch {} done: loss {:.4} train acc {:.4} ({:.0} s)", log.epoch, log.train_loss, log.train_accuracy, log.seconds);
        st.history.push(log);
        st.epoch += 1;
        st.step_in_epoch = 0;
        st.epoch_loss_sum = 0.0;
        st.epoch_correct = 0;
        st.epoch_seen = 0;
        st.elapsed_secs = base_elapsed + t_start.elapsed().as_secs_f64();
        ck.save(&model, &optim, &mut st)?;
    }
    Ok(Some(Trained { model: model.valid(), state: st }))
}

/// Top-1 accuracy of `model` on `data` (no autodiff), batched.
pub fn evaluate(model: &Classifier, data: &Dataset, batch: usize, device: &Device) -> (usize, usize) {
    let mut correct = 0;
    let bar = progress(data.len().div_ceil(batch) as u64, 0, "eval");
    for start in (0..data.len()).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(data.len())).collect();
        let (x, y) = data.batch_f32(&idx);
        let logits = model.forward(tensor_io::images(x, idx.len(), data.height, data.width, device));
        let pred = tensor_io::to_vec_int(logits.argmax(1).flatten::<1>(0, 1));
        correct += pred.iter().zip(&y).filter(|(p, l)| **p == **l as i64).count();
        bar.inc(1);
    }
    bar.finish_and_clear();
    (correct, data.len())
}

/// A progress bar: a tracing span that `tracing-indicatif`'s layer (installed by the command
/// line) draws as a bar on stderr, under the span of the work it belongs to, with log lines
/// printed above it. Without that layer (libraries, tests) it draws nothing; indicatif hides it
/// when stderr is not a terminal.
pub struct Progress {
    span: tracing::Span,
}

impl Progress {
    pub fn inc(&self, n: u64) {
        use tracing_indicatif::span_ext::IndicatifSpanExt;
        self.span.pb_inc(n);
    }
    pub fn set_position(&self, pos: u64) {
        use tracing_indicatif::span_ext::IndicatifSpanExt;
        self.span.pb_set_position(pos);
    }
    pub fn set_message(&self, msg: String) {
        use tracing_indicatif::span_ext::IndicatifSpanExt;
        self.span.pb_set_message(&msg);
    }
    /// Prints through `f` (e.g. `println!`) without tearing the bars.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing_indicatif::suspend_tracing_indicatif(f)
    }
    /// Removes the bar (the span closes).
    pub fn finish_and_clear(self) {}
}

/// A progress bar of `len` steps, `pos` of them done, labelled by `task`.
pub fn progress(len: u64, pos: u64, task: &str) -> Progress {
    use tracing_indicatif::span_ext::IndicatifSpanExt;
    let span = tracing::info_span!("progress", task = %task);
    span.pb_set_style(
        &indicatif::ProgressStyle::with_template("{span_child_prefix}{span_fields} [{bar:30}] {pos}/{len} {elapsed_precise}<{eta_precise} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    span.pb_set_length(len);
    span.pb_set_position(pos);
    span.pb_start();
    Progress { span }
}
