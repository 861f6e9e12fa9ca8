//! `mask-quality`: does MASK find regions that matter? For N correctly classified test images,
//! replace the most salient fraction `area` of the image (by the upsampled 1 - m) with its blurred
//! version, and compare the drop of the true-class probability with replacing a random region of
//! the same area (random cells of the mask grid). Writes results/interpreters/mask_quality_<model>.md.
//!
//! `rts-reference`: how far apart are the benign RTS maps for the true class y and for the attack's
//! target t (the same seeded targets as the attack cells)? The RTS attacks aim at M(x; t) (the
//! authors' code, spec 1.1) while the metrics compare with M(x; y) (spec 9), so this distance is
//! the L1 an attack that hits its own target exactly would still report. Writes
//! results/interpreters/rts_reference_<model>.md, and `.json` for the claims page.
use crate::attack_cmd::correct_images;
use crate::repo;
use advedge_interpreters::mask::{blur, optimise, MaskConfig};
use advedge_metrics::mean_std;
use advedge_models::tensor_io;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;

#[derive(clap::Args)]
pub struct MaskQualityArgs {
    #[arg(long, default_value = "resnet20")]
    model: String,
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// Adam iterations of MASK (the paper's v1 uses 500).
    #[arg(long, default_value_t = 500)]
    iters: usize,
    /// Fraction of mask cells deleted.
    #[arg(long, default_value_t = 0.2)]
    area: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use MASK v2 instead of v1.
    #[arg(long)]
    v2: bool,
}

fn probs_of(model: &advedge_models::Classifier, x: Tensor<4>, labels: &[u32]) -> Vec<f64> {
    let p = tensor_io::to_vec(softmax(model.forward(x), 1));
    labels.iter().enumerate().map(|(i, &l)| p[i * 10 + l as usize] as f64).collect()
}

pub fn mask_quality(a: MaskQualityArgs) -> anyhow::Result<()> {
    let (card, model) = repo::load_model(&a.model, None)?;
    let dev = repo::device();
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    if data != crate::data_source::DataSource::Cifar10 {
        anyhow::bail!("mask-quality is written for the CIFAR models (32x32); `{}` is an ImageNet model", a.model);
    }
    let clean = correct_images(&model, a.images, &dev, data, false)?;
    let b = clean.len();
    let base = if a.v2 { MaskConfig::v2_cifar() } else { MaskConfig::v1_cifar() };
    let cfg = MaskConfig { iters: a.iters, ..base };
    let x = tensor_io::images(clean.images.clone(), b, 32, 32, &dev);
    let t0 = std::time::Instant::now();
    let m = tensor_io::to_vec(optimise(&model, x.clone(), tensor_io::labels(&clean.labels, &dev), &cfg));
    let secs = t0.elapsed().as_secs_f64();
    let s = cfg.mask_size;
    let cells = s * s;
    let k = ((a.area * cells as f64).round() as usize).max(1);
    // keep-masks (1 = keep): salient = lowest m; random = k random cells per image
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let mut keep_sal = vec![1f32; b * cells];
    let mut keep_rnd = vec![1f32; b * cells];
    for i in 0..b {
        let mi = &m[i * cells..(i + 1) * cells];
        let mut order: Vec<usize> = (0..cells).collect();
        order.sort_by(|&p, &q| mi[p].total_cmp(&mi[q]));
        for &c in &order[..k] {
            keep_sal[i * cells + c] = 0.0;
        }
        order.shuffle(&mut rng);
        for &c in &order[..k] {
            keep_rnd[i * cells + c] = 0.0;
        }
    }
    let xb = blur(x.clone(), cfg.blur_ksize, cfg.blur_sigma);
    let delete = |keep: Vec<f32>| {
        // nearest-cell deletion: every pixel of a deleted cell is replaced by the blurred pixel
        let kt = Tensor::<4>::from_data(TensorData::new(keep, [b, 1, s, s]), &dev);
        let up = kt.reshape([b, 1, s, 1, s, 1]).expand([b, 1, s, 32 / s, s, 32 / s]).reshape([b, 1, 32, 32]);
        up.clone() * x.clone() + (up.neg() + 1.0) * xb.clone()
    };
    let p0 = probs_of(&model, x.clone(), &clean.labels);
    let ps = probs_of(&model, delete(keep_sal), &clean.labels);
    let pr = probs_of(&model, delete(keep_rnd), &clean.labels);
    let drop_s = mean_std(&p0.iter().zip(&ps).map(|(a, b)| a - b).collect::<Vec<_>>());
    let drop_r = mean_std(&p0.iter().zip(&pr).map(|(a, b)| a - b).collect::<Vec<_>>());
    let wins = p0.iter().zip(ps.iter().zip(&pr)).filter(|(_, (s, r))| s < r).count();
    let md = format!(
        "# MASK quality ({}, {b} correctly classified CIFAR-10 test images)\n\nCommand: `cargo xtask mask-quality --model {} --images {} --iters {} --area {}{}`. MASK {} at CIFAR scale ({s}x{s} mask, {}-tap blur sigma {}), {} Adam iterations, {:.0} s for the batch.\nDeleting = replacing whole mask cells with the blurred image; {k} of {cells} cells ({:.0}% of the area).\n\n| deleted region | mean drop of p(true class) | std |\n|---|---|---|\n| most salient (lowest m) | {:.4} | {:.4} |\n| random, same area | {:.4} | {:.4} |\n\nThe salient deletion lowers the probability more than the random one on {wins} of {b} images. Mean mask value {:.3}.\n",
        card.description, a.model, a.images, a.iters, a.area, if a.v2 { " --v2" } else { "" }, if a.v2 { "v2" } else { "v1" }, cfg.blur_ksize, cfg.blur_sigma, a.iters, secs, 100.0 * k as f64 / cells as f64,
        drop_s.mean, drop_s.std, drop_r.mean, drop_r.std, m.iter().map(|v| *v as f64).sum::<f64>() / m.len() as f64
    );
    let dir = repo::root().join("results").join("interpreters");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("mask{}_quality_{}.md", if a.v2 { "_v2" } else { "" }, a.model)), &md)?;
    print!("{md}");
    Ok(())
}

#[derive(clap::Args)]
pub struct RtsReferenceArgs {
    #[arg(long, default_value = "resnet20")]
    model: String,
    /// Correctly classified test images (the first N, as the attack cells take them).
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// Seed of the target draw (a grid profile's `seed`, 0 by default).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn rts_reference(a: RtsReferenceArgs) -> anyhow::Result<()> {
    use advedge_metrics::l1_mean;
    let (card, model) = repo::load_model(&a.model, None)?;
    let dev = repo::device();
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    let interp = crate::names::parse_interpreter("rts", &a.model, &repo::weights_dir())?;
    let clean = correct_images(&model, a.images, &dev, data, false)?;
    let (b, side, n) = (clean.len(), clean.height, clean.image_len());
    let k = model.fc_weight().dims()[1] as u32;
    let targets = advedge_attacks::rng::batch_targets(a.seed, &clean.labels, &clean.indices, k);
    let maps = |classes: &[u32]| -> Vec<f32> {
        let mut out = Vec::new();
        for c in (0..b).collect::<Vec<_>>().chunks(50) {
            let x: Vec<f32> = c.iter().flat_map(|&i| clean.images[i * n..(i + 1) * n].iter().copied()).collect();
            let cls: Vec<u32> = c.iter().map(|&i| classes[i]).collect();
            out.extend(tensor_io::to_vec(interp.explain(&model, tensor_io::images(x, c.len(), side, side, &dev), tensor_io::labels(&cls, &dev))));
        }
        out
    };
    let (my, mt) = (maps(&clean.labels), maps(&targets));
    let ml = my.len() / b;
    let per = |i: usize, j: usize, other: &[f32]| l1_mean(&other[j * ml..(j + 1) * ml], &my[i * ml..(i + 1) * ml]);
    let yt = mean_std(&(0..b).map(|i| per(i, i, &mt)).collect::<Vec<_>>());
    // Scale: the map of the next image (a different picture) for its own true class.
    let other = mean_std(&(0..b).map(|i| per(i, (i + 1) % b, &my)).collect::<Vec<_>>());
    let md = format!(
        "# RTS reference maps ({}, {b} correctly classified test images)\n\nCommand: `cargo xtask rts-reference --model {} --images {} --seed {}`. Per-element L1 between benign RTS maps ({ml} elements), targets drawn as in the attack cells (seed {}).\n\n| pair | mean L1 | std |\n|---|---|---|\n| M(x; t) vs M(x; y): the attack's target vs the metric's reference | {:.4} | {:.4} |\n| M(x'; y') vs M(x; y): another image's map | {:.4} | {:.4} |\n\nThe RTS attacks aim at M(x; t) (the authors' code) while the L1 / IoU columns compare with M(x; y), so the first row is the L1 that an attack reaching its own target exactly would still show.\n",
        card.description, a.model, a.images, a.seed, a.seed, yt.mean, yt.std, other.mean, other.std
    );
    let json = rts_reference_json(&a.model);
    std::fs::create_dir_all(json.parent().expect("results/interpreters"))?;
    std::fs::write(json.with_extension("md"), &md)?;
    let record = RtsReferenceRecord { model: a.model.clone(), images: b, seed: a.seed, target_vs_true_l1: (yt.mean, yt.std), other_image_l1: (other.mean, other.std) };
    std::fs::write(&json, serde_json::to_string_pretty(&record)?)?;
    print!("{md}");
    Ok(())
}

/// What `rts-reference` measured, for pages that cite it (the claims page's notes on RTS).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RtsReferenceRecord {
    pub model: String,
    /// Correctly classified test images measured (the first ones, as the attack cells take them).
    pub images: usize,
    pub seed: u64,
    /// Mean and std over the images of the L1 between M(x; t) and M(x; y).
    pub target_vs_true_l1: (f64, f64),
    /// The same between M(x'; y') of the next image and M(x; y): the scale of unrelated maps.
    pub other_image_l1: (f64, f64),
}

/// Where `rts-reference` stores its record for `model`.
pub fn rts_reference_json(model: &str) -> std::path::PathBuf {
    repo::root().join("results").join("interpreters").join(format!("rts_reference_{model}.json"))
}
