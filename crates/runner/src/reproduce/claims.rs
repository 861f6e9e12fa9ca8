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
use super::verdicts::{paired, rate_at_least, write_part, Part, Test};
use advedge_attacks::{Framework, Variant};
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
        "Data: the main grid's cells ({} done). Success: each ADV2 / AdvEdge / AdvEdge+ cell's 8-bit success rate, holding when its 95 % Wilson interval lies at or above {SUCCESS_FLOOR} (the paper's Table I cells are all at least 0.94), reversed when it lies below. Maps: two variants of one (model, framework, interpreter) paired on the images both fooled (8-bit figures), sign-flip test of the mean difference. Transfer: Table IV's per-image L1 between an interpreter's adversarial and benign maps, for the interpreters other than the attacked one, AdvEdge(+) vs ADV2 on the images both fooled. Generated by `cargo xtask reproduce claims --profile {profile}` (the transfer claims need `table4` too).",
        done.len()
    );
    let below: Vec<String> = tests.iter().filter(|t| t.claim == "success rate near 1" && t.verdict == super::verdicts::Verdict::Reversed).map(|t| format!("{} {} {:.2} (n = {})", t.scope, t.metric, t.estimate, t.n)).collect();
    let mut notes = Vec::new();
    if !below.is_empty() {
        notes.push(format!("Cells whose success rate is below {SUCCESS_FLOOR} at 95 %: {}.", below.join("; ")));
    }
    write_part(profile, out_dir, Part { name: "main".into(), title: "Success, maps and transfer (main grid)".into(), method, notes, tests })
}
