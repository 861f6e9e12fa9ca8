//! `attack`: run one attack (model x framework x interpreter x variants) on N test images the
//! classifier gets right, and print the paper's per-cell metrics. Names resolve and configs are
//! built and checked as in the grids (`names`), so a cell and this command agree.
use crate::data_source::DataSource;
use crate::names::{self, Common};
use crate::repo;
use advedge_attacks::{AttackBatch, EdgeScope, Framework, ImageOutcome, RtsReference, Variant};
use advedge_interpreters::InterpreterKind;
use advedge_metrics::{iou_topk_mean, l1_mean, mean_std, ssim, SsimConfig, DEFAULT_IOU_KS};
use advedge_models::{tensor_io, Classifier};
use burn::tensor::Device;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct AttackArgs {
    #[arg(long)]
    model: String,
    /// grad, cam, rts (after `train-rts`) or mask.
    #[arg(long)]
    interpreter: InterpreterKind,
    /// pgd, cw or stadv.
    #[arg(long, default_value = "pgd")]
    framework: Framework,
    /// plain, adv2, advedge, advedge+ (comma-separated for several).
    #[arg(long, alias = "variant", default_value = "adv2,advedge,advedge+", value_delimiter = ',')]
    variants: Vec<Variant>,
    /// Number of correctly classified test images to attack (without --image).
    #[arg(long, default_value_t = 20)]
    images: usize,
    /// Attack this image file, or every image file of this folder, instead of test images: any
    /// size, through the model's preprocessing; the label is the model's prediction.
    #[arg(long)]
    image: Option<PathBuf>,
    /// With --image: where the adversarial PNGs, metric JSONs and panels go.
    #[arg(long, default_value = "attack-out")]
    out: PathBuf,
    /// Target class (index, or a CIFAR-10 class name) for every image; default: the paper's
    /// random target, drawn from the seed and the image's position.
    #[arg(long)]
    target: Option<String>,
    /// With --image: skip (and name) files that do not decode instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Multiply every iteration count of the paper's schedule by this factor.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Apply the edge weighting in every step (paper text) instead of the warm-up only (code).
    #[arg(long)]
    edges_all_steps: bool,
    /// RTS: aim at the benign map for the `target` class or the `true` class (default: the
    /// spec's choice, target for PGD and C&W, true for StAdv).
    #[arg(long, value_parser = parse_rts_reference)]
    rts_reference: Option<RtsReference>,
    #[arg(long)]
    weights_dir: Option<PathBuf>,
    /// cpu, cuda / cuda:N (the `cuda` build), or wgpu / wgpu:gpu:N / wgpu:integrated:N / wgpu:cpu
    /// (the `wgpu` build).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// PGD only: attack at each of these L-infinity budgets instead of the paper's 0.031 and
    /// write success and map-L1 curves to --out (`1,2,4,8,16/255`: the /255 applies to all).
    #[arg(long, value_parser = crate::eps_curve::parse_eps_list)]
    eps: Option<crate::eps_curve::EpsList>,
    /// With --eps: refine each image's smallest fooling budget by this many bisection steps
    /// below the smallest listed one that fooled it (each step attacks the image alone).
    #[arg(long, default_value_t = 0)]
    min_eps_steps: usize,
}

/// The first `n` evaluation images of `data` (spread over the classes) that `model` classifies
/// correctly. With `any_images` (smoke runs of random-weight models, which get almost nothing
/// right) the first `n` images are taken whatever the prediction, and the prediction stands in
/// for the label so that "benign prediction != target" still holds.
pub fn correct_images(model: &Classifier, n: usize, dev: &Device, data: DataSource, any_images: bool) -> anyhow::Result<AttackBatch> {
    let test = data.test_set()?;
    let side = data.side();
    // A fixed, class-balanced order: stride through the sorted test set.
    let order = test.spread_indices(test.len().min(n * 4).max(n));
    let (mut keep, mut labels) = (Vec::new(), Vec::new());
    for chunk in order.chunks(data.screen_batch()) {
        let (x, y) = test.batch_f32(chunk);
        let pred = tensor_io::to_vec_int(model.forward(tensor_io::images(x, chunk.len(), side, side, dev)).argmax(1).flatten::<1>(0, 1));
        for ((&i, p), l) in chunk.iter().zip(pred).zip(y) {
            if any_images || p == l as i64 {
                keep.push(i);
                labels.push(if any_images { p as u32 } else { l });
            }
        }
        if keep.len() >= n {
            break;
        }
    }
    keep.truncate(n);
    labels.truncate(n);
    let (images, _) = test.batch_f32(&keep);
    Ok(AttackBatch { images, labels, indices: keep, height: side, width: side, targets: None })
}

/// Per-cell summary of the paper's metrics over successful samples.
pub fn summarize(out: &[ImageOutcome], clean: &AttackBatch) -> String {
    let n = clean.image_len();
    let pos = |idx: usize| clean.indices.iter().position(|&i| i == idx).unwrap();
    let succ: Vec<&ImageOutcome> = out.iter().filter(|o| o.success).collect();
    let conf = mean_std(&succ.iter().map(|o| o.target_prob as f64).collect::<Vec<_>>());
    let l1 = mean_std(&succ.iter().map(|o| l1_mean(&o.adversarial_map, &o.benign_map)).collect::<Vec<_>>());
    let iou = mean_std(&succ.iter().map(|o| iou_topk_mean(&o.adversarial_map, &o.benign_map, &DEFAULT_IOU_KS)).collect::<Vec<_>>());
    let noise = mean_std(
        &succ
            .iter()
            .map(|o| {
                let p = pos(o.image_index);
                1.0 - ssim(&clean.images[p * n..(p + 1) * n], &o.adversarial, 3, clean.height, clean.width, SsimConfig::default())
            })
            .collect::<Vec<_>>(),
    );
    let secs = mean_std(&out.iter().map(|o| o.seconds).collect::<Vec<_>>());
    let failed = out.iter().filter(|o| o.failure.is_some()).count();
    format!(
        "success {:>3}/{:<3} ({:.3})  conf {:.3}  L1 {:.3}±{:.3}  IoU {:.3}±{:.3}  1-SSIM {:.4}±{:.4}  time/img {:.2}s{}",
        succ.len(), out.len(), succ.len() as f64 / out.len() as f64, conf.mean, l1.mean, l1.std, iou.mean, iou.std, noise.mean, noise.std, secs.mean,
        if failed > 0 { format!("  ({failed} stopped on NaN/Inf)") } else { String::new() }
    )
}

fn parse_rts_reference(s: &str) -> Result<RtsReference, String> {
    match s {
        "target" => Ok(RtsReference::Target),
        "true" => Ok(RtsReference::True),
        other => Err(format!("`{other}` is not `target` or `true`")),
    }
}

pub fn attack(a: AttackArgs) -> anyhow::Result<()> {
    repo::select_device(&a.device)?;
    let dir = a.weights_dir.unwrap_or_else(repo::weights_dir);
    let data = DataSource::for_model(&a.model, &dir);
    let interp = names::attacked_interpreter(a.interpreter, a.framework, &a.model, &dir)?;
    let common = Common { scale: a.scale, seed: a.seed, edge_scope: if a.edges_all_steps { EdgeScope::All } else { EdgeScope::Warmup }, rts_reference: a.rts_reference };
    // Every variant's configuration is checked before the first image is attacked.
    let configs = a.variants.iter().map(|&v| names::attack_config(a.framework, &interp, v, common).check().map(|c| (v, c))).collect::<Result<Vec<_>, _>>()?;
    if a.eps.is_some() && a.framework != advedge_attacks::Framework::Pgd {
        anyhow::bail!("--eps needs --framework pgd: {} has no L-infinity budget", a.framework);
    }
    if a.eps.is_some() && a.image.is_some() {
        anyhow::bail!("--eps runs on test images (--images N); it does not take --image yet");
    }
    let (card, model) = repo::load_model(&a.model, Some(&dir))?;
    let k = model.fc_weight().dims()[1] as u32;
    let target = a.target.as_deref().map(|t| crate::image_attack::parse_target(t, data, k)).transpose()?;
    if let Some(path) = &a.image {
        let files = crate::image_attack::image_files(path)?;
        let job = crate::image_attack::ImageJob {
            model_name: &a.model, model: &model, data, framework: a.framework, interp: &interp, configs: &configs,
            batch: a.batch, seed: a.seed, target, skip_bad: a.skip_bad, out: &a.out,
        };
        println!("{} ({}), {} x {}, {} file(s) from {}, schedule x{}", a.model, card.description, a.framework, interp.name(), files.len(), path.display(), a.scale);
        let (batch, results) = crate::image_attack::run(&job, &files)?;
        for (v, out) in results {
            println!("  {:<9} {}", v.name(), summarize(&out, &batch));
        }
        println!("wrote the adversarial PNGs, metric JSONs and panels to {}", a.out.display());
        return Ok(());
    }
    let dev = repo::device();
    let mut clean = correct_images(&model, a.images, &dev, data, false)?;
    if let Some(t) = target {
        clean.targets = Some(vec![t; clean.len()]);
    }
    println!("{} ({}), {} x {}, {} correctly classified {:?} images, schedule x{}", a.model, card.description, a.framework, interp.name(), clean.len(), data, a.scale);
    if let Some(crate::eps_curve::EpsList(eps)) = &a.eps {
        let rows = crate::eps_curve::curves(&model, &interp, &configs, &clean, a.batch, eps)?;
        let min = if a.min_eps_steps > 0 || eps.len() > 1 { Some(crate::eps_curve::min_eps(&model, &interp, &configs, &clean, &rows, a.min_eps_steps)?) } else { None };
        let title = format!("{} x {}, {}: {} images, schedule x{}", a.framework, interp.name(), a.model, clean.len(), a.scale);
        for p in crate::eps_curve::write(&a.out, &title, &rows, min.as_deref())? {
            println!("wrote {}", p.display());
        }
        return Ok(());
    }
    for (v, cfg) in configs {
        let bar = advedge_models::train::progress(clean.len().div_ceil(a.batch) as u64, 0, v.name());
        let mut out = Vec::new();
        for start in (0..clean.len()).step_by(a.batch) {
            let sub = clean.slice(start, (start + a.batch).min(clean.len()));
            out.extend(advedge_attacks::run(&model, &interp, v, &cfg, &sub, None));
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!("  {:<9} {}", v.name(), summarize(&out, &clean));
    }
    Ok(())
}
