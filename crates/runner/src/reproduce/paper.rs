//! The paper's published numbers (experiments/paper/*.toml, extracted from the spec, section 13).
use anyhow::Context;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperCell {
    pub table: u32,
    pub framework: String,
    pub model: String,
    /// Table IV only: the interpreter the examples were crafted against.
    #[serde(default)]
    pub attacked: Option<String>,
    pub interpreter: String,
    pub variant: String,
    pub value: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cell: Vec<PaperCell>,
}

pub fn load() -> anyhow::Result<Vec<PaperCell>> {
    let mut all = Vec::new();
    for name in ["tables_1_3.toml", "table_4.toml"] {
        let p = super::grid::experiments_dir().join("paper").join(name);
        let s = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let f: File = toml::from_str(&s).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        all.extend(f.cell);
    }
    Ok(all)
}

/// Table IV lookup.
pub fn lookup4(cells: &[PaperCell], framework: &str, model: &str, attacked: &str, interpreter: &str, variant: &str) -> Option<f64> {
    cells
        .iter()
        .find(|c| c.table == 4 && c.framework == framework && c.model == model && c.attacked.as_deref() == Some(attacked) && c.interpreter == interpreter && c.variant == variant)
        .map(|c| c.value)
}

pub fn lookup(cells: &[PaperCell], table: u32, framework: &str, model: &str, interpreter: &str, variant: &str) -> Option<f64> {
    cells
        .iter()
        .find(|c| c.table == table && c.attacked.is_none() && c.framework == framework && c.model == model && c.interpreter == interpreter && c.variant == variant)
        .map(|c| c.value)
}
