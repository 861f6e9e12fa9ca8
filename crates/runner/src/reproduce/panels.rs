//! Figures made of rows of image/map panels: Fig 7 (transferability examples) and Fig 8
//! (outliers: the successful samples whose adversarial map is farthest from the benign one).
use super::cell::Cell;
use super::figures::{draw_grid, err, register_font, FONT};
use super::store::{status, MapsFile, Status};
use crate::explain_cmd::colormap;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// A square CHW u8 image (3 x side x side) as an `image` RGB buffer.
pub fn rgb_image(chw: &[u8], side: usize) -> anyhow::Result<image::RgbImage> {
    let n = side * side;
    let rgb: Vec<u8> = (0..n).flat_map(|p| [chw[p], chw[n + p], chw[2 * n + p]]).collect();
    image::RgbImage::from_raw(side as u32, side as u32, rgb).ok_or_else(|| anyhow::anyhow!("{} bytes are not a {side}x{side} RGB image", chw.len()))
}

/// One panel: a square RGB image (u8, CHW) or a square map in [0,1].
pub enum Panel {
    Image(Vec<u8>),
    Map(Vec<f32>),
}

/// A row: label lines on the left, then titled panels.
pub struct Row {
    pub label: Vec<String>,
    pub panels: Vec<(String, Panel)>,
}

pub fn render_rows(path: &Path, title: &str, rows: &[Row]) -> anyhow::Result<Option<PathBuf>> {
    if rows.is_empty() {
        return Ok(None);
    }
    register_font();
    let cols = rows.iter().map(|r| r.panels.len()).max().unwrap_or(1);
    let side = |p: &Panel| match p {
        Panel::Image(im) => ((im.len() / 3) as f64).sqrt() as u32,
        Panel::Map(m) => (m.len() as f64).sqrt() as u32,
    };
    // Room for the largest panel at one screen pixel per image pixel at least.
    let largest = rows.iter().flat_map(|r| r.panels.iter().map(|(_, p)| side(p))).max().unwrap_or(32);
    let cw = 170u32.max(largest + 14);
    let ch = cw + 30;
    let root = BitMapBackend::new(path, (cw * cols as u32 + 190, ch * rows.len() as u32 + 50)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, (FONT, 20)).map_err(err)?;
    let (labels, grid) = root.split_horizontally(190);
    for (row, (area, lab)) in rows.iter().zip(grid.split_evenly((rows.len(), cols)).chunks(cols).zip(labels.split_evenly((rows.len(), 1)))) {
        for (k, line) in row.label.iter().enumerate() {
            lab.draw(&Text::new(line.clone(), (5, 50 + 20 * k as i32), (FONT, 15))).map_err(err)?;
        }
        for ((t, p), cell) in row.panels.iter().zip(area.iter()) {
            let inner = cell.titled(t, (FONT, 14)).map_err(err)?.margin(2, 2, 2, 2);
            match p {
                Panel::Image(im) => {
                    let s = ((im.len() / 3) as f64).sqrt() as usize;
                    draw_grid(&inner, s, s, |y, x| RGBColor(im[y * s + x], im[s * s + y * s + x], im[2 * s * s + y * s + x]))?
                }
                Panel::Map(m) => {
                    let s = (m.len() as f64).sqrt() as usize;
                    draw_grid(&inner, s, s, |y, x| {
                        let c = colormap(m[y * s + x]);
                        RGBColor(c[0], c[1], c[2])
                    })?
                }
            }
        }
    }
    root.present().map_err(err)?;
    Ok(Some(path.to_path_buf()))
}

fn l1(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / a.len().max(1) as f64
}

/// Figure 8: per framework, the `per_framework` successful samples (over all done
/// interpretation-aware cells) with the largest map L1: adversarial image, benign map,
/// adversarial map.
pub fn outliers_figure(path: &Path, profile: &str, cells: &[Cell], cell_dir: &Path, per_framework: usize) -> anyhow::Result<Option<PathBuf>> {
    let mut rows = Vec::new();
    for fw in advedge_attacks::Framework::ALL {
        let mut cand: Vec<(f64, Row)> = Vec::new();
        for c in cells.iter().filter(|c| c.framework == fw && c.variant != advedge_attacks::Variant::Plain && status(cell_dir, c) == Status::Done) {
            let path = super::store::maps_path(cell_dir, c);
            if !path.is_file() {
                continue;
            }
            let f = match MapsFile::read(&path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!("Figure 8 leaves out {}: {e:#}", c.id());
                    continue;
                }
            };
            for e in f.images.into_iter().filter(|e| e.success) {
                let d = l1(&e.adversarial_map, &e.benign_map);
                cand.push((d, Row {
                    label: vec![format!("{} {}", fw.label(), c.model), format!("{} {}", c.interpreter.name(), c.variant.name()), format!("test image {}", e.image_index), format!("L1 {d:.3}")],
                    panels: vec![("adversarial image".into(), Panel::Image(e.adversarial_u8)), ("benign map".into(), Panel::Map(e.benign_map)), ("adversarial map".into(), Panel::Map(e.adversarial_map))],
                }));
            }
        }
        cand.sort_by(|a, b| b.0.total_cmp(&a.0));
        rows.extend(cand.into_iter().take(per_framework).map(|(_, r)| r));
    }
    render_rows(path, &format!("Figure 8: outliers, the largest map L1 among successful samples per framework (profile {profile})"), &rows)
}
