//! The attack frameworks (PGD, C&W, StAdv), one configuration type over their settings, its
//! validation into a checked configuration, and the one entry that runs any framework against
//! any interpreter. Adding a framework: one module with its loop and config, one [`Framework`]
//! variant, one [`AttackConfig`] variant; the compiler then flags every match below.
use crate::error::AttackError;
use crate::optim_attack::{self, Kind, MaskOptim, OptimConfig};
use crate::pgd::{self, MaskPgd, PgdConfig, Schedule};
use crate::snapshot::Checkpoint;
use crate::{optim_mask, pgd_mask, AttackBatch, EncoderTerm, ImageOutcome, Variant};
use advedge_interpreters::Interpreter;
use advedge_models::Classifier;
use serde::{Deserialize, Serialize};

/// An attack framework. Serialised lower-case (`pgd`, `cw`, `stadv`), as in grids and cell ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    Pgd,
    Cw,
    Stadv,
}

impl Framework {
    pub const ALL: [Framework; 3] = [Framework::Pgd, Framework::Cw, Framework::Stadv];
    /// The lower-case name of grids, cell ids and the command line.
    pub fn id(&self) -> &'static str {
        match self {
            Framework::Pgd => "pgd",
            Framework::Cw => "cw",
            Framework::Stadv => "stadv",
        }
    }
    /// The paper's name (tables and figures).
    pub fn label(&self) -> &'static str {
        match self {
            Framework::Pgd => "PGD",
            Framework::Cw => "C&W",
            Framework::Stadv => "StAdv",
        }
    }
    /// MASK v2 (jittered, resized) for the optimiser frameworks, v1 for PGD (spec 2.4).
    pub fn mask_v2(&self) -> bool {
        match self {
            Framework::Pgd => false,
            Framework::Cw | Framework::Stadv => true,
        }
    }
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for Framework {
    type Err = AttackError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        Framework::ALL.into_iter().find(|f| f.id() == l).ok_or_else(|| AttackError::UnknownName { what: "framework", name: s.to_string(), known: "pgd, cw, stadv" })
    }
}

/// The resolved settings of one attack. The serialised form (tagged by `framework`: `pgd` or
/// `optim`) enters cell keys, so it must not change for an unchanged attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "framework", rename_all = "lowercase")]
pub enum AttackConfig {
    Pgd(PgdConfig),
    /// C&W and StAdv (`kind` tells which).
    Optim(OptimConfig),
}

impl AttackConfig {
    /// The authors' settings (spec 5-7, 15) for a framework, interpreter and variant.
    pub fn paper(framework: Framework, interp: &Interpreter, variant: Variant) -> Self {
        match framework {
            Framework::Pgd => AttackConfig::Pgd(PgdConfig::paper(interp, variant)),
            Framework::Cw => AttackConfig::Optim(OptimConfig::paper(Kind::Cw, interp)),
            Framework::Stadv => AttackConfig::Optim(OptimConfig::paper(Kind::Stadv, interp)),
        }
    }
    pub fn framework(&self) -> Framework {
        match self {
            AttackConfig::Pgd(_) => Framework::Pgd,
            AttackConfig::Optim(c) => match c.kind {
                Kind::Cw => Framework::Cw,
                Kind::Stadv => Framework::Stadv,
            },
        }
    }
    /// Every iteration count multiplied by `f` (at least one step each).
    pub fn scaled(self, f: f64) -> Self {
        match self {
            AttackConfig::Pgd(c) => AttackConfig::Pgd(c.scaled(f)),
            AttackConfig::Optim(c) => AttackConfig::Optim(c.scaled(f)),
        }
    }
    /// The settings every framework shares.
    pub fn with_common(mut self, seed: u64, scope: crate::EdgeScope, rts_reference: Option<crate::RtsReference>) -> Self {
        match &mut self {
            AttackConfig::Pgd(c) => {
                (c.seed, c.edge_scope) = (seed, scope);
                c.rts_reference = rts_reference.unwrap_or(c.rts_reference);
            }
            AttackConfig::Optim(c) => {
                (c.seed, c.edge_scope) = (seed, scope);
                c.rts_reference = rts_reference.unwrap_or(c.rts_reference);
            }
        }
        self
    }
    /// Validate every setting once (linfa's params -> checked params): the error names the
    /// first field out of range and its value.
    pub fn check(self) -> Result<CheckedAttack, AttackError> {
        let mut c = Checker::default();
        match &self {
            AttackConfig::Pgd(p) => check_pgd(&mut c, p),
            AttackConfig::Optim(o) => check_optim(&mut c, o),
        }
        match c.first {
            Some(e) => Err(e),
            None => Ok(CheckedAttack(self)),
        }
    }
}

/// An [`AttackConfig`] whose settings passed [`AttackConfig::check`]; the only form [`run`]
/// takes. Serialises exactly as the configuration it wraps.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CheckedAttack(AttackConfig);

impl CheckedAttack {
    pub fn config(&self) -> &AttackConfig {
        &self.0
    }
    pub fn into_config(self) -> AttackConfig {
        self.0
    }
}

/// Iterations one attack phase may have: far beyond any schedule (the paper's longest is under
/// 2,000), well below what would exhaust memory in the per-step tables.
pub const MAX_ITERS: usize = 10_000_000;

#[derive(Default)]
struct Checker {
    first: Option<AttackError>,
}

impl Checker {
    fn fail(&mut self, field: &str, value: String, expected: &'static str) {
        if self.first.is_none() {
            self.first = Some(AttackError::OutOfRange { field: field.to_string(), value, expected });
        }
    }
    fn positive<T: Copy + Into<f64> + std::fmt::Display>(&mut self, field: &str, x: T) {
        let v: f64 = x.into();
        if !(v.is_finite() && v > 0.0) {
            self.fail(field, x.to_string(), "a finite number > 0");
        }
    }
    fn non_negative<T: Copy + Into<f64> + std::fmt::Display>(&mut self, field: &str, x: T) {
        let v: f64 = x.into();
        if !(v.is_finite() && v >= 0.0) {
            self.fail(field, x.to_string(), "a finite number >= 0");
        }
    }
    fn finite<T: Copy + Into<f64> + std::fmt::Display>(&mut self, field: &str, x: T) {
        let v: f64 = x.into();
        if !v.is_finite() {
            self.fail(field, x.to_string(), "a finite number");
        }
    }
    fn probability<T: Copy + Into<f64> + std::fmt::Display>(&mut self, field: &str, x: T) {
        let v: f64 = x.into();
        if !(0.0..=1.0).contains(&v) {
            self.fail(field, x.to_string(), "a number in [0, 1]");
        }
    }
    fn count(&mut self, field: &str, n: usize, min: usize) {
        if n < min || n > MAX_ITERS {
            self.fail(field, n.to_string(), if min == 0 { "at most 10,000,000" } else { "between 1 and 10,000,000" });
        }
    }
    fn schedule(&mut self, s: &Schedule) {
        match s {
            Schedule::Ramp { c0, iters } => {
                self.non_negative("schedule.c0", *c0);
                self.count("schedule.iters", *iters, 1);
            }
            Schedule::Stages { stages } => {
                for (k, (c, n)) in stages.iter().enumerate() {
                    self.non_negative(&format!("schedule.stages[{k}].c"), *c);
                    self.count(&format!("schedule.stages[{k}].steps"), *n, 1);
                }
                self.count("schedule (all stages)", stages.iter().map(|s| s.1).fold(0usize, |a, b| a.saturating_add(b)), 0);
            }
        }
    }
    fn encoder(&mut self, e: &Option<EncoderTerm>) {
        if let Some(e) = e {
            self.non_negative("encoder.weight", e.weight);
        }
    }
}

fn check_pgd(c: &mut Checker, p: &PgdConfig) {
    if !(p.eps.is_finite() && p.eps > 0.0 && p.eps <= 1.0) {
        c.fail("eps", p.eps.to_string(), "in (0, 1] (pixel units)");
    }
    c.positive("alpha", p.alpha);
    c.count("warmup_iters", p.warmup_iters, 0);
    c.probability("edge_threshold", p.edge_threshold);
    c.positive("edge_scale", p.edge_scale);
    c.schedule(&p.schedule);
    c.encoder(&p.encoder);
    c.count("select_every", p.select_every, 1);
    c.probability("select_min_prob", p.select_min_prob);
    c.positive("soft_tau", p.soft_tau);
    if let Some(m) = &p.mask {
        check_mask_pgd(c, m);
    }
}

/// The loop counts and inner learning rate both bi-level MASK loops have.
fn check_mask_loop(c: &mut Checker, [outer, every, refresh, plain, graph]: [usize; 5], inner_lr: f32) {
    c.count("mask.outer_iters", outer, 1);
    c.count("mask.refresh_every", every, 1);
    c.count("mask.refresh_iters", refresh, 1);
    c.count("mask.inner_plain", plain, 0);
    c.count("mask.inner_graph", graph, 1);
    c.positive("mask.inner_lr", inner_lr);
}

fn check_mask_pgd(c: &mut Checker, m: &MaskPgd) {
    check_mask_loop(c, [m.outer_iters, m.refresh_every, m.refresh_iters, m.inner_plain, m.inner_graph], m.inner_lr);
    c.positive("mask.cls_step", m.cls_step);
    c.positive("mask.search_hi", m.search_hi);
    c.positive("mask.search_hi_late", m.search_hi_late);
    c.count("mask.search_steps", m.search_steps, 1);
    c.finite("mask.search_threshold", m.search_threshold);
}

fn check_optim(c: &mut Checker, o: &OptimConfig) {
    c.positive("lr", o.lr);
    c.count("warmup_iters", o.warmup_iters, 0);
    c.schedule(&o.schedule);
    c.non_negative("ce_weight", o.ce_weight);
    c.encoder(&o.encoder);
    c.non_negative("cw_f_weight", o.cw_f_weight);
    c.non_negative("flow_tau", o.flow_tau);
    c.probability("edge_threshold", o.edge_threshold);
    c.count("select_every", o.select_every, 1);
    c.probability("select_min_prob", o.select_min_prob);
    c.positive("soft_tau", o.soft_tau);
    if let Some(m) = &o.mask {
        check_mask_optim(c, m);
    }
}

fn check_mask_optim(c: &mut Checker, m: &MaskOptim) {
    check_mask_loop(c, [m.outer_iters, m.refresh_every, m.refresh_iters, m.inner_plain, m.inner_graph], m.inner_lr);
    c.positive("mask.outer_lr", m.outer_lr);
    c.non_negative("mask.int_weight", m.int_weight);
    c.finite("mask.margin_floor", m.margin_floor);
    c.non_negative("mask.flow_weight", m.flow_weight);
}

/// Run the attack `cfg` against `interp` on `batch`: the one entry for every framework and
/// interpreter (the bi-level MASK loops belong to their frameworks: `pgd_mask`, `optim_mask`).
/// `ck` lets the long MASK loops save and resume mid-batch; the other loops ignore it.
pub fn run(model: &Classifier, interp: &Interpreter, variant: Variant, cfg: &CheckedAttack, batch: &AttackBatch, ck: Option<&Checkpoint>) -> Vec<ImageOutcome> {
    match (cfg.config(), interp) {
        (AttackConfig::Pgd(c), Interpreter::Mask(_)) => pgd_mask::run(model, interp, variant, c, batch, ck),
        (AttackConfig::Pgd(c), _) => pgd::run(model, interp, variant, c, batch),
        (AttackConfig::Optim(c), Interpreter::Mask(_)) => optim_mask::run(model, interp, variant, c, batch, ck),
        (AttackConfig::Optim(c), _) => optim_attack::run(model, interp, variant, c, batch),
    }
}
