//! Table IV, transferability (spec 10): adversarial examples crafted against interpreter I are
//! interpreted by every I′ (Grad, CAM, MASK, and RTS where the model has one) for the target class and compared with I′'s benign
//! map for the true class (per-element L1, successful samples only; the Plain variant, which
//! ignores interpreters, is the control). Per-image values are cached per cell
//! in `<stem>.transfer-<settings>.json`, so re-rendering does not recompute them.
//! Adversarial images are read back from the cell's 8-bit copy (maps.json): a rounding of at most
//! 1/510 per pixel, the same quantisation the paper applies to its MASK outputs.
use super::cell::Cell;
use super::store::{status, write_atomic, Stage, Status};
use crate::repo;
use advedge_attacks::Framework;
use advedge_interpreters::mask::MaskConfig;
use advedge_interpreters::Interpreter;
use advedge_metrics::l1_mean;
use advedge_models::tensor_io;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::store::{successful_maps, MapsEntry as Entry};

/// The extracting interpreters of Table IV for a cell of `model` in `framework` (RTS only if the
/// model has a trained network). MASK is the variant the framework attacks (v1 for PGD, v2 for
/// C&W and StAdv, spec 2.4), so a MASK row's self-entry measures the interpreter it attacked.
pub fn extractors(model: &str, framework: Framework, mask_iters: usize) -> Vec<Interpreter> {
    let data = crate::data_source::DataSource::for_model(model, &repo::weights_dir());
    let mut v = vec![Interpreter::Grad { pool: data.grad_pool() }, Interpreter::Cam, Interpreter::Mask(MaskConfig { iters: mask_iters, ..data.mask(framework.mask_v2()) })];
    if let Ok(rts) = crate::names::parse_interpreter("rts", model, &repo::weights_dir()) {
        v.push(rts);
    }
    v
}

/// What is cached per cell: per extracting interpreter, each successful image's L1 as
/// (test image index, L1), and the maps of the first successful example (for Figure 7).
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct TransferCache {
    pub l1: BTreeMap<String, Vec<(usize, f64)>>,
    pub example: Option<Example>,
}

/// Version of the cache's contents, hashed into its file name with the extractors' settings.
const CACHE_FORMAT: u32 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub image_index: usize,
    pub adversarial_u8: Vec<u8>,
    pub benign: BTreeMap<String, Vec<f32>>,
    pub adversarial: BTreeMap<String, Vec<f32>>,
}

/// A cell's transfer cache as rendering finds it.
enum CacheState {
    Ready(TransferCache),
    /// The cell recorded successes but its maps file is missing (see [`successful_maps`]).
    NoMaps(PathBuf),
    /// Not computed yet, and this stage only reads (`collect`).
    NotComputed,
}

/// The cache file of `c`'s transfer maps: keyed by the cell and by the extractors' settings
/// (MASK iterations, the RTS network's fingerprint), so changing them never reads a stale cache.
fn cache_path(c: &Cell, dir: &Path, mask_iters: usize) -> anyhow::Result<PathBuf> {
    let settings = format!("{CACHE_FORMAT}{}", serde_json::to_string(&extractors(&c.model, c.framework, mask_iters))?);
    Ok(dir.join(format!("{}.transfer-{:016x}.json", c.stem(), repo::fnv1a(settings.as_bytes()))))
}

fn cell_cache(c: &Cell, dir: &Path, mask_iters: usize, stage: Stage) -> anyhow::Result<CacheState> {
    let cache = cache_path(c, dir, mask_iters)?;
    if let Ok(s) = std::fs::read_to_string(&cache) {
        if let Ok(v) = serde_json::from_str::<TransferCache>(&s) {
            return Ok(CacheState::Ready(v));
        }
    }
    if stage == Stage::Collect {
        return Ok(CacheState::NotComputed);
    }
    let ok: Vec<Entry> = match successful_maps(dir, c)? {
        Ok(v) => v,
        Err(missing) => return Ok(CacheState::NoMaps(missing)),
    };
    let mut out = TransferCache::default();
    if ok.is_empty() {
        write_atomic(&cache, serde_json::to_string(&out)?.as_bytes())?;
        return Ok(CacheState::Ready(out));
    }
    let (card, model) = repo::load_model(&c.model, None)?;
    let dev = repo::device();
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    let (test, side) = (data.test_set()?, data.side());
    let idx: Vec<usize> = ok.iter().map(|e| e.image_index).collect();
    let (clean, _) = test.batch_f32(&idx);
    let adv: Vec<f32> = ok.iter().flat_map(|e| e.adversarial_u8.iter().map(|&v| v as f32 / 255.0)).collect();
    let b = ok.len();
    let labels: Vec<u32> = ok.iter().map(|e| e.label).collect();
    let targets: Vec<u32> = ok.iter().map(|e| e.target).collect();
    for it in extractors(&c.model, c.framework, mask_iters) {
        let benign = tensor_io::to_vec(it.explain(&model, tensor_io::images(clean.clone(), b, side, side, &dev), tensor_io::labels(&labels, &dev)));
        let advm = tensor_io::to_vec(it.explain(&model, tensor_io::images(adv.clone(), b, side, side, &dev), tensor_io::labels(&targets, &dev)));
        let ml = benign.len() / b;
        let l1: Vec<(usize, f64)> = (0..b).map(|j| (idx[j], l1_mean(&advm[j * ml..(j + 1) * ml], &benign[j * ml..(j + 1) * ml]))).collect();
        out.l1.insert(it.name().to_string(), l1);
        let ex = out.example.get_or_insert_with(|| Example { image_index: ok[0].image_index, adversarial_u8: ok[0].adversarial_u8.clone(), benign: BTreeMap::new(), adversarial: BTreeMap::new() });
        ex.benign.insert(it.name().to_string(), benign[..ml].to_vec());
        ex.adversarial.insert(it.name().to_string(), advm[..ml].to_vec());
    }
    write_atomic(&cache, serde_json::to_string(&out)?.as_bytes()).with_context(|| format!("caching {}", cache.display()))?;
    Ok(CacheState::Ready(out))
}

/// Table IV's inputs: per done cell, extractor -> per-image L1; and the done cells left out because
/// they recorded successes but their maps file is missing (cell id, path), which the table lists.
#[derive(Default)]
pub struct Transfers<'a> {
    pub rows: Vec<(&'a Cell, BTreeMap<String, Vec<(usize, f64)>>)>,
    pub missing_maps: Vec<(String, PathBuf)>,
    /// Done cells whose transfer maps `collect` found not computed (cell ids).
    pub not_computed: Vec<String>,
}

/// [`Transfers`] of every done cell (the Plain cells are Table IV's control); a cell whose maps
/// are missing is warned about.
pub fn all<'a>(cells: &'a [Cell], dir: &Path, mask_iters: usize, stage: Stage) -> anyhow::Result<Transfers<'a>> {
    let mut t = Transfers::default();
    for c in cells.iter().filter(|c| status(dir, c) == Status::Done) {
        match cell_cache(c, dir, mask_iters, stage).with_context(|| format!("transferability of {}", c.id()))? {
            CacheState::Ready(cache) => t.rows.push((c, cache.l1)),
            CacheState::NoMaps(path) => {
                tracing::warn!("{}: {} is missing, so Table IV leaves the cell out; rerun it with `--force --filter {}` to regenerate its maps", c.id(), path.display(), c.id());
                t.missing_maps.push((c.id(), path));
            }
            CacheState::NotComputed => t.not_computed.push(c.id()),
        }
    }
    Ok(t)
}

/// Figure 7: for each model and attacked interpreter I (PGD AdvEdge), one example: the
/// adversarial image, then every I′'s benign map (true class) and adversarial map (target class).
pub fn examples_figure(path: &Path, profile: &str, cells: &[Cell], dir: &Path, mask_iters: usize, stage: Stage) -> anyhow::Result<Option<std::path::PathBuf>> {
    use super::panels::{render_rows, Panel, Row};
    let mut rows = Vec::new();
    for c in cells.iter().filter(|c| c.framework == advedge_attacks::Framework::Pgd && c.variant == advedge_attacks::Variant::AdvEdge && status(dir, c) == Status::Done) {
        // A cell without its maps file is already named in Table IV's note.
        let CacheState::Ready(TransferCache { example: Some(ex), .. }) = cell_cache(c, dir, mask_iters, stage)? else { continue };
        let mut panels = vec![("adversarial image".to_string(), Panel::Image(ex.adversarial_u8.clone()))];
        for (name, bm) in &ex.benign {
            panels.push((format!("{name} benign"), Panel::Map(bm.clone())));
            panels.push((format!("{name} adversarial"), Panel::Map(ex.adversarial[name].clone())));
        }
        rows.push(Row { label: vec![c.model.clone(), format!("crafted on {}", c.interpreter.name()), "PGD AdvEdge".into(), format!("test image {}", ex.image_index)], panels });
    }
    render_rows(path, &format!("Figure 7: transferability, maps of every interpreter on examples crafted against one (profile {profile})"), &rows)
}
