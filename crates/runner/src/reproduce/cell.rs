//! One cell of a grid: (model, framework, interpreter, variant) under a profile, with its fully
//! resolved attack configuration and a key that hashes that configuration and the code version.
use crate::attack_cmd::{parse_interpreter, parse_variant};
use advedge_attacks::optim_attack::{Kind, OptimConfig};
use advedge_attacks::pgd::PgdConfig;
use advedge_attacks::{EdgeScope, RtsReference, Variant};
use advedge_interpreters::Interpreter;
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::BTreeMap;

/// Bump when a change alters what an attack computes for the same configuration.
pub const ATTACK_CODE_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "framework", rename_all = "lowercase")]
pub enum FrameworkConfig {
    Pgd(PgdConfig),
    Optim(OptimConfig),
}

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub model: String,
    pub framework: String,
    pub interpreter: Interpreter,
    pub variant: Variant,
    pub images: usize,
    pub batch: usize,
    pub config: FrameworkConfig,
    pub code_version: u32,
    /// Revision of this kind of cell (see [`revision`]); left out of the key when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub revision: u32,
    /// Fingerprint of the classifier's weights file (see `repo::fingerprint`).
    pub weights: String,
    /// `--any-images`: attack the first images whatever the prediction (random-weight smoke
    /// runs). Left out of the key when false, so ordinary cells keep their keys.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub any_images: bool,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A change that alters what only some kinds of cells compute bumps their revision here, so
/// exactly those cells get new keys and are re-run while the rest keep theirs
/// (`ATTACK_CODE_VERSION` renews every cell).
/// - C&W / StAdv x MASK plain control, 1: phase 2 without the map term (session 6; before, phase
///   1 ran for all steps, which for C&W never reached the target).
pub fn revision(framework: &str, interp: &Interpreter, variant: Variant) -> u32 {
    match (framework, interp, variant) {
        ("cw" | "stadv", Interpreter::Mask(_), Variant::Plain) => 1,
        _ => 0,
    }
}

impl Cell {
    #[allow(clippy::too_many_arguments)]
    pub fn new(model: &str, framework: &str, interpreter: &str, variant: &str, images: usize, batch: usize, scale: f64, seed: u64, scope: &str, rts_reference: Option<RtsReference>) -> anyhow::Result<Self> {
        let data = crate::data_source::DataSource::for_model(model, &crate::repo::weights_dir());
        let interp = crate::attack_cmd::for_framework(parse_interpreter(interpreter, model, &crate::repo::weights_dir())?, framework, data);
        let v = parse_variant(variant)?;
        let scope = if scope == "all" { EdgeScope::All } else { EdgeScope::Warmup };
        // Only RTS cells take the override: other cells keep their keys.
        let rts_ref = rts_reference.filter(|_| matches!(interp, Interpreter::Rts(_)));
        let config = match framework {
            "pgd" => {
                let mut c = PgdConfig::paper(&interp, v).scaled(scale);
                c.seed = seed;
                c.edge_scope = scope;
                c.rts_reference = rts_ref.unwrap_or(c.rts_reference);
                FrameworkConfig::Pgd(c)
            }
            "cw" | "stadv" => {
                let kind = if framework == "cw" { Kind::Cw } else { Kind::Stadv };
                let mut c = OptimConfig::paper(kind, &interp).scaled(scale);
                c.seed = seed;
                c.edge_scope = scope;
                c.rts_reference = rts_ref.unwrap_or(c.rts_reference);
                FrameworkConfig::Optim(c)
            }
            other => anyhow::bail!("unknown framework `{other}`"),
        };
        let rev = revision(framework, &interp, v);
        Ok(Cell { model: model.into(), framework: framework.into(), interpreter: interp, variant: v, images, batch, config, code_version: ATTACK_CODE_VERSION, revision: rev, weights: crate::repo::model_fingerprint(model), any_images: false })
    }

    /// Apply a profile's `overrides` for this cell's framework (see `grid::Profile::overrides`).
    pub fn with_overrides(mut self, all: &BTreeMap<String, BTreeMap<String, toml::Value>>) -> anyhow::Result<Self> {
        let Some(over) = all.get(&self.framework) else { return Ok(self) };
        let mut v = match &self.config {
            FrameworkConfig::Pgd(c) => serde_json::to_value(c)?,
            FrameworkConfig::Optim(c) => serde_json::to_value(c)?,
        };
        let obj = v.as_object_mut().context("a framework config serialises to a table")?;
        for (k, val) in over {
            if !obj.contains_key(k) {
                let known: Vec<&str> = obj.keys().map(|s| s.as_str()).collect();
                bail!("overrides.{}: `{k}` is not a setting of the {} configuration of {} (settings: {})", self.framework, self.framework, self.id(), known.join(", "));
            }
            obj.insert(k.clone(), serde_json::to_value(val)?);
        }
        let bad = |e: serde_json::Error| anyhow::anyhow!("overrides.{} for {}: {e}", self.framework, self.id());
        self.config = match self.config {
            FrameworkConfig::Pgd(_) => FrameworkConfig::Pgd(serde_json::from_value(v).map_err(bad)?),
            FrameworkConfig::Optim(_) => FrameworkConfig::Optim(serde_json::from_value(v).map_err(bad)?),
        };
        Ok(self)
    }

    /// A profile's `mask_map_iters`: the Adam iterations of the MASK maps this cell extracts
    /// (MASK cells only; `None` keeps the spec's).
    pub fn with_mask_map_iters(mut self, iters: Option<usize>) -> Self {
        if let (Some(n), Interpreter::Mask(m)) = (iters, &mut self.interpreter) {
            m.iters = n;
        }
        self
    }

    /// Whether `--filter` selects this cell (see [`filter_matches`]).
    pub fn matches(&self, filter: &str) -> bool {
        filter_matches(&self.id(), filter)
    }

    /// Human-readable id, also used by `--filter`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}/{}", self.model, self.framework, self.interpreter.name().to_lowercase(), self.variant.name().to_lowercase())
    }

    /// 16 hex digits of FNV-1a over the resolved configuration (JSON), weights included.
    pub fn key(&self) -> String {
        let json = serde_json::to_string(self).expect("cell serialises");
        format!("{:016x}", crate::repo::fnv1a(json.as_bytes()))
    }

    /// File stem of the cell's outputs: readable prefix + key.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.id().replace('+', "plus").replace('/', "_"), self.key())
    }
}

/// `--filter` semantics: the id contains the text, or, when the text ends in `$`, the id ends
/// with the rest. The anchor exists because ids are prefixes of each other
/// (`.../advedge` and `.../advedge+`): `--filter 'cw/cam/advedge$'` picks AdvEdge alone.
pub fn filter_matches(id: &str, filter: &str) -> bool {
    match filter.strip_suffix('$') {
        Some(tail) => id.ends_with(tail),
        None => id.contains(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::filter_matches;

    #[test]
    fn filter_is_a_substring_unless_anchored_at_the_end() {
        let (e, p) = ("densenet169/cw/cam/advedge", "densenet169/cw/cam/advedge+");
        assert!(filter_matches(e, "cw/cam/advedge") && filter_matches(p, "cw/cam/advedge"));
        assert!(filter_matches(e, "cw/cam/advedge$") && !filter_matches(p, "cw/cam/advedge$"));
        assert!(filter_matches(p, "advedge+$") && !filter_matches(e, "advedge+$"));
        assert!(!filter_matches(e, "pgd/"));
    }
}
