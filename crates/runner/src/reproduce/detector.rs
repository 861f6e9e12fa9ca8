//! Tables V and VI (spec 11): the multi-interpreter detector on the PGD AdvEdge cells of a grid.
//!
//! For a combination C of interpreters (a pair, a pair plus its product channel, or a triple):
//! for every I_a in C, the successful adversarial examples crafted against I_a (cell
//! `<model>/pgd/<I_a>/advedge`) give adversarial samples (maps of every I in C for the predicted
//! class t) and their clean sources give benign samples (maps for y). Each source image gives
//! one pair: its benign sample once, and one adversarial sample, taken from the attacked cell
//! `source mod |C|` when that cell fooled it (else the first that did), so no benign sample is
//! counted twice and the pairs are independent units. Maps are resized to a common side; pairs
//! are split by source image, once per split seed (`split_seeds`); each split trains the CNN +
//! boosting detector of `advedge_countermeasures::detector`. The accuracy is the mean over source
//! images of each one's test correctness (over its two samples and the splits that tested it),
//! with a 95 % percentile-bootstrap interval over source images. Maps are cached per cell
//! (`<stem>.detmaps.json`) and results per combination (`detector/<model>-<combo>-<key>.json`),
//! so re-rendering is cheap.
use super::cell::Cell;
use super::grid::DetectorSettings;
use super::store::{status, write_atomic, Stage, Status};
use super::verdicts::{paired, write_part, Part};
use crate::repo;
use advedge_countermeasures::detector::{train_and_evaluate, Booster, DetectorResult, Samples};
use advedge_interpreters::mask::MaskConfig;
use advedge_interpreters::Interpreter;
use advedge_models::tensor_io;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The paper's combinations: pairs as (row, column) of Table V's lower triangle, then triples.
pub fn combos() -> (Vec<[&'static str; 2]>, Vec<[&'static str; 3]>) {
    let pairs = vec![["CAM", "Grad"], ["MASK", "Grad"], ["MASK", "CAM"], ["RTS", "Grad"], ["RTS", "CAM"], ["RTS", "MASK"]];
    let triples = vec![["Grad", "CAM", "MASK"], ["Grad", "CAM", "RTS"], ["Grad", "MASK", "RTS"], ["CAM", "MASK", "RTS"]];
    (pairs, triples)
}

use super::store::{successful_maps, MapsEntry as Entry};

/// Per extracting interpreter: (source indices, benign maps, adversarial maps) of a cell's
/// successful examples.
#[derive(Serialize, Deserialize, Default)]
struct CellMaps {
    sources: Vec<usize>,
    benign: BTreeMap<String, Vec<Vec<f32>>>,
    adversarial: BTreeMap<String, Vec<Vec<f32>>>,
}

fn extractor(name: &str, model: &str, mask_iters: usize) -> anyhow::Result<Interpreter> {
    Ok(match name {
        "MASK" => {
            let data = crate::data_source::DataSource::for_model(model, &repo::weights_dir());
            Interpreter::Mask(MaskConfig { iters: mask_iters, ..data.mask(false) })
        }
        other => crate::names::parse_interpreter(other, model, &repo::weights_dir())?,
    })
}

/// `Ok(Err(path))` when the cell recorded successes but its maps file is missing.
fn cell_maps(c: &Cell, dir: &Path, names: &[&str], mask_iters: usize) -> anyhow::Result<Result<CellMaps, PathBuf>> {
    let cache = dir.join(format!("{}.detmaps-{mask_iters}.json", c.stem()));
    let mut cm: CellMaps = std::fs::read_to_string(&cache).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let missing: Vec<&str> = names.iter().copied().filter(|n| !cm.benign.contains_key(*n)).collect();
    if missing.is_empty() {
        return Ok(Ok(cm));
    }
    let ok: Vec<Entry> = match successful_maps(dir, c)? {
        Ok(v) => v,
        Err(missing) => return Ok(Err(missing)),
    };
    cm.sources = ok.iter().map(|e| e.image_index).collect();
    let (card, model) = repo::load_model(&c.model, None)?;
    let dev = repo::device();
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    let (test, side) = (data.test_set()?, data.side());
    let (clean, _) = test.batch_f32(&cm.sources);
    let adv: Vec<f32> = ok.iter().flat_map(|e| e.adversarial_u8.iter().map(|&v| v as f32 / 255.0)).collect();
    let labels: Vec<u32> = ok.iter().map(|e| e.label).collect();
    let targets: Vec<u32> = ok.iter().map(|e| e.target).collect();
    let b = ok.len();
    for name in missing {
        let it = extractor(name, &c.model, mask_iters)?;
        let (mut bm, mut am) = (vec![], vec![]);
        for start in (0..b).step_by(50) {
            let end = (start + 50).min(b);
            let n = end - start;
            let px = 3 * side * side;
            let sl = |v: &[f32]| v[start * px..end * px].to_vec();
            let be = tensor_io::to_vec(it.explain(&model, tensor_io::images(sl(&clean), n, side, side, &dev), tensor_io::labels(&labels[start..end], &dev)));
            let ad = tensor_io::to_vec(it.explain(&model, tensor_io::images(sl(&adv), n, side, side, &dev), tensor_io::labels(&targets[start..end], &dev)));
            let ml = be.len() / n.max(1);
            bm.extend(be.chunks(ml.max(1)).map(|c| c.to_vec()));
            am.extend(ad.chunks(ml.max(1)).map(|c| c.to_vec()));
        }
        cm.benign.insert(name.to_string(), bm);
        cm.adversarial.insert(name.to_string(), am);
    }
    write_atomic(&cache, serde_json::to_string(&cm)?.as_bytes())?;
    Ok(Ok(cm))
}

/// What a table entry holds: a trained detector, or why there is none.
pub(super) enum Outcome {
    /// An attacked cell of the combination is not done.
    Pending,
    /// The attacked cells are done but their successful examples come from fewer source images
    /// than a train/test split needs (a random network in a smoke run, or a tiny profile).
    TooFew { examples: usize },
    /// An attacked cell recorded successes but its maps file (git-ignored) is missing.
    NoMaps { cell: String, path: PathBuf },
    /// Not trained yet, and this stage only reads (`collect`).
    NotComputed,
    Done(Detection),
}

/// A combination's detectors, one per split seed, and the accuracy over source images.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Detection {
    pub(super) runs: Vec<DetectorResult>,
    /// Source images (= benign/adversarial pairs).
    pub(super) pairs: usize,
    /// Mean over the tested source images of each one's test correctness.
    pub(super) accuracy: f64,
    /// 95 % percentile bootstrap over those source images (seeded).
    pub(super) interval: (f64, f64),
    /// Source images that some split put in the test part.
    tested: usize,
}

impl Detection {
    /// Each tested source image's share of correct test decisions (over its samples and splits).
    fn per_source(runs: &[DetectorResult]) -> BTreeMap<usize, f64> {
        let mut per: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
        for r in runs {
            for (&s, &ok) in r.test_sources.iter().zip(&r.test_correct) {
                let e = per.entry(s).or_default();
                e.0 += ok as u8 as f64;
                e.1 += 1.0;
            }
        }
        per.into_iter().map(|(s, (k, n))| (s, k / n)).collect()
    }
    fn of(runs: Vec<DetectorResult>, pairs: usize) -> Detection {
        let scores: Vec<f64> = Detection::per_source(&runs).into_values().collect();
        let accuracy = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
        let interval = advedge_metrics::bootstrap_mean(&scores, advedge_metrics::BOOTSTRAP_REPS, BOOTSTRAP_SEED);
        Detection { runs, pairs, accuracy, interval, tested: scores.len() }
    }
    pub(super) fn mean(&self, f: impl Fn(&DetectorResult) -> f64) -> f64 {
        self.runs.iter().map(f).sum::<f64>() / self.runs.len().max(1) as f64
    }
    /// Above chance: the interval's lower end is above 0.5.
    fn beats_chance(&self) -> bool {
        self.interval.0 > 0.5
    }
}

/// Seed of the bootstrap over source images.
const BOOTSTRAP_SEED: u64 = 5;
/// Mixed into the model seed for the learning curve's shuffle of source images.
const CURVE_SEED: u64 = 0x6375_7276_65;

impl Outcome {
    pub(super) fn result(&self) -> Option<&Detection> {
        match self {
            Outcome::Done(r) => Some(r),
            _ => None,
        }
    }
}

/// One detector experiment for `model` over interpreters `combo` (with the product channel when
/// `product`), on the first `sources` source images of a seeded shuffle when given (the learning
/// curve: smaller sets are prefixes of larger ones).
#[allow(clippy::too_many_arguments)]
pub(super) fn experiment(model: &str, combo: &[&str], product: bool, sources: Option<usize>, cells: &[Cell], dir: &Path, out_dir: &Path, s: &DetectorSettings, stage: Stage) -> anyhow::Result<Outcome> {
    let mut used = Vec::new();
    for a in combo {
        match cells.iter().find(|c| c.model == model && c.framework == advedge_attacks::Framework::Pgd && c.interpreter.name() == *a && c.variant == advedge_attacks::Variant::AdvEdge) {
            Some(c) if status(dir, c) == Status::Done => used.push(c),
            _ => return Ok(Outcome::Pending),
        }
    }
    let key_src = format!("{}|{}|{product}|{}{}", used.iter().map(|c| c.stem()).collect::<Vec<_>>().join(","), combo.join(","), serde_json::to_string(s)?, sources.map(|n| format!("|sources {n}")).unwrap_or_default());
    let key = format!("{:016x}", repo::fnv1a(key_src.as_bytes()));
    let size = sources.map(|n| format!("-n{n}")).unwrap_or_default();
    let path = out_dir.join("detector").join(format!("{model}-{}{}{size}-{key}.json", combo.join("-"), if product { "-product" } else { "" }));
    if let Some(r) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
        return Ok(Outcome::Done(r));
    }
    if stage == Stage::Collect {
        return Ok(Outcome::NotComputed);
    }
    tracing::info!("training the detector {model} {}{}{}", combo.join("+"), if product { " with the product channel" } else { "" }, sources.map(|n| format!(" on {n} source images")).unwrap_or_default());
    let channels = combo.len() + product as usize;
    let mut maps = Vec::new();
    for c in &used {
        match cell_maps(c, dir, combo, s.mask_iters).with_context(|| format!("maps of {}", c.id()))? {
            Ok(cm) => maps.push(cm),
            Err(path) => return Ok(Outcome::NoMaps { cell: c.id(), path }),
        }
    }
    // Per source image, the (cell, position) pairs that fooled the model on it.
    let mut by_source: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (ci, cm) in maps.iter().enumerate() {
        for (j, &src) in cm.sources.iter().enumerate() {
            by_source.entry(src).or_default().push((ci, j));
        }
    }
    if let Some(n) = sources.filter(|&n| n < by_source.len()) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut order: Vec<usize> = by_source.keys().copied().collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(s.model.seed ^ CURVE_SEED));
        let keep: std::collections::BTreeSet<usize> = order[..n].iter().copied().collect();
        by_source.retain(|k, _| keep.contains(k));
    }
    let mut samples = Samples::new(channels, s.model.side);
    for (&src, found) in &by_source {
        let &(ci, j) = found.iter().find(|(ci, _)| *ci == src % maps.len()).unwrap_or(&found[0]);
        let pick = |m: &BTreeMap<String, Vec<Vec<f32>>>| combo.iter().map(|n| m[*n][j].clone()).collect::<Vec<_>>();
        let (b, a) = (pick(&maps[ci].benign), pick(&maps[ci].adversarial));
        samples.push(&b.iter().map(|v| v.as_slice()).collect::<Vec<_>>(), product, 0, src);
        samples.push(&a.iter().map(|v| v.as_slice()).collect::<Vec<_>>(), product, 1, src);
    }
    let mut runs = Vec::new();
    for k in 0..s.split_seeds as u64 {
        let seed = s.model.seed + k;
        let (train, test) = samples.split(s.train_frac, seed);
        if train.is_empty() || test.is_empty() {
            return Ok(Outcome::TooFew { examples: by_source.len() });
        }
        let cfg = advedge_countermeasures::detector::DetectorConfig { seed, ..s.model.clone() };
        runs.push(train_and_evaluate(&train, &test, &cfg, &repo::device()).map_err(|e| anyhow::anyhow!("detector {model} {}: {e}", combo.join("+")))?);
    }
    let r = Detection::of(runs, by_source.len());
    write_atomic(&path, serde_json::to_string_pretty(&r)?.as_bytes())?;
    Ok(Outcome::Done(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperFile {
    pair: Vec<PaperPair>,
    triple: Vec<PaperTriple>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperPair {
    row: String,
    column: String,
    two_channel: f64,
    three_channel: f64,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperTriple {
    interpreters: Vec<String>,
    accuracy: f64,
}

fn cell_text(r: &Outcome, paper: f64) -> String {
    match r {
        Outcome::Done(r) => format!("{:.3} [{:.3}, {:.3}] / {paper:.3} ({:+.3}; {} pairs, {} split{})", r.accuracy, r.interval.0, r.interval.1, r.accuracy - paper, r.pairs, r.runs.len(), if r.runs.len() == 1 { "" } else { "s" }),
        Outcome::TooFew { examples } => format!("– / {paper:.3} (too few source images to split: {examples})"),
        Outcome::Pending => format!("– / {paper:.3}"),
        Outcome::NoMaps { cell, path } => format!("– / {paper:.3} (maps of {cell} missing: {}; rerun it with --force)", path.display()),
        Outcome::NotComputed => format!("– / {paper:.3} (not trained yet: run `reproduce`)"),
    }
}

/// CSV fields pairs, splits, accuracy, accuracy_lo, accuracy_hi, cnn_accuracy, train_accuracy
/// (empty without a detector).
fn csv_fields(r: &Outcome) -> String {
    match r.result() {
        Some(d) => format!("{},{},{:.4},{:.4},{:.4},{:.4},{:.4}", d.pairs, d.runs.len(), d.accuracy, d.interval.0, d.interval.1, d.mean(|x| x.cnn_accuracy), d.mean(|x| x.train_accuracy)),
        None => ",,,,,,".to_string(),
    }
}

/// The paper's expected shape (spec 11), checked on the results, not forced: every detector beats
/// chance (the lower end of its 95 % interval over source images above 0.5), and some triple
/// beats every pair (2- or 3-channel).
fn shape_check(pairs: &[(String, Detection)], triples: &[(String, Detection)]) -> String {
    let all: Vec<&(String, Detection)> = pairs.iter().chain(triples).collect();
    let above = all.iter().filter(|(_, r)| r.beats_chance()).count();
    let mut s = format!("\n## Shape check\n\n- Above chance (95 % interval over source images above 0.5): {above} of {} detectors.", all.len());
    let below: Vec<String> = all.iter().filter(|(_, r)| !r.beats_chance()).map(|(n, r)| format!("{n} {:.3} [{:.3}, {:.3}]", r.accuracy, r.interval.0, r.interval.1)).collect();
    if !below.is_empty() && below.len() <= 6 {
        s.push_str(&format!(" Not: {}.", below.join("; ")));
    }
    let best = |v: &[(String, Detection)]| v.iter().max_by(|a, b| a.1.accuracy.total_cmp(&b.1.accuracy)).map(|(n, r)| (n.clone(), r.accuracy, r.interval));
    if let (Some((pn, pa, pi)), Some((tn, ta, ti))) = (best(pairs), best(triples)) {
        let verdict = if ti.0 > pi.1 { "holds (the intervals do not overlap)" } else if ta > pa { "holds on the point estimates only (the intervals overlap)" } else { "does not hold" };
        s.push_str(&format!("\n- Some triple beats every pair: {verdict} (best triple {tn} {ta:.3}, best pair {pn} {pa:.3}).\n"));
    } else {
        s.push('\n');
    }
    s
}

/// Both boosting heads on the same CNN features of every detector: test (train) accuracy and
/// fitting time, so the choice of `booster` rests on a measurement.
fn booster_comparison(model: &str, reported: Booster, pairs: &[(String, Detection)], triples: &[(String, Detection)]) -> String {
    let all: Vec<&(String, Detection)> = pairs.iter().chain(triples).filter(|(_, r)| r.runs.iter().all(|x| x.boosters.len() == Booster::ALL.len())).collect();
    if all.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = Booster::ALL.iter().map(|b| b.name()).collect();
    let mut s = format!(
        "\n## Boosting heads on the same CNN features ({model})\n\nTest accuracy (train accuracy) of each head fitted on the same pooled features, mean over the splits; the tables above report `{}`.\n\n| Detector | {} |\n|---|{}\n",
        reported.name(),
        names.join(" | "),
        "---|".repeat(names.len())
    );
    let score = |d: &Detection, i: usize, f: fn(&advedge_countermeasures::detector::BoosterScore) -> f64| d.mean(|r| f(&r.boosters[i]));
    for (name, d) in &all {
        let cells: Vec<String> = (0..names.len()).map(|i| format!("{:.3} ({:.3})", score(d, i, |b| b.accuracy), score(d, i, |b| b.train_accuracy))).collect();
        s.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    let n = all.len() as f64;
    let mean = |i: usize, f: fn(&advedge_countermeasures::detector::BoosterScore) -> f64| all.iter().map(|(_, d)| score(d, i, f)).sum::<f64>() / n;
    let cells: Vec<String> = (0..names.len()).map(|i| format!("{:.3} ({:.3}); {:.2} s", mean(i, |b| b.accuracy), mean(i, |b| b.train_accuracy), mean(i, |b| b.seconds))).collect();
    s.push_str(&format!("| mean of {}; fit + predict time | {} |\n", all.len(), cells.join(" | ")));
    s
}

/// The detector grid's part of the claims page: every detector beats chance (each tested source
/// image's correctness minus 0.5, sign-flip test), and a triple beats each pair it contains
/// (2-channel; per-source correctness paired over the sources both tested). `done` holds
/// (model, interpreters, product channel, result).
fn claims_part(profile: &str, done: &[(String, Vec<&str>, bool, Detection)]) -> Part {
    let mut tests = Vec::new();
    let name = |combo: &[&str], product: bool| format!("{}{}", combo.join(" × "), if product { " (3-channel)" } else { "" });
    let scores: Vec<BTreeMap<usize, f64>> = done.iter().map(|(_, _, _, d)| Detection::per_source(&d.runs)).collect();
    for ((m, combo, product, _), score) in done.iter().zip(&scores) {
        let diff: Vec<f64> = score.values().map(|v| v - 0.5).collect();
        tests.push(paired("every detector beats chance", format!("{m} {}", name(combo, *product)), "accuracy vs 0.5".into(), "accuracy", 1.0, &diff));
    }
    for ((m, t, _, _), ts) in done.iter().zip(&scores).filter(|((_, c, p, _), _)| c.len() == 3 && !p) {
        for ((_, pc, _, _), ps) in done.iter().zip(&scores).filter(|((pm, c, p, _), _)| pm == m && c.len() == 2 && !p && c.iter().all(|x| t.contains(x))) {
            let diff: Vec<f64> = ts.iter().filter_map(|(s, a)| ps.get(s).map(|b| a - b)).collect();
            tests.push(paired("the triples beat the pairs", format!("{m} {}", t.join(", ")), format!("triple vs {}", name(pc, false)), "accuracy", 1.0, &diff));
        }
    }
    let method = format!("Data: the detectors of Tables V and VI. A source image's score is the share of its test decisions (benign and adversarial sample, every split that tested it) that were right. Chance: the mean score minus 0.5, sign-flip test. Triples vs pairs: the triple's score minus the 2-channel pair's, on the source images both tested. Generated by `cargo xtask reproduce table5 --profile {profile}`.");
    let mut notes = Vec::new();
    let best = |k: usize| done.iter().filter(|(_, c, _, _)| c.len() == k).max_by(|a, b| a.3.accuracy.total_cmp(&b.3.accuracy));
    if let (Some(t), Some(p)) = (best(3), best(2)) {
        notes.push(format!("Best triple: {} {} {:.3} [{:.3}, {:.3}]; best pair: {} {} {:.3} [{:.3}, {:.3}].", t.0, name(&t.1, t.2), t.3.accuracy, t.3.interval.0, t.3.interval.1, p.0, name(&p.1, p.2), p.3.accuracy, p.3.interval.0, p.3.interval.1));
    }
    Part { name: "detector".into(), title: "Detector (Tables V-VI)".into(), method, notes, tests }
}

/// Write tables/table5.{csv,md} and tables/table6.{csv,md}; returns the written paths.
pub fn render(profile: &str, models: &[String], settings: &DetectorSettings, cells: &[Cell], dir: &Path, out_dir: &Path, stage: Stage) -> anyhow::Result<Vec<PathBuf>> {
    let pp = super::grid::experiments_dir().join("paper").join("tables_5_6.toml");
    let paper: PaperFile = toml::from_str(&std::fs::read_to_string(&pp).with_context(|| format!("reading {}", pp.display()))?).map_err(|e| anyhow::anyhow!("{}: {e}", pp.display()))?;
    let (pairs, triples) = combos();
    let mut written = Vec::new();
    let tdir = out_dir.join("tables");
    std::fs::create_dir_all(&tdir)?;
    let head = match settings.model.booster {
        Booster::Gbdt => format!("`gbdt`, {} trees, depth {}", settings.model.gbdt_trees, settings.model.gbdt_depth),
        Booster::Perpetual => format!("`perpetual`, budget {}", settings.model.perpetual_budget),
    };
    let note = format!(
        "Profile `{profile}`. Detector: maps resized to {s}x{s}, a VGG-style CNN trained here ({} epochs) + gradient boosting ({head}) on its pooled features. Samples: one benign and one adversarial per source image (PGD AdvEdge cells of this profile; a source fooled in several attacked cells gives the adversarial example of one of them), split by source image ({:.0}% train) with {} split seed(s). Each entry: ours [95 % interval: percentile bootstrap over source images of each one's test correctness] / paper (difference; pairs, splits). Generated by `cargo xtask reproduce {{table5|table6}} --profile {profile}`.\n\n",
        settings.model.epochs, settings.train_frac * 100.0, settings.split_seeds, s = settings.model.side
    );
    let mut csv5 = String::from("model,row,column,channels,pairs,splits,accuracy,accuracy_lo,accuracy_hi,cnn_accuracy,train_accuracy,paper\n");
    let mut md5 = format!("# Table V: detector accuracy for pairs of interpreters\n\n{note}| Model | Pair | 2-channel (a, b) | 3-channel (a, b, a⊙b) |\n|---|---|---|---|\n");
    let mut csv6 = String::from("model,interpreters,pairs,splits,accuracy,accuracy_lo,accuracy_hi,cnn_accuracy,train_accuracy,paper\n");
    let mut md6 = format!("# Table VI: detector accuracy, three interpreters stacked\n\n{note}| Model | Interpreters | Accuracy |\n|---|---|---|\n");
    let mut shapes = String::new();
    let mut for_claims: Vec<(String, Vec<&str>, bool, Detection)> = Vec::new();
    for m in models {
        let (mut done_pairs, mut done_triples) = (Vec::new(), Vec::new());
        for [r, c] in &pairs {
            let pap = paper.pair.iter().find(|p| &p.row == r && &p.column == c).context("paper pair")?;
            let two = experiment(m, &[r, c], false, None, cells, dir, out_dir, settings, stage)?;
            let three = experiment(m, &[r, c], true, None, cells, dir, out_dir, settings, stage)?;
            for (ch, res, pv) in [(2, &two, pap.two_channel), (3, &three, pap.three_channel)] {
                csv5.push_str(&format!("{m},{r},{c},{ch},{},{pv}\n", csv_fields(res)));
            }
            md5.push_str(&format!("| {m} | {r} × {c} | {} | {} |\n", cell_text(&two, pap.two_channel), cell_text(&three, pap.three_channel)));
            done_pairs.extend(two.result().map(|x| (format!("{m} {r} × {c} (2-channel)"), x.clone())));
            done_pairs.extend(three.result().map(|x| (format!("{m} {r} × {c} (3-channel)"), x.clone())));
            for (res, product) in [(&two, false), (&three, true)] {
                for_claims.extend(res.result().map(|x| (m.clone(), vec![*r, *c], product, x.clone())));
            }
        }
        for t in &triples {
            let pap = paper.triple.iter().find(|p| p.interpreters.iter().map(|s| s.as_str()).eq(t.iter().copied())).context("paper triple")?;
            let res = experiment(m, t, false, None, cells, dir, out_dir, settings, stage)?;
            csv6.push_str(&format!("{m},{},{},{}\n", t.join("+"), csv_fields(&res), pap.accuracy));
            md6.push_str(&format!("| {m} | {} | {} |\n", t.join(", "), cell_text(&res, pap.accuracy)));
            done_triples.extend(res.result().map(|x| (format!("{m} {}", t.join(", ")), x.clone())));
            for_claims.extend(res.result().map(|x| (m.clone(), t.to_vec(), false, x.clone())));
        }
        shapes.push_str(&shape_check(&done_pairs, &done_triples).replace("## Shape check", &format!("## Shape check ({m})")));
        shapes.push_str(&booster_comparison(m, settings.model.booster, &done_pairs, &done_triples));
    }
    if !for_claims.is_empty() {
        shapes.push_str("\nPaired tests of chance and of triples against pairs over the same source images: `tables/claims.md`.\n");
        // The claims page is the main grid's; this grid's index only links it.
        let page = write_part(profile, out_dir, claims_part(profile, &for_claims))?;
        tracing::info!("claims page updated: {}", page.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    md5.push_str(&shapes);
    md6.push_str(&shapes);
    for (name, body) in [("table5.csv", &csv5), ("table5.md", &md5), ("table6.csv", &csv6), ("table6.md", &md6)] {
        let p = tdir.join(name);
        write_atomic(&p, body.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::{cell_text, csv_fields, Detection, Outcome};
    use advedge_countermeasures::detector::DetectorResult;

    fn run(sources: &[usize], correct: &[bool]) -> DetectorResult {
        DetectorResult { train_samples: 0, test_samples: sources.len(), accuracy: 0.0, cnn_accuracy: 0.0, train_accuracy: 0.0, boosters: vec![], test_sources: sources.to_vec(), test_correct: correct.to_vec() }
    }

    /// The accuracy counts source images, not samples: each source's correctness is averaged over
    /// its samples and the splits that tested it first. By hand: source 1 scores 3 of 4, source 2
    /// 2 of 2, source 3 0 of 2, so the accuracy is (0.75 + 1 + 0) / 3 = 0.5833 (the samples alone
    /// would give 5 / 8 = 0.625).
    #[test]
    fn accuracy_is_over_source_images() {
        let d = Detection::of(vec![run(&[1, 1, 2, 2], &[true, false, true, true]), run(&[1, 1, 3, 3], &[true, true, false, false])], 3);
        assert!((d.accuracy - 1.75 / 3.0).abs() < 1e-12, "{}", d.accuracy);
        assert_eq!(d.tested, 3);
        assert!(d.interval.0 <= d.accuracy && d.accuracy <= d.interval.1, "{:?}", d.interval);
        // Three sources are too few to rule chance out.
        assert!(!d.beats_chance());
        let sure = Detection::of(vec![run(&(0..40).flat_map(|s| [s, s]).collect::<Vec<_>>(), &[true; 80])], 40);
        assert!(sure.beats_chance() && sure.accuracy == 1.0);
    }

    /// An entry without a detector says why and leaves the CSV accuracy empty (the paper-smoke
    /// profile on random weights has 0-1 successful examples per cell).
    #[test]
    fn entries_without_a_detector_say_why() {
        let few = Outcome::TooFew { examples: 1 };
        assert_eq!(cell_text(&few, 0.9), "– / 0.900 (too few source images to split: 1)");
        assert_eq!(cell_text(&Outcome::Pending, 0.9), "– / 0.900");
        assert_eq!(csv_fields(&few), ",,,,,,");
        let gone = Outcome::NoMaps { cell: "m/pgd/cam/advedge".into(), path: "d/x.maps.json".into() };
        assert_eq!(cell_text(&gone, 0.9), "– / 0.900 (maps of m/pgd/cam/advedge missing: d/x.maps.json; rerun it with --force)");
    }
}
