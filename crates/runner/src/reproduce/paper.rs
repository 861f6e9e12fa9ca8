//! The paper's published numbers (experiments/paper/*.toml, extracted from the spec, section 13).
use anyhow::Context;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaperCell {
    pub table: u32,
    pub framework: String,
    pub model: String,
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
    let p = super::grid::experiments_dir().join("paper").join("tables_1_3.toml");
    let s = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let f: File = toml::from_str(&s).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok(f.cell)
}

/// Paper framework label for our framework id.
pub fn framework_label(f: &str) -> &'static str {
    match f {
        "pgd" => "PGD",
        "cw" => "C&W",
        "stadv" => "StAdv",
        _ => "?",
    }
}

pub fn lookup(cells: &[PaperCell], table: u32, framework: &str, model: &str, interpreter: &str, variant: &str) -> Option<f64> {
    cells
        .iter()
        .find(|c| c.table == table && c.framework == framework && c.model == model && c.interpreter == interpreter && c.variant == variant)
        .map(|c| c.value)
}
