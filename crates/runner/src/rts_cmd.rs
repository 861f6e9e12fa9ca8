//! `train-rts`: train the RTS saliency network of a committed classifier (resumable), measure its
//! quality on test images and write `data/weights/rts-<model>.{safetensors,toml}`.
//! CIFAR classifiers train on CIFAR-10's training split (in memory); torchvision classifiers on
//! an ImageNet folder given with `--train-data` (decoded batch by batch at 224, spec 2.3's
//! settings from [`RtsTrainConfig::paper`]) and are checked on the ImageNet samples.
use crate::repo;
use crate::data_source::DataSource;
use advedge_data::{list_class_folders, ImageSource, LazyDataset};
use advedge_interpreters::mask::{blur, upsample};
use advedge_interpreters::rts::RtsNet;
use advedge_interpreters::rts_train::{save_net, train_rts, RtsTrainConfig};
use advedge_models::{tensor_io, Classifier};
use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TrainRtsArgs {
    #[arg(long)]
    model: String,
    #[arg(long)]
    steps_a: Option<usize>,
    #[arg(long)]
    steps_b: Option<usize>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Weight of the area term A(m) (spec 2.3's loss-class default: 8).
    #[arg(long)]
    lambda_area: Option<f64>,
    /// Weight of the smoothness term TV(m) (loss-class default 0.5).
    #[arg(long)]
    lambda_smooth: Option<f64>,
    /// Adam learning rate of phase B.
    #[arg(long)]
    lr_b: Option<f64>,
    /// Test images for the quality check.
    #[arg(long, default_value_t = 1000)]
    quality_images: usize,
    #[arg(long)]
    run_dir: Option<PathBuf>,
    #[arg(long)]
    weights_dir: Option<PathBuf>,
    /// Training images as class folders (`<DIR>/<class index>/<file>` or `<DIR>/<wnid>/<file>`),
    /// decoded per batch. Required for torchvision models (ImageNet's training split); CIFAR
    /// models default to CIFAR-10's training split.
    #[arg(long)]
    train_data: Option<PathBuf>,
    /// cpu, cuda or cuda:N (the `cuda` build).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `<weights_dir>/rts-<model>.toml`: how an RTS network was trained and how good it is.
#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtsCard {
    pub classifier: String,
    pub config: RtsTrainConfig,
    pub git_commit: String,
    pub train_seconds: f64,
    pub final_loss: f64,
    pub quality_images: usize,
    pub mean_mask_area: f64,
    pub keep_top20_prediction_kept: f64,
    pub keep_random20_prediction_kept: f64,
    pub weights_file: String,
    /// Fingerprint (`repo::fingerprint`) of the classifier weights the network was trained on:
    /// an RTS network is only valid for those features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_weights: Option<String>,
}

impl RtsCard {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&s).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Fraction of images whose prediction survives keeping only the top-20% (by mask, upsampled to
/// the image) vs a random 20% of the pixels (rest replaced by the blurred image, the blur of
/// `cfg`), and the mean mask value. `x` holds `b` square images.
pub fn rts_quality(model: &Classifier, net: &RtsNet, x: Vec<f32>, b: usize, cfg: &RtsTrainConfig, dev: &Device) -> (f64, f64, f64) {
    let side = ((x.len() / (3 * b)) as f64).sqrt() as usize;
    let px = side * side;
    let xt = tensor_io::images(x, b, side, side, dev);
    let f = model.features(xt.clone());
    let pred = tensor_io::to_vec_int(f.logits.clone().argmax(1).flatten::<1>(0, 1));
    let cls: Vec<u32> = pred.iter().map(|&p| p as u32).collect();
    let (m, _) = net.forward(&f, tensor_io::labels(&cls, dev), cfg.kappa);
    let area = tensor_io::to_vec(m.clone().mean())[0] as f64;
    let m = if m.dims()[2] == side { m } else { upsample(m, side) };
    let mv = tensor_io::to_vec(m);
    let k = px / 5;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let (mut top, mut rnd) = (vec![0f32; b * px], vec![0f32; b * px]);
    for i in 0..b {
        let mi = &mv[i * px..(i + 1) * px];
        let mut order: Vec<usize> = (0..px).collect();
        order.sort_by(|&p, &q| mi[q].total_cmp(&mi[p]));
        order[..k].iter().for_each(|&p| top[i * px + p] = 1.0);
        order.shuffle(&mut rng);
        order[..k].iter().for_each(|&p| rnd[i * px + p] = 1.0);
    }
    let xb = blur(xt.clone(), cfg.blur_ksize, cfg.blur_sigma);
    let kept = |keep: Vec<f32>| {
        let kt = Tensor::<4>::from_data(TensorData::new(keep, [b, 1, side, side]), dev);
        let phi = kt.clone() * xt.clone() + (kt.neg() + 1.0) * xb.clone();
        let p2 = tensor_io::to_vec_int(model.forward(phi).argmax(1).flatten::<1>(0, 1));
        p2.iter().zip(&pred).filter(|(a, b)| a == b).count() as f64 / b as f64
    };
    (kept(top), kept(rnd), area)
}

pub fn train(a: TrainRtsArgs) -> anyhow::Result<()> {
    repo::select_device(&a.device)?;
    let dir = a.weights_dir.unwrap_or_else(repo::weights_dir);
    let (card, model) = repo::load_model(&a.model, Some(&dir))?;
    let src = DataSource::for_arch(&card.architecture);
    let dev = repo::device();
    let mut cfg = if card.architecture.is_torchvision() { RtsTrainConfig::paper() } else { RtsTrainConfig::default() };
    cfg.seed = a.seed;
    if let Some(s) = a.steps_a { cfg.steps_a = s; }
    if let Some(s) = a.steps_b { cfg.steps_b = s; }
    if let Some(s) = a.batch { cfg.batch = s; }
    if let Some(v) = a.lambda_area { cfg.lambda_area = v; }
    if let Some(v) = a.lambda_smooth { cfg.lambda_smooth = v; }
    if let Some(v) = a.lr_b { cfg.lr_b = v; }
    let train: Box<dyn ImageSource> = match (&a.train_data, src) {
        (Some(d), _) => Box::new(LazyDataset::new(list_class_folders(d)?, src.resize())),
        (None, DataSource::Cifar10) => Box::new(advedge_data::load_cifar10("train", false)?),
        (None, DataSource::ImagenetSamples) => anyhow::bail!(
            "train-rts for `{}` (a torchvision model) needs --train-data DIR: ImageNet training images as <DIR>/<wnid>/<file> or <DIR>/<class index>/<file> (see README, \"Paper scale\")",
            a.model
        ),
    };
    tracing::info!("training RTS for {} on {} images of {}x{}", a.model, train.len(), train.size().0, train.size().1);
    let run_dir = a.run_dir.unwrap_or_else(|| repo::root().join("runs").join(format!("rts-{}", a.model)));
    let bar = advedge_models::train::progress((cfg.steps_a + cfg.steps_b) as u64, 0, "rts");
    let (net, st) = train_rts(&model, train.as_ref(), &cfg, &run_dir, &dev, &|phase, step, _steps, loss| {
        bar.set_position(if phase == 0 { step as u64 } else { (cfg.steps_a + step) as u64 });
        bar.set_message(format!("phase {} loss {loss:.4}", if phase == 0 { "A" } else { "B" }));
    })?;
    bar.finish_and_clear();
    let net = burn::module::Module::to_device(net, &dev);
    let test = src.test_set()?;
    let q = test.subset(&test.spread_indices(a.quality_images));
    let (mut top, mut rnd, mut area) = (0.0, 0.0, 0.0);
    let chunk = if src == DataSource::Cifar10 { 250 } else { src.screen_batch() };
    for c in (0..q.len()).collect::<Vec<_>>().chunks(chunk) {
        let (x, _) = q.batch_f32(c);
        let (t, r, ar) = rts_quality(&model, &net, x, c.len(), &cfg, &dev);
        let w = c.len() as f64 / q.len() as f64;
        top += t * w;
        rnd += r * w;
        area += ar * w;
    }
    let weights_file = format!("rts-{}.safetensors", a.model);
    save_net(&net, &dir.join(&weights_file))?;
    let rc = RtsCard { classifier: a.model.clone(), config: cfg, git_commit: repo::git_commit(), train_seconds: st.elapsed_secs, final_loss: st.last_loss, quality_images: q.len(), mean_mask_area: area, keep_top20_prediction_kept: top, keep_random20_prediction_kept: rnd, weights_file, classifier_weights: Some(repo::model_fingerprint_in(&a.model, &dir)) };
    let out = dir.join(format!("rts-{}.toml", a.model));
    std::fs::write(&out, toml::to_string_pretty(&rc)?).with_context(|| format!("writing {}", out.display()))?;
    println!("RTS for {}: keep top-20% -> prediction kept {:.3}; random 20% -> {:.3}; mean mask {:.3}; {:.0} s; wrote {}", a.model, top, rnd, area, st.elapsed_secs, out.display());
    Ok(())
}
