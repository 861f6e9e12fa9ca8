//! The main grid's part of the claims page (see [`super::verdicts`]): the paper's claims about
//! success rates, the maps, and transfer across interpreters, tested per (model, framework,
//! interpreter).
//!
//! - Success near 1 (all of the paper's Table I cells are at least 0.94): each ADV2 / AdvEdge /
//!   AdvEdge+ cell's 8-bit success rate against 0.9, by its Wilson interval.
//! - The map claims: two variants' rows paired on the images both attacked successfully (8-bit
//!   figures), the sign-flip test of the mean paired difference.
//! - Transfer (Table IV): AdvEdge(+) vs ADV2 on the maps of every *other* interpreter, paired on
//!   the images both fooled, from the cached transfer L1s.
use super::cell::Cell;
use super::frame::CellSummary;
use super::store::{csv_path, read_rows, status, CellRow, Status};
use super::transfer::Transfers;
use super::verdicts::{adjust, paired, rate_at_least, write_part, Part, Test, Verdict};
use crate::quality_cmd::{rts_reference_json, RtsReferenceRecord};
use advedge_attacks::{AttackConfig, Framework, Variant};
use advedge_interpreters::InterpreterKind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Below this 8-bit success rate a cell does not count as "near 1".
const SUCCESS_FLOOR: f64 = 0.9;

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

/// Write the main grid's claims part and re-assemble `tables/claims.{md,csv}`; `done` holds the
/// done cells' summaries, `transfers` Table IV's per-image L1s when the grid computes them.
pub fn render(profile: &str, cells: &[Cell], done: &[(&Cell, CellSummary)], transfers: Option<&Transfers>, cell_dir: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut tests: Vec<Test> = Vec::new();
    for (c, s) in done.iter().filter(|(c, _)| c.variant != Variant::Plain) {
        tests.push(rate_at_least("success rate near 1", format!("{} {} {}", c.model, c.framework.label(), c.interpreter.name()), &format!("{} success", c.variant.name()), s.successes, s.images, SUCCESS_FLOOR));
    }
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
    for (m, f, i) in &groups {
        for c in claims() {
            let (Some(ra), Some(rb)) = (rows.get(&id(m, *f, *i, c.a)), rows.get(&id(m, *f, *i, c.b))) else { continue };
            let d: Vec<f64> = ra.iter().filter(|x| x.success).filter_map(|x| rb.iter().find(|y| y.image_index == x.image_index && y.success).map(|y| value(x, c.metric) - value(y, c.metric))).collect();
            tests.push(paired(c.name, format!("{m} {} {i}", f.label()), format!("{} vs {}", c.a.name(), c.b.name()), c.metric, (c.sign)(*f), &d));
        }
    }
    if let Some(tr) = transfers {
        for (c, l1) in tr.rows.iter().filter(|(c, _)| matches!(c.variant, Variant::AdvEdge | Variant::AdvEdgePlus)) {
            let Some((_, base)) = tr.rows.iter().find(|(b, _)| b.model == c.model && b.framework == c.framework && b.interpreter.name() == c.interpreter.name() && b.variant == Variant::Adv2) else { continue };
            for (ext, vals) in l1.iter().filter(|(ext, _)| ext.as_str() != c.interpreter.name()) {
                let Some(bv) = base.get(ext) else { continue };
                let d: Vec<f64> = vals.iter().filter_map(|(i, v)| bv.iter().find(|(j, _)| j == i).map(|(_, w)| v - w)).collect();
                tests.push(paired("AdvEdge(+) transfers better than ADV2 (L1 on another interpreter's maps)", format!("{} {} {} -> {ext}", c.model, c.framework.label(), c.interpreter.name()), format!("{} vs ADV2", c.variant.name()), "l1", -1.0, &d));
            }
        }
    }
    let method = format!(
        "Data: the main grid's cells ({} of {} done{}). Success: each ADV2 / AdvEdge / AdvEdge+ cell's 8-bit success rate, holding when its 95 % Wilson interval lies at or above {SUCCESS_FLOOR} (the paper's Table I cells are all at least 0.94), reversed when it lies below. Maps: two variants of one (model, framework, interpreter) paired on the images both fooled (8-bit figures), sign-flip test of the mean difference. Transfer: Table IV's per-image L1 between an interpreter's adversarial and benign maps, for the interpreters other than the attacked one, AdvEdge(+) vs ADV2 on the images both fooled. Generated by `cargo xtask reproduce claims --profile {profile}` (the transfer claims need `table4` too).",
        done.len(),
        cells.len(),
        if done.len() < cells.len() { "; partial: the verdicts cover only the done cells" } else { "" }
    );
    let below: Vec<String> = tests.iter().filter(|t| t.claim == "success rate near 1" && t.verdict == Verdict::Reversed).map(|t| format!("{} {} {:.2} (n = {})", t.scope, t.metric, t.estimate, t.n)).collect();
    let mut notes = Vec::new();
    if !below.is_empty() {
        notes.push(format!("Cells whose success rate is below {SUCCESS_FLOOR} at 95 %: {}.", below.join("; ")));
    }
    adjust(&mut tests);
    let record = |m: &str| std::fs::read(rts_reference_json(m)).ok().and_then(|b| serde_json::from_slice::<RtsReferenceRecord>(&b).ok());
    notes.extend(rts_reference_notes(&tests, &aimed_at_target(done), record));
    write_part(profile, out_dir, Part { name: "main".into(), title: "Success, maps and transfer (main grid)".into(), method, notes, tests })
}

/// One model's RTS attacks that aim at the benign map for the target class, M(x; t) (the
/// authors' PGD and C&W code): their frameworks, each with its plain cell's mean L1 where done.
struct AimedAtTarget<'a> {
    model: &'a str,
    frameworks: Vec<(Framework, Option<f64>)>,
}

/// The done cells' [`AimedAtTarget`] per model, in grid order.
fn aimed_at_target<'a>(done: &'a [(&Cell, CellSummary)]) -> Vec<AimedAtTarget<'a>> {
    let aims = |c: &Cell| {
        let reference = match c.config.config() {
            AttackConfig::Pgd(p) => p.rts_reference,
            AttackConfig::Optim(o) => o.rts_reference,
        };
        c.variant != Variant::Plain && reference.aims_at_target(&c.interpreter)
    };
    let mut out: Vec<AimedAtTarget> = Vec::new();
    for (c, _) in done.iter().filter(|(c, _)| aims(c)) {
        let plain = done.iter().find(|(p, _)| p.model == c.model && p.framework == c.framework && p.interpreter.kind() == InterpreterKind::Rts && p.variant == Variant::Plain).map(|(_, s)| s.l1.0);
        match out.iter_mut().find(|a| a.model == c.model) {
            Some(a) if a.frameworks.iter().any(|(f, _)| *f == c.framework) => {}
            Some(a) => a.frameworks.push((c.framework, plain)),
            None => out.push(AimedAtTarget { model: &c.model, frameworks: vec![(c.framework, plain)] }),
        }
    }
    out
}

/// The measured reason why "interpretation-aware maps closer than plain" is reversed for RTS
/// attacks aimed at M(x; t) while L1 and IoU compare with M(x; y): one note per model with
/// reversed comparisons, citing the gap between the two benign maps that `cargo xtask rts-reference`
/// measured (`record(model)`), or saying to run it. `tests` must carry their final verdicts.
fn rts_reference_notes(tests: &[Test], aimed: &[AimedAtTarget], record: impl Fn(&str) -> Option<RtsReferenceRecord>) -> Vec<String> {
    let mut notes = Vec::new();
    for a in aimed {
        let m = a.model;
        let scopes: Vec<String> = a.frameworks.iter().map(|(f, _)| format!("{m} {} rts", f.label())).collect();
        let aware: Vec<&Test> = tests.iter().filter(|t| t.claim.starts_with("interpretation-aware maps closer than plain") && scopes.contains(&t.scope)).collect();
        // Undecided comparisons are the sample size's (the power notes say so); a reversed one
        // is the measured effect this note explains.
        let reversed = aware.iter().filter(|t| t.verdict == Verdict::Reversed).count();
        if reversed == 0 {
            continue;
        }
        let undecided = aware.iter().filter(|t| t.verdict == Verdict::Undecided).count();
        let labels: Vec<&str> = a.frameworks.iter().map(|(f, _)| f.label()).collect();
        let plain: Vec<String> = a.frameworks.iter().filter_map(|(f, l1)| l1.map(|v| format!("{} {v:.3}", f.label()))).collect();
        let measured = match record(m) {
            Some(r) => format!(
                "On the first {} test images the two benign maps lie {:.3} apart (mean L1; unrelated images' maps lie {:.3} apart), from `cargo xtask rts-reference --model {m} --images {} --seed {}` (results/interpreters/rts_reference_{m}.md)",
                r.images, r.target_vs_true_l1.0, r.other_image_l1.0, r.images, r.seed
            ),
            None => format!("`cargo xtask rts-reference --model {m}` measures how far apart the two benign maps lie (not run here)"),
        };
        notes.push(format!(
            "{m} RTS under {}: {reversed} of {} comparisons of \"interpretation-aware maps closer than plain\" are reversed{}: the adversarial maps lie farther from M(x; y) than the plain attack's. These attacks aim the adversarial map at the benign map for the target class, M(x; t), as the authors' code does, while L1 and IoU compare it with M(x; y) (docs/deviations.md). {measured}; the plain attacks' mean L1 here: {}. A profile's `rts_reference = \"true\"` aims them at M(x; y) instead.",
            labels.join(" and "),
            aware.len(),
            if undecided > 0 { format!(" ({undecided} undecided)") } else { String::new() },
            if plain.is_empty() { "not run".to_string() } else { plain.join(", ") }
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(images: usize) -> RtsReferenceRecord {
        RtsReferenceRecord { model: "m".into(), images, seed: 0, target_vs_true_l1: (0.2, 0.05), other_image_l1: (0.15, 0.04) }
    }

    /// A note appears for a model whose RTS comparisons against plain are reversed, cites the
    /// measured gap and the plain cells' L1, and none for a model where they hold or are only
    /// undecided (the sample size's matter).
    #[test]
    fn rts_notes_only_where_the_claim_fails() {
        let t = |m: &str, f: &str, d: f64| paired("interpretation-aware maps closer than plain (L1)", format!("{m} {f} rts"), "AdvEdge vs Plain".into(), "l1", -1.0, &[d; 30]);
        let mut tests = vec![t("a", "PGD", 0.05), t("a", "C&W", -0.05), t("b", "PGD", -0.05), t("a", "PGD", 0.05), t("b", "C&W", 0.05)];
        tests[3].scope = "a PGD cam".into(); // another interpreter: not counted
        tests[4].p = Some(1.0); // b: one comparison undecided, none reversed
        adjust(&mut tests);
        let aimed = [AimedAtTarget { model: "a", frameworks: vec![(Framework::Pgd, Some(0.123)), (Framework::Cw, None)] }, AimedAtTarget { model: "b", frameworks: vec![(Framework::Pgd, Some(0.2)), (Framework::Cw, None)] }];
        let notes = rts_reference_notes(&tests, &aimed, |_| Some(record(100)));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let n = &notes[0];
        assert!(n.starts_with("a RTS under PGD and C&W: 1 of 2 comparisons of \"interpretation-aware maps closer than plain\" are reversed:"), "{n}");
        assert!(n.contains("first 100 test images") && n.contains("lie 0.200 apart") && n.contains("PGD 0.123") && !n.contains("C&W 0."), "{n}");
        let missing = rts_reference_notes(&tests, &aimed, |_| None);
        assert!(missing[0].contains("not run here"), "{}", missing[0]);
    }
}
