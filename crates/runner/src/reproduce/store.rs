//! The cell store: the only module that knows the files of a cell under
//! `results/<profile>/cells/` and their formats. A cell is done when its per-image CSV exists
//! (written last, through a temporary file and a rename); beside it are the maps file
//! (`<stem>.maps.json`, git-ignored), the manifest (`<stem>.json`) and, for a failed cell,
//! `<stem>.failed`. One row type writes and reads the CSV, one maps type writes and reads the
//! maps, so a format change happens in one place.
use super::cell::Cell;
use advedge_attacks::{AttackBatch, ImageOutcome};
use advedge_metrics::{iou_topk_mean, l1_mean, ssim, SsimConfig, DEFAULT_IOU_KS};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Who renders: `reproduce` may compute what the tables need and is not cached yet (Table IV's
/// transfer maps, the detectors, the robust models); `collect` only reads, and names what is
/// missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Run,
    Collect,
}

pub fn profile_dir(results: &Path, profile: &str) -> PathBuf {
    results.join(profile)
}

#[derive(Debug, PartialEq)]
pub enum Status {
    Done,
    Pending,
    Failed(String),
}

pub fn csv_path(dir: &Path, c: &Cell) -> PathBuf {
    dir.join(format!("{}.csv", c.stem()))
}
pub fn maps_path(dir: &Path, c: &Cell) -> PathBuf {
    dir.join(format!("{}.maps.json", c.stem()))
}
pub fn manifest_path(dir: &Path, c: &Cell) -> PathBuf {
    dir.join(format!("{}.json", c.stem()))
}
pub fn failed_path(dir: &Path, c: &Cell) -> PathBuf {
    dir.join(format!("{}.failed", c.stem()))
}

pub fn status(dir: &Path, c: &Cell) -> Status {
    if csv_path(dir, c).is_file() {
        Status::Done
    } else if let Ok(msg) = std::fs::read_to_string(failed_path(dir, c)) {
        Status::Failed(msg.lines().next().unwrap_or("").to_string())
    } else {
        Status::Pending
    }
}

/// Write `bytes` to `path` through a temporary file and a rename, so a killed run never leaves a
/// half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // The temporary name carries the process id: two processes finishing the same cell (a
    // resubmitted Slurm task racing an old one) never write into each other's file.
    let tmp = path.with_extension(format!("{}.tmp{}", path.extension().and_then(|e| e.to_str()).unwrap_or(""), std::process::id()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// One image of a cell: the paper's per-sample quantities (one CSV row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRow {
    pub image_index: usize,
    pub label: u32,
    pub target: u32,
    #[serde(with = "zero_one")]
    pub success: bool,
    pub target_prob: f64,
    pub l1: f64,
    pub iou: f64,
    pub one_minus_ssim: f64,
    pub seconds: f64,
    pub iterations: usize,
    /// Why the attack stopped early (NaN / Inf), empty when it did not.
    pub failure: String,
}

mod zero_one {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*v as u8)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(serde::de::Error::custom(format!("success must be 0 or 1, got {n}"))),
        }
    }
}

pub const CSV_HEADER: &str = "image_index,label,target,success,target_prob,l1,iou,one_minus_ssim,seconds,iterations,failure";

impl CellRow {
    /// The row of outcome `o` of an image of `clean`.
    pub fn of(o: &ImageOutcome, clean: &AttackBatch) -> CellRow {
        let n = clean.image_len();
        let p = clean.indices.iter().position(|&i| i == o.image_index).expect("outcome of a clean image");
        let ss = ssim(&clean.images[p * n..(p + 1) * n], &o.adversarial, 3, clean.height, clean.width, SsimConfig::default());
        CellRow {
            image_index: o.image_index, label: o.label, target: o.target, success: o.success, target_prob: o.target_prob as f64,
            l1: l1_mean(&o.adversarial_map, &o.benign_map), iou: iou_topk_mean(&o.adversarial_map, &o.benign_map, &DEFAULT_IOU_KS),
            one_minus_ssim: 1.0 - ss, seconds: o.seconds, iterations: o.iterations, failure: o.failure.clone().unwrap_or_default(),
        }
    }
    /// The CSV fields as written: 6 decimals for the metrics, 4 for the seconds.
    fn fields(&self) -> [String; 11] {
        [
            self.image_index.to_string(), self.label.to_string(), self.target.to_string(), (self.success as u8).to_string(),
            format!("{:.6}", self.target_prob), format!("{:.6}", self.l1), format!("{:.6}", self.iou), format!("{:.6}", self.one_minus_ssim),
            format!("{:.4}", self.seconds), self.iterations.to_string(), self.failure.clone(),
        ]
    }
}

/// The per-image CSV of a cell.
pub fn rows_csv(rows: &[CellRow]) -> anyhow::Result<String> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(vec![]);
    w.write_record(CSV_HEADER.split(','))?;
    for r in rows {
        w.write_record(r.fields())?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The rows of a per-image CSV; a damaged file (a missing column, a cut line, a bad number) is an
/// error naming the file and the line.
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<CellRow>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = r.headers().with_context(|| format!("reading {}", path.display()))?.iter().collect::<Vec<_>>().join(",");
    if header != CSV_HEADER {
        anyhow::bail!("{}: header `{header}` is not the cell format `{CSV_HEADER}`", path.display());
    }
    r.deserialize().map(|row| row.with_context(|| format!("{}: damaged row", path.display()))).collect()
}

/// A cell's `<stem>.maps.json`: per image the benign and adversarial maps and the 8-bit
/// adversarial image (CHW), for the figures, Table IV and the detector.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapsFile {
    pub map_hw: [usize; 2],
    pub images: Vec<MapsEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapsEntry {
    pub image_index: usize,
    pub label: u32,
    pub target: u32,
    pub success: bool,
    pub benign_map: Vec<f32>,
    pub adversarial_map: Vec<f32>,
    /// 8-bit adversarial image (CHW), for the figures.
    pub adversarial_u8: Vec<u8>,
}

impl MapsFile {
    pub fn of(out: &[ImageOutcome]) -> MapsFile {
        MapsFile {
            map_hw: out.first().map(|o| o.map_hw).unwrap_or([0, 0]),
            images: out
                .iter()
                .map(|o| MapsEntry {
                    image_index: o.image_index, label: o.label, target: o.target, success: o.success,
                    benign_map: o.benign_map.clone(), adversarial_map: o.adversarial_map.clone(),
                    adversarial_u8: o.adversarial.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect(),
                })
                .collect(),
        }
    }
    pub fn read(path: &Path) -> anyhow::Result<MapsFile> {
        let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&s).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The successful entries of a cell's maps file, for Table IV and the detector (which only use
/// successful examples). `*.maps.json` is git-ignored (tens of MB at 224x224), so a fresh
/// checkout has a cell's CSV but not its maps: when the file is missing and the CSV records no
/// success there is nothing to read (`Ok(Ok(vec![]))`); when successes are recorded the caller
/// gets the missing path (`Ok(Err(path))`) and leaves the cell out, saying so.
pub fn successful_maps(dir: &Path, c: &Cell) -> anyhow::Result<Result<Vec<MapsEntry>, PathBuf>> {
    let path = maps_path(dir, c);
    if path.is_file() {
        return Ok(Ok(MapsFile::read(&path)?.images.into_iter().filter(|e| e.success).collect()));
    }
    if read_rows(&csv_path(dir, c))?.iter().any(|r| r.success) {
        Ok(Err(path))
    } else {
        Ok(Ok(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use advedge_attacks::{AttackConfig, Framework, Variant};
    use advedge_interpreters::Interpreter;

    fn cell() -> Cell {
        let config = AttackConfig::paper(Framework::Pgd, &Interpreter::Cam, Variant::AdvEdge).check().unwrap();
        Cell { model: "m".into(), framework: Framework::Pgd, interpreter: Interpreter::Cam, variant: Variant::AdvEdge, images: 2, batch: 2, config, code_version: 1, revision: 0, weights: "w".into(), any_images: true }
    }

    /// A fresh checkout has cell CSVs but no (git-ignored) maps: with no success recorded there
    /// is nothing to read; with one, the missing path is returned for the report to name; a
    /// present maps file is read and filtered to its successes.
    #[test]
    fn missing_maps_are_empty_without_successes_and_named_with_them() {
        let dir = std::env::temp_dir().join(format!("advedge-maps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = cell();
        let csv = dir.join(format!("{}.csv", c.stem()));
        let head = format!("{CSV_HEADER}\n");
        std::fs::write(&csv, format!("{head}0,1,2,0,0.001,0.1,0.5,0,1,10,\n")).unwrap();
        assert!(successful_maps(&dir, &c).unwrap().unwrap().is_empty());
        std::fs::write(&csv, format!("{head}0,1,2,0,0.001,0.1,0.5,0,1,10,\n3,1,2,1,0.9,0.1,0.5,0.01,1,10,\n")).unwrap();
        let maps = dir.join(format!("{}.maps.json", c.stem()));
        assert_eq!(successful_maps(&dir, &c).unwrap().err(), Some(maps.clone()));
        let entry = |i: usize, ok: bool| format!(r#"{{"image_index":{i},"label":1,"target":2,"success":{ok},"benign_map":[0.5],"adversarial_map":[0.25],"adversarial_u8":[7]}}"#);
        std::fs::write(&maps, format!(r#"{{"map_hw":[1,1],"images":[{},{}]}}"#, entry(0, false), entry(3, true))).unwrap();
        let got = successful_maps(&dir, &c).unwrap().unwrap();
        assert_eq!(got.iter().map(|e| e.image_index).collect::<Vec<_>>(), vec![3]);
        std::fs::write(&maps, "{not json").unwrap();
        let err = format!("{:#}", successful_maps(&dir, &c).unwrap_err());
        assert!(err.contains("parsing") && err.contains(".maps.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

