//! The profile's report for a browser: `index.html` (and `index-<grid>.html`) from the generated
//! Markdown index, with every table and figure, plus a page per done cell of the main grid
//! (`pages/<stem>.html`) listing its images with their rows and panels (benign image,
//! adversarial image, benign map, adversarial map). Everything lives in the results folder: the
//! figures are linked relative to it and the panels are embedded, so the report opens offline.
use super::cell::Cell;
use super::store::{csv_path, maps_path, read_rows, status, write_atomic, CellRow, MapsEntry, MapsFile, Status};
use crate::data_source::DataSource;
use crate::explain_cmd::colormap;
use anyhow::Context;
use base64::Engine;
use std::path::{Path, PathBuf};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}\
th{background:#f3f3f3}img{max-width:100%}img.px{width:96px;height:96px;image-rendering:pixelated;margin:2px}\
figure{display:inline-block;margin:4px;text-align:center;font-size:12px}code{background:#f5f5f5;padding:0 3px}";

fn page(title: &str, body: &str) -> String {
    format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n", escape(title))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Markdown (GitHub tables) to an HTML page.
pub fn markdown_page(md: &str, title: &str, extra: &str) -> String {
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, pulldown_cmark::Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES));
    page(title, &(body + extra))
}

/// A PNG (RGB, `side` x `side`, from CHW bytes) as a data URI.
fn png_uri(chw: &[u8], side: usize) -> anyhow::Result<String> {
    let img = super::panels::rgb_image(chw, side)?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn map_uri(m: &[f32]) -> anyhow::Result<String> {
    let s = (m.len() as f64).sqrt() as usize;
    let c: Vec<[u8; 3]> = m.iter().map(|v| colormap(*v)).collect();
    let chw: Vec<u8> = (0..3).flat_map(|k| c.iter().map(move |p| p[k])).collect();
    png_uri(&chw, s)
}

fn figure(uri: &str, caption: &str) -> String {
    format!("<figure><img class=\"px\" src=\"{uri}\" alt=\"{0}\"><figcaption>{0}</figcaption></figure>", escape(caption))
}

/// Images of a cell's page shown with panels, before the failures (which are always shown).
const PANEL_IMAGES: usize = 20;

/// One cell's page: its rows and, per image shown (see [`PANEL_IMAGES`]), the four panels.
fn cell_page(c: &Cell, cell_dir: &Path) -> anyhow::Result<String> {
    let rows: Vec<CellRow> = read_rows(&csv_path(cell_dir, c))?;
    let maps: Vec<MapsEntry> = MapsFile::read(&maps_path(cell_dir, c)).map(|m| m.images).unwrap_or_default();
    let test = DataSource::for_model(&c.model, &crate::repo::weights_dir()).test_set().ok();
    let stem = c.stem();
    let mut body = format!(
        "<p><a href=\"../index.html\">&larr; all tables</a></p><h1>{}</h1><p>Key <code>{}</code>. Files: <a href=\"../cells/{stem}.csv\">per-image CSV</a>, <a href=\"../cells/{stem}.json\">manifest</a>. Figures are measured on the 8-bit adversarial image (<code>*_float</code>: at the attack's float result).</p>\n",
        escape(&c.id()),
        c.key()
    );
    body.push_str("<table><tr><th>image</th><th>label</th><th>target</th><th>success</th><th>target prob.</th><th>L1</th><th>IoU</th><th>1-SSIM</th><th>success (float)</th><th>L1 (float)</th><th>iterations</th><th>seconds</th><th>failure</th></tr>\n");
    for r in &rows {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.5}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>\n",
            r.image_index, r.label, r.target, r.success as u8, r.target_prob, r.l1, r.iou, r.one_minus_ssim, r.success_float as u8, r.l1_float, r.iterations, r.seconds, escape(&r.failure)
        ));
    }
    body.push_str("</table>\n<h2>Images</h2>\n");
    if maps.is_empty() {
        body.push_str("<p>The maps file (git-ignored) is not here; re-run the cell to see the panels.</p>\n");
    }
    // Panels for the first images and every failure: a 100-image cell's page with all of them
    // would be about 1 MB, and the grid's pages are committed. The rest are in the maps file.
    let shown: Vec<&MapsEntry> = maps.iter().enumerate().filter(|(k, e)| *k < PANEL_IMAGES || !e.success).map(|(_, e)| e).collect();
    if shown.len() < maps.len() {
        body.push_str(&format!(
            "<p>Panels for the first {PANEL_IMAGES} images and every image the attack did not fool ({} of {}); all images' maps are in <a href=\"../cells/{stem}.maps.json\">the maps file</a>.</p>\n",
            shown.len(),
            maps.len()
        ));
    }
    for e in shown {
        let side = ((e.adversarial_u8.len() / 3) as f64).sqrt() as usize;
        body.push_str(&format!("<div><h3>image {} (label {}, target {}, {})</h3>", e.image_index, e.label, e.target, if e.success { "success" } else { "no success" }));
        if let Some(t) = test.filter(|t| e.image_index < t.len() && t.height == side) {
            let n = 3 * side * side;
            body.push_str(&figure(&png_uri(&t.pixels[e.image_index * n..(e.image_index + 1) * n], side)?, "benign image"));
        }
        body.push_str(&figure(&png_uri(&e.adversarial_u8, side)?, "adversarial image"));
        body.push_str(&figure(&map_uri(&e.benign_map)?, "benign map"));
        body.push_str(&figure(&map_uri(&e.adversarial_map)?, "adversarial map"));
        body.push_str("</div>\n");
    }
    Ok(page(&c.id(), &body))
}

/// `index.html` from `index.md` with a list of the per-cell pages, and the pages themselves.
pub fn write_main(out_dir: &Path, profile: &str, cells: &[Cell], cell_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let md = std::fs::read_to_string(out_dir.join("index.md")).with_context(|| format!("reading {}", out_dir.join("index.md").display()))?;
    let pages = out_dir.join("pages");
    std::fs::create_dir_all(&pages)?;
    let mut written = Vec::new();
    // The other grids' reports of this profile (countermeasures), rendered by their own runs.
    let mut list = String::new();
    let others: Vec<String> = super::grid::all_grids()?.into_iter().filter(|(_, g)| g.name != "main" && g.profiles.contains_key(profile)).map(|(_, g)| format!("<a href=\"index-{0}.html\">{1}</a>", g.name, escape(&g.description))).collect();
    if !others.is_empty() {
        list.push_str(&format!("<h2>Other grids</h2>\n<p>{}</p>\n", others.join(" &middot; ")));
    }
    list.push_str("<h2>Cells</h2>\n<p>One page per done cell: its per-image rows and image panels.</p>\n<ul>\n");
    for c in cells.iter().filter(|c| status(cell_dir, c) == Status::Done) {
        let path = pages.join(format!("{}.html", c.stem()));
        write_atomic(&path, cell_page(c, cell_dir).with_context(|| c.id())?.as_bytes())?;
        list.push_str(&format!("<li><a href=\"pages/{}.html\">{}</a></li>\n", c.stem(), escape(&c.id())));
        written.push(path);
    }
    list.push_str("</ul>\n");
    // Pages of cells that are no longer done (re-keyed, set aside) go.
    for e in std::fs::read_dir(&pages)?.filter_map(|e| e.ok()) {
        if e.path().extension().is_some_and(|x| x == "html") && !written.contains(&e.path()) {
            std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    let index = out_dir.join("index.html");
    write_atomic(&index, markdown_page(&md, &format!("advedge results, profile {profile}"), &list).as_bytes())?;
    written.push(index);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::store::CSV_HEADER;
    use advedge_attacks::{AttackConfig, Framework, Variant};
    use advedge_interpreters::Interpreter;

    /// A 30-image cell whose images 5 and 25 failed: its page shows panels for images 0-19 and
    /// 25 (21 images), says so, and keeps all 30 rows in its table.
    #[test]
    fn page_shows_panels_of_the_first_images_and_every_failure() {
        let dir = std::env::temp_dir().join(format!("advedge-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = AttackConfig::paper(Framework::Pgd, &Interpreter::Cam, Variant::AdvEdge).check().unwrap();
        // `m` has no model card, so no benign panel: three panels per image shown.
        let c = Cell { model: "m".into(), framework: Framework::Pgd, interpreter: Interpreter::Cam, variant: Variant::AdvEdge, images: 30, batch: 10, config, code_version: 1, revision: 0, weights: "w".into(), data: "d".into(), any_images: true };
        let failed = |i: usize| i == 5 || i == 25;
        let mut csv = format!("{CSV_HEADER}\n");
        let mut entries = Vec::new();
        for i in 0..30 {
            let ok = !failed(i) as u8;
            csv.push_str(&format!("{i},1,2,{ok},0.9,0.1,0.5,0.01,{ok},0.9,0.1,0.5,0.01,1,10,\n"));
            entries.push(format!(r#"{{"image_index":{i},"label":1,"target":2,"success":{},"benign_map":[0.5],"adversarial_map":[0.25],"adversarial_u8":[7,7,7]}}"#, !failed(i)));
        }
        std::fs::write(csv_path(&dir, &c), csv).unwrap();
        std::fs::write(maps_path(&dir, &c), format!(r#"{{"map_hw":[1,1],"images":[{}]}}"#, entries.join(","))).unwrap();
        let html = cell_page(&c, &dir).unwrap();
        let shown: Vec<usize> = (0..30).filter(|i| html.contains(&format!("<h3>image {i} "))).collect();
        assert_eq!(shown, (0..20).chain([25]).collect::<Vec<_>>());
        assert!(html.contains("Panels for the first 20 images and every image the attack did not fool (21 of 30)"), "{html}");
        assert_eq!(html.matches("<tr><td>").count(), 30, "every image keeps its row");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
