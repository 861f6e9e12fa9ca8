//! Progress inside one attack run. At the paper's schedules one image can take minutes (PGD on a
//! CPU) to hours (the bi-level MASK loops), longer than the per-batch progress bar of the runner
//! can show, so each phase logs a `tracing` line (target `advedge::progress`) at most once per
//! interval: iterations done, seconds per iteration so far and the phase's remaining time.
//! The interval is `ADVEDGE_PROGRESS_SECS` (default 60; 0 logs every iteration). The runner's
//! span names the cell and batch, so concurrent cells stay apart.
//! With `record_phases(true)` each finished phase's wall time is also kept for
//! `take_phase_times` (the per-phase breakdown of `cargo xtask bench-attack`).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static RECORD: AtomicBool = AtomicBool::new(false);
static TIMES: Mutex<Vec<PhaseTime>> = Mutex::new(Vec::new());

/// One finished phase of one attack run (one batch).
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseTime {
    pub phase: &'static str,
    /// Iterations run in this process (a resumed phase counts only its own).
    pub iterations: usize,
    pub seconds: f64,
}

/// Starts (or stops) keeping each finished phase's time, process-wide. Off by default, so long
/// grid runs keep nothing.
pub fn record_phases(on: bool) {
    RECORD.store(on, Ordering::SeqCst);
}

/// The phases finished since the last call, in the order they finished.
pub fn take_phase_times() -> Vec<PhaseTime> {
    std::mem::take(&mut *TIMES.lock().unwrap_or_else(|e| e.into_inner()))
}

pub struct Ticker {
    phase: &'static str,
    total: usize,
    /// Iterations already done when the ticker started (a run resumed from a snapshot).
    first: usize,
    start: Instant,
    last: Instant,
    every: Duration,
    /// Iterations finished (the last `tick`).
    done: usize,
    /// Whether this phase's time is already recorded (at its last iteration).
    recorded: bool,
}

/// The logging interval from `ADVEDGE_PROGRESS_SECS` (seconds, default 60). A value that is not
/// a non-negative number is reported (naming the variable and the value) and the default used.
fn interval() -> Duration {
    let Ok(raw) = std::env::var("ADVEDGE_PROGRESS_SECS") else { return Duration::from_secs(60) };
    match raw.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        _ => {
            tracing::warn!("ADVEDGE_PROGRESS_SECS={raw:?} is not a non-negative number of seconds; using 60");
            Duration::from_secs(60)
        }
    }
}

impl Ticker {
    /// A phase of `total` iterations starting now.
    pub fn new(phase: &'static str, total: usize) -> Self {
        Self::resumed(phase, total, 0)
    }

    /// A phase of `total` iterations of which `first` were done before now.
    pub fn resumed(phase: &'static str, total: usize, first: usize) -> Self {
        let now = Instant::now();
        Ticker { phase, total, first, start: now, last: now, every: interval(), done: first, recorded: false }
    }

    /// Call after iteration `done` (1-based count of finished iterations).
    pub fn tick(&mut self, done: usize) {
        self.done = done;
        if done >= self.total {
            self.record();
        }
        if self.last.elapsed() < self.every && done < self.total {
            return;
        }
        self.last = Instant::now();
        let (per, left) = rate(self.start.elapsed().as_secs_f64(), done.saturating_sub(self.first), self.total.saturating_sub(self.first));
        tracing::info!(target: "advedge::progress", "{}: {done}/{} iterations, {per:.2} s/it, ~{left:.0} s left in this phase", self.phase, self.total);
    }
}

impl Ticker {
    /// Keeps this phase's time (once) if `record_phases` is on: at its last iteration, or when
    /// the phase ends early (the ticker is dropped).
    fn record(&mut self) {
        if !self.recorded && RECORD.load(Ordering::Relaxed) {
            let t = PhaseTime { phase: self.phase, iterations: self.done.saturating_sub(self.first), seconds: self.start.elapsed().as_secs_f64() };
            TIMES.lock().unwrap_or_else(|e| e.into_inner()).push(t);
        }
        self.recorded = true;
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.record();
    }
}

/// Seconds per iteration and the estimated seconds left after `done` of `total` in `elapsed` s.
pub fn rate(elapsed: f64, done: usize, total: usize) -> (f64, f64) {
    if done == 0 {
        return (0.0, f64::NAN);
    }
    let per = elapsed / done as f64;
    (per, per * total.saturating_sub(done) as f64)
}

#[cfg(test)]
mod tests {
    use super::{rate, record_phases, take_phase_times, Ticker};

    #[test]
    fn finished_phases_are_recorded_only_when_asked() {
        // One test touches the process-wide recorder, so no other test races it.
        take_phase_times();
        drop(Ticker::new("off", 3));
        assert!(take_phase_times().is_empty());
        record_phases(true);
        let mut t = Ticker::resumed("resumed", 10, 4);
        for done in 5..=10 {
            t.tick(done);
        }
        drop(t);
        let mut early = Ticker::new("stopped early", 10);
        early.tick(3);
        drop(early);
        record_phases(false);
        let times = take_phase_times();
        assert_eq!(times.len(), 2);
        assert_eq!((times[1].phase, times[1].iterations), ("stopped early", 3));
        assert_eq!((times[0].phase, times[0].iterations), ("resumed", 6));
        assert!(times[0].seconds >= 0.0);
    }

    #[test]
    fn rate_and_remaining_time() {
        // 30 s for 10 of 40 iterations: 3 s each, 30 left -> 90 s.
        assert_eq!(rate(30.0, 10, 40), (3.0, 90.0));
        assert_eq!(rate(5.0, 40, 40), (0.125, 0.0));
        assert!(rate(1.0, 0, 40).1.is_nan());
    }
}
