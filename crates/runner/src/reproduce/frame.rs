//! The profile's tidy per-image table and the per-cell figures computed from it (polars).
//!
//! Every done cell's rows, with the cell's model / framework / interpreter / variant / key as
//! columns, go to `results/<profile>/cells.parquet`, one file a user can load in polars or
//! pandas (`pl.read_parquet`, `pd.read_parquet`). The tables' per-cell figures are then a lazy
//! scan of that file grouped by cell key: counts, success rate, and mean / sample std over the
//! successful images (the paper's convention), so what a reader loads is what the tables show.
use super::cell::Cell;
use super::store::{csv_path, read_rows};
use anyhow::Context;
use advedge_metrics::{bootstrap_mean, mean_std, wilson, BOOTSTRAP_REPS, Z95};
use polars::prelude::{col, len, Column, DataFrame, DataType, LazyFrame, ParquetWriter, PlRefPath, ScanArgsParquet};
use std::collections::BTreeMap;
use std::path::Path;

/// Aggregated metrics of one finished cell (means and sample stds over its successful images;
/// NaN where there are none, or fewer than two for a std).
#[derive(Clone, Debug, PartialEq)]
pub struct CellSummary {
    pub images: usize,
    pub successes: usize,
    pub success_rate: f64,
    pub confidence: f64,
    pub seconds: f64,
    pub l1: (f64, f64),
    pub iou: (f64, f64),
    pub noise: (f64, f64),
    /// 95 % intervals: Wilson for the success rate, the percentile bootstrap over the cell's
    /// images (`BOOTSTRAP_REPS` resamples, seed [`BOOTSTRAP_SEED`]) for the means.
    pub success_ci: (f64, f64),
    pub confidence_ci: (f64, f64),
    pub seconds_ci: (f64, f64),
    pub l1_ci: (f64, f64),
    pub iou_ci: (f64, f64),
    pub noise_ci: (f64, f64),
    /// The same cell at the attacks' float results, before 8-bit rounding.
    pub float: FloatSummary,
}

/// A cell's figures at the float results: success, and the means over the images that succeed
/// in float; `kept` counts the float successes that still succeed as 8-bit images.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatSummary {
    pub successes: usize,
    pub kept: usize,
    pub confidence: f64,
    pub l1: f64,
    pub iou: f64,
    pub noise: f64,
}

/// A table entry: `v` at `digits` decimals, `–` when missing or not finite.
pub fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

/// Seed of the tables' bootstrap intervals.
pub const BOOTSTRAP_SEED: u64 = 0;

/// One row per image of every cell in `cells` (done cells only: the caller filters).
pub fn per_image(cells: &[&Cell], dir: &Path) -> anyhow::Result<DataFrame> {
    let (mut model, mut framework, mut interpreter, mut variant, mut key) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut image, mut label, mut target, mut success) = (vec![], vec![], vec![], vec![]);
    let (mut prob, mut l1, mut iou, mut noise, mut secs, mut iters, mut failure) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut success_f, mut prob_f, mut l1_f, mut iou_f, mut noise_f) = (vec![], vec![], vec![], vec![], vec![]);
    for c in cells {
        let k = c.key();
        for r in read_rows(&csv_path(dir, c))? {
            model.push(c.model.clone());
            framework.push(c.framework.to_string());
            interpreter.push(c.interpreter.kind().to_string());
            variant.push(c.variant.to_string());
            key.push(k.clone());
            image.push(r.image_index as u64);
            label.push(r.label);
            target.push(r.target);
            success.push(r.success);
            prob.push(r.target_prob);
            l1.push(r.l1);
            iou.push(r.iou);
            noise.push(r.one_minus_ssim);
            success_f.push(r.success_float);
            prob_f.push(r.target_prob_float);
            l1_f.push(r.l1_float);
            iou_f.push(r.iou_float);
            noise_f.push(r.one_minus_ssim_float);
            secs.push(r.seconds);
            iters.push(r.iterations as u64);
            failure.push(r.failure);
        }
    }
    let height = model.len();
    let columns = vec![
        Column::new("model".into(), model),
        Column::new("framework".into(), framework),
        Column::new("interpreter".into(), interpreter),
        Column::new("variant".into(), variant),
        Column::new("key".into(), key),
        Column::new("image_index".into(), image),
        Column::new("label".into(), label),
        Column::new("target".into(), target),
        Column::new("success".into(), success),
        Column::new("target_prob".into(), prob),
        Column::new("l1".into(), l1),
        Column::new("iou".into(), iou),
        Column::new("one_minus_ssim".into(), noise),
        Column::new("success_float".into(), success_f),
        Column::new("target_prob_float".into(), prob_f),
        Column::new("l1_float".into(), l1_f),
        Column::new("iou_float".into(), iou_f),
        Column::new("one_minus_ssim_float".into(), noise_f),
        Column::new("seconds".into(), secs),
        Column::new("iterations".into(), iters),
        Column::new("failure".into(), failure),
    ];
    Ok(DataFrame::new(height, columns)?)
}

/// Write `df` to `path` as Parquet, through a temporary file and a rename.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("parquet.tmp{}", std::process::id()));
    let f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    ParquetWriter::new(f).finish(df).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Per cell key, the summary of its rows in the Parquet table at `path`: a lazy scan grouped by
/// key gathers each cell's values (in row order), and `advedge_metrics::mean_std` turns them into
/// means and sample stds, the same arithmetic as everywhere else in the project (so a table and
/// `cargo xtask attack` agree to the last digit).
pub fn summaries(path: &Path) -> anyhow::Result<BTreeMap<String, CellSummary>> {
    let scanned = LazyFrame::scan_parquet(PlRefPath::new(path.to_string_lossy().as_ref()), ScanArgsParquet::default());
    let lf = anyhow::Context::with_context(scanned, || format!("scanning {}", path.display()))?;
    let ok = || col("success");
    let grouped = lf
        .group_by_stable([col("key")])
        .agg([
            len().cast(DataType::UInt64).alias("images"),
            col("seconds"),
            col("target_prob").filter(ok()),
            col("l1").filter(ok()),
            col("iou").filter(ok()),
            col("one_minus_ssim").filter(ok()),
            col("target_prob_float").filter(col("success_float")).alias("f_prob"),
            col("l1_float").filter(col("success_float")).alias("f_l1"),
            col("iou_float").filter(col("success_float")).alias("f_iou"),
            col("one_minus_ssim_float").filter(col("success_float")).alias("f_noise"),
            col("success").filter(col("success_float")).sum().cast(DataType::UInt64).alias("kept"),
        ])
        .collect();
    let df = anyhow::Context::with_context(grouped, || format!("aggregating {}", path.display()))?;
    let keys = df.column("key")?.str()?.clone();
    let images = df.column("images")?.u64()?.clone();
    let kept = df.column("kept")?.u64()?.clone();
    let lists = |name: &str| -> anyhow::Result<Vec<Vec<f64>>> {
        let l = df.column(name)?.list()?.clone();
        (0..df.height())
            .map(|i| {
                let s = l.get_as_series(i).context("a list per cell")?;
                Ok(s.f64()?.into_no_null_iter().collect())
            })
            .collect()
    };
    let (secs, conf, l1, iou, noise) = (lists("seconds")?, lists("target_prob")?, lists("l1")?, lists("iou")?, lists("one_minus_ssim")?);
    let (f_conf, f_l1, f_iou, f_noise) = (lists("f_prob")?, lists("f_l1")?, lists("f_iou")?, lists("f_noise")?);
    let ms = |v: &[f64]| {
        let s = mean_std(v);
        (s.mean, s.std)
    };
    let ci = |v: &[f64]| bootstrap_mean(v, BOOTSTRAP_REPS, BOOTSTRAP_SEED);
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        let (n, s) = (images.get(i).unwrap_or(0) as usize, conf[i].len());
        out.insert(
            keys.get(i).context("a cell key")?.to_string(),
            CellSummary {
                images: n,
                successes: s,
                success_rate: s as f64 / n.max(1) as f64,
                confidence: mean_std(&conf[i]).mean,
                seconds: mean_std(&secs[i]).mean,
                l1: ms(&l1[i]),
                iou: ms(&iou[i]),
                noise: ms(&noise[i]),
                success_ci: wilson(s, n, Z95),
                confidence_ci: ci(&conf[i]),
                seconds_ci: ci(&secs[i]),
                l1_ci: ci(&l1[i]),
                iou_ci: ci(&iou[i]),
                noise_ci: ci(&noise[i]),
                float: FloatSummary {
                    successes: f_conf[i].len(),
                    kept: kept.get(i).unwrap_or(0) as usize,
                    confidence: mean_std(&f_conf[i]).mean,
                    l1: mean_std(&f_l1[i]).mean,
                    iou: mean_std(&f_iou[i]).mean,
                    noise: mean_std(&f_noise[i]).mean,
                },
            },
        );
    }
    Ok(out)
}
