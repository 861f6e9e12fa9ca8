//! One cell of a grid: (model, framework, interpreter, variant) under a profile, with its fully
//! resolved and checked attack configuration and a key that hashes that configuration, the
//! weights, the evaluation data and the code version.
use crate::names::{self, Common};
use advedge_attacks::{AttackConfig, CheckedAttack, Framework, Variant};
use advedge_interpreters::{Interpreter, InterpreterKind};
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::BTreeMap;

/// Bump when a change alters what an attack computes for the same configuration.
/// 2: Grad maps normalised on each image's own scale from a summed (not batch-mean) loss, the
/// PGD x MASK step search per image, the evaluated data's fingerprint in the key.
pub const ATTACK_CODE_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub model: String,
    pub framework: Framework,
    pub interpreter: Interpreter,
    pub variant: Variant,
    pub images: usize,
    pub batch: usize,
    pub config: CheckedAttack,
    pub code_version: u32,
    /// Revision of this kind of cell (see [`revision`]); left out of the key when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub revision: u32,
    /// Fingerprint of the classifier's weights file (see `repo::fingerprint`).
    pub weights: String,
    /// Fingerprint of the evaluation images (`DataSource::fingerprint`).
    pub data: String,
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
/// - C&W / StAdv x MASK plain control, 1: phase 2 without the map term (phase 1 alone, almost
///   pure L2 for C&W, never reached the target).
pub fn revision(framework: Framework, interp: &Interpreter, variant: Variant) -> u32 {
    match (framework, interp, variant) {
        (Framework::Cw | Framework::Stadv, Interpreter::Mask(_), Variant::Plain) => 1,
        _ => 0,
    }
}

impl Cell {
    /// The cell with the paper's attack under `common`, checked (an out-of-range setting is an
    /// error naming the cell, the setting and its value).
    pub fn new(model: &str, framework: Framework, kind: InterpreterKind, variant: Variant, images: usize, batch: usize, common: Common) -> anyhow::Result<Self> {
        let interp = names::attacked_interpreter(kind, framework, model, &crate::repo::weights_dir())?;
        let config = names::attack_config(framework, &interp, variant, common);
        let id = format!("{model}/{framework}/{kind}/{variant}");
        let config = config.check().with_context(|| id.clone())?;
        let rev = revision(framework, &interp, variant);
        let data = crate::data_source::DataSource::for_model(model, &crate::repo::weights_dir()).fingerprint().with_context(|| format!("{id}: the evaluation data"))?;
        Ok(Cell { model: model.into(), framework, interpreter: interp, variant, images, batch, config, code_version: ATTACK_CODE_VERSION, revision: rev, weights: crate::repo::model_fingerprint(model), data, any_images: false })
    }

    /// Apply a profile's `overrides` for this cell's framework (see `grid::Profile::overrides`),
    /// then check the result again.
    pub fn with_overrides(mut self, all: &BTreeMap<Framework, BTreeMap<String, toml::Value>>) -> anyhow::Result<Self> {
        let Some(over) = all.get(&self.framework) else { return Ok(self) };
        let mut v = serde_json::to_value(self.config.config())?;
        let obj = v.as_object_mut().context("a framework config serialises to a table")?;
        let fw = self.framework;
        for (k, val) in over {
            if k == "framework" || !obj.contains_key(k) {
                let known: Vec<&str> = obj.keys().map(|s| s.as_str()).filter(|s| *s != "framework").collect();
                bail!("overrides.{fw}: `{k}` is not a setting of the {fw} configuration of {} (settings: {})", self.id(), known.join(", "));
            }
            obj.insert(k.clone(), serde_json::to_value(val)?);
        }
        let config: AttackConfig = serde_json::from_value(v).map_err(|e| anyhow::anyhow!("overrides.{fw} for {}: {e}", self.id()))?;
        self.config = config.check().with_context(|| format!("overrides.{fw} for {}", self.id()))?;
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

    /// Human-readable id, also used by `--filter`: `model/framework/interpreter/variant`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}/{}", self.model, self.framework, self.interpreter.kind(), self.variant)
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
