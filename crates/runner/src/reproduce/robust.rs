//! Table VII (spec 12): a normally trained (NT) and an interpretation-aware adversarially trained
//! (AT) wide CIFAR ResNet with CAM, evaluated under PGD at several eps.
//!
//! Both models train through the models crate's resumable loop (checkpoints in the settings'
//! `run_dir`, default `runs/robust/<profile>`, one folder per `nt|at`; a killed run resumes) with `advedge_countermeasures::robust`'s
//! objective; weights + cards go to the settings' `weights_dir` (committed for `cifar`). Each
//! evaluation is cached as `<out>/robust/<kind>-<key>.json`, keyed by the weights fingerprint and
//! the evaluation settings, so re-rendering is cheap.
use super::grid::RobustSettings;
use super::store::{write_atomic, Stage};
use crate::repo;
use advedge_countermeasures::robust::{evaluate, CamRobust, RobustEval, RobustPoint};
use super::verdicts::{paired, write_part, Part};
use advedge_models::train::train_with;
use advedge_models::{tensor_io, ModelCard};
use burn::module::Module;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const PAPER_ACC: [(&str, [f64; 7]); 2] = [("NT", [0.785, 0.190, 0.090, 0.080, 0.085, 0.085, 0.080]), ("AT", [0.685, 0.565, 0.465, 0.335, 0.280, 0.265, 0.220])];
const PAPER_TAU: [(&str, [f64; 6]); 2] = [("NT", [0.542, 0.132, -0.06, -0.100, -0.083, -0.183]), ("AT", [0.870, 0.782, 0.736, 0.703, 0.706, 0.676])];
const PAPER_EPS: [f64; 7] = [0.0, 2.0, 4.0, 6.0, 8.0, 9.0, 10.0];

impl RobustSettings {
    fn objective(&self, kind: &str) -> CamRobust {
        let at = kind == "at";
        CamRobust {
            gamma: if at { self.gamma } else { 0.0 },
            eps: self.train_eps255 / 255.0,
            steps: if at { self.inner_steps } else { 0 },
            alpha: self.inner_alpha255 / 255.0,
        }
    }
}

/// Train (or resume, or reuse) one model; returns its card path, or `None` when the model is not
/// trained and `stage` only reads.
fn trained(profile: &str, s: &RobustSettings, kind: &str, stage: Stage) -> anyhow::Result<Option<PathBuf>> {
    let dir = repo::root().join(s.weights_dir.as_deref().unwrap_or("data/weights"));
    std::fs::create_dir_all(&dir)?;
    let name = format!("{}-{kind}", s.name);
    let card_path = dir.join(format!("{name}.toml"));
    let obj = s.objective(kind);
    let expected = format!("{} | objective: {}", s.arch.describe(), advedge_models::train::Objective::tag(&obj));
    if let Ok(card) = ModelCard::load(&card_path) {
        if card.architecture == s.arch && card.description == expected && card.epochs == s.train.epochs {
            return Ok(Some(card_path));
        }
        if stage == Stage::Collect {
            return Ok(None);
        }
        tracing::warn!("{} was made with other settings: retraining", card_path.display());
    }
    if stage == Stage::Collect {
        return Ok(None);
    }
    let train = advedge_data::load_cifar10("train", false)?;
    let dev = repo::device().autodiff();
    let run_dir = match &s.run_dir {
        Some(d) => repo::root().join(d).join(kind),
        None => repo::root().join("runs/robust").join(profile).join(kind),
    };
    tracing::info!("Table VII: training {name} ({expected}) in {}", run_dir.display());
    let t = train_with(&s.arch, &s.train, &train, &run_dir, &dev, None, &obj)?.context("training stopped early")?;
    let test = advedge_data::load_cifar10("test", false)?;
    let eval_dev = repo::device();
    let model = t.model.to_device(&eval_dev);
    let (correct, n) = advedge_models::train::evaluate(&model, &test, 500, &eval_dev);
    let weights_file = format!("{name}.safetensors");
    tensor_io::save_weights(&model, &dir.join(&weights_file))?;
    let card = ModelCard {
        name: name.clone(),
        description: expected,
        architecture: s.arch.clone(),
        parameters: model.num_params(),
        dataset: "CIFAR-10 (../shared/data/cifar10 JPEGs)".into(),
        epochs: s.train.epochs,
        batch_size: s.train.batch_size,
        lr_max: s.train.lr_max,
        weight_decay: s.train.weight_decay,
        schedule: "SGD nesterov momentum 0.9, one-cycle: linear warm-up, cosine to 0".into(),
        augmentation: "random crop 32 with 4 px zero padding, horizontal flip p=0.5".into(),
        seed: s.train.seed,
        git_commit: repo::git_commit(),
        backend: repo::device_name(),
        train_seconds: t.state.elapsed_secs,
        test_images: n,
        test_accuracy: correct as f64 / n as f64,
        weights_file,
        warm_start: None,
        history: t.state.history,
    };
    card.save(&card_path)?;
    Ok(Some(card_path))
}

/// Version of the evaluation's method, hashed into the cache key: 2 keeps each image's worst
/// outcome over restarts and step sizes, with per-image start noise.
const EVAL_FORMAT: u32 = 2;

impl RobustSettings {
    /// The evaluation's attacks (the batch does not change the outcomes, so it is not in the key).
    fn eval(&self) -> RobustEval {
        RobustEval { steps: self.eval_steps, restarts: self.eval_restarts, step_factors: self.eval_step_factors.clone(), batch: self.eval_batch, seed: self.train.seed }
    }
}

#[derive(Serialize, Deserialize)]
struct EvalCache {
    key: String,
    points: Vec<RobustPoint>,
}

/// The evaluated model, or `None` when it is not trained or not evaluated and `stage` only reads.
fn evaluated(profile: &str, s: &RobustSettings, kind: &str, out_dir: &Path, stage: Stage) -> anyhow::Result<Option<(ModelCard, Vec<RobustPoint>)>> {
    let Some(card_path) = trained(profile, s, kind, stage)? else { return Ok(None) };
    let card = ModelCard::load(&card_path)?;
    let weights = card.weights_path(&card_path);
    let cfg = s.eval();
    let key = format!("{:016x}", repo::fnv1a(format!("{EVAL_FORMAT}|{}|{:?}|{}|{}", repo::fingerprint(&weights), s.eval_eps255, s.eval_images, serde_json::to_string(&RobustEval { batch: 0, ..cfg.clone() })?).as_bytes()));
    let cache = out_dir.join("robust").join(format!("{kind}-{key}.json"));
    if let Some(c) = std::fs::read_to_string(&cache).ok().and_then(|t| serde_json::from_str::<EvalCache>(&t).ok()) {
        return Ok(Some((card, c.points)));
    }
    if stage == Stage::Collect {
        return Ok(None);
    }
    let dev = repo::device();
    let model = tensor_io::load_weights(&card.architecture, &weights, &dev)?;
    let test = advedge_data::load_cifar10("test", false)?;
    let idx = test.spread_indices(s.eval_images.min(test.len()));
    let (x, y) = test.batch_f32(&idx);
    tracing::info!("Table VII: evaluating {} on {} test images at eps {:?}/255", card.name, idx.len(), s.eval_eps255);
    let t0 = std::time::Instant::now();
    let points = evaluate(&model, &x, &y, 32, &s.eval_eps255, &cfg);
    tracing::info!("Table VII: {} evaluated in {:.0} s", card.name, t0.elapsed().as_secs_f64());
    write_atomic(&cache, serde_json::to_string_pretty(&EvalCache { key, points: points.clone() })?.as_bytes())?;
    // Evaluations under older settings or code of the same model are stale now.
    for e in std::fs::read_dir(out_dir.join("robust"))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{kind}-")) && name.ends_with(".json") && e.path() != cache {
            std::fs::remove_file(e.path()).with_context(|| format!("removing the stale evaluation {}", e.path().display()))?;
        }
    }
    Ok(Some((card, points)))
}

fn cell(ours: Option<f64>, ci: Option<(f64, f64)>, paper: Option<f64>) -> String {
    let o = match (ours, ci) {
        (Some(o), Some((lo, hi))) => format!("{o:.3} [{lo:.3}, {hi:.3}]"),
        (Some(o), None) => format!("{o:.3}"),
        (None, _) => "–".into(),
    };
    match (ours, paper) {
        (Some(v), Some(p)) => format!("{o} / {p:.3} ({:+.3})", v - p),
        (_, Some(p)) => format!("{o} / {p:.3}"),
        (_, None) => format!("{o} / –"),
    }
}

/// Table VII's part of the claims page: AT is more accurate than NT under PGD, and its CAMs are
/// more stable (higher tau), at every eps > 0, and AT pays in clean accuracy; each paired over
/// the same test images (correctness as 0/1, so the sign-flip test is McNemar's exact test).
fn claims_part(profile: &str, nt: &[RobustPoint], at: &[RobustPoint]) -> Part {
    let mut tests = Vec::new();
    for (n, a) in nt.iter().zip(at).filter(|(n, a)| n.eps255 == a.eps255 && n.correct.len() == a.correct.len()) {
        let d: Vec<f64> = a.correct.iter().zip(&n.correct).map(|(x, y)| *x as u8 as f64 - *y as u8 as f64).collect();
        if n.eps255 == 0.0 {
            tests.push(paired("AT pays for robustness in clean accuracy", "eps 0".into(), "AT vs NT".into(), "accuracy", -1.0, &d));
            continue;
        }
        tests.push(paired("AT more accurate than NT under PGD", format!("eps {}/255", n.eps255), "AT vs NT".into(), "accuracy", 1.0, &d));
        if n.taus.len() == a.taus.len() {
            let d: Vec<f64> = a.taus.iter().zip(&n.taus).map(|(x, y)| x - y).collect();
            tests.push(paired("AT's CAMs more stable than NT's under attack (Kendall tau)", format!("eps {}/255", n.eps255), "AT vs NT".into(), "tau", 1.0, &d));
        }
    }
    let method = format!("Data: Table VII's evaluation, NT and AT on the same test images, each image's worst outcome over the attack's restarts and step sizes. Accuracy: per-image correctness (1/0) of AT minus NT, sign-flip test (McNemar's exact test when exact). Tau: per-image tau of AT minus NT. Generated by `cargo xtask reproduce table7 --profile {profile}`.");
    Part { name: "robust".into(), title: "Robust training (Table VII)".into(), method, notes: Vec::new(), tests }
}

/// The paper's expected shape (spec 12), checked on the results, not forced: AT has higher
/// robust accuracy and higher tau than NT at every eps > 0, at some cost in clean accuracy.
fn shape_check(nt_clean: f64, nt: &[RobustPoint], at_clean: f64, at: &[RobustPoint]) -> String {
    let pairs: Vec<(&RobustPoint, &RobustPoint)> = nt.iter().zip(at).filter(|(n, _)| n.eps255 > 0.0).collect();
    let list = |f: &dyn Fn(&RobustPoint, &RobustPoint) -> bool| pairs.iter().filter(|(n, a)| !f(n, a)).map(|(n, _)| format!("{}", n.eps255)).collect::<Vec<_>>();
    let verdict = |bad: Vec<String>| if bad.is_empty() { "holds at every eps > 0".to_string() } else { format!("does not hold at eps {}/255", bad.join(", ")) };
    let acc = verdict(list(&|n, a| a.accuracy > n.accuracy));
    let tau = verdict(list(&|n, a| matches!((a.kendall_tau, n.kendall_tau), (Some(x), Some(y)) if x > y)));
    format!(
        "\n## Shape check\n\n- AT more accurate than NT under PGD: {acc}.\n- AT's CAMs more stable (higher tau) than NT's: {tau}.\n- Clean accuracy: AT {at_clean:.4} vs NT {nt_clean:.4} ({}).\n",
        if at_clean < nt_clean { "AT pays for robustness, as in the paper" } else { "AT is not less accurate, unlike the paper" }
    )
}

/// Train/evaluate NT and AT and write `tables/table7.{csv,md}`.
pub fn render(profile: &str, s: &RobustSettings, out_dir: &Path, stage: Stage) -> anyhow::Result<Vec<PathBuf>> {
    let tdir = out_dir.join("tables");
    std::fs::create_dir_all(&tdir)?;
    let mut md = format!(
        "# Table VII: interpretation-aware robust training (CAM)\n\nProfile `{profile}`. Model: {}; AT objective: cross-entropy + {} x the 2-class CAM discrepancy, inner PGD eps {}/255, {} steps of {}/255; {} epochs ({} training images). Evaluation: {} test images, PGD with {} steps, {} random start(s) x step sizes {:?} x eps / steps, each image keeping its worst outcome (accuracy: untargeted cross-entropy; tau: maximising the L1 change of the true-class CAM). Each entry: ours [95 % interval: Wilson for accuracies, bootstrap over images for tau] / paper (difference). Generated by `cargo xtask reproduce table7 --profile {profile}`.\n\n| Metric | Model |",
        s.arch.describe(), s.gamma, s.train_eps255, s.inner_steps, s.inner_alpha255, s.train.epochs, s.train.limit_train.unwrap_or(50_000), s.eval_images, s.eval_steps, s.eval_restarts, s.eval_step_factors
    );
    let mut csv = String::from("metric,model,eps255,ours,ours_lo,ours_hi,paper,test_accuracy_clean\n");
    for e in &s.eval_eps255 {
        md.push_str(&if *e > 0.0 { format!(" eps {e}/255 |") } else { " eps 0 (clean) |".to_string() });
    }
    md.push('\n');
    md.push_str(&"|---".repeat(2 + s.eval_eps255.len()));
    md.push_str("|\n");
    let paper_at = |e: f64, row: &[f64]| PAPER_EPS.iter().position(|p| (p - e).abs() < 1e-9).and_then(|i| row.get(i).copied());
    let mut results = Vec::new();
    for (label, kind) in [("NT", "nt"), ("AT", "at")] {
        let Some((card, pts)) = evaluated(profile, s, kind, out_dir, stage)? else {
            println!("Table VII: the {label} model is not trained or evaluated yet; run `cargo xtask reproduce table7 --profile {profile}`");
            return Ok(Vec::new());
        };
        results.push((label, card, pts));
    }
    for (metric, is_acc) in [("Testing accuracy", true), ("Kendall τ under attack on CAM", false)] {
        for (label, card, pts) in &results {
            md.push_str(&format!("| {metric} | {label} ({}) |", card.name));
            for p in pts {
                let (ours, ci, paper) = if is_acc {
                    (Some(p.accuracy), Some(p.accuracy_ci), PAPER_ACC.iter().find(|r| r.0 == *label).and_then(|r| paper_at(p.eps255, &r.1)))
                } else {
                    let tau_row = PAPER_TAU.iter().find(|r| r.0 == *label).map(|r| r.1.to_vec()).unwrap_or_default();
                    // The paper's 6 tau values sit under eps 2..10 (spec 12 assumption).
                    (p.kendall_tau, p.tau_ci, PAPER_EPS[1..].iter().position(|q| (q - p.eps255).abs() < 1e-9).and_then(|i| tau_row.get(i).copied()))
                };
                if !is_acc && p.eps255 == 0.0 {
                    md.push_str(" – |");
                    continue;
                }
                md.push_str(&format!(" {} |", cell(ours, ci, paper)));
                let fmt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
                csv.push_str(&format!("{},{label},{},{},{},{},{},{:.4}\n", if is_acc { "accuracy" } else { "kendall_tau" }, p.eps255, fmt(ours), fmt(ci.map(|c| c.0)), fmt(ci.map(|c| c.1)), fmt(paper), card.test_accuracy));
            }
            md.push('\n');
        }
    }
    md.push_str("\nClean accuracy on all 10,000 test images (model cards): ");
    md.push_str(&results.iter().map(|(l, c, _)| format!("{l} {:.4}", c.test_accuracy)).collect::<Vec<_>>().join(", "));
    md.push_str(". The paper's WRN, gamma, training eps and epochs are not given (spec 12); ours are in the grid file.\n");
    if let [(_, nt_card, nt), (_, at_card, at)] = &results[..] {
        md.push_str(&shape_check(nt_card.test_accuracy, nt, at_card.test_accuracy, at));
        md.push_str("\nPaired tests of these comparisons over the same test images: `tables/claims.md`.\n");
        // The claims page is the main grid's; this grid's index only links it.
        let page = write_part(profile, out_dir, claims_part(profile, nt, at))?;
        tracing::info!("claims page updated: {}", page.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let (mp, cp) = (tdir.join("table7.md"), tdir.join("table7.csv"));
    write_atomic(&mp, md.as_bytes())?;
    write_atomic(&cp, csv.as_bytes())?;
    Ok(vec![mp, cp])
}
