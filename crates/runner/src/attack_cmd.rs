//! `attack`: run one attack cell (model x PGD x interpreter x variant) on N CIFAR test images
//! the classifier gets right, and print the paper's per-cell metrics. The experiment-grid runner
//! (`reproduce`) will call the same function per cell.
use crate::data_source::DataSource;
use crate::repo;
use advedge_attacks::optim_attack::{self, Kind, OptimConfig};
use advedge_attacks::pgd::{self, PgdConfig};
use advedge_attacks::{AttackBatch, ImageOutcome, Variant};
use advedge_interpreters::Interpreter;
use advedge_metrics::{iou_topk_mean, l1_mean, mean_std, ssim, SsimConfig, DEFAULT_IOU_KS};
use advedge_models::{tensor_io, Classifier};
use anyhow::{bail, Context};
use burn::tensor::Device;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct AttackArgs {
    #[arg(long)]
    model: String,
    /// grad, cam, rts (after `train-rts`) or mask.
    #[arg(long)]
    interpreter: String,
    /// pgd, cw or stadv.
    #[arg(long, default_value = "pgd")]
    framework: String,
    /// plain, adv2, advedge, advedge+ (comma-separated for several).
    #[arg(long, default_value = "adv2,advedge,advedge+")]
    variants: String,
    /// Number of correctly classified test images to attack.
    #[arg(long, default_value_t = 20)]
    images: usize,
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
    #[arg(long, value_parser = ["target", "true"])]
    rts_reference: Option<String>,
    #[arg(long)]
    weights_dir: Option<PathBuf>,
}

/// Interpreter names accepted by grids and the CLI.
pub const INTERPRETERS: [&str; 4] = ["grad", "cam", "rts", "mask"];

/// The MASK interpreter a framework uses (spec 2.4): v1 for PGD, v2 for C&W and StAdv.
pub fn for_framework(interp: Interpreter, framework: &str, data: DataSource) -> Interpreter {
    match interp {
        Interpreter::Mask(_) if framework != "pgd" => Interpreter::Mask(data.mask(true)),
        other => other,
    }
}

/// Check an interpreter name without resolving model-specific weights.
pub fn check_interpreter(s: &str) -> anyhow::Result<()> {
    if INTERPRETERS.contains(&s.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        bail!("unknown interpreter `{s}` ({})", INTERPRETERS.join(", "))
    }
}

/// The interpreter `s` for classifier `model`: RTS resolves the trained network
/// `<weights_dir>/rts-<model>.toml` (written by `cargo xtask train-rts`).
pub fn parse_interpreter(s: &str, model: &str, weights_dir: &std::path::Path) -> anyhow::Result<Interpreter> {
    check_interpreter(s)?;
    let data = DataSource::for_model(model, weights_dir);
    Ok(match s.to_ascii_lowercase().as_str() {
        "grad" => Interpreter::Grad { pool: data.grad_pool() },
        "cam" => Interpreter::Cam,
        "mask" => Interpreter::Mask(data.mask(false)),
        _ => {
            let card = weights_dir.join(format!("rts-{model}.toml"));
            let rc = crate::rts_cmd::RtsCard::load(&card).with_context(|| format!("RTS interpreter for `{model}`: run `cargo xtask train-rts --model {model}` first"))?;
            let path = weights_dir.join(&rc.weights_file);
            if !path.is_file() {
                bail!("{}: RTS weights named by {} are missing", path.display(), card.display());
            }
            let current = repo::model_fingerprint_in(model, weights_dir);
            match &rc.classifier_weights {
                Some(fp) if *fp != current => bail!(
                    "the RTS network {} was trained on other weights of `{model}` (fingerprint {fp}, now {current}): retrain it with `cargo xtask train-rts --model {model}`",
                    card.display()
                ),
                None => tracing::warn!("{} does not record the classifier weights it was trained on; cannot check it matches `{model}`", card.display()),
                _ => {}
            }
            Interpreter::Rts(advedge_interpreters::rts::RtsSpec { name: rc.weights_file.clone(), fingerprint: repo::fingerprint(&path), widths: rc.config.widths.clone(), kappa: rc.config.kappa, path })
        }
    })
}

pub fn parse_variant(s: &str) -> anyhow::Result<Variant> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "plain" => Variant::Plain,
        "adv2" => Variant::Adv2,
        "advedge" => Variant::AdvEdge,
        "advedge+" | "advedgeplus" => Variant::AdvEdgePlus,
        other => bail!("unknown variant `{other}` (plain, adv2, advedge, advedge+)"),
    })
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
    Ok(AttackBatch { images, labels, indices: keep, height: side, width: side })
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

pub fn attack(a: AttackArgs) -> anyhow::Result<()> {
    let variants = a.variants.split(',').map(parse_variant).collect::<anyhow::Result<Vec<_>>>()?;
    let dir = a.weights_dir.unwrap_or_else(repo::weights_dir);
    let data = DataSource::for_model(&a.model, &dir);
    let interp = for_framework(parse_interpreter(&a.interpreter, &a.model, &dir)?, &a.framework.to_ascii_lowercase(), data);
    let (card, model) = repo::load_model(&a.model, Some(&dir))?;
    let dev = repo::device();
    let clean = correct_images(&model, a.images, &dev, data, false)?;
    let fw = a.framework.to_ascii_lowercase();
    if !["pgd", "cw", "stadv"].contains(&fw.as_str()) {
        bail!("unknown framework `{}` (pgd, cw, stadv)", a.framework);
    }
    println!("{} ({}), {} x {}, {} correctly classified {:?} images, schedule x{}", a.model, card.description, fw, interp.name(), clean.len(), data, a.scale);
    for v in variants {
        let scope = if a.edges_all_steps { advedge_attacks::EdgeScope::All } else { advedge_attacks::EdgeScope::Warmup };
        let mut pcfg = PgdConfig::paper(&interp, v).scaled(a.scale);
        pcfg.seed = a.seed;
        pcfg.edge_scope = scope;
        let rts_ref = a.rts_reference.as_deref().map(|r| if r == "true" { advedge_attacks::RtsReference::True } else { advedge_attacks::RtsReference::Target });
        pcfg.rts_reference = rts_ref.unwrap_or(pcfg.rts_reference);
        let kind = if fw == "cw" { Kind::Cw } else { Kind::Stadv };
        let mut ocfg = OptimConfig::paper(kind, &interp).scaled(a.scale);
        ocfg.seed = a.seed;
        ocfg.edge_scope = scope;
        ocfg.rts_reference = rts_ref.unwrap_or(ocfg.rts_reference);
        let bar = advedge_models::train::progress(clean.len().div_ceil(a.batch) as u64, 0, v.name());
        let mut out = Vec::new();
        for start in (0..clean.len()).step_by(a.batch) {
            let sub = clean.slice(start, (start + a.batch).min(clean.len()));
            out.extend(if fw == "pgd" { pgd::run(&model, &interp, v, &pcfg, &sub) } else { optim_attack::run(&model, &interp, v, &ocfg, &sub) });
            bar.inc(1);
        }
        bar.finish_and_clear();
        println!("  {:<9} {}", v.name(), summarize(&out, &clean));
    }
    Ok(())
}
