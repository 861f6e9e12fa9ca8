//! The smoke profile's HTML report, rendered by `collect` from the committed cells into a
//! temporary folder and opened in a real headless browser (Debian's Chromium): the index and a
//! cell page load, every table of the page is in the DOM and every image decodes.
//!
//! Without Chromium the test says so and passes, unless `ADVEDGE_REQUIRE_BROWSER` is set (as
//! `.ci/run` does after installing it).
use std::path::Path;
use std::process::Command;

const CHECK: &str = "<script>window.addEventListener('load', () => { const im = [...document.images]; \
document.body.setAttribute('data-check', `tables=${document.querySelectorAll('table').length} images=${im.length} \
loaded=${im.filter(i => i.complete && i.naturalWidth > 0).length}`); });</script>";

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// (tables, images, images loaded) as the browser saw `page` after its load event.
fn seen(browser: &str, page: &Path) -> (usize, usize, usize) {
    let html = std::fs::read_to_string(page).unwrap();
    let probe = page.with_file_name(format!("probe-{}", page.file_name().unwrap().to_string_lossy()));
    std::fs::write(&probe, html.replace("</body>", &format!("{CHECK}</body>"))).unwrap();
    let out = Command::new(browser)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_file(&probe);
    let attr = dom.split("data-check=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("{}: the page did not finish loading in the browser\n{}", page.display(), String::from_utf8_lossy(&out.stderr)));
    let num = |k: &str| attr.split_whitespace().find_map(|kv| kv.strip_prefix(k)).unwrap().parse::<usize>().unwrap();
    (num("tables="), num("images="), num("loaded="))
}

#[test]
fn the_smoke_report_loads_in_a_browser_with_every_table_and_image() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let results = std::env::temp_dir().join(format!("advedge-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    std::fs::create_dir_all(results.join("smoke")).unwrap();
    let copied = Command::new("cp").arg("-r").arg(repo.join("results/smoke/cells")).arg(results.join("smoke/")).status().unwrap();
    assert!(copied.success());
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["collect", "main", "--profile", "smoke", "--results"]).arg(&results).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let index = results.join("smoke/index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    let (tables, images) = (html.matches("<table>").count(), html.matches("<img").count());
    assert!(tables >= 5 && images >= 5, "index.html holds {tables} tables and {images} images");
    let page = std::fs::read_dir(results.join("smoke/pages")).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains("resnet20_pgd_cam_advedge-")).expect("a cell page");
    let page_images = std::fs::read_to_string(&page).unwrap().matches("<img").count();
    assert_eq!(page_images, 8, "two images, four panels each");

    let Some(b) = browser() else {
        assert!(std::env::var_os("ADVEDGE_REQUIRE_BROWSER").is_none(), "ADVEDGE_REQUIRE_BROWSER is set but no Chromium was found");
        eprintln!("SKIPPED the browser half: no chromium on this machine (Debian: apt-get install chromium)");
        return;
    };
    assert_eq!(seen(b, &index), (tables, images, images), "index.html in {b}");
    assert_eq!(seen(b, &page), (1, 8, 8), "{} in {b}", page.display());
    let _ = std::fs::remove_dir_all(&results);
}
