//! `bench-interpreters --conv-profile`: where an attack step's time goes. Every convolution of
//! the step is timed by the patched backend (`burn_flex::ops::conv_profile`) and grouped by
//! operation and geometry (kernel, stride), with the path that computed it (direct FMA kernels
//! or im2col / col2im + GEMM); the rest of the step is what the convolutions leave. Makes
//! `conv_profile-<model>.md` and a `.json` that `tools/bench_torch_step.py --profile` reads to
//! put PyTorch's profile of the same step beside it.
use burn_flex::ops::conv_profile::{self, ConvCall};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One group of convolutions of a step (per step, averaged over the profiled runs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProfileRow {
    /// `conv2d 3x3 s1`, `conv_transpose2d 1x1 s2`, ...
    pub category: String,
    pub calls: usize,
    /// How many of `calls` the direct kernels computed.
    pub direct_calls: usize,
    pub ms: f64,
    pub gflop: f64,
}

/// The profile of one attack step at one batch size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepProfile {
    pub step: String,
    pub batch: usize,
    /// The step's time without recording (the benchmark's own mean).
    pub step_ms: f64,
    pub rows: Vec<ProfileRow>,
}

impl StepProfile {
    pub fn conv_ms(&self) -> f64 {
        self.rows.iter().map(|r| r.ms).sum()
    }
}

/// The group a call belongs to: operation, kernel and stride.
pub fn category(c: &ConvCall) -> String {
    let op = if c.transpose { "conv_transpose2d" } else { "conv2d" };
    let stride = if c.stride[0] == c.stride[1] { format!("s{}", c.stride[0]) } else { format!("s{}x{}", c.stride[0], c.stride[1]) };
    let groups = if c.groups > 1 { format!(" g{}", c.groups) } else { String::new() };
    format!("{op} {}x{} {stride}{groups}", c.w[2], c.w[3])
}

/// Groups `calls` made over `runs` runs of a step into per-run rows, largest time first.
pub fn group(calls: &[ConvCall], runs: usize) -> Vec<ProfileRow> {
    let mut by: BTreeMap<String, ProfileRow> = BTreeMap::new();
    for c in calls {
        let cat = category(c);
        let r = by.entry(cat.clone()).or_insert(ProfileRow { category: cat, calls: 0, direct_calls: 0, ms: 0.0, gflop: 0.0 });
        r.calls += 1;
        r.direct_calls += c.direct as usize;
        r.ms += c.seconds * 1e3;
        r.gflop += c.flops() / 1e9;
    }
    let n = runs.max(1);
    let mut rows: Vec<ProfileRow> = by
        .into_values()
        .map(|r| ProfileRow { calls: r.calls / n, direct_calls: r.direct_calls / n, ms: r.ms / n as f64, gflop: r.gflop / n as f64, ..r })
        .collect();
    rows.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    rows
}

/// Runs `step` twice with the backend recording its convolutions (the step is already warm).
pub fn record(name: &str, batch: usize, step_seconds: f64, step: &dyn Fn()) -> StepProfile {
    const RUNS: usize = 2;
    conv_profile::set_recording(true);
    for _ in 0..RUNS {
        step();
    }
    conv_profile::set_recording(false);
    StepProfile { step: name.to_string(), batch, step_ms: step_seconds * 1e3, rows: group(&conv_profile::take(), RUNS) }
}

/// The Markdown table of one step's profile.
pub fn table(p: &StepProfile) -> String {
    let mut md = format!("### {}, batch {}\n\n| convolutions | calls | direct kernels | ms | share of step | GFLOP | GFLOP/s |\n|---|---|---|---|---|---|---|\n", p.step, p.batch);
    let share = |ms: f64| format!("{:.0} %", 100.0 * ms / p.step_ms);
    for r in &p.rows {
        md.push_str(&format!("| {} | {} | {} | {:.1} | {} | {:.2} | {:.0} |\n", r.category, r.calls, r.direct_calls, r.ms, share(r.ms), r.gflop, r.gflop / r.ms * 1e3));
    }
    let (conv, flop) = (p.conv_ms(), p.rows.iter().map(|r| r.gflop).sum::<f64>());
    md.push_str(&format!("| **all convolutions** | {} | {} | {conv:.1} | {} | {flop:.2} | {:.0} |\n", p.rows.iter().map(|r| r.calls).sum::<usize>(), p.rows.iter().map(|r| r.direct_calls).sum::<usize>(), share(conv), flop / conv * 1e3));
    md.push_str(&format!("| everything else (step - convolutions) | | | {:.1} | {} | | |\n", p.step_ms - conv, share(p.step_ms - conv)));
    md.push_str(&format!("| **step** | | | {:.1} | 100 % | | |\n\n", p.step_ms));
    md
}

/// The profile page (Markdown) and its data (JSON) for `conv_profile-<model>.{md,json}`.
pub fn pages(model: &str, description: &str, side: usize, profiles: &[StepProfile]) -> anyhow::Result<(String, String)> {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mut md = format!(
        "# Where an attack step's time goes: {description}, {side}x{side}\n\nMachine: {} CPU threads (RAYON_NUM_THREADS={threads}), {}, device {}. Command: `cargo xtask bench-interpreters --model {model} --conv-profile`. Each convolution of two warm runs of the step is timed inside the patched burn-flex (`ops::conv_profile`) and grouped by operation, kernel and stride; `conv_transpose2d` is a convolution's input gradient (and, in the Grad step, part of the explicit saliency graph). `direct kernels`: calls computed by the direct FMA kernels, the others took im2col / col2im + GEMM. `step` is the benchmark's mean without recording; `everything else` is what the convolutions leave of it (batch norm, ReLU, element-wise, autodiff, allocation). `tools/bench_torch_step.py --profile` writes PyTorch's profile of the same steps beside this one.\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        crate::repo::cpu_name(),
        crate::repo::device_name()
    );
    for p in profiles {
        md.push_str(&table(p));
    }
    Ok((md, serde_json::to_string_pretty(profiles)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(transpose: bool, k: usize, stride: usize, direct: bool, seconds: f64) -> ConvCall {
        // x [2, 4, 8, 8], weight [8, 4, k, k]: out [2, 8, 8/stride, 8/stride].
        let o = 8 / stride;
        ConvCall { transpose, x: [2, 4, 8, 8], w: [8, 4, k, k], out: [2, 8, o, o], stride: [stride, stride], groups: 1, direct, seconds }
    }

    #[test]
    fn calls_are_grouped_per_run_by_operation_kernel_and_stride() {
        // Two runs, each: two direct 3x3 s1 convolutions (1 ms each), one GEMM 1x1 s2 (3 ms),
        // one transposed 3x3 s1 (0.5 ms).
        let run = [call(false, 3, 1, true, 1e-3), call(false, 3, 1, true, 1e-3), call(false, 1, 2, false, 3e-3), call(true, 3, 1, true, 5e-4)];
        let calls: Vec<ConvCall> = run.iter().chain(run.iter()).cloned().collect();
        let rows = group(&calls, 2);
        let names: Vec<&str> = rows.iter().map(|r| r.category.as_str()).collect();
        assert_eq!(names, ["conv2d 1x1 s2", "conv2d 3x3 s1", "conv_transpose2d 3x3 s1"]);
        let r = &rows[1];
        assert_eq!((r.calls, r.direct_calls), (2, 2));
        assert!((r.ms - 2.0).abs() < 1e-9);
        // 3x3 s1: 2 outputs-batch x 8 ch x 64 positions x (4 x 9) taps x 2 = 73,728 flop per call.
        assert!((r.gflop - 2.0 * 73_728.0 / 1e9).abs() < 1e-15);
        // 1x1 s2: 2 x 8 x 16 positions x 4 taps x 2 = 2,048; transposed 3x3: 2 x 4 x 64 inputs x (4 x 9) x 2 = 36,864.
        assert!((rows[0].gflop - 2_048.0 / 1e9).abs() < 1e-15);
        assert!((rows[2].gflop - 36_864.0 / 1e9).abs() < 1e-15);
        assert_eq!(rows[0].direct_calls, 0);
    }

    #[test]
    fn the_backend_records_convolutions_only_while_asked() {
        use burn::tensor::module::{conv2d, conv_transpose2d};
        use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
        use burn::tensor::{Distribution, Tensor};
        let dev = crate::repo::device();
        let x = Tensor::<4>::random([1, 4, 8, 8], Distribution::Uniform(-1.0, 1.0), &dev);
        let w = Tensor::<4>::random([4, 4, 3, 3], Distribution::Uniform(-1.0, 1.0), &dev);
        let run = || {
            let y = conv2d(x.clone(), w.clone(), None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1));
            conv_transpose2d(y, w.clone(), None, ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1))
        };
        let _ = run();
        assert!(conv_profile::take().is_empty(), "nothing is recorded while recording is off");
        let p = record("test", 1, 1.0, &|| {
            let _ = run();
        });
        let names: Vec<&str> = p.rows.iter().map(|r| r.category.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["conv2d 3x3 s2", "conv_transpose2d 3x3 s2"]);
        assert!(p.rows.iter().all(|r| r.calls == 1 && r.direct_calls == 0 && r.ms >= 0.0));
    }
}
