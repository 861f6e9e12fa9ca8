//! `train`, `eval` and `bench-model`: classifier lifecycle commands.
use crate::repo;
use advedge_data::load_cifar10;
use advedge_models::presets::preset;
use advedge_models::train::{evaluate, train as run_train};
use advedge_models::{tensor_io, ModelCard};
use anyhow::{bail, Context};
use burn::module::Module;
use burn::tensor::Device;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Preset name (resnet20, densenet38, tiny, tiny-densenet).
    #[arg(long)]
    model: String,
    /// cpu (default), cuda[:N] (`cuda` feature) or wgpu[:gpu:N|:integrated:N|:cpu] (`wgpu` feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Override the preset's epoch count.
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Override the preset's peak learning rate.
    #[arg(long)]
    lr_max: Option<f64>,
    /// Warm start from these weights (same architecture), e.g. to continue a finished run with a
    /// second one-cycle. If a card `<stem>.toml` sits beside them, the new card includes its
    /// epochs, time and history. Copy the file first if it is the one this run will overwrite.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Train on the first N images only (smoke runs).
    #[arg(long)]
    limit_train: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    limit_test: Option<usize>,
    /// Checkpoint folder (default runs/train/<model>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Where weights + card go (default data/weights).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Skip unreadable images with a warning instead of stopping.
    #[arg(long)]
    skip_bad: bool,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    #[arg(long)]
    model: String,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Folder holding <model>.toml and its weights (default data/weights).
    #[arg(long)]
    weights_dir: Option<PathBuf>,
    #[arg(long)]
    skip_bad: bool,
    /// cpu (default), cuda[:N] (`cuda` feature) or wgpu[:gpu:N|:integrated:N|:cpu] (`wgpu` feature).
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long)]
    model: String,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// cpu (default), cuda[:N] (`cuda` feature) or wgpu[:gpu:N|:integrated:N|:cpu] (`wgpu` feature).
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    let p = preset(&a.model)?;
    let mut cfg = p.train.clone();
    if let Some(e) = a.epochs { cfg.epochs = e; }
    if let Some(s) = a.seed { cfg.seed = s; }
    if let Some(l) = a.lr_max { cfg.lr_max = l; }
    cfg.limit_train = a.limit_train;
    cfg.init_from = a.init_from.clone();
    let prev_card = match &a.init_from {
        Some(p) => {
            let c = p.with_extension("toml");
            if c.is_file() { Some(ModelCard::load(&c)?) } else { None }
        }
        None => None,
    };
    repo::select_device(&a.device)?;
    let device = repo::device().autodiff();
    let t0 = Instant::now();
    let train = load_cifar10("train", a.skip_bad)?;
    let test = load_cifar10("test", a.skip_bad)?;
    tracing::info!("decoded {} train + {} test images in {:.1} s", train.len(), test.len(), t0.elapsed().as_secs_f64());
    let run_dir = a.run_dir.unwrap_or_else(|| repo::root().join("runs").join("train").join(&a.model));
    let trained = run_train(&p.arch, &cfg, &train, &run_dir, &device)?;
    let test = match a.limit_test { Some(n) => test.subset(&test.spread_indices(n)), None => test };
    let eval_dev = repo::device();
    let model = trained.model.to_device(&eval_dev);
    let (correct, n) = evaluate(&model, &test, 500, &eval_dev);
    let acc = correct as f64 / n as f64;
    let out_dir = a.out_dir.unwrap_or_else(repo::weights_dir);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let weights_file = format!("{}.safetensors", a.model);
    tensor_io::save_weights(&model, &out_dir.join(&weights_file))?;
    let card = ModelCard {
        name: a.model.clone(),
        description: p.arch.describe(),
        architecture: p.arch.clone(),
        parameters: model.num_params(),
        dataset: "CIFAR-10 (../shared/data/cifar10 JPEGs), 50,000 train / 10,000 test".into(),
        epochs: cfg.epochs + prev_card.as_ref().map_or(0, |c| c.epochs),
        batch_size: cfg.batch_size,
        lr_max: cfg.lr_max,
        weight_decay: cfg.weight_decay,
        schedule: format!("SGD nesterov momentum {}, one-cycle: linear warm-up {:.0}% from lr/10, cosine to 0", cfg.momentum, cfg.warmup_frac * 100.0),
        augmentation: "random crop 32 with 4 px zero padding, horizontal flip p=0.5".into(),
        seed: cfg.seed,
        git_commit: repo::git_commit(),
        backend: "burn 0.22.1 flex (CPU), f32".into(),
        train_seconds: trained.state.elapsed_secs + prev_card.as_ref().map_or(0.0, |c| c.train_seconds),
        test_images: n,
        test_accuracy: acc,
        weights_file,
        warm_start: match (&a.init_from, &prev_card) {
            (Some(_), Some(c)) => Some(format!(
                "{} at commit {}: {} epochs, lr_max {}, test accuracy {:.4}; lr_max/batch_size/schedule above are this run's",
                c.name, c.git_commit, c.epochs, c.lr_max, c.test_accuracy
            )),
            (Some(p), None) => Some(format!("weights {} (no card beside them)", p.display())),
            _ => None,
        },
        history: {
            let mut h = prev_card.as_ref().map_or(vec![], |c| c.history.clone());
            let off = h.len();
            h.extend(trained.state.history.iter().cloned().map(|mut e| { e.epoch += off; e }));
            h
        },
    };
    card.save(&out_dir.join(format!("{}.toml", a.model)))?;
    println!("{}: test accuracy {:.4} ({correct}/{n}), trained {:.0} s; wrote {}", a.model, acc, card.train_seconds, out_dir.display());
    Ok(())
}

pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    repo::select_device(&a.device)?;
    let dir = a.weights_dir.unwrap_or_else(repo::weights_dir);
    let (card, model) = repo::load_model(&a.model, Some(&dir))?;
    let device = repo::device();
    // CIFAR models: the CIFAR-10 test set; torchvision models: the ImageNetV2-layout samples.
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    let test = match data {
        crate::data_source::DataSource::Cifar10 => load_cifar10("test", a.skip_bad)?,
        crate::data_source::DataSource::ImagenetSamples => advedge_data::load_imagenet_samples(a.skip_bad)?,
    };
    let test = match a.limit { Some(n) => test.subset(&test.spread_indices(n)), None => test };
    let (correct, n) = evaluate(&model, &test, data.screen_batch() * 5, &device);
    let acc = correct as f64 / n as f64;
    println!("{}: test accuracy {:.4} ({correct}/{n}); card says {:.4} on {} images", a.model, acc, card.test_accuracy, card.test_images);
    if n == card.test_images && (acc - card.test_accuracy).abs() > 0.001 {
        bail!("accuracy {acc:.4} differs from the card's {:.4} by more than 0.1%", card.test_accuracy);
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct InitWeightsArgs {
    /// Model whose card (in data/weights) gives the architecture, e.g. resnet50 or densenet169.
    #[arg(long)]
    model: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where `<model>.safetensors` and `<model>.toml` go; point `ADVEDGE_WEIGHTS` at it.
    #[arg(long)]
    out_dir: PathBuf,
}

/// burn's default initialisation (batch-norm statistics at identity), saved with a card copy that
/// says so. For timing and end-to-end runs only: such a model predicts nothing meaningful.
pub fn init_weights(a: InitWeightsArgs) -> anyhow::Result<()> {
    let card_path = repo::weights_dir().join(format!("{}.toml", a.model));
    let mut card = ModelCard::load(&card_path)?;
    // On the CPU whatever --device says elsewhere: a seed gives the same weights file on every machine.
    let dev = Device::flex();
    dev.seed(a.seed);
    let model = card.architecture.init(&dev);
    std::fs::create_dir_all(&a.out_dir)?;
    card.weights_file = format!("{}.safetensors", a.model);
    card.description = format!("RANDOM INITIALISATION (seed {}) of {}: smoke and timing runs only", a.seed, card.description);
    card.test_accuracy = 0.0;
    card.test_images = 0;
    card.parameters = model.num_params();
    tensor_io::save_weights(&model, &a.out_dir.join(&card.weights_file))?;
    card.save(&a.out_dir.join(format!("{}.toml", a.model)))?;
    println!("{}: {} parameters, random weights in {}", a.model, card.parameters, a.out_dir.display());
    Ok(())
}

pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    use advedge_models::train::TrainConfig;
    let p = preset(&a.model)?;
    repo::select_device(&a.device)?;
    let dev = repo::device();
    let ad = repo::device().autodiff();
    let m = p.arch.init(&dev);
    let x = || tensor_io::images(vec![0.5; a.batch * 3 * 32 * 32], a.batch, 32, 32, &dev);
    let _ = m.forward(x());
    let t = Instant::now();
    for _ in 0..a.reps { let _ = tensor_io::to_vec(m.forward(x())); }
    let fwd = t.elapsed().as_secs_f64() / a.reps as f64;
    let mt = p.arch.init(&ad);
    let mut optim = burn::optim::SgdConfig::new().init();
    let mut mt = mt;
    let y = tensor_io::labels(&vec![1; a.batch], &ad);
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&ad);
    let mut times = vec![];
    for _ in 0..a.reps + 1 {
        let t = Instant::now();
        let xx = tensor_io::images(vec![0.5; a.batch * 3 * 32 * 32], a.batch, 32, 32, &ad);
        let loss = loss_fn.forward(mt.forward(xx), y.clone());
        let g = burn::optim::GradientsParams::from_grads(loss.backward(), &mt);
        mt = optim.step(0.01, mt, g);
        times.push(t.elapsed().as_secs_f64());
    }
    let step = times[1..].iter().sum::<f64>() / a.reps as f64;
    let _ = TrainConfig::default();
    println!("{} b{}: forward {:.1} ms, train step {:.1} ms; epoch of 50k ~ {:.0} s; params {}", a.model, a.batch, fwd * 1e3, step * 1e3, step * 50000.0 / a.batch as f64, m.num_params());
    Ok(())
}
