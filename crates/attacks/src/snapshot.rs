//! Mid-batch snapshots of the bi-level MASK attacks. At the paper's schedules one batch of
//! PGD/C&W/StAdv × MASK runs for hours on a GPU and about ten on a CPU, and the runner resumes
//! a cell only between batches, so a killed job used to lose the whole batch. With a
//! [`Checkpoint`], the attack writes its loop state (phase, iteration, iterate, optimiser and
//! inner-mask state, random streams, stored best points, the benign map) atomically at most once
//! per interval, and a rerun with the same key continues from it. Floats are stored as their bit
//! patterns, so a resumed run gives the same bits as an uninterrupted one (tested).
use crate::interp_loss::Best;
use advedge_models::adam::AdamState;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Hook = Arc<dyn Fn(usize) + Send + Sync>;

/// Where and how often an attack saves its state, and what it must match to be resumed.
#[derive(Clone)]
pub struct Checkpoint {
    pub path: PathBuf,
    /// Minimum time between two saves (zero: after every iteration).
    pub every: Duration,
    /// The caller's key (the runner passes the cell key); the attack adds its own settings.
    pub key: String,
    after_save: Option<Hook>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint").field("path", &self.path).field("every", &self.every).field("key", &self.key).finish()
    }
}

impl Checkpoint {
    pub fn new(path: impl Into<PathBuf>, every: Duration, key: impl Into<String>) -> Self {
        Checkpoint { path: path.into(), every, key: key.into(), after_save: None }
    }
    /// Call `f(n)` after the n-th save of a run (tests use it to kill a run at a known point).
    pub fn after_save(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.after_save = Some(Arc::new(f));
        self
    }
    /// The interval from `ADVEDGE_SNAPSHOT_SECS` (seconds, default 300). A value that is not a
    /// non-negative number is reported, naming the variable and value, and the default used.
    pub fn interval_from_env() -> Duration {
        let Ok(raw) = std::env::var("ADVEDGE_SNAPSHOT_SECS") else { return Duration::from_secs(300) };
        match raw.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
            _ => {
                tracing::warn!("ADVEDGE_SNAPSHOT_SECS={raw:?} is not a non-negative number of seconds; using 300");
                Duration::from_secs(300)
            }
        }
    }
}

/// Start a MASK loop: its saver, keyed by the loop's settings (`settings`), the batch (indices
/// and pixels) and the classifier (its last layer's weights); the state to continue from, if a
/// matching snapshot exists; and the loop's start time, moved back by the time already spent.
pub fn begin<'a>(ck: Option<&'a Checkpoint>, settings: String, model: &advedge_models::Classifier, batch: &crate::AttackBatch) -> (Saver<'a>, Option<State>, Instant) {
    let fc = fingerprint(&advedge_models::tensor_io::to_vec(model.fc_weight()));
    let mut saver = Saver::new(ck, format!("{settings}|{:?}|{:016x}|{fc:016x}", batch.indices, fingerprint(&batch.images)));
    let resume = saver.load();
    let t0 = Instant::now().checked_sub(Duration::from_secs_f64(saver.prior)).unwrap_or_else(Instant::now);
    (saver, resume, t0)
}

/// f32 / f64 buffers as bit patterns: exact through JSON.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
pub fn unbits(v: &[u32]) -> Vec<f32> {
    v.iter().map(|x| f32::from_bits(*x)).collect()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SavedBest {
    image: Vec<u32>,
    map: Vec<u32>,
    prob: u32,
    dist: u64,
}

pub fn save_best(best: &[Best]) -> Vec<Option<SavedBest>> {
    best.iter()
        .map(|b| b.as_ref().map(|(x, m, p, d)| SavedBest { image: bits(x), map: bits(m), prob: p.to_bits(), dist: d.to_bits() }))
        .collect()
}
pub fn load_best(saved: &[Option<SavedBest>]) -> Vec<Best> {
    saved.iter().map(|b| b.as_ref().map(|s| (unbits(&s.image), unbits(&s.map), f32::from_bits(s.prob), f64::from_bits(s.dist)))).collect()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SavedAdam {
    m: Vec<u32>,
    v: Vec<u32>,
    vmax: Vec<u32>,
    t: i32,
}
impl From<AdamState> for SavedAdam {
    fn from(s: AdamState) -> Self {
        SavedAdam { m: bits(&s.m), v: bits(&s.v), vmax: bits(&s.vmax), t: s.t }
    }
}
impl From<&SavedAdam> for AdamState {
    fn from(s: &SavedAdam) -> Self {
        AdamState { m: unbits(&s.m), v: unbits(&s.v), vmax: unbits(&s.vmax), t: s.t }
    }
}

/// The attacker's inner mask estimate (`inner_mask::InnerMask`): m, μ, ν, k and the jitter
/// stream's position.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SavedInner {
    pub m: Vec<u32>,
    pub mu: Vec<u32>,
    pub nu: Vec<u32>,
    pub k: i32,
    pub word_pos: [u64; 2],
}

pub fn word_pos(r: &rand_chacha::ChaCha8Rng) -> [u64; 2] {
    let p = r.get_word_pos();
    [(p >> 64) as u64, p as u64]
}
pub fn set_word_pos(r: &mut rand_chacha::ChaCha8Rng, p: [u64; 2]) {
    r.set_word_pos(((p[0] as u128) << 64) | p[1] as u128);
}

/// Loop state of a MASK attack after `next` iterations of `phase` (the attack numbers them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct State {
    pub key: String,
    pub phase: u8,
    pub next: usize,
    pub iters: usize,
    /// Seconds the batch has run so far (summed over resumed runs).
    pub seconds: f64,
    /// The benign MASK map m0 (minutes at the paper's schedule, so not recomputed).
    pub m0: Vec<u32>,
    /// The iterate: the image (PGD) or the parameters w / flow (C&W / StAdv).
    pub x: Vec<u32>,
    pub best: Vec<Option<SavedBest>>,
    pub failure: Vec<Option<String>>,
    pub alive: Vec<bool>,
    pub adam: Option<SavedAdam>,
    pub inner: Option<SavedInner>,
    /// Positions of the per-image random streams (AdvEdge+'s label-smoothing draws).
    pub rngs: Vec<[u64; 2]>,
}

/// Saves (when due) and loads the state of one attack run; inert without a checkpoint.
pub struct Saver<'a> {
    ck: Option<&'a Checkpoint>,
    key: String,
    last: Instant,
    saves: usize,
    started: Instant,
    /// Seconds of earlier runs of this batch (from the loaded state).
    pub prior: f64,
}

impl<'a> Saver<'a> {
    /// `key` names the attack's settings and inputs; it is appended to the checkpoint's key.
    pub fn new(ck: Option<&'a Checkpoint>, key: String) -> Self {
        let key = ck.map(|c| format!("{}|{key}", c.key)).unwrap_or_default();
        let now = Instant::now();
        Saver { ck, key, last: now, saves: 0, started: now, prior: 0.0 }
    }

    /// The saved state, if there is one for this key (another key or an unreadable file is
    /// reported and ignored: the run starts afresh and overwrites it).
    pub fn load(&mut self) -> Option<State> {
        let ck = self.ck?;
        let text = std::fs::read_to_string(&ck.path).ok()?;
        match serde_json::from_str::<State>(&text) {
            Ok(s) if s.key == self.key => {
                tracing::info!("resuming from snapshot {} (phase {}, after {} iterations of it, {:.0} s already spent)", ck.path.display(), s.phase, s.next, s.seconds);
                self.prior = s.seconds;
                Some(s)
            }
            Ok(_) => {
                tracing::warn!("ignoring snapshot {}: it was written for other settings or images", ck.path.display());
                None
            }
            Err(e) => {
                tracing::warn!("ignoring unreadable snapshot {} ({e})", ck.path.display());
                None
            }
        }
    }

    /// Seconds this batch has run, earlier runs included.
    pub fn seconds(&self) -> f64 {
        self.prior + self.started.elapsed().as_secs_f64()
    }

    /// Write `state()` when the interval has passed since the last save (or the start).
    pub fn maybe_save(&mut self, state: impl FnOnce(String, f64) -> State) {
        let Some(ck) = self.ck else { return };
        if self.last.elapsed() < ck.every {
            return;
        }
        let s = state(self.key.clone(), self.seconds());
        if let Err(e) = write_atomic(&ck.path, &s) {
            tracing::warn!("could not write snapshot {}: {e}", ck.path.display());
            return;
        }
        self.last = Instant::now();
        self.saves += 1;
        if let Some(f) = &ck.after_save {
            f(self.saves);
        }
    }
}

fn write_atomic(path: &Path, s: &State) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(s).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// FNV-1a over the bits of a float buffer: part of an attack's snapshot key.
pub fn fingerprint(v: &[f32]) -> u64 {
    v.iter().flat_map(|x| x.to_bits().to_le_bytes()).fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn floats_and_stream_positions_survive_json_exactly() {
        use rand::{Rng, SeedableRng};
        let v = vec![0.1f32, -3.4e-38, f32::MIN_POSITIVE / 3.0, 1.0 / 3.0, f32::MAX];
        let j = serde_json::to_string(&bits(&v)).unwrap();
        assert_eq!(unbits(&serde_json::from_str::<Vec<u32>>(&j).unwrap()), v);
        let best: Vec<Best> = vec![None, Some((v.clone(), v.clone(), 0.7, std::f64::consts::PI))];
        assert_eq!(load_best(&save_best(&best)), best);
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let _: Vec<u32> = (0..37).map(|_| a.gen()).collect();
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        set_word_pos(&mut b, word_pos(&a));
        assert_eq!(a.gen::<u64>(), b.gen::<u64>());
    }

    #[test]
    fn a_snapshot_with_another_key_is_ignored() {
        let dir = std::env::temp_dir().join(format!("advedge-snap-{}", std::process::id()));
        let ck = Checkpoint::new(dir.join("s.json"), Duration::ZERO, "cell-a");
        let mut s = Saver::new(Some(&ck), "attack".into());
        s.maybe_save(|key, seconds| State { key, phase: 2, next: 5, iters: 9, seconds, m0: vec![], x: bits(&[1.5]), best: vec![], failure: vec![], alive: vec![], adam: None, inner: None, rngs: vec![] });
        assert_eq!(Saver::new(Some(&ck), "attack".into()).load().map(|s| (s.phase, s.next, unbits(&s.x))), Some((2, 5, vec![1.5])));
        assert!(Saver::new(Some(&ck), "other attack".into()).load().is_none());
        let ck_b = Checkpoint::new(dir.join("s.json"), Duration::ZERO, "cell-b");
        assert!(Saver::new(Some(&ck_b), "attack".into()).load().is_none());
        assert!(Saver::new(None, "attack".into()).load().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
