//! Aggregation of per-cell CSVs into the paper's Tables I-III (CSV + Markdown, paper beside ours)
//! and a per-cell summary with every metric (the data behind Figures 3-5).
use super::cell::Cell;
use super::grid::{GridFile, Profile};
use super::paper::{self, framework_label};
use super::run::{status, write_atomic, Status};
use advedge_metrics::mean_std;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Aggregated metrics of one finished cell.
#[derive(Clone, Debug)]
pub struct CellSummary {
    pub images: usize,
    pub successes: usize,
    pub success_rate: f64,
    pub confidence: f64,
    pub seconds: f64,
    pub l1: (f64, f64),
    pub iou: (f64, f64),
    pub noise: (f64, f64),
}

pub fn summarize_csv(path: &Path) -> anyhow::Result<CellSummary> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = s.lines();
    let header: Vec<&str> = lines.next().context("empty cell file")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("{}: no column `{name}`", path.display()));
    let (cs, cp, cl, ci, cn, ct) = (col("success")?, col("target_prob")?, col("l1")?, col("iou")?, col("one_minus_ssim")?, col("seconds")?);
    let (mut conf, mut l1, mut iou, mut noise, mut secs) = (vec![], vec![], vec![], vec![], vec![]);
    let mut n = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f[i].parse::<f64>().with_context(|| format!("{}: bad number `{}`", path.display(), f[i]));
        n += 1;
        secs.push(num(ct)?);
        if f[cs] == "1" {
            conf.push(num(cp)?);
            l1.push(num(cl)?);
            iou.push(num(ci)?);
            noise.push(num(cn)?);
        }
    }
    let ms = |v: &[f64]| {
        let s = mean_std(v);
        (s.mean, s.std)
    };
    Ok(CellSummary {
        images: n,
        successes: conf.len(),
        success_rate: conf.len() as f64 / n.max(1) as f64,
        confidence: mean_std(&conf).mean,
        seconds: mean_std(&secs).mean,
        l1: ms(&l1),
        iou: ms(&iou),
        noise: ms(&noise),
    })
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

/// Write summary.csv and the tables this grid targets; returns the written paths.
pub fn render(g: &GridFile, profile: &str, p: &Profile, cells: &[Cell], cell_dir: &Path, out_dir: &Path, subset: bool) -> anyhow::Result<Vec<PathBuf>> {
    if !g.targets.iter().any(|t| ["table1", "table2", "table3", "table4"].contains(&t.as_str())) {
        return render_countermeasures(g, profile, p, cells, cell_dir, out_dir);
    }
    let paper = paper::load()?;
    let mut done: Vec<(&Cell, CellSummary)> = Vec::new();
    for c in cells {
        if status(cell_dir, c) == Status::Done {
            done.push((c, summarize_csv(&cell_dir.join(format!("{}.csv", c.stem())))?));
        }
    }
    let mut written = Vec::new();
    let mut sum = String::from("model,framework,interpreter,variant,images,successes,success_rate,confidence,seconds_per_image,l1_mean,l1_std,iou_mean,iou_std,one_minus_ssim_mean,one_minus_ssim_std,key\n");
    for (c, s) in &done {
        sum.push_str(&format!(
            "{},{},{},{},{},{},{:.4},{:.4},{:.3},{:.4},{:.4},{:.4},{:.4},{:.5},{:.5},{}\n",
            c.model, c.framework, c.interpreter.name(), c.variant.name(), s.images, s.successes, s.success_rate, s.confidence, s.seconds,
            s.l1.0, s.l1.1, s.iou.0, s.iou.1, s.noise.0, s.noise.1, c.key()
        ));
    }
    std::fs::create_dir_all(out_dir.join("tables"))?;
    let path = out_dir.join("summary.csv");
    write_atomic(&path, sum.as_bytes())?;
    written.push(path);

    let specs: [(u32, &str, &str, usize); 3] = [(1, "table1", "Table I: attack success rate", 2), (2, "table2", "Table II: misclassification confidence (mean target probability over successes)", 3), (3, "table3", "Table III: attack time per image (s)", 2)];
    for (t, name, title, digits) in specs {
        if !g.targets.iter().any(|x| x == name) {
            continue;
        }
        let value = |s: &CellSummary| match t { 1 => s.success_rate, 2 => s.confidence, _ => s.seconds };
        let mut csv = String::from("framework,model,paper_model,interpreter,variant,images,ours,paper,difference\n");
        let images = done.first().map(|d| d.1.images).unwrap_or(0);
        // What the images were: from the first done cell's model card and selection rule.
        let imagenet = done.first().is_some_and(|(c, _)| crate::data_source::DataSource::for_model(&c.model, &crate::repo::weights_dir()) == crate::data_source::DataSource::ImagenetSamples);
        let any = done.first().is_some_and(|(c, _)| c.any_images);
        let (set, side) = if imagenet { ("ImageNetV2-layout sample images", 224) } else { ("CIFAR-10 test images", 32) };
        let rule = if any { "taken whatever the prediction (--any-images)" } else { "the classifier gets right" };
        let mut md = format!(
            "# {title}\n\nProfile `{profile}`{}: {} ({} images per cell, {set} {rule}). Paper: 1,000 ImageNetV2 images, ResNet-50 / DenseNet-169.{}\nEach entry: ours / paper (ours - paper). `–`: not run or not in the paper. Generated by `cargo xtask reproduce {name} --profile {profile}`.\n\n",
            if subset { " (subset)" } else { "" },
            p.description,
            images,
            if t == 3 { format!(" Times are not comparable across machines and image sizes: ours are seconds per {side}x{side} image on the device named in each cell's manifest.") } else { String::new() }
        );
        md.push_str("| Framework | Model (paper) | Interpreter | ADV2 | AdvEdge | AdvEdge+ | Plain (ours only) |\n|---|---|---|---|---|---|---|\n");
        let frameworks: Vec<String> = p.frameworks.clone().unwrap_or_else(|| g.grid.frameworks.clone());
        let models: Vec<String> = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        for f in &frameworks {
            for m in &models {
                let pm = p.paper_models.get(m).cloned().unwrap_or_default();
                for interp in ["Grad", "CAM", "MASK", "RTS"] {
                    let mut row = format!("| {} | {m} ({pm}) | {interp} |", framework_label(f));
                    for v in ["ADV2", "AdvEdge", "AdvEdge+", "Plain"] {
                        let ours = done.iter().find(|(c, _)| &c.model == m && &c.framework == f && c.interpreter.name() == interp && c.variant.name() == v).map(|(_, s)| value(s));
                        let pap = paper::lookup(&paper, t, framework_label(f), &pm, interp, v);
                        if ours.is_some() || pap.is_some() {
                            csv.push_str(&format!("{},{m},{pm},{interp},{v},{images},{},{},{}\n", framework_label(f), fmt(ours, 4), fmt(pap, 4), fmt(ours.zip(pap).map(|(a, b)| a - b), 4)).replace('–', ""));
                        }
                        let cell = if v == "Plain" { fmt(ours, digits) } else { format!("{} / {} ({})", fmt(ours, digits), fmt(pap, digits), fmt(ours.zip(pap).map(|(a, b)| a - b), digits)) };
                        row.push_str(&format!(" {cell} |"));
                    }
                    md.push_str(&row);
                    md.push('\n');
                }
            }
        }
        let tdir = out_dir.join("tables");
        for (ext, body) in [("csv", &csv), ("md", &md)] {
            let path = tdir.join(format!("{name}.{ext}"));
            write_atomic(&path, body.as_bytes())?;
            written.push(path);
        }
    }
    if g.targets.iter().any(|x| x == "table4") {
        let tr = super::transfer::all(cells, cell_dir, p.transfer_mask_iters)?;
        let mut csv = String::from("framework,model,paper_model,attacked,interpreter,variant,ours,paper,difference\n");
        let mut md = format!(
            "# Table IV: transferability (mean per-element L1 between I'(x*; t) and I'(x; y), successful samples)\n\nProfile `{profile}`{}: {}. Rows: the interpreter the examples were crafted against; columns: the interpreter extracting the maps (MASK with {} Adam iterations). Each entry: ours / paper; the RTS columns need a trained RTS network for the model (`cargo xtask train-rts`). Generated by `cargo xtask reproduce table4 --profile {profile}`.\n\n| Framework | Model (paper) | Attacked | Grad ADV2 | Grad AdvEdge | Grad AdvEdge+ | CAM ADV2 | CAM AdvEdge | CAM AdvEdge+ | MASK ADV2 | MASK AdvEdge | MASK AdvEdge+ | RTS ADV2 | RTS AdvEdge | RTS AdvEdge+ |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            if subset { " (subset)" } else { "" }, p.description, p.transfer_mask_iters
        );
        let frameworks: Vec<String> = p.frameworks.clone().unwrap_or_else(|| g.grid.frameworks.clone());
        let models: Vec<String> = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        for f in &frameworks {
            for m in &models {
                let pm = p.paper_models.get(m).cloned().unwrap_or_default();
                for att in ["Grad", "CAM", "MASK", "RTS"] {
                    let mut row = format!("| {} | {m} ({pm}) | {att} |", framework_label(f));
                    let mut any = false;
                    for ext in ["Grad", "CAM", "MASK", "RTS"] {
                        for v in ["ADV2", "AdvEdge", "AdvEdge+"] {
                            let ours = tr.rows.iter().find(|(c, _)| &c.model == m && &c.framework == f && c.interpreter.name() == att && c.variant.name() == v).and_then(|(_, r)| r.get(ext).copied());
                            let pap = paper::lookup4(&paper, framework_label(f), &pm, att, ext, v);
                            any |= ours.is_some();
                            if ours.is_some() || pap.is_some() {
                                csv.push_str(&format!("{},{m},{pm},{att},{ext},{v},{},{},{}\n", framework_label(f), fmt(ours, 4), fmt(pap, 4), fmt(ours.zip(pap).map(|(a, b)| a - b), 4)).replace('–', ""));
                            }
                            row.push_str(&format!(" {} / {} |", fmt(ours, 3), fmt(pap, 3)));
                        }
                    }
                    if any {
                        md.push_str(&row);
                        md.push('\n');
                    }
                }
            }
        }
        if !tr.missing_maps.is_empty() {
            md.push_str("\nLeft out: these done cells recorded successes, but their maps file (git-ignored) is missing; rerun each with `--force --filter <cell>` to regenerate it:\n\n");
            for (id, path) in &tr.missing_maps {
                md.push_str(&format!("- `{id}`: `{}`\n", path.display()));
            }
        }
        let tdir = out_dir.join("tables");
        for (ext, body) in [("csv", &csv), ("md", &md)] {
            let path = tdir.join(format!("table4.{ext}"));
            write_atomic(&path, body.as_bytes())?;
            written.push(path);
        }
    }
    let fdir = out_dir.join("figures");
    std::fs::create_dir_all(&fdir)?;
    let figs: [(&str, &str, &str, &str); 3] = [
        ("fig3", "Figure 3: L1 distance between adversarial and benign maps (successful samples)", "l1", "L1 (mean |difference| per map element)"),
        ("fig4", "Figure 4: IoU of top-k binarised maps, k = 10..90 % (successful samples)", "iou", "IoU"),
        ("fig5", "Figure 5: perturbation 1 - SSIM (successful samples)", "one_minus_ssim", "1 - SSIM"),
    ];
    for (name, title, col, ylabel) in figs {
        if let Some(p) = super::figures::distribution_figure(&fdir.join(format!("{name}.png")), &format!("{title}, profile {profile}"), col, ylabel, cells, cell_dir)? {
            written.push(p);
        }
    }
    if let Some(p) = super::figures::maps_figure(&fdir.join("fig2.png"), cells, cell_dir)? {
        written.push(p);
    }
    if g.targets.iter().any(|t| t == "table4") {
        if let Some(p) = super::transfer::examples_figure(&fdir.join("fig7.png"), profile, cells, cell_dir, p.transfer_mask_iters)? {
            written.push(p);
        }
    }
    if let Some(p) = super::panels::outliers_figure(&fdir.join("fig8.png"), profile, cells, cell_dir, 3)? {
        written.push(p);
    }
    let mut index = format!("# Results, profile `{profile}`\n\n{}\n\n", p.description);
    for w in &written {
        let rel = w.strip_prefix(out_dir).unwrap_or(w).display().to_string();
        if rel.ends_with(".png") {
            index.push_str(&format!("## {rel}\n\n![{rel}]({rel})\n\n"));
        } else if rel.ends_with(".md") {
            index.push_str(&std::fs::read_to_string(w).unwrap_or_default().replacen("# ", "## ", 1));
            index.push_str("\n\n");
        }
    }
    index.push_str("Per-cell metrics: [summary.csv](summary.csv). Per-image results and manifests: `cells/`.\n");
    let ip = out_dir.join("index.md");
    write_atomic(&ip, index.as_bytes())?;
    written.push(ip);
    Ok(written)
}

/// Grids that only feed the countermeasure tables: their own tables and `index-<grid>.md`
/// (the main grid's summary, figures and index are left alone).
fn render_countermeasures(g: &GridFile, profile: &str, p: &Profile, cells: &[Cell], cell_dir: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if g.targets.iter().any(|t| t == "table5" || t == "table6") {
        let s = g.detector.as_ref().with_context(|| format!("grid `{}` targets table5/table6 but has no [detector] section", g.name))?;
        let models = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        written.extend(super::detector::render(profile, &models, s, cells, cell_dir, out_dir)?);
    }
    if g.targets.iter().any(|t| t == "table7") {
        let s = g.robust.as_ref().and_then(|r| r.get(profile)).with_context(|| format!("grid `{}` targets table7 but has no [robust.{profile}] section", g.name))?;
        written.extend(super::robust::render(profile, s, out_dir)?);
    }
    let mut index = format!("# {}, profile `{profile}`\n\n{}\n\n", g.description, p.description);
    for w in &written {
        if w.extension().map(|e| e == "md").unwrap_or(false) {
            index.push_str(&std::fs::read_to_string(w).unwrap_or_default().replacen("# ", "## ", 1));
            index.push_str("\n\n");
        }
    }
    let ip = out_dir.join(format!("index-{}.md", g.name));
    write_atomic(&ip, index.as_bytes())?;
    written.push(ip);
    Ok(written)
}
