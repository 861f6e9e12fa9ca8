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
    /// The CSV exists but does not match its manifest (cut short, edited, missing rows): never
    /// used, re-run after its files are set aside.
    Damaged(String),
}

/// Size and FNV-1a of a file, as the manifest records them for the cell's CSV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileCheck {
    pub bytes: u64,
    pub fnv1a: String,
}

impl FileCheck {
    pub fn of(bytes: &[u8]) -> FileCheck {
        FileCheck { bytes: bytes.len() as u64, fnv1a: format!("{:016x}", crate::repo::fnv1a(bytes)) }
    }
}

/// A cell's manifest (`<stem>.json`): what made it (configuration, weights, commit, device,
/// threads, timings) and what it holds (images, successes, the CSV's size and checksum).
#[derive(Serialize)]
pub struct Manifest<'a> {
    pub cell: &'a Cell,
    pub key: String,
    pub git_commit: String,
    pub advedge_version: &'static str,
    pub burn_version: &'static str,
    pub device: String,
    pub rayon_threads: usize,
    pub started_unix: u64,
    pub wall_seconds: f64,
    pub images: usize,
    pub subset: bool,
    pub successes: usize,
    pub model_card: String,
    pub model_test_accuracy: f64,
    /// Size and checksum of the per-image CSV (the store checks it before using the cell).
    pub csv: FileCheck,
    /// The code that made the cell (`repo::CODE_FINGERPRINT`).
    pub code_fingerprint: &'static str,
}

/// The part of a manifest the store reads back. Manifests written before the CSV check existed
/// have no `csv` entry; their row count is still checked.
#[derive(Deserialize)]
struct ManifestCheck {
    images: usize,
    #[serde(default)]
    csv: Option<FileCheck>,
    #[serde(default)]
    code_fingerprint: Option<String>,
    #[serde(default)]
    git_commit: Option<String>,
}

/// For `--dry-run`: whether a done cell was made by this build's code, by other code (naming the
/// commit its manifest records), or before manifests recorded the code.
pub fn made_by(dir: &Path, c: &Cell) -> String {
    let m: Option<ManifestCheck> = std::fs::read_to_string(manifest_path(dir, c)).ok().and_then(|t| serde_json::from_str(&t).ok());
    match m.and_then(|m| m.code_fingerprint.map(|f| (f, m.git_commit.unwrap_or_default()))) {
        Some((f, _)) if f == crate::repo::CODE_FINGERPRINT => "this code".to_string(),
        Some((f, commit)) => format!("other code ({f}, commit {commit})"),
        None => "code not recorded".to_string(),
    }
}

/// Whether a done cell's files are whole: the manifest parses, the CSV matches the size and
/// checksum it records (when it does), parses, and has as many rows as the manifest's images.
pub fn verify(dir: &Path, c: &Cell) -> anyhow::Result<()> {
    let (mp, cp) = (manifest_path(dir, c), csv_path(dir, c));
    let text = std::fs::read_to_string(&mp).with_context(|| format!("reading the manifest {}", mp.display()))?;
    let m: ManifestCheck = serde_json::from_str(&text).with_context(|| format!("parsing the manifest {}", mp.display()))?;
    if let Some(want) = m.csv {
        // The bytes the run wrote, rows and all: nothing more to parse.
        let bytes = std::fs::read(&cp).with_context(|| format!("reading {}", cp.display()))?;
        let got = FileCheck::of(&bytes);
        if got != want {
            anyhow::bail!("{}: {} bytes with checksum {}, its manifest records {} bytes with {}", cp.display(), got.bytes, got.fnv1a, want.bytes, want.fnv1a);
        }
        return Ok(());
    }
    let rows = read_rows(&cp)?;
    if rows.len() != m.images {
        anyhow::bail!("{}: {} rows, its manifest records {} images", cp.display(), rows.len(), m.images);
    }
    Ok(())
}

/// Remove what was derived from a cell's maps (Table IV's `<stem>.transfer-<settings>.json`, the
/// detector's `<stem>.detmaps-<iters>.json`) and its verification records
/// (`<stem>.verify-<n>.json`) and epsilon curves (`<stem>.eps-<settings>.json`): a cell that runs again must not keep caches of its previous maps.
pub fn remove_derived(dir: &Path, c: &Cell) -> anyhow::Result<()> {
    let stem = c.stem();
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(()) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&format!("{stem}.")) {
            if (rest.starts_with("transfer") || rest.starts_with("detmaps-") || rest.starts_with("verify-") || rest.starts_with("eps-")) && rest.ends_with(".json") {
                std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Move a damaged cell's CSV and manifest aside (`<name>.damaged`), so that its rerun starts
/// clean and the damaged files stay for inspection; returns the new paths.
pub fn set_aside(dir: &Path, c: &Cell) -> anyhow::Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for p in [csv_path(dir, c), manifest_path(dir, c)] {
        if p.is_file() {
            let to = PathBuf::from(format!("{}.damaged", p.display()));
            std::fs::rename(&p, &to).with_context(|| format!("moving {} aside", p.display()))?;
            moved.push(to);
        }
    }
    Ok(moved)
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
        match verify(dir, c) {
            Ok(()) => Status::Done,
            Err(e) => Status::Damaged(format!("{e:#}")),
        }
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

/// One image of a cell: the paper's per-sample quantities (one CSV row), measured on the 8-bit
/// image a user saves, and the same at the attack's float result (`*_float`).
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
    #[serde(with = "zero_one")]
    pub success_float: bool,
    pub target_prob_float: f64,
    pub l1_float: f64,
    pub iou_float: f64,
    pub one_minus_ssim_float: f64,
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

pub const CSV_HEADER: &str = "image_index,label,target,success,target_prob,l1,iou,one_minus_ssim,success_float,target_prob_float,l1_float,iou_float,one_minus_ssim_float,seconds,iterations,failure";

impl CellRow {
    /// The row of outcome `o` of an image of `clean`.
    pub fn of(o: &ImageOutcome, clean: &AttackBatch) -> CellRow {
        let n = clean.image_len();
        let p = clean.indices.iter().position(|&i| i == o.image_index).expect("outcome of a clean image");
        let noise = |adv: &[f32]| 1.0 - ssim(&clean.images[p * n..(p + 1) * n], adv, 3, clean.height, clean.width, SsimConfig::default());
        let (f, b) = (&o.float, &o.benign_map);
        CellRow {
            image_index: o.image_index, label: o.label, target: o.target, success: o.success, target_prob: o.target_prob as f64,
            l1: l1_mean(&o.adversarial_map, b), iou: iou_topk_mean(&o.adversarial_map, b, &DEFAULT_IOU_KS), one_minus_ssim: noise(&o.adversarial),
            success_float: f.success, target_prob_float: f.target_prob as f64,
            l1_float: l1_mean(&f.adversarial_map, b), iou_float: iou_topk_mean(&f.adversarial_map, b, &DEFAULT_IOU_KS), one_minus_ssim_float: noise(&f.adversarial),
            seconds: o.seconds, iterations: o.iterations, failure: o.failure.clone().unwrap_or_default(),
        }
    }
    /// The CSV fields as written: 6 decimals for the metrics, 4 for the seconds.
    fn fields(&self) -> [String; 16] {
        let m = |v: f64| format!("{v:.6}");
        [
            self.image_index.to_string(), self.label.to_string(), self.target.to_string(), (self.success as u8).to_string(),
            m(self.target_prob), m(self.l1), m(self.iou), m(self.one_minus_ssim),
            (self.success_float as u8).to_string(), m(self.target_prob_float), m(self.l1_float), m(self.iou_float), m(self.one_minus_ssim_float),
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

/// A table as `<out_dir>/tables/<name>.csv` and `.md` (atomic writes); returns both paths.
pub fn write_table(out_dir: &Path, name: &str, csv: &str, md: &str) -> anyhow::Result<Vec<PathBuf>> {
    let tdir = out_dir.join("tables");
    std::fs::create_dir_all(&tdir).with_context(|| format!("creating {}", tdir.display()))?;
    let mut written = Vec::new();
    for (ext, body) in [("csv", csv), ("md", md)] {
        let path = tdir.join(format!("{name}.{ext}"));
        write_atomic(&path, body.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// `rows` as a cell CSV holds them (metrics at 6 decimals), for comparing fresh outcomes with
/// stored ones.
pub fn as_written(rows: &[CellRow]) -> anyhow::Result<Vec<CellRow>> {
    let text = rows_csv(rows)?;
    csv::Reader::from_reader(text.as_bytes()).deserialize().map(|r| r.context("re-reading written rows")).collect()
}

/// The columns in which two rows differ, `seconds` left out (it measures the machine, not the
/// attack), each as `column: a vs b`. Floating-point columns may differ by up to `tolerance`
/// (0: exactly); integer and 0/1 columns must be equal.
pub fn differing_columns(a: &CellRow, b: &CellRow, tolerance: f64) -> Vec<String> {
    let (ja, jb) = (serde_json::to_value(a).unwrap_or_default(), serde_json::to_value(b).unwrap_or_default());
    let (Some(oa), Some(ob)) = (ja.as_object(), jb.as_object()) else { return vec!["unserialisable row".into()] };
    let same = |x: &serde_json::Value, y: Option<&serde_json::Value>| match (x, y) {
        (serde_json::Value::Number(p), Some(serde_json::Value::Number(q))) if p.is_f64() && q.is_f64() => (p.as_f64().unwrap_or(f64::NAN) - q.as_f64().unwrap_or(f64::NAN)).abs() <= tolerance,
        (x, y) => Some(x) == y,
    };
    oa.iter().filter(|(k, v)| k.as_str() != "seconds" && !same(v, ob.get(*k))).map(|(k, v)| format!("{k}: {v} vs {}", ob.get(k).cloned().unwrap_or_default())).collect()
}

/// The rows of a per-image CSV; a damaged file (a missing column, a cut line, a bad number) is an
/// error naming the file and the line.
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<CellRow>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_rows(&bytes, path)
}

/// [`read_rows`] of a CSV already read (`path` names it in errors).
pub fn parse_rows(bytes: &[u8], path: &Path) -> anyhow::Result<Vec<CellRow>> {
    let mut r = csv::Reader::from_reader(bytes);
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
                    adversarial_u8: advedge_attacks::outcome::to_u8(&o.adversarial),
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
        Cell { model: "m".into(), framework: Framework::Pgd, interpreter: Interpreter::Cam, variant: Variant::AdvEdge, images: 2, batch: 2, config, code_version: 1, revision: 0, weights: "w".into(), data: "d".into(), any_images: true }
    }

    /// A cut CSV, a CSV missing its last row, a changed CSV and a missing manifest are each
    /// `Damaged`, naming the file, never `Done`; setting the cell aside makes it pending.
    #[test]
    fn damaged_cells_are_named_and_set_aside() {
        let dir = std::env::temp_dir().join(format!("advedge-damaged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = cell();
        let rows = vec![
            CellRow { image_index: 0, label: 1, target: 2, success: true, target_prob: 0.9, l1: 0.1, iou: 0.5, one_minus_ssim: 0.01, success_float: true, target_prob_float: 0.95, l1_float: 0.05, iou_float: 0.6, one_minus_ssim_float: 0.009, seconds: 1.0, iterations: 10, failure: String::new() },
            CellRow { image_index: 5, label: 3, target: 4, success: false, target_prob: 0.1, l1: 0.2, iou: 0.4, one_minus_ssim: 0.02, success_float: true, target_prob_float: 0.95, l1_float: 0.05, iou_float: 0.6, one_minus_ssim_float: 0.009, seconds: 1.0, iterations: 10, failure: "NaN, step 3".into() },
        ];
        let csv = rows_csv(&rows).unwrap();
        let manifest = |check: Option<FileCheck>| serde_json::json!({ "images": 2, "csv": check }).to_string();
        std::fs::write(manifest_path(&dir, &c), manifest(Some(FileCheck::of(csv.as_bytes())))).unwrap();
        std::fs::write(csv_path(&dir, &c), &csv).unwrap();
        assert_eq!(status(&dir, &c), Status::Done);
        assert_eq!(read_rows(&csv_path(&dir, &c)).unwrap(), rows, "rows read back as written");
        let damaged = |s: Status| match s {
            Status::Damaged(why) => why,
            other => panic!("not damaged: {other:?}"),
        };
        // Cut mid-line.
        std::fs::write(csv_path(&dir, &c), &csv[..csv.len() - 9]).unwrap();
        assert!(damaged(status(&dir, &c)).contains(".csv"));
        // Without the checksum (an older manifest), a missing last row is caught by the count.
        std::fs::write(manifest_path(&dir, &c), manifest(None)).unwrap();
        let short: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(csv_path(&dir, &c), &short).unwrap();
        assert!(damaged(status(&dir, &c)).contains("1 rows, its manifest records 2"));
        // A cut line without the checksum is a parse error naming the file.
        std::fs::write(csv_path(&dir, &c), format!("{short}5,3,4")).unwrap();
        assert!(damaged(status(&dir, &c)).contains(".csv"));
        // No manifest at all.
        std::fs::remove_file(manifest_path(&dir, &c)).unwrap();
        assert!(damaged(status(&dir, &c)).contains("manifest"));
        let moved = set_aside(&dir, &c).unwrap();
        assert_eq!(moved.len(), 1);
        assert!(moved[0].display().to_string().ends_with(".csv.damaged"));
        assert_eq!(status(&dir, &c), Status::Pending);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `--dry-run` tells which code made a done cell, from its manifest.
    #[test]
    fn made_by_reads_the_code_fingerprint_of_the_manifest() {
        let dir = std::env::temp_dir().join(format!("advedge-madeby-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = cell();
        let write = |v: serde_json::Value| std::fs::write(manifest_path(&dir, &c), v.to_string()).unwrap();
        write(serde_json::json!({ "images": 2, "git_commit": "abc1234", "code_fingerprint": crate::repo::CODE_FINGERPRINT }));
        assert_eq!(made_by(&dir, &c), "this code");
        write(serde_json::json!({ "images": 2, "git_commit": "abc1234", "code_fingerprint": "0000000000000000" }));
        assert_eq!(made_by(&dir, &c), "other code (0000000000000000, commit abc1234)");
        write(serde_json::json!({ "images": 2, "git_commit": "abc1234" }));
        assert_eq!(made_by(&dir, &c), "code not recorded");
        std::fs::remove_dir_all(&dir).unwrap();
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
        std::fs::write(&csv, format!("{head}0,1,2,0,0.001,0.1,0.5,0,0,0.001,0.1,0.5,0,1,10,\n")).unwrap();
        assert!(successful_maps(&dir, &c).unwrap().unwrap().is_empty());
        std::fs::write(&csv, format!("{head}0,1,2,0,0.001,0.1,0.5,0,0,0.001,0.1,0.5,0,1,10,\n3,1,2,1,0.9,0.1,0.5,0.01,1,0.9,0.1,0.5,0.01,1,10,\n")).unwrap();
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

