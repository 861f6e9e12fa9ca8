//! `attack --image <file or folder> --out <dir>`: attack a user's own images. Each image goes
//! through the model's preprocessing (shorter side to the model's input size, centre crop); its
//! label is the classifier's prediction on it; the target is `--target` (a class index or name)
//! or the paper's random draw. Per image and variant the folder gets the lossless 8-bit
//! adversarial PNG, a JSON of the metrics, and a panel PNG (benign, adversarial, amplified
//! perturbation, both maps, the top classes).
use crate::data_source::DataSource;
use crate::reproduce::panels::{render_rows, rgb_image, Panel, Row};
use advedge_attacks::outcome::to_u8;
use advedge_attacks::{AttackBatch, CheckedAttack, Framework, ImageOutcome, Variant};
use advedge_interpreters::Interpreter;
use advedge_metrics::{iou_topk_mean, l1_mean, ssim, SsimConfig, DEFAULT_IOU_KS};
use advedge_models::{tensor_io, Classifier};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"];
/// The perturbation panel shows 0.5 + AMPLIFY x (adversarial - benign).
const AMPLIFY: f32 = 10.0;

/// What the user asked for, resolved.
pub struct ImageJob<'a> {
    pub model_name: &'a str,
    pub model: &'a Classifier,
    pub data: DataSource,
    pub framework: Framework,
    pub interp: &'a Interpreter,
    pub configs: &'a [(Variant, CheckedAttack)],
    pub batch: usize,
    pub seed: u64,
    /// `--target`, parsed ([`parse_target`]); `None`: the paper's random draw.
    pub target: Option<u32>,
    pub skip_bad: bool,
    pub out: &'a Path,
}

/// The files to attack: `path` itself, or the image files of the folder `path` (sorted).
pub fn image_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("--image {}: no such file or folder", path.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("--image {}: the folder holds no image file ({})", path.display(), IMAGE_EXTENSIONS.join(", "));
    }
    Ok(files)
}

/// Class names where the data set has them (CIFAR-10), else `class <i>`.
fn class_name(data: DataSource, c: u32) -> String {
    match data {
        DataSource::Cifar10 => advedge_data::CIFAR10_CLASSES.get(c as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("class {c}")),
        DataSource::ImagenetSamples => format!("class {c}"),
    }
}

/// `--target`: a class index below `k`, or (CIFAR-10) a class name.
pub fn parse_target(s: &str, data: DataSource, k: u32) -> anyhow::Result<u32> {
    if let Ok(i) = s.parse::<u32>() {
        if i < k {
            return Ok(i);
        }
        bail!("--target {i}: the model has {k} classes (0..{})", k - 1);
    }
    if data == DataSource::Cifar10 {
        if let Some(i) = advedge_data::CIFAR10_CLASSES.iter().position(|c| c.eq_ignore_ascii_case(s)) {
            return Ok(i as u32);
        }
        bail!("--target `{s}`: not a class index or a CIFAR-10 class ({})", advedge_data::CIFAR10_CLASSES.join(", "));
    }
    bail!("--target `{s}`: give the class index (0..{})", k - 1)
}

/// The `k` most probable classes, best first.
fn top(p: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..p.len() as u32).collect();
    idx.sort_by(|a, b| p[*b as usize].total_cmp(&p[*a as usize]));
    idx.into_iter().take(k).map(|c| (c, p[c as usize])).collect()
}

fn probs(model: &Classifier, x: &[f32], b: usize, side: usize) -> Vec<f32> {
    let dev = model.fc_weight().device();
    tensor_io::to_vec(burn::tensor::activation::softmax(model.forward(tensor_io::images(x.to_vec(), b, side, side, &dev)), 1))
}

#[derive(Serialize)]
struct Report<'a> {
    file: String,
    model: &'a str,
    framework: Framework,
    interpreter: &'a str,
    variant: Variant,
    predicted: u32,
    predicted_name: String,
    target: u32,
    target_name: String,
    success: bool,
    target_prob: f32,
    adversarial_top5: Vec<(u32, String, f32)>,
    linf: f32,
    l2: f32,
    map_l1: f64,
    map_iou: f64,
    one_minus_ssim: f64,
    success_float: bool,
    target_prob_float: f32,
    iterations: usize,
    seconds: f64,
    failure: Option<String>,
    config: &'a CheckedAttack,
    command: String,
}

fn write_png(path: &Path, chw: &[u8], side: usize) -> anyhow::Result<()> {
    rgb_image(chw, side)?.save(path).with_context(|| format!("writing {}", path.display()))
}

/// Attack every image of `files`; returns the decoded batch and the outcomes per variant.
pub fn run(job: &ImageJob, files: &[PathBuf]) -> anyhow::Result<(AttackBatch, Vec<(Variant, Vec<ImageOutcome>)>)> {
    let side = job.data.side();
    let (mut images, mut names) = (Vec::new(), Vec::new());
    for f in files {
        match advedge_data::decode_image(f, advedge_data::Resize::ShorterThenCrop(side as u32)) {
            Ok((px, _, _)) => {
                images.extend(px.iter().map(|&v| v as f32 / 255.0));
                names.push(f.clone());
            }
            Err(e) if job.skip_bad => tracing::warn!("skipping {}: {e}", f.display()),
            Err(e) => bail!("{e} (pass --skip-bad to skip files that do not decode)"),
        }
    }
    if names.is_empty() {
        bail!("no image decoded");
    }
    std::fs::create_dir_all(job.out).with_context(|| format!("creating {}", job.out.display()))?;
    let b = names.len();
    let k = job.model.fc_weight().dims()[1] as u32;
    let p0 = probs(job.model, &images, b, side);
    let labels: Vec<u32> = (0..b).map(|j| top(&p0[j * k as usize..(j + 1) * k as usize], 1)[0].0).collect();
    let indices: Vec<usize> = (0..b).collect();
    let targets = match job.target {
        Some(t) => vec![t; b],
        None => advedge_attacks::rng::batch_targets(job.seed, &labels, &indices, k),
    };
    for (j, f) in names.iter().enumerate() {
        if labels[j] == targets[j] {
            tracing::warn!("{}: the model already predicts the target {} ({})", f.display(), targets[j], class_name(job.data, targets[j]));
        }
    }
    let all = AttackBatch { images: images.clone(), labels: labels.clone(), indices, height: side, width: side, targets: Some(targets.clone()) };
    let n = all.image_len();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut results = Vec::new();
    for (v, cfg) in job.configs {
        let bar = advedge_models::train::progress(b.div_ceil(job.batch) as u64, 0, v.name());
        let mut out = Vec::new();
        for start in (0..b).step_by(job.batch) {
            out.extend(advedge_attacks::run(job.model, job.interp, *v, cfg, &all.slice(start, (start + job.batch).min(b)), None));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let adv: Vec<f32> = out.iter().flat_map(|o| o.adversarial.clone()).collect();
        let p1 = probs(job.model, &adv, b, side);
        for (j, o) in out.iter().enumerate() {
            let stem = format!("{}-{}-{}-{}", names[j].file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), job.framework, job.interp.kind(), v.to_string().replace('+', "plus"));
            let x0 = &images[j * n..(j + 1) * n];
            let (adv_u8, ben_u8) = (to_u8(&o.adversarial), to_u8(x0));
            write_png(&job.out.join(format!("{stem}.png")), &adv_u8, side)?;
            let pa = &p1[j * k as usize..(j + 1) * k as usize];
            let pb = &p0[j * k as usize..(j + 1) * k as usize];
            let diff: Vec<f32> = o.adversarial.iter().zip(x0).map(|(a, c)| a - c).collect();
            let report = Report {
                file: names[j].display().to_string(),
                model: job.model_name,
                framework: job.framework,
                interpreter: job.interp.name(),
                variant: *v,
                predicted: labels[j],
                predicted_name: class_name(job.data, labels[j]),
                target: o.target,
                target_name: class_name(job.data, o.target),
                success: o.success,
                target_prob: o.target_prob,
                adversarial_top5: top(pa, 5).into_iter().map(|(c, p)| (c, class_name(job.data, c), p)).collect(),
                linf: diff.iter().fold(0.0f32, |m, d| m.max(d.abs())),
                l2: diff.iter().map(|d| d * d).sum::<f32>().sqrt(),
                map_l1: l1_mean(&o.adversarial_map, &o.benign_map),
                map_iou: iou_topk_mean(&o.adversarial_map, &o.benign_map, &DEFAULT_IOU_KS),
                one_minus_ssim: 1.0 - ssim(x0, &o.adversarial, 3, side, side, SsimConfig::default()),
                success_float: o.float.success,
                target_prob_float: o.float.target_prob,
                iterations: o.iterations,
                seconds: o.seconds,
                failure: o.failure.clone(),
                config: cfg,
                command: command.clone(),
            };
            let json = job.out.join(format!("{stem}.json"));
            std::fs::write(&json, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", json.display()))?;
            let fmt = |(c, p): (u32, f32)| format!("{} {:.3}", class_name(job.data, c), p);
            let mut label = vec![names[j].file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), format!("{} {} {}", job.framework.label(), job.interp.name(), v.name())];
            label.push(format!("benign: {}", fmt(top(pb, 1)[0])));
            label.push(format!("target: {}", class_name(job.data, o.target)));
            label.push(format!("{}: {}", if o.success { "fooled" } else { "not fooled" }, fmt(top(pa, 1)[0])));
            label.extend(top(pa, 3).into_iter().skip(1).map(|t| format!("  {}", fmt(t))));
            let amplified: Vec<u8> = diff.iter().map(|d| ((0.5 + AMPLIFY * d).clamp(0.0, 1.0) * 255.0).round() as u8).collect();
            let row = Row {
                label,
                panels: vec![
                    ("benign".into(), Panel::Image(ben_u8)),
                    ("adversarial".into(), Panel::Image(adv_u8)),
                    (format!("perturbation x{AMPLIFY}"), Panel::Image(amplified)),
                    ("benign map".into(), Panel::Map(o.benign_map.clone())),
                    ("adversarial map".into(), Panel::Map(o.adversarial_map.clone())),
                ],
            };
            render_rows(&job.out.join(format!("{stem}-panel.png")), &format!("{} on {}", job.model_name, names[j].display()), std::slice::from_ref(&row))?;
        }
        results.push((*v, out));
    }
    Ok((all, results))
}
