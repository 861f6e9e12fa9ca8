//! Figures (plotters, bitmap backend, embedded DejaVu Sans: no system fonts needed).
//! Fig 2: benign vs ADV2 / AdvEdge / AdvEdge+ maps per interpreter; Figs 3-5: distributions of
//! map L1, IoU and 1-SSIM over successful samples, one box per cell.
use super::cell::Cell;
use super::store::{read_rows, status, CellRow, MapsFile, Status};
use crate::explain_cmd::colormap;
use advedge_attacks::Framework;
use anyhow::anyhow;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("../../assets/DejaVuSans.ttf"));
    });
}

pub(crate) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e:?}")
}

/// Per-image values of one CSV column over successful samples.
pub fn column_of_successes(csv: &Path, column: &str) -> anyhow::Result<Vec<f64>> {
    let pick: fn(&CellRow) -> f64 = match column {
        "l1" => |r| r.l1,
        "iou" => |r| r.iou,
        "one_minus_ssim" => |r| r.one_minus_ssim,
        "target_prob" => |r| r.target_prob,
        other => anyhow::bail!("no per-image column `{other}` in the cell format"),
    };
    Ok(read_rows(csv)?.iter().filter(|r| r.success).map(pick).collect())
}

/// The legend of the variants' colours, in the chart's upper right corner.
pub(super) fn variant_legend<'a, DB: DrawingBackend + 'a, Y: Ranged>(chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>) -> anyhow::Result<()>
where
    Y::ValueType: 'static,
{
    for v in ["ADV2", "AdvEdge", "AdvEdge+", "Plain"] {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, Y::ValueType), i32>>())
            .map_err(err)?
            .label(v)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], variant_colour(v).filled()));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).label_font((FONT, 14)).draw().map_err(err)?;
    Ok(())
}

pub(crate) fn variant_colour(v: &str) -> RGBColor {
    match v {
        "ADV2" => RGBColor(31, 119, 180),
        "AdvEdge" => RGBColor(255, 127, 14),
        "AdvEdge+" => RGBColor(44, 160, 44),
        _ => RGBColor(127, 127, 127),
    }
}

/// One box per done cell, grouped by framework and interpreter, one panel per model.
pub fn distribution_figure(path: &Path, title: &str, column: &str, ylabel: &str, cells: &[Cell], cell_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    register_font();
    let done: Vec<&Cell> = cells.iter().filter(|c| status(cell_dir, c) == Status::Done).collect();
    if done.is_empty() {
        return Ok(None);
    }
    let mut models: Vec<String> = done.iter().map(|c| c.model.clone()).collect();
    models.dedup();
    let root = BitMapBackend::new(path, (1400, 420 * models.len() as u32 + 60)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, (FONT, 26)).map_err(err)?;
    for (panel, m) in root.split_evenly((models.len(), 1)).iter().zip(&models) {
        let mine: Vec<&&Cell> = done.iter().filter(|c| &c.model == m).collect();
        let mut data = Vec::new();
        let mut groups: Vec<(String, f64, f64)> = Vec::new();
        let mut x = 0.0;
        for c in &mine {
            let g = format!("{} {}", c.framework.label(), c.interpreter.name());
            if groups.last().map(|l| l.0 != g).unwrap_or(true) {
                if !groups.is_empty() {
                    x += 1.0;
                }
                groups.push((g, x, x));
            }
            let vals = column_of_successes(&cell_dir.join(format!("{}.csv", c.stem())), column)?;
            data.push((x, c.variant.name(), vals));
            groups.last_mut().unwrap().2 = x;
            x += 1.0;
        }
        let ymax = data.iter().flat_map(|d| d.2.iter().cloned()).fold(0.0f64, f64::max).max(1e-3) as f32 * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(m.to_string(), (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // An empty strip on the right (about 130 px of the 1,400 px figure) holds the legend,
            // so it never covers the last group's boxes.
            .build_cartesian_2d(-0.7f64..(x - 0.3 + 0.12 * (x + 0.4)), 0f32..ymax)
            .map_err(err)?;
        let centres: Vec<(f64, String)> = groups.iter().map(|g| ((g.1 + g.2) / 2.0, g.0.clone())).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(ylabel)
            .x_labels(0)
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (cx, label) in &centres {
            chart.draw_series(std::iter::once(Text::new(label.clone(), (*cx - 0.4, -ymax * 0.04), (FONT, 14)))).map_err(err)?;
        }
        for (x, v, vals) in &data {
            if vals.is_empty() {
                continue;
            }
            let q = Quartiles::new(vals);
            chart
                .draw_series(std::iter::once(Boxplot::new_vertical(*x, &q).width(18).style(variant_colour(v).stroke_width(2))))
                .map_err(err)?;
        }
        variant_legend(&mut chart)?;
    }
    root.present().map_err(err)?;
    Ok(Some(path.to_path_buf()))
}


pub(super) fn draw_grid<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, h: usize, w: usize, px: impl Fn(usize, usize) -> RGBColor) -> anyhow::Result<()> {
    let (aw, ah) = area.dim_in_pixel();
    let s = (aw as usize / w).min(ah as usize / h).max(1) as i32;
    for y in 0..h {
        for x in 0..w {
            let c = px(y, x);
            area.draw(&Rectangle::new([(x as i32 * s, y as i32 * s), ((x as i32 + 1) * s, (y as i32 + 1) * s)], c.filled())).map_err(err)?;
        }
    }
    Ok(())
}

/// Figure 2: for each interpreter (rows), the image, its benign map and the ADV2 / AdvEdge /
/// AdvEdge+ adversarial maps of the first image every variant attacked successfully (PGD).
pub fn maps_figure(path: &Path, cells: &[Cell], cell_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    register_font();
    let variants = ["ADV2", "AdvEdge", "AdvEdge+"];
    let mut rows = Vec::new();
    let mut seen = Vec::new();
    for c in cells.iter().filter(|c| c.framework == Framework::Pgd && status(cell_dir, c) == Status::Done) {
        let key = (c.model.clone(), c.interpreter.name());
        if seen.contains(&key) {
            continue;
        }
        let load = |v: &str| -> Option<MapsFile> {
            let cc = cells.iter().find(|d| d.framework == Framework::Pgd && d.model == c.model && d.interpreter == c.interpreter && d.variant.name() == v)?;
            let path = super::store::maps_path(cell_dir, cc);
            // A missing maps file (git-ignored at 224x224) is expected; a damaged one is named.
            match MapsFile::read(&path) {
                Ok(m) => Some(m),
                Err(e) if path.is_file() => {
                    tracing::warn!("Figure 2 leaves out {}: {e:#}", cc.id());
                    None
                }
                Err(_) => None,
            }
        };
        let files: Vec<MapsFile> = variants.iter().filter_map(|v| load(v)).collect();
        if files.len() < variants.len() {
            continue;
        }
        let Some(idx) = files[0].images.iter().map(|e| e.image_index).find(|i| files.iter().all(|f| f.images.iter().any(|e| e.image_index == *i && e.success))) else { continue };
        seen.push(key);
        rows.push((c.model.clone(), c.interpreter.name(), idx, files));
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let cols = 2 + variants.len();
    let (cw, ch) = (170u32, 200u32);
    let root = BitMapBackend::new(path, (cw * cols as u32 + 150, ch * rows.len() as u32 + 50)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled("Figure 2: benign vs adversarial attribution maps (PGD)", (FONT, 22)).map_err(err)?;
    let (labels, grid) = root.split_horizontally(150);
    for ((model, interp, idx, files), (area, lab)) in rows.iter().zip(grid.split_evenly((rows.len(), cols)).chunks(cols).zip(labels.split_evenly((rows.len(), 1)))) {
        for (k, line) in [model.clone(), interp.to_string(), format!("test image {idx}")].iter().enumerate() {
            lab.draw(&Text::new(line.clone(), (5, 60 + 22 * k as i32), (FONT, 16))).map_err(err)?;
        }
        let e0 = files[0].images.iter().find(|e| e.image_index == *idx).unwrap();
        let [mh, mw] = files[0].map_hw;
        let titles = ["ADV2 adv. image", "benign map", "ADV2", "AdvEdge", "AdvEdge+"];
        for (k, cellarea) in area.iter().enumerate() {
            let inner = cellarea.titled(titles[k], (FONT, 15)).map_err(err)?;
            let inner = inner.margin(2, 2, 2, 2);
            match k {
                0 => {
                    // the cell files keep adversarial images only; the ADV2 one is within eps of
                    // the benign image and serves as the visual reference
                    let im = &e0.adversarial_u8;
                    draw_grid(&inner, 32, 32, |y, x| RGBColor(im[y * 32 + x], im[1024 + y * 32 + x], im[2048 + y * 32 + x]))?;
                }
                1 => draw_grid(&inner, mh, mw, |y, x| { let c = colormap(e0.benign_map[y * mw + x]); RGBColor(c[0], c[1], c[2]) })?,
                _ => {
                    let e = files[k - 2].images.iter().find(|e| e.image_index == *idx).unwrap();
                    draw_grid(&inner, mh, mw, |y, x| { let c = colormap(e.adversarial_map[y * mw + x]); RGBColor(c[0], c[1], c[2]) })?
                }
            }
        }
    }
    root.present().map_err(err)?;
    Ok(Some(path.to_path_buf()))
}

