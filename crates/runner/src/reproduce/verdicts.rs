//! The claims page of a profile, `tables/claims.{md,csv}`: every qualitative claim of the paper
//! with our verdict and the numbers behind it.
//!
//! Each grid tests the claims its results can speak to and stores them as a part,
//! `tables/claims-<part>.json` (the main grid: the maps, success rates and transfer; the detector
//! grid: triples vs pairs; the robust grid: AT vs NT). After writing its part a grid re-assembles
//! the page from every part present, so the page always shows what the profile's results hold.
//! A test is paired where it can be (the same images under both alternatives); Holm's correction
//! runs within each claim over its comparisons. A comparison *holds* when the adjusted p is below
//! 0.05 with the difference in the paper's direction, is *reversed* when it is below 0.05 the
//! other way, and is *undecided* otherwise.
use super::store::{write_atomic, write_table};
use advedge_metrics::{bootstrap_mean, holm, sign_flip_p, BOOTSTRAP_REPS, EXACT_MAX, SIGN_FLIP_REPS};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Significance level of every verdict.
pub const ALPHA: f64 = 0.05;
/// Seed of the Monte-Carlo sign patterns (more than `EXACT_MAX` pairs) and of the bootstrap.
pub const CLAIMS_SEED: u64 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Reversed,
    Undecided,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Reversed => "reversed",
            Verdict::Undecided => "undecided",
        }
    }
}

/// One comparison of one claim.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Test {
    pub claim: String,
    /// Where it is tested, e.g. "resnet20 PGD cam" or "eps 4/255".
    pub scope: String,
    /// What is compared, e.g. "AdvEdge vs ADV2" (the estimate is a - b) or "success rate".
    pub comparison: String,
    pub metric: String,
    /// The paper's direction of the estimate: "lower", "higher", or ">= 0.9" for a rate.
    pub paper: String,
    /// Pairs (or trials for a rate).
    pub n: usize,
    #[serde(with = "nan_as_null")]
    pub estimate: f64,
    /// 95 % interval of the estimate (bootstrap over pairs, or Wilson for a rate).
    #[serde(with = "nan_pair_as_null")]
    pub interval: (f64, f64),
    /// Unadjusted and Holm-adjusted p (None for interval-based verdicts).
    pub p: Option<f64>,
    pub p_holm: Option<f64>,
    pub verdict: Verdict,
}

/// JSON has no NaN: an undefined number (no pairs) is stored as null.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_some(v)
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

mod nan_pair_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &(f64, f64), s: S) -> Result<S::Ok, S::Error> {
        let f = |x: f64| (!x.is_nan()).then_some(x);
        (f(v.0), f(v.1)).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
        let (a, b) = <(Option<f64>, Option<f64>)>::deserialize(d)?;
        Ok((a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)))
    }
}

/// A paired comparison: `d` holds the differences a - b over the same units, `sign` the paper's
/// direction (-1 lower, +1 higher). The verdict is set by [`adjust`].
pub fn paired(claim: &str, scope: String, comparison: String, metric: &str, sign: f64, d: &[f64]) -> Test {
    let estimate = if d.is_empty() { f64::NAN } else { d.iter().sum::<f64>() / d.len() as f64 };
    let interval = if d.len() < 2 { (f64::NAN, f64::NAN) } else { bootstrap_mean(d, BOOTSTRAP_REPS, CLAIMS_SEED) };
    Test {
        claim: claim.to_string(),
        scope,
        comparison,
        metric: metric.to_string(),
        paper: if sign < 0.0 { "lower" } else { "higher" }.to_string(),
        n: d.len(),
        estimate,
        interval,
        p: Some(sign_flip_p(d, SIGN_FLIP_REPS, CLAIMS_SEED)),
        p_holm: None,
        verdict: Verdict::Undecided,
    }
}

/// A rate that the paper says reaches at least `floor`: holds when its 95 % Wilson interval lies
/// at or above it, reversed when the interval lies below it.
pub fn rate_at_least(claim: &str, scope: String, metric: &str, k: usize, n: usize, floor: f64) -> Test {
    let interval = advedge_metrics::wilson(k, n, advedge_metrics::Z95);
    let verdict = if n == 0 {
        Verdict::Undecided
    } else if interval.0 >= floor {
        Verdict::Holds
    } else if interval.1 < floor {
        Verdict::Reversed
    } else {
        Verdict::Undecided
    };
    let estimate = if n == 0 { f64::NAN } else { k as f64 / n as f64 };
    Test { claim: claim.to_string(), scope, comparison: "rate".into(), metric: metric.to_string(), paper: format!(">= {floor}"), n, estimate, interval, p: None, p_holm: None, verdict }
}

/// Holm's correction within each claim over its tests with a p, and the verdicts that follow.
pub fn adjust(tests: &mut [Test]) {
    let mut claims: Vec<String> = tests.iter().filter(|t| t.p.is_some()).map(|t| t.claim.clone()).collect();
    claims.sort();
    claims.dedup();
    for c in claims {
        let idx: Vec<usize> = (0..tests.len()).filter(|&i| tests[i].claim == c && tests[i].p.is_some()).collect();
        let q = holm(&idx.iter().map(|&i| tests[i].p.unwrap_or(f64::NAN)).collect::<Vec<_>>());
        for (&i, q) in idx.iter().zip(q) {
            let t = &mut tests[i];
            t.p_holm = Some(q);
            let sign = if t.paper == "lower" { -1.0 } else { 1.0 };
            t.verdict = if q.is_nan() || q >= ALPHA {
                Verdict::Undecided
            } else if t.estimate * sign > 0.0 {
                Verdict::Holds
            } else {
                Verdict::Reversed
            };
        }
    }
}

/// What the sample size can decide in a claim: the sign-flip test cannot give a p below 2 / 2^n
/// with n pairs (exact) or 1 / (reps + 1) (Monte Carlo), and Holm's first step over m tests needs
/// p < 0.05 / m. Returns a sentence when no comparison of the claim can be decided.
fn power_note(claim: &str, tests: &[&Test]) -> Option<String> {
    let m = tests.iter().filter(|t| t.p.is_some_and(|p| !p.is_nan())).count();
    let most = tests.iter().filter(|t| t.p.is_some()).map(|t| t.n).max()?;
    if m == 0 || most == 0 {
        return None;
    }
    let floor = if most <= EXACT_MAX { 2.0 / (1u64 << most) as f64 } else { 1.0 / (SIGN_FLIP_REPS + 1) as f64 };
    let first = ALPHA / m as f64;
    (floor >= first).then(|| format!("{claim}: with at most {most} pairs per comparison the smallest p the test can give is {floor:.2e}, and Holm's first step over {m} comparisons needs p < {first:.2e}, so no comparison can be decided at this sample size."))
}

/// One grid's tests: a title, how they were made, and notes (measured reasons where a claim
/// fails).
#[derive(Debug, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub title: String,
    /// Markdown: the data, the test, and the command that made the part.
    pub method: String,
    pub notes: Vec<String>,
    pub tests: Vec<Test>,
}

const ORDER: [&str; 3] = ["main", "detector", "robust"];

/// Store `part` and re-assemble the profile's claims page; returns the written paths.
pub fn write_part(profile: &str, out_dir: &Path, mut part: Part) -> anyhow::Result<Vec<PathBuf>> {
    adjust(&mut part.tests);
    let tdir = out_dir.join("tables");
    std::fs::create_dir_all(&tdir)?;
    let path = tdir.join(format!("claims-{}.json", part.name));
    write_atomic(&path, serde_json::to_string_pretty(&part)?.as_bytes())?;
    let mut written = vec![path];
    written.extend(assemble(profile, out_dir)?);
    Ok(written)
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.4}")
    }
}

/// A part's claims in the order they first appear.
fn claim_names(part: &Part) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in &part.tests {
        if !out.contains(&t.claim.as_str()) {
            out.push(&t.claim);
        }
    }
    out
}

/// Write `tables/claims.{md,csv}` from the parts present under `out_dir/tables`.
pub fn assemble(profile: &str, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut parts = Vec::new();
    for name in ORDER {
        let path = out_dir.join("tables").join(format!("claims-{name}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let part: Part = serde_json::from_str(&text).with_context(|| format!("reading the claims part {}", path.display()))?;
        parts.push(part);
    }
    let mut md = format!(
        "# The paper's claims, tested\n\nProfile `{profile}`. Each claim is tested per comparison; a paired test where both alternatives saw the same images. Holm's correction runs within each claim over its comparisons. Holds / reversed: adjusted p < {ALPHA} in the paper's direction / the other; undecided: not significant after the correction. Intervals are 95 % (bootstrap over pairs with {BOOTSTRAP_REPS} resamples, or Wilson for rates). Sign-flip tests are exact up to {EXACT_MAX} pairs, else {SIGN_FLIP_REPS} random sign patterns; seed {CLAIMS_SEED}.\n\n## Verdicts\n\n| Claim | Tested by | Holds | Reversed | Undecided |\n|---|---|---|---|---|\n"
    );
    let mut csv = String::from("part,claim,scope,comparison,metric,paper_direction,n,estimate,interval_lo,interval_hi,p,p_holm,verdict\n");
    for part in &parts {
        let claims = claim_names(part);
        for c in &claims {
            let count = |v: Verdict| part.tests.iter().filter(|t| t.claim == *c && t.verdict == v).count();
            md.push_str(&format!("| {c} | {} | {} | {} | {} |\n", part.title, count(Verdict::Holds), count(Verdict::Reversed), count(Verdict::Undecided)));
        }
        for t in &part.tests {
            let p = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
            csv.push_str(&format!(
                "{},\"{}\",{},{},{},{},{},{:.6},{:.6},{:.6},{},{},{}\n",
                part.name, t.claim, t.scope, t.comparison, t.metric, t.paper, t.n, t.estimate, t.interval.0, t.interval.1, p(t.p), p(t.p_holm), t.verdict.name()
            ));
        }
    }
    let missing: Vec<&str> = ORDER.iter().copied().filter(|n| !parts.iter().any(|p| p.name == *n)).collect();
    if !missing.is_empty() {
        md.push_str(&format!("\nNot tested yet in this profile: the claims of the {} grid(s) (run `cargo xtask reproduce all --profile {profile}`).\n", missing.join(", ")));
    }
    for part in &parts {
        md.push_str(&format!("\n## {}\n\n{}\n", part.title, part.method));
        let claims = claim_names(part);
        let notes: Vec<String> = part.notes.iter().cloned().chain(claims.iter().filter_map(|c| power_note(c, &part.tests.iter().filter(|t| t.claim == *c).collect::<Vec<_>>()))).collect();
        for n in notes {
            md.push_str(&format!("\n- {n}"));
        }
        md.push_str("\n\n| Claim | Scope | Comparison | Metric | Paper | n | Estimate [95 %] | p | p (Holm) | Verdict |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for t in &part.tests {
            let p = |v: Option<f64>| match v {
                Some(v) if v < 1e-3 => format!("{v:.1e}"),
                Some(v) => format!("{v:.3}"),
                None => "–".into(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} [{}, {}] | {} | {} | {} |\n",
                t.claim, t.scope, t.comparison, t.metric, t.paper, t.n, fmt(t.estimate), fmt(t.interval.0), fmt(t.interval.1), p(t.p), p(t.p_holm), t.verdict.name()
            ));
        }
    }
    write_table(out_dir, "claims", &csv, &md)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holm runs within a claim: two claims of one test each keep their own p. A one-sign set of 6
    /// differences has the exact sign-flip p 2 / 2^6 = 0.03125, so alone it holds (or is reversed
    /// against the paper's direction), and with a second test of p 1 in its claim Holm doubles it
    /// to 0.0625: undecided.
    #[test]
    fn holm_within_claims_and_verdicts() {
        let down = [-1.0, -2.0, -1.5, -0.5, -1.0, -3.0];
        let mut t = vec![
            paired("a", "x".into(), "A vs B".into(), "l1", -1.0, &down),
            paired("b", "x".into(), "A vs B".into(), "l1", 1.0, &down),
            paired("c", "x".into(), "A vs B".into(), "l1", -1.0, &down),
            paired("c", "y".into(), "A vs B".into(), "l1", -1.0, &[0.0, 0.0]),
        ];
        adjust(&mut t);
        assert!((t[0].p.unwrap() - 0.03125).abs() < 1e-12);
        assert_eq!(t[0].verdict, Verdict::Holds);
        assert_eq!(t[1].verdict, Verdict::Reversed);
        assert!((t[2].p_holm.unwrap() - 0.0625).abs() < 1e-12);
        assert_eq!(t[2].verdict, Verdict::Undecided);
        assert!(t[0].interval.0 <= t[0].estimate && t[0].estimate <= t[0].interval.1);
    }

    /// Rates against a floor, by Wilson's interval: 10/10 gives [0.7225, 1] (undecided at 0.9),
    /// 200/200 gives [0.9812, 1] (holds), 5/10 gives [0.2366, 0.7634] (reversed).
    #[test]
    fn rates_against_a_floor() {
        assert_eq!(rate_at_least("s", "x".into(), "success", 10, 10, 0.9).verdict, Verdict::Undecided);
        assert_eq!(rate_at_least("s", "x".into(), "success", 200, 200, 0.9).verdict, Verdict::Holds);
        let low = rate_at_least("s", "x".into(), "success", 5, 10, 0.9);
        assert_eq!(low.verdict, Verdict::Reversed);
        assert!((low.interval.0 - 0.2366).abs() < 1e-4 && (low.interval.1 - 0.7634).abs() < 1e-4);
    }

    /// The page lists every part present in the paper's order and names the missing ones.
    #[test]
    fn page_from_parts() {
        let dir = std::env::temp_dir().join(format!("advedge-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let part = |name: &str| Part { name: name.into(), title: format!("{name} title"), method: "m".into(), notes: vec![], tests: ["c", "d", "c"].iter().map(|c| paired(c, "s".into(), "A vs B".into(), "l1", -1.0, &[-1.0; 6])).collect() };
        write_part("p", &dir, part("robust")).unwrap();
        let mut main = part("main");
        main.tests.push(paired("e", "no pairs".into(), "A vs B".into(), "l1", -1.0, &[]));
        write_part("p", &dir, main).unwrap();
        let md = std::fs::read_to_string(dir.join("tables/claims.md")).unwrap();
        let (m, r) = (md.find("## main title").unwrap(), md.find("## robust title").unwrap());
        assert!(m < r, "{md}");
        assert!(md.contains("claims of the detector grid"), "{md}");
        assert_eq!(md.matches("| c | main title |").count(), 1, "one verdict row per claim: {md}");
        let csv = std::fs::read_to_string(dir.join("tables/claims.csv")).unwrap();
        assert_eq!(csv.lines().count(), 8, "{csv}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
