//! The paper's comparative claims about the maps, tested per (model, framework, interpreter) with
//! paired tests over the same images: `tables/claims.{md,csv}`.
//!
//! Each comparison pairs two variants' rows on the images both attacked successfully (8-bit
//! figures) and runs the sign-flip test of the mean paired difference
//! (`advedge_metrics::sign_flip_p`; exact up to 20 pairs, seeded Monte Carlo above). Holm's
//! correction runs over every comparison of the profile. A comparison *holds* when the adjusted
//! p is below 0.05 and the mean difference points the paper's way, is *reversed* when it is
//! below 0.05 the other way, and is *undecided* otherwise (too few pairs included).
use super::cell::Cell;
use super::store::{csv_path, read_rows, status, write_table, CellRow, Status};
use advedge_attacks::{Framework, Variant};
use advedge_interpreters::InterpreterKind;
use advedge_metrics::{holm, sign_flip_p, SIGN_FLIP_REPS};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Seed of the Monte-Carlo sign patterns (more than 20 pairs).
pub const CLAIMS_SEED: u64 = 0;
const ALPHA: f64 = 0.05;

/// One claim: "variant `a` has a lower (or higher) `metric` than variant `b`".
struct Claim {
    name: &'static str,
    a: Variant,
    b: Variant,
    metric: &'static str,
    /// The paper's direction of mean(a - b): -1 lower, +1 higher; per framework for the noise claim.
    sign: fn(Framework) -> f64,
}

fn claims() -> Vec<Claim> {
    let lower = |_: Framework| -1.0;
    let higher = |_: Framework| 1.0;
    let mut v = Vec::new();
    for a in [Variant::Adv2, Variant::AdvEdge, Variant::AdvEdgePlus] {
        v.push(Claim { name: "interpretation-aware maps closer than plain (L1)", a, b: Variant::Plain, metric: "l1", sign: lower });
        v.push(Claim { name: "interpretation-aware maps closer than plain (IoU)", a, b: Variant::Plain, metric: "iou", sign: higher });
    }
    for a in [Variant::AdvEdge, Variant::AdvEdgePlus] {
        v.push(Claim { name: "AdvEdge(+) maps closer than ADV2 (L1)", a, b: Variant::Adv2, metric: "l1", sign: lower });
        v.push(Claim { name: "AdvEdge(+) maps closer than ADV2 (IoU)", a, b: Variant::Adv2, metric: "iou", sign: higher });
    }
    v.push(Claim {
        name: "AdvEdge noise lower than ADV2 under PGD and C&W, higher under StAdv (1-SSIM)",
        a: Variant::AdvEdge,
        b: Variant::Adv2,
        metric: "one_minus_ssim",
        sign: |f| if f == Framework::Stadv { 1.0 } else { -1.0 },
    });
    v
}

fn value(r: &CellRow, metric: &str) -> f64 {
    match metric {
        "l1" => r.l1,
        "iou" => r.iou,
        _ => r.one_minus_ssim,
    }
}

struct Tested {
    claim: &'static str,
    model: String,
    framework: Framework,
    interpreter: InterpreterKind,
    a: Variant,
    b: Variant,
    metric: &'static str,
    sign: f64,
    n: usize,
    mean: f64,
    p: f64,
}

/// Write `tables/claims.{md,csv}` for the done cells; returns the written paths.
pub fn render(profile: &str, cells: &[Cell], cell_dir: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    // Done cells' rows by (model, framework, interpreter, variant) ids; groups in grid order.
    let id = |m: &str, f: Framework, i: InterpreterKind, v: Variant| format!("{m}/{f}/{i}/{v}");
    let mut rows: HashMap<String, Vec<CellRow>> = HashMap::new();
    let mut groups: Vec<(String, Framework, InterpreterKind)> = Vec::new();
    for c in cells.iter().filter(|c| status(cell_dir, c) == Status::Done) {
        rows.insert(id(&c.model, c.framework, c.interpreter.kind(), c.variant), read_rows(&csv_path(cell_dir, c))?);
        let g = (c.model.clone(), c.framework, c.interpreter.kind());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut tested = Vec::new();
    for (m, f, i) in &groups {
        for c in claims() {
            let (Some(ra), Some(rb)) = (rows.get(&id(m, *f, *i, c.a)), rows.get(&id(m, *f, *i, c.b))) else { continue };
            let d: Vec<f64> = ra.iter().filter(|x| x.success).filter_map(|x| rb.iter().find(|y| y.image_index == x.image_index && y.success).map(|y| value(x, c.metric) - value(y, c.metric))).collect();
            let mean = if d.is_empty() { f64::NAN } else { d.iter().sum::<f64>() / d.len() as f64 };
            tested.push(Tested { claim: c.name, model: m.clone(), framework: *f, interpreter: *i, a: c.a, b: c.b, metric: c.metric, sign: (c.sign)(*f), n: d.len(), mean, p: sign_flip_p(&d, SIGN_FLIP_REPS, CLAIMS_SEED) });
        }
    }
    let adjusted = holm(&tested.iter().map(|t| t.p).collect::<Vec<_>>());
    let verdict = |t: &Tested, q: f64| {
        if q.is_nan() || q >= ALPHA {
            "undecided"
        } else if t.mean * t.sign > 0.0 {
            "holds"
        } else {
            "reversed"
        }
    };
    let family = adjusted.iter().filter(|q| !q.is_nan()).count();
    let mut csv = String::from("claim,model,framework,interpreter,a,b,metric,paper_direction,pairs,mean_a_minus_b,p,p_holm,verdict\n");
    for (t, q) in tested.iter().zip(&adjusted) {
        csv.push_str(&format!(
            "\"{}\",{},{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{}\n",
            t.claim, t.model, t.framework, t.interpreter, t.a, t.b, t.metric, if t.sign < 0.0 { "lower" } else { "higher" }, t.n, t.mean, t.p, q, verdict(t, *q)
        ));
    }
    let mut md = format!(
        "# The paper's claims about the maps, tested\n\nProfile `{profile}`. Each comparison pairs two variants of one (model, framework, interpreter) on the images both attacked successfully (8-bit figures) and tests the mean paired difference with the sign-flip test (exact up to {} pairs, else {} seeded random sign patterns, seed {CLAIMS_SEED}). Holm's correction runs over all {family} comparisons with pairs. Holds / reversed: adjusted p < {ALPHA} in the paper's direction / the other; undecided: not significant after the correction (few pairs cannot decide). Generated by `cargo xtask reproduce claims --profile {profile}`.\n\n## Verdicts per claim\n\n| Claim | Holds | Reversed | Undecided |\n|---|---|---|---|\n",
        advedge_metrics::EXACT_MAX,
        SIGN_FLIP_REPS
    );
    let mut names: Vec<&str> = tested.iter().map(|t| t.claim).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        let count = |v: &str| tested.iter().zip(&adjusted).filter(|(t, q)| t.claim == name && verdict(t, **q) == v).count();
        md.push_str(&format!("| {name} | {} | {} | {} |\n", count("holds"), count("reversed"), count("undecided")));
    }
    // What the sample size allows: the sign-flip test cannot go below 2 / 2^n.
    let most = tested.iter().map(|t| t.n).max().unwrap_or(0);
    if family > 0 && most > 0 {
        let floor = if most <= advedge_metrics::EXACT_MAX { 2.0 / (1u64 << most) as f64 } else { 1.0 / (SIGN_FLIP_REPS + 1) as f64 };
        let first = ALPHA / family as f64;
        md.push_str(&format!(
            "\nWith at most {most} pairs per comparison the smallest p the test can give is {floor:.2e}; the first step of Holm's correction over {family} comparisons needs p < {first:.2e}, so {}.\n",
            if floor >= first { "no comparison can be decided at this sample size: the claims need more images per cell (a profile with more images, e.g. `cifar-100`)" } else { "comparisons with enough pairs can be decided" }
        ));
    }
    md.push_str("\n## Every comparison\n\n| Model | Framework | Interpreter | Comparison | Metric | Paper | Pairs | Mean (a - b) | p | p (Holm) | Verdict |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (t, q) in tested.iter().zip(&adjusted) {
        md.push_str(&format!(
            "| {} | {} | {} | {} vs {} | {} | {} | {} | {:.4} | {:.3} | {:.3} | {} |\n",
            t.model, t.framework.label(), t.interpreter, t.a.name(), t.b.name(), t.metric, if t.sign < 0.0 { "lower" } else { "higher" }, t.n, t.mean, t.p, q, verdict(t, *q)
        ));
    }
    write_table(out_dir, "claims", &csv, &md)
}
