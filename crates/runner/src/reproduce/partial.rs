//! Per-batch progress of a running cell, `<stem>.partial.json`: the outcomes of its finished
//! batches and the seconds they took. A killed cell (a 100-image MASK cell is hours of CPU)
//! resumes after its last finished batch instead of from the start. This is sound because every
//! random draw of an image comes from (seed, image index) (`advedge_attacks::rng`), so a batch's
//! outcomes do not depend on the batches before it. The file is written atomically after each
//! batch, ignored when its key is not the cell's, and removed once the cell's CSV is written.
//! Inside a batch, the bi-level MASK attacks save their loop state to
//! `<stem>.b<first image>.snapshot.json` (`advedge_attacks::snapshot`), removed once the batch's
//! outcomes are recorded, so a killed MASK batch continues where its last snapshot left it.
use super::cell::Cell;
use super::store::write_atomic;
use advedge_attacks::snapshot::Checkpoint;
use advedge_attacks::ImageOutcome;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, Default)]
pub struct Partial {
    /// The cell key the outcomes belong to.
    pub key: String,
    /// Wall seconds spent on the finished batches (summed over resumed runs).
    pub seconds: f64,
    pub outcomes: Vec<ImageOutcome>,
}

pub fn path(dir: &Path, c: &Cell) -> PathBuf {
    dir.join(format!("{}.partial.json", c.stem()))
}

/// The mid-batch checkpoint of the batch starting at clean image `first`: saved at most once
/// per `ADVEDGE_SNAPSHOT_SECS`, keyed by the cell key (the attack adds its own settings).
pub fn checkpoint(dir: &Path, c: &Cell, first: usize) -> Checkpoint {
    Checkpoint::new(dir.join(format!("{}.b{first}.snapshot.json", c.stem())), Checkpoint::interval_from_env(), c.key())
}

impl Partial {
    /// The saved progress of `c`, or an empty one (no file, another key, or `fresh`).
    pub fn load(dir: &Path, c: &Cell, fresh: bool) -> Partial {
        let empty = Partial { key: c.key(), ..Default::default() };
        if fresh {
            return empty;
        }
        let p = path(dir, c);
        let Ok(text) = std::fs::read_to_string(&p) else { return empty };
        match serde_json::from_str::<Partial>(&text) {
            Ok(saved) if saved.key == empty.key => {
                tracing::info!("{}: resuming after {} finished images ({})", c.id(), saved.outcomes.len(), p.display());
                saved
            }
            Ok(_) => empty,
            Err(e) => {
                tracing::warn!("{}: ignoring unreadable {} ({e})", c.id(), p.display());
                empty
            }
        }
    }

    /// True when every image of a batch (dataset indices) already has an outcome.
    pub fn has_all(&self, indices: &[usize]) -> bool {
        indices.iter().all(|i| self.outcomes.iter().any(|o| o.image_index == *i))
    }

    pub fn save(&self, dir: &Path, c: &Cell) -> anyhow::Result<()> {
        write_atomic(&path(dir, c), serde_json::to_string(self)?.as_bytes())
    }

    pub fn remove(dir: &Path, c: &Cell) {
        let _ = std::fs::remove_file(path(dir, c));
    }
}
