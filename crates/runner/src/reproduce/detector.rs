//! Tables V and VI (spec 11): the multi-interpreter detector on the PGD AdvEdge cells of a grid.
//!
//! For a combination C of interpreters (a pair, a pair plus its product channel, or a triple):
//! for every I_a in C, the successful adversarial examples crafted against I_a (cell
//! `<model>/pgd/<I_a>/advedge`) give adversarial samples (maps of every I in C for the predicted
//! class t) and their clean sources give benign samples (maps for y). Maps are resized to a
//! common side; samples are split by source image; `advedge_countermeasures::detector` trains
//! the CNN + boosting detector. Maps are cached per cell (`<stem>.detmaps.json`) and results
//! per combination (`detector/<model>-<combo>-<key>.json`), so re-rendering is cheap.
use super::cell::Cell;
use super::grid::DetectorSettings;
use super::store::{status, write_atomic, Stage, Status};
use crate::repo;
use advedge_countermeasures::detector::{train_and_evaluate, DetectorResult, Samples};
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
enum Outcome {
    /// An attacked cell of the combination is not done.
    Pending,
    /// The attacked cells are done but their successful examples come from fewer source images
    /// than a train/test split needs (a random network in a smoke run, or a tiny profile).
    TooFew { examples: usize },
    /// An attacked cell recorded successes but its maps file (git-ignored) is missing.
    NoMaps { cell: String, path: PathBuf },
    /// Not trained yet, and this stage only reads (`collect`).
    NotComputed,
    Done(DetectorResult),
}

impl Outcome {
    fn result(&self) -> Option<&DetectorResult> {
        match self {
            Outcome::Done(r) => Some(r),
            _ => None,
        }
    }
}

/// One detector experiment for `model` over interpreters `combo` (with the product channel when
/// `product`).
fn experiment(model: &str, combo: &[&str], product: bool, cells: &[Cell], dir: &Path, out_dir: &Path, s: &DetectorSettings, stage: Stage) -> anyhow::Result<Outcome> {
    let mut used = Vec::new();
    for a in combo {
        match cells.iter().find(|c| c.model == model && c.framework == advedge_attacks::Framework::Pgd && c.interpreter.name() == *a && c.variant == advedge_attacks::Variant::AdvEdge) {
            Some(c) if status(dir, c) == Status::Done => used.push(c),
            _ => return Ok(Outcome::Pending),
        }
    }
    let key_src = format!("{}|{}|{product}|{}", used.iter().map(|c| c.stem()).collect::<Vec<_>>().join(","), combo.join(","), serde_json::to_string(s)?);
    let key = format!("{:016x}", repo::fnv1a(key_src.as_bytes()));
    let path = out_dir.join("detector").join(format!("{model}-{}{}-{key}.json", combo.join("-"), if product { "-product" } else { "" }));
    if let Some(r) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
        return Ok(Outcome::Done(r));
    }
    if stage == Stage::Collect {
        return Ok(Outcome::NotComputed);
    }
    let channels = combo.len() + product as usize;
    let mut samples = Samples::new(channels, s.model.side);
    for c in &used {
        let cm = match cell_maps(c, dir, combo, s.mask_iters).with_context(|| format!("maps of {}", c.id()))? {
            Ok(cm) => cm,
            Err(path) => return Ok(Outcome::NoMaps { cell: c.id(), path }),
        };
        for (j, &src) in cm.sources.iter().enumerate() {
            let pick = |m: &BTreeMap<String, Vec<Vec<f32>>>| combo.iter().map(|n| m[*n][j].clone()).collect::<Vec<_>>();
            let (b, a) = (pick(&cm.benign), pick(&cm.adversarial));
            samples.push(&b.iter().map(|v| v.as_slice()).collect::<Vec<_>>(), product, 0, src);
            samples.push(&a.iter().map(|v| v.as_slice()).collect::<Vec<_>>(), product, 1, src);
        }
    }
    let (train, test) = samples.split(s.train_frac, s.model.seed);
    if train.is_empty() || test.is_empty() {
        return Ok(Outcome::TooFew { examples: samples.len() / 2 });
    }
    let r = train_and_evaluate(&train, &test, &s.model, &repo::device()).map_err(|e| anyhow::anyhow!("detector {model} {}: {e}", combo.join("+")))?;
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

fn fmt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

fn cell_text(r: &Outcome, paper: f64) -> String {
    match r {
        Outcome::Done(r) => format!("{:.3} / {paper:.3} ({:+.3}; n = {}+{})", r.accuracy, r.accuracy - paper, r.train_samples, r.test_samples),
        Outcome::TooFew { examples } => format!("– / {paper:.3} (too few successful examples to split: {examples})"),
        Outcome::Pending => format!("– / {paper:.3}"),
        Outcome::NoMaps { cell, path } => format!("– / {paper:.3} (maps of {cell} missing: {}; rerun it with --force)", path.display()),
        Outcome::NotComputed => format!("– / {paper:.3} (not trained yet: run `reproduce`)"),
    }
}

/// CSV fields train_samples, test_samples, accuracy, cnn_accuracy (empty without a detector).
fn csv_fields(r: &Outcome) -> String {
    let r = r.result();
    format!("{},{},{},{}", r.map_or(0, |x| x.train_samples), r.map_or(0, |x| x.test_samples), fmt(r.map(|x| x.accuracy)), fmt(r.map(|x| x.cnn_accuracy))).replace('–', "")
}

/// P(X >= k) for X ~ Binomial(n, 1/2): how often a coin-flipping detector would score at least
/// k of n balanced test samples (each adversarial sample has its benign source in the same split).
pub fn chance_p_value(k: usize, n: usize) -> f64 {
    // log C(n, i) built up term by term; the sum is taken relative to its largest term.
    let mut log_c = vec![0.0f64; n + 1];
    for i in 1..=n {
        log_c[i] = log_c[i - 1] + ((n - i + 1) as f64).ln() - (i as f64).ln();
    }
    let ln2n = n as f64 * std::f64::consts::LN_2;
    (k..=n).map(|i| (log_c[i] - ln2n).exp()).sum::<f64>().min(1.0)
}

/// The paper's expected shape (spec 11), checked on the results, not forced: every detector beats
/// chance (one-sided binomial p < 0.01), and some triple beats every pair (2- or 3-channel).
fn shape_check(pairs: &[(String, DetectorResult)], triples: &[(String, DetectorResult)]) -> String {
    let beats = |r: &DetectorResult| chance_p_value((r.accuracy * r.test_samples as f64).round() as usize, r.test_samples) < 0.01;
    let all: Vec<&(String, DetectorResult)> = pairs.iter().chain(triples).collect();
    let above = all.iter().filter(|(_, r)| beats(r)).count();
    let mut s = format!("\n## Shape check\n\n- Above chance (one-sided binomial test against 0.5, p < 0.01): {above} of {} detectors.", all.len());
    let below: Vec<String> = all.iter().filter(|(_, r)| !beats(r)).map(|(n, r)| format!("{n} {:.3}", r.accuracy)).collect();
    if !below.is_empty() && below.len() <= 6 {
        s.push_str(&format!(" Not: {}.", below.join("; ")));
    }
    let best = |v: &[(String, DetectorResult)]| v.iter().max_by(|a, b| a.1.accuracy.total_cmp(&b.1.accuracy)).map(|(n, r)| (n.clone(), r.accuracy));
    if let (Some((pn, pa)), Some((tn, ta))) = (best(pairs), best(triples)) {
        let verdict = if ta > pa { "holds" } else { "does not hold" };
        s.push_str(&format!("\n- Some triple beats every pair: {verdict} (best triple {tn} {ta:.3}, best pair {pn} {pa:.3}).\n"));
    } else {
        s.push('\n');
    }
    s
}

/// Write tables/table5.{csv,md} and tables/table6.{csv,md}; returns the written paths.
pub fn render(profile: &str, models: &[String], settings: &DetectorSettings, cells: &[Cell], dir: &Path, out_dir: &Path, stage: Stage) -> anyhow::Result<Vec<PathBuf>> {
    let pp = super::grid::experiments_dir().join("paper").join("tables_5_6.toml");
    let paper: PaperFile = toml::from_str(&std::fs::read_to_string(&pp).with_context(|| format!("reading {}", pp.display()))?).map_err(|e| anyhow::anyhow!("{}: {e}", pp.display()))?;
    let (pairs, triples) = combos();
    let mut written = Vec::new();
    let tdir = out_dir.join("tables");
    std::fs::create_dir_all(&tdir)?;
    let note = format!(
        "Profile `{profile}`. Detector: maps resized to {s}x{s}, a VGG-style CNN trained here ({} epochs) + gradient boosting (`gbdt`, {} trees, depth {}) on its pooled features; split by source image ({:.0}% train). Adversarial examples: PGD AdvEdge cells of this profile. Each entry: ours / paper (difference; n = train+test samples). Generated by `cargo xtask reproduce {{table5|table6}} --profile {profile}`.\n\n",
        settings.model.epochs, settings.model.gbdt_trees, settings.model.gbdt_depth, settings.train_frac * 100.0, s = settings.model.side
    );
    let mut csv5 = String::from("model,row,column,channels,train_samples,test_samples,accuracy,cnn_accuracy,paper\n");
    let mut md5 = format!("# Table V: detector accuracy for pairs of interpreters\n\n{note}| Model | Pair | 2-channel (a, b) | 3-channel (a, b, a⊙b) |\n|---|---|---|---|\n");
    let mut csv6 = String::from("model,interpreters,train_samples,test_samples,accuracy,cnn_accuracy,paper\n");
    let mut md6 = format!("# Table VI: detector accuracy, three interpreters stacked\n\n{note}| Model | Interpreters | Accuracy |\n|---|---|---|\n");
    let mut shapes = String::new();
    for m in models {
        let (mut done_pairs, mut done_triples) = (Vec::new(), Vec::new());
        for [r, c] in &pairs {
            let pap = paper.pair.iter().find(|p| &p.row == r && &p.column == c).context("paper pair")?;
            let two = experiment(m, &[r, c], false, cells, dir, out_dir, settings, stage)?;
            let three = experiment(m, &[r, c], true, cells, dir, out_dir, settings, stage)?;
            for (ch, res, pv) in [(2, &two, pap.two_channel), (3, &three, pap.three_channel)] {
                csv5.push_str(&format!("{m},{r},{c},{ch},{},{pv}\n", csv_fields(res)));
            }
            md5.push_str(&format!("| {m} | {r} × {c} | {} | {} |\n", cell_text(&two, pap.two_channel), cell_text(&three, pap.three_channel)));
            done_pairs.extend(two.result().map(|x| (format!("{m} {r} × {c} (2-channel)"), x.clone())));
            done_pairs.extend(three.result().map(|x| (format!("{m} {r} × {c} (3-channel)"), x.clone())));
        }
        for t in &triples {
            let pap = paper.triple.iter().find(|p| p.interpreters.iter().map(|s| s.as_str()).eq(t.iter().copied())).context("paper triple")?;
            let res = experiment(m, t, false, cells, dir, out_dir, settings, stage)?;
            csv6.push_str(&format!("{m},{},{},{}\n", t.join("+"), csv_fields(&res), pap.accuracy));
            md6.push_str(&format!("| {m} | {} | {} |\n", t.join(", "), cell_text(&res, pap.accuracy)));
            done_triples.extend(res.result().map(|x| (format!("{m} {}", t.join(", ")), x.clone())));
        }
        shapes.push_str(&shape_check(&done_pairs, &done_triples).replace("## Shape check", &format!("## Shape check ({m})")));
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
    use super::{cell_text, csv_fields, Outcome};

    /// An entry without a detector says why and leaves the CSV accuracy empty (the paper-smoke
    /// profile on random weights has 0-1 successful examples per cell).
    #[test]
    fn entries_without_a_detector_say_why() {
        let few = Outcome::TooFew { examples: 1 };
        assert_eq!(cell_text(&few, 0.9), "– / 0.900 (too few successful examples to split: 1)");
        assert_eq!(cell_text(&Outcome::Pending, 0.9), "– / 0.900");
        assert_eq!(csv_fields(&few), "0,0,,");
        let gone = Outcome::NoMaps { cell: "m/pgd/cam/advedge".into(), path: "d/x.maps.json".into() };
        assert_eq!(cell_text(&gone, 0.9), "– / 0.900 (maps of m/pgd/cam/advedge missing: d/x.maps.json; rerun it with --force)");
    }
}
