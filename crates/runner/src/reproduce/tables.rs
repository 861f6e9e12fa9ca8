//! Aggregation of per-cell CSVs into the paper's Tables I-III (CSV + Markdown, paper beside ours)
//! and a per-cell summary with every metric (the data behind Figures 3-5).
use super::cell::Cell;
use super::grid::{GridFile, Profile};
use super::paper;
use advedge_attacks::Framework;
use super::frame::{self, fmt, CellSummary};
use super::store::{status, write_atomic, write_table, Stage, Status};
use std::collections::BTreeMap;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The grid's tidy per-image table of its done cells, `cells.parquet` for the main grid and
/// `cells-<grid>.parquet` for the others, and the per-cell summaries computed from it.
fn per_image_table(g: &GridFile, cells: &[Cell], cell_dir: &Path, out_dir: &Path) -> anyhow::Result<(PathBuf, BTreeMap<String, CellSummary>)> {
    let done: Vec<&Cell> = cells.iter().filter(|c| status(cell_dir, c) == Status::Done).collect();
    let path = out_dir.join(if g.name == "main" { "cells.parquet".to_string() } else { format!("cells-{}.parquet", g.name) });
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    frame::write_parquet(&mut frame::per_image(&done, cell_dir)?, &path)?;
    Ok((path.clone(), frame::summaries(&path)?))
}

/// Write summary.csv and the tables this grid targets; returns the written paths.
pub fn render(g: &GridFile, profile: &str, p: &Profile, cells: &[Cell], cell_dir: &Path, out_dir: &Path, subset: bool, stage: Stage) -> anyhow::Result<Vec<PathBuf>> {
    if !g.targets.iter().any(|t| ["table1", "table2", "table3", "table4"].contains(&t.as_str())) {
        return render_countermeasures(g, profile, p, cells, cell_dir, out_dir, stage);
    }
    let paper = paper::load()?;
    let (table, sums) = per_image_table(g, cells, cell_dir, out_dir)?;
    let done: Vec<(&Cell, CellSummary)> = cells.iter().filter_map(|c| sums.get(&c.key()).map(|s| (c, s.clone()))).collect();
    let mut written = vec![table];
    let mut sum = String::from("model,framework,interpreter,variant,images,successes,success_rate,confidence,seconds_per_image,l1_mean,l1_std,iou_mean,iou_std,one_minus_ssim_mean,one_minus_ssim_std,key,success_lo,success_hi,confidence_lo,confidence_hi,l1_lo,l1_hi,iou_lo,iou_hi,one_minus_ssim_lo,one_minus_ssim_hi,successes_float,kept_8bit,confidence_float,l1_float,iou_float,one_minus_ssim_float\n");
    for (c, s) in &done {
        sum.push_str(&format!(
            "{},{},{},{},{},{},{:.4},{:.4},{:.3},{:.4},{:.4},{:.4},{:.4},{:.5},{:.5},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.5},{:.5},{},{},{:.4},{:.4},{:.4},{:.5}\n",
            c.model, c.framework, c.interpreter.name(), c.variant.name(), s.images, s.successes, s.success_rate, s.confidence, s.seconds,
            s.l1.0, s.l1.1, s.iou.0, s.iou.1, s.noise.0, s.noise.1, c.key(),
            s.success_ci.0, s.success_ci.1, s.confidence_ci.0, s.confidence_ci.1, s.l1_ci.0, s.l1_ci.1, s.iou_ci.0, s.iou_ci.1, s.noise_ci.0, s.noise_ci.1,
            s.float.successes, s.float.kept, s.float.confidence, s.float.l1, s.float.iou, s.float.noise
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
        let interval = |s: &CellSummary| match t { 1 => s.success_ci, 2 => s.confidence_ci, _ => s.seconds_ci };
        let mut csv = String::from("framework,model,paper_model,interpreter,variant,images,ours,paper,difference,ours_lo,ours_hi\n");
        let images = done.first().map(|d| d.1.images).unwrap_or(0);
        // What the images were: from the first done cell's model card and selection rule.
        let imagenet = done.first().is_some_and(|(c, _)| crate::data_source::DataSource::for_model(&c.model, &crate::repo::weights_dir()) == crate::data_source::DataSource::ImagenetSamples);
        let any = done.first().is_some_and(|(c, _)| c.any_images);
        let (set, side) = if imagenet { ("ImageNetV2-layout sample images", 224) } else { ("CIFAR-10 test images", 32) };
        let rule = if any { "taken whatever the prediction (--any-images)" } else { "the classifier gets right" };
        let mut md = format!(
            "# {title}\n\nProfile `{profile}`{}: {} ({} images per cell, {set} {rule}). Paper: 1,000 ImageNetV2 images, ResNet-50 / DenseNet-169.{}\nOurs are measured on the 8-bit images an attack hands over (its float result rounded to the nearest 8-bit value; Table VIII sets them beside the float figures). Each entry: ours [95 % interval] / paper (ours - paper); the interval is {} over the cell's images. `–`: not run or not in the paper. Generated by `cargo xtask reproduce {name} --profile {profile}`.\n\n",
            if subset { " (subset)" } else { "" },
            p.description,
            images,
            if t == 3 { format!(" Times are not comparable across machines and image sizes: ours are seconds per {side}x{side} image on the device named in each cell's manifest.") } else { String::new() },
            if t == 1 { "Wilson's score interval".to_string() } else { format!("a percentile bootstrap ({} resamples, seed {})", advedge_metrics::BOOTSTRAP_REPS, super::frame::BOOTSTRAP_SEED) }
        );
        md.push_str("| Framework | Model (paper) | Interpreter | ADV2 | AdvEdge | AdvEdge+ | Plain (ours only) |\n|---|---|---|---|---|---|---|\n");
        let frameworks: Vec<Framework> = p.frameworks.clone().unwrap_or_else(|| g.grid.frameworks.clone());
        let models: Vec<String> = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        for f in &frameworks {
            for m in &models {
                let pm = p.paper_models.get(m).cloned().unwrap_or_default();
                for interp in ["Grad", "CAM", "MASK", "RTS"] {
                    let mut row = format!("| {} | {m} ({pm}) | {interp} |", f.label());
                    for v in ["ADV2", "AdvEdge", "AdvEdge+", "Plain"] {
                        let found = done.iter().find(|(c, _)| &c.model == m && &c.framework == f && c.interpreter.name() == interp && c.variant.name() == v).map(|(_, s)| s);
                        let ours = found.map(value);
                        let ci = found.map(interval);
                        let pap = paper::lookup(&paper, t, f.label(), &pm, interp, v);
                        if ours.is_some() || pap.is_some() {
                            csv.push_str(&format!("{},{m},{pm},{interp},{v},{images},{},{},{},{},{}\n", f.label(), fmt(ours, 4), fmt(pap, 4), fmt(ours.zip(pap).map(|(a, b)| a - b), 4), fmt(ci.map(|c| c.0), 4), fmt(ci.map(|c| c.1), 4)).replace('–', ""));
                        }
                        let ours_ci = match ci {
                            Some((lo, hi)) if lo.is_finite() && hi.is_finite() => format!("{} [{}, {}]", fmt(ours, digits), fmt(Some(lo), digits), fmt(Some(hi), digits)),
                            _ => fmt(ours, digits),
                        };
                        let cell = if v == "Plain" { ours_ci } else { format!("{ours_ci} / {} ({})", fmt(pap, digits), fmt(ours.zip(pap).map(|(a, b)| a - b), digits)) };
                        row.push_str(&format!(" {cell} |"));
                    }
                    md.push_str(&row);
                    md.push('\n');
                }
            }
        }
        written.extend(write_table(out_dir, name, &csv, &md)?);
    }
    written.extend(super::cost::render(profile, &done.iter().map(|(c, _)| *c).collect::<Vec<_>>(), cells.len(), cell_dir, out_dir)?);
    if let Some(e) = &p.eps_curve {
        written.extend(super::eps::render(profile, cells, cell_dir, e, out_dir)?);
    }
    if g.targets.iter().any(|x| x == "table8") {
        written.extend(super::rounding::render(profile, &p.description, &done, out_dir)?);
    }
    let transfers = if g.targets.iter().any(|x| x == "table4") { Some(super::transfer::all(cells, cell_dir, p.transfer_mask_iters, stage)?) } else { None };
    if let Some(tr) = &transfers {
        const VARIANTS: [&str; 4] = ["ADV2", "AdvEdge", "AdvEdge+", "Plain"];
        const INTERPS: [&str; 4] = ["Grad", "CAM", "MASK", "RTS"];
        let mut csv = String::from("framework,model,paper_model,attacked,interpreter,variant,n,ours,sd,paper,difference,n_common,ours_common,ours_lo,ours_hi\n");
        let head: Vec<String> = INTERPS.iter().flat_map(|e| VARIANTS.iter().map(move |v| format!("{e} {v}"))).collect();
        let mut md = format!(
            "# Table IV: transferability (mean per-element L1 between I'(x*; t) and I'(x; y), successful samples)\n\nProfile `{profile}`{}: {}. Rows: the interpreter the examples were crafted against; columns: the interpreter extracting the maps (MASK with {} Adam iterations, v1 for PGD and v2 for C&W and StAdv, the variant each framework attacks), per variant; Plain (no interpretation term, ours only) is the control: what an attack that ignores interpreters does to every map. Each entry: ours [95 % percentile bootstrap over the images, seed 0] (n successful images) / paper; the CSV adds the standard deviation. The second table compares the variants on the images all of them fooled. The RTS columns need a trained RTS network for the model (`cargo xtask train-rts`). Generated by `cargo xtask reproduce table4 --profile {profile}`.\n\n| Framework | Model (paper) | Attacked | {} |\n|---|---|---|{}\n",
            if subset { " (subset)" } else { "" }, p.description, p.transfer_mask_iters, head.join(" | "), "---|".repeat(head.len())
        );
        let mut common_md = String::from("\n## On common successes\n\nPer row: the images every variant present fooled (n), and each variant's mean L1 on exactly those images.\n\n| Framework | Model | Attacked | Extractor | n | ADV2 | AdvEdge | AdvEdge+ | Plain |\n|---|---|---|---|---|---|---|---|---|\n");
        let frameworks: Vec<Framework> = p.frameworks.clone().unwrap_or_else(|| g.grid.frameworks.clone());
        let models: Vec<String> = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        for f in &frameworks {
            for m in &models {
                let pm = p.paper_models.get(m).cloned().unwrap_or_default();
                for att in INTERPS {
                    let mut row = format!("| {} | {m} ({pm}) | {att} |", f.label());
                    let mut any = false;
                    for ext in INTERPS {
                        let per: Vec<Option<&Vec<(usize, f64)>>> = VARIANTS
                            .iter()
                            .map(|v| tr.rows.iter().find(|(c, _)| &c.model == m && &c.framework == f && c.interpreter.name() == att && c.variant.name() == *v).and_then(|(_, r)| r.get(ext)))
                            .collect();
                        // The images every present variant fooled.
                        let present: Vec<&Vec<(usize, f64)>> = per.iter().flatten().copied().collect();
                        let common: Vec<usize> = present.first().map(|first| first.iter().map(|(i, _)| *i).filter(|i| present.iter().all(|p| p.iter().any(|(j, _)| j == i))).collect()).unwrap_or_default();
                        let mut common_row = format!("| {} | {m} | {att} | {ext} | {} |", f.label(), common.len());
                        for (v, vals) in VARIANTS.iter().zip(&per) {
                            let l1s: Option<Vec<f64>> = vals.map(|vals| vals.iter().map(|(_, l)| *l).collect());
                            let s = l1s.as_ref().map(|v| advedge_metrics::mean_std(v));
                            let ci = l1s.as_ref().filter(|v| v.len() > 1).map(|v| advedge_metrics::bootstrap_mean(v, advedge_metrics::BOOTSTRAP_REPS, frame::BOOTSTRAP_SEED));
                            let on_common = vals.filter(|_| !common.is_empty()).map(|vals| vals.iter().filter(|(i, _)| common.contains(i)).map(|(_, l)| *l).sum::<f64>() / common.len() as f64);
                            let ours = s.as_ref().map(|s| s.mean).filter(|m| m.is_finite());
                            let pap = paper::lookup4(&paper, f.label(), &pm, att, ext, v);
                            any |= vals.is_some();
                            if vals.is_some() || pap.is_some() {
                                csv.push_str(
                                    &format!(
                                        "{},{m},{pm},{att},{ext},{v},{},{},{},{},{},{},{},{},{}\n",
                                        f.label(),
                                        s.as_ref().map(|s| s.n.to_string()).unwrap_or_default(),
                                        fmt(ours, 4),
                                        fmt(s.as_ref().map(|s| s.std), 4),
                                        fmt(pap, 4),
                                        fmt(ours.zip(pap).map(|(a, b)| a - b), 4),
                                        if vals.is_some() { common.len().to_string() } else { String::new() },
                                        fmt(on_common, 4),
                                        fmt(ci.map(|c| c.0), 4),
                                        fmt(ci.map(|c| c.1), 4)
                                    )
                                    .replace('–', ""),
                                );
                            }
                            let entry = match &s {
                                Some(s) if s.n > 0 => match ci {
                                    Some((lo, hi)) => format!("{} [{}, {}] ({})", fmt(ours, 3), fmt(Some(lo), 3), fmt(Some(hi), 3), s.n),
                                    None => format!("{} ({})", fmt(ours, 3), s.n),
                                },
                                Some(_) => "– (0)".to_string(),
                                None => "–".to_string(),
                            };
                            if *v == "Plain" {
                                row.push_str(&format!(" {entry} |"));
                            } else {
                                row.push_str(&format!(" {entry} / {} |", fmt(pap, 3)));
                            }
                            common_row.push_str(&format!(" {} |", fmt(on_common, 3)));
                        }
                        if present.len() > 1 {
                            common_md.push_str(&common_row);
                            common_md.push('\n');
                        }
                    }
                    if any {
                        md.push_str(&row);
                        md.push('\n');
                    }
                }
            }
        }
        md.push_str(&common_md);
        if !tr.missing_maps.is_empty() {
            md.push_str("\nLeft out: these done cells recorded successes, but their maps file (git-ignored) is missing; rerun each with `--force --filter <cell>` to regenerate it:\n\n");
            for (id, path) in &tr.missing_maps {
                md.push_str(&format!("- `{id}`: `{}`\n", path.display()));
            }
        }
        if !tr.not_computed.is_empty() {
            md.push_str(&format!("\nNot computed yet (`collect` only reads; run `cargo xtask reproduce table4 --profile {profile}`): {}\n", tr.not_computed.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")));
        }
        written.extend(write_table(out_dir, "table4", &csv, &md)?);
    }
    if g.targets.iter().any(|x| x == "claims") {
        written.extend(super::claims::render(profile, cells, &done, transfers.as_ref(), cell_dir, out_dir)?);
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
        if let Some(p) = super::transfer::examples_figure(&fdir.join("fig7.png"), profile, cells, cell_dir, p.transfer_mask_iters, stage)? {
            written.push(p);
        }
    }
    if let Some(p) = super::panels::outliers_figure(&fdir.join("fig8.png"), profile, cells, cell_dir, 3)? {
        written.push(p);
    }
    let mut index = format!("# Results, profile `{profile}`\n\n{}\n\n", p.description);
    if done.len() < cells.len() {
        index.push_str(&format!("**Partial: {} of {} cells done.** Every table, figure and verdict below covers only the done cells; `cargo xtask reproduce main --profile {profile} --dry-run` lists the others.\n\n", done.len(), cells.len()));
    }
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
    written.extend(super::report::write_main(out_dir, profile, cells, cell_dir)?);
    Ok(written)
}

/// Grids that only feed the countermeasure tables: their own tables and `index-<grid>.md`
/// (the main grid's summary, figures and index are left alone).
fn render_countermeasures(g: &GridFile, profile: &str, p: &Profile, cells: &[Cell], cell_dir: &Path, out_dir: &Path, stage: Stage) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = vec![per_image_table(g, cells, cell_dir, out_dir)?.0];
    if g.targets.iter().any(|t| t == "table5" || t == "table6") {
        let s = g.detector.as_ref().with_context(|| format!("grid `{}` targets table5/table6 but has no [detector] section", g.name))?;
        let models = p.models.clone().unwrap_or_else(|| g.grid.models.clone());
        written.extend(super::detector::render(profile, &models, s, cells, cell_dir, out_dir, stage)?);
        written.extend(super::detector_curve::render(profile, &models, s, &p.detector_curve, cells, cell_dir, out_dir, stage)?);
    }
    if g.targets.iter().any(|t| t == "table7") {
        let s = g.robust.as_ref().and_then(|r| r.get(profile)).with_context(|| format!("grid `{}` targets table7 but has no [robust.{profile}] section", g.name))?;
        written.extend(super::robust::render(profile, s, out_dir, stage)?);
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
    let hp = out_dir.join(format!("index-{}.html", g.name));
    write_atomic(&hp, super::report::markdown_page(&index, &format!("advedge {}, profile {profile}", g.description), "<p><a href=\"index.html\">&larr; main tables</a></p>").as_bytes())?;
    written.push(hp);
    Ok(written)
}
