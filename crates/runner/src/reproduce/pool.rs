//! The worker pool of the long stages (running cells, verifying them, epsilon curves): `workers`
//! threads each take the next item until none is left, under one progress bar. A panic in a job
//! becomes that item's error, so one bad item never takes the others down; with `stop_on_error`
//! no new item starts after the first error.
//!
//! Each worker runs its items inside a rayon pool of its own ([`threads_per_job`] threads), so
//! the kernels' parallel loops of one job never queue behind another job's, and a one-thread job
//! runs them inline instead of handing each one to a shared pool thread and sleeping until it
//! is done (two context switches per convolution).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads of each job's rayon pool when `workers` jobs run at once: `RAYON_NUM_THREADS` when
/// set (the rayon convention, per job here), else the machine's cores shared out, at least 1.
pub fn threads_per_job(workers: usize) -> usize {
    match std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0) {
        Some(n) => n,
        None => (std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) / workers.max(1)).max(1),
    }
}

/// A rayon pool of `threads` threads named after its job worker.
pub fn job_pool(worker: usize, threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("job{worker}-rayon{i}"))
        .stack_size(crate::STACK_BYTES)
        .build()
        .expect("building a job's rayon pool")
}

/// Run `job(worker, item)` over `items`; `on_done(item, result)` runs in the worker right after
/// each item and returns the line to print above the bar. Returns each item's result in the
/// items' order (`None` for items not started because of `stop_on_error`).
pub fn run<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    bar_label: &'static str,
    stop_on_error: bool,
    job: impl Fn(usize, &T) -> anyhow::Result<R> + Sync,
    on_done: impl Fn(&T, &anyhow::Result<R>) -> String + Sync,
) -> Vec<Option<anyhow::Result<R>>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<anyhow::Result<R>>>> = Mutex::new(items.iter().map(|_| None).collect());
    let bar = advedge_models::train::progress(items.len() as u64, 0, bar_label);
    let threads = threads_per_job(workers);
    std::thread::scope(|s| {
        for w in 0..workers.max(1) {
            let (next, stop, results, bar, job, on_done) = (&next, &stop, &results, &bar, &job, &on_done);
            let tp = job_pool(w, threads);
            s.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tp.install(|| job(w, item))));
                let r = r.unwrap_or_else(|e| Err(anyhow::anyhow!("panicked: {}", e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default())));
                let line = on_done(item, &r);
                bar.suspend(|| println!("{line}"));
                if r.is_err() && stop_on_error {
                    stop.store(true, Ordering::SeqCst);
                }
                results.lock().expect("pool results")[i] = Some(r);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    results.into_inner().expect("pool results")
}

#[cfg(test)]
mod tests {
    use super::run;

    /// Every item's result comes back in order, a panic is that item's error, and stopping on an
    /// error leaves later items unstarted (one worker, so the order is fixed).
    #[test]
    fn results_in_order_panics_caught_and_stop() {
        let items: Vec<u32> = (0..6).collect();
        let job = |_: usize, x: &u32| -> anyhow::Result<u32> {
            if *x == 2 {
                panic!("bad item {x}");
            }
            Ok(x * 10)
        };
        let r = run(&items, 3, "test", false, job, |x, _| format!("{x}"));
        assert_eq!(r.len(), 6);
        assert_eq!(r[5].as_ref().unwrap().as_ref().unwrap(), &50);
        assert!(format!("{:#}", r[2].as_ref().unwrap().as_ref().unwrap_err()).contains("panicked: bad item 2"));
        let r = run(&items, 1, "test", true, job, |x, _| format!("{x}"));
        assert!(r[1].as_ref().unwrap().is_ok() && r[2].as_ref().unwrap().is_err());
        assert!(r[3].is_none() && r[5].is_none(), "no item starts after the first error");
    }

    /// Each worker's jobs run on a pool of their own, of the size `threads_per_job` gives.
    #[test]
    fn jobs_run_in_their_own_pools() {
        let items: Vec<u32> = (0..4).collect();
        let r = run(&items, 2, "test", false, |w, _| Ok((w, rayon::current_thread_index().is_some(), rayon::current_num_threads(), std::thread::current().name().map(String::from))), |x, _| format!("{x}"));
        for x in r {
            let (w, in_pool, n, name) = x.unwrap().unwrap();
            assert!(in_pool, "the job runs on a pool thread");
            assert_eq!(n, super::threads_per_job(2));
            assert!(name.unwrap_or_default().starts_with(&format!("job{w}-rayon")));
        }
    }
}
