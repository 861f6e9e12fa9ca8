//! `bench-attack`: the PGD x CAM and PGD x Grad AdvEdge attacks (the paper's full schedules) on
//! N ResNet-20 test images in one batch, timed on the CPU with the direct convolution kernels
//! and with the GEMM path, beside the PyTorch loop of `tools/bench_torch_pgd.py` (same weights,
//! images and schedules) and the machine's f32 GEMM peak, all in one run. Adds each attack's
//! per-phase breakdown and writes results/bench/pgd_vs_torch.md. The PyTorch side is optional:
//! without a Python that has torch, the table says so and gives our rows alone.
use crate::attack_cmd::correct_images;
use crate::data_source::DataSource;
use crate::names::{self, Common};
use crate::repo;
use advedge_attacks::progress::{record_phases, take_phase_times, PhaseTime};
use advedge_attacks::{EdgeScope, Framework, ImageOutcome, Variant};
use advedge_interpreters::InterpreterKind;
use burn_flex::ops::conv_fma;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// PGD x CAM at the paper's schedule is 800 forward + input-gradient passes of ResNet-20 at
/// 32x32: 0.0816 GFLOP per forward, the input gradient about as much again.
const CAM_GFLOP_PER_IMAGE: f64 = 800.0 * 2.0 * 0.0816;

#[derive(clap::Args)]
pub struct BenchAttackArgs {
    #[arg(long, default_value_t = 20)]
    images: usize,
    /// Python with torch, safetensors, scikit-image, pillow and numpy for the PyTorch side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the rows of the GEMM convolution path (halves the run time).
    #[arg(long)]
    no_gemm_path: bool,
    /// Where the Markdown goes (default results/bench/pgd_vs_torch.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One timed attack: seconds per image, its phases and its outcomes.
struct Run {
    per_image: f64,
    phases: Vec<PhaseTime>,
    outcomes: Vec<ImageOutcome>,
}

/// The outcomes without their timings, for comparing two runs bit for bit.
fn fingerprint(out: &[ImageOutcome]) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(out)?;
    for o in v.as_array_mut().into_iter().flatten() {
        o.as_object_mut().map(|o| o.remove("seconds"));
    }
    Ok(v.to_string())
}

fn python_side(a: &BenchAttackArgs, threads: usize) -> Result<(Vec<serde_json::Value>, f64, String), String> {
    let run = |args: &[&str]| -> Result<String, String> {
        let o = Command::new(&a.python).args(args).current_dir(repo::root()).output().map_err(|e| format!("cannot run `{}`: {e}", a.python))?;
        if !o.status.success() {
            return Err(format!("`{} {}` failed: {}", a.python, args.join(" "), String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    run(&["-c", "import torch, safetensors, skimage, PIL, numpy"]).map_err(|e| format!("{e} (needs torch, safetensors, scikit-image, pillow, numpy; set --python)"))?;
    let version = run(&["-c", "import torch; print(torch.__version__)"])?.trim().to_string();
    let peak = run(&["-c", &format!(
        "import time, torch\ntorch.set_num_threads({threads}); a = torch.randn(2048, 2048); b = torch.randn(2048, 2048); a @ b\nbest = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))\nprint(2 * 2048 ** 3 / best / 1e9)"
    )])?;
    let peak: f64 = peak.trim().parse().map_err(|_| format!("GEMM peak: not a number: {peak:?}"))?;
    let rows = run(&["tools/bench_torch_pgd.py", "--images", &a.images.to_string(), "--threads", &threads.to_string()])?;
    let rows = rows.lines().filter(|l| l.starts_with('{')).map(serde_json::from_str).collect::<Result<Vec<serde_json::Value>, _>>().map_err(|e| format!("tools/bench_torch_pgd.py output: {e}"))?;
    Ok((rows, peak, version))
}

pub fn bench_attack(a: BenchAttackArgs) -> anyhow::Result<()> {
    repo::select_device("cpu")?;
    let model_name = "resnet20";
    let dir = repo::weights_dir();
    let (_, model) = repo::load_model(model_name, Some(&dir))?;
    let dev = repo::device();
    let clean = correct_images(&model, a.images, &dev, DataSource::for_model(model_name, &dir), false)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|t| t.parse().ok()).filter(|&t: &usize| t > 0).unwrap_or(cores);
    let direct = { conv_fma::set_enabled(true); conv_fma::active() };
    let common = Common { scale: 1.0, seed: 0, edge_scope: EdgeScope::Warmup, rts_reference: None };
    let mut runs: Vec<(InterpreterKind, bool, Run)> = Vec::new();
    for kind in [InterpreterKind::Cam, InterpreterKind::Grad] {
        let interp = names::attacked_interpreter(kind, Framework::Pgd, model_name, &dir)?;
        let cfg = names::attack_config(Framework::Pgd, &interp, Variant::AdvEdge, common).check()?;
        for use_direct in [true, false] {
            if (!use_direct && a.no_gemm_path) || (use_direct && !direct) {
                continue;
            }
            conv_fma::set_enabled(use_direct);
            tracing::info!("PGD x {} AdvEdge, {} images, {} convolutions", interp.name(), clean.len(), if use_direct { "direct" } else { "GEMM" });
            take_phase_times();
            record_phases(true);
            let t = Instant::now();
            let outcomes = advedge_attacks::run(&model, &interp, Variant::AdvEdge, &cfg, &clean, None);
            let per_image = t.elapsed().as_secs_f64() / clean.len() as f64;
            record_phases(false);
            runs.push((kind, use_direct, Run { per_image, phases: take_phase_times(), outcomes }));
        }
    }
    conv_fma::set_enabled(true);
    let torch = python_side(&a, threads);

    let mut md = format!(
        "# PGD AdvEdge attack time: advedge (burn 0.22.1 flex, patched) vs PyTorch, CPU\n\nGenerated by `cargo xtask bench-attack --images {}` at commit {} on {} ({} CPU threads, RAYON_NUM_THREADS={}), {} CIFAR-10 test images in one batch, ResNet-20 weights data/weights/resnet20.safetensors, the paper's full schedules (CAM: 300 + 500 steps; Grad: 300 + 754 steps with second-order gradients). All rows ran one after the other in this run. `direct`: the patched backend's direct FMA convolution kernels; `GEMM`: its im2col / col2im + gemm path (the kernels before them), which gives the same bits.\n\n",
        a.images, repo::git_commit(), repo::cpu_name(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()), clean.len()
    );
    if !direct {
        md.push_str("This CPU lacks AVX-512 + FMA, so the direct kernels were not available: only the GEMM path ran.\n\n");
    }
    let (torch_rows, peak) = match &torch {
        Ok((rows, peak, version)) => {
            writeln!(md, "PyTorch {version}, eager, {threads} threads (`tools/bench_torch_pgd.py`). Machine f32 GEMM peak (PyTorch, 2,048-square matrix product): {peak:.0} GFLOP/s; fraction of peak for PGD x CAM = {CAM_GFLOP_PER_IMAGE:.1} GFLOP per image / time / peak (not given for Grad, whose second-order graph has no simple FLOP count).\n")?;
            (rows.clone(), Some(*peak))
        }
        Err(why) => {
            writeln!(md, "PyTorch side not run: {why}.\n")?;
            (Vec::new(), None)
        }
    };
    md.push_str("| attack | convolutions | advedge s/image | PyTorch s/image | ratio (ours / torch) | advedge % of peak | PyTorch % of peak | outcomes equal to the GEMM path's |\n|---|---|---|---|---|---|---|---|\n");
    for (kind, use_direct, r) in &runs {
        let name = if *kind == InterpreterKind::Cam { "cam" } else { "grad" };
        let torch_s = torch_rows.iter().find(|v| v["interpreter"] == name).and_then(|v| v["seconds_per_image"].as_f64());
        let cam = *kind == InterpreterKind::Cam;
        let pct = |s: f64| peak.filter(|_| cam).map(|p| format!("{:.0}", 100.0 * CAM_GFLOP_PER_IMAGE / s / p)).unwrap_or_default();
        let same = match runs.iter().find(|(k, d, _)| k == kind && !d) {
            Some((_, _, g)) if *use_direct => if fingerprint(&r.outcomes)? == fingerprint(&g.outcomes)? { "yes" } else { "NO" },
            _ => "",
        };
        writeln!(
            md,
            "| PGD x {} | {} | {:.3} | {} | {} | {} | {} | {same} |",
            if cam { "CAM" } else { "Grad" },
            if *use_direct { "direct" } else { "GEMM" },
            r.per_image,
            torch_s.map(|t| format!("{t:.3}")).unwrap_or("–".into()),
            torch_s.map(|t| format!("{:.2}", r.per_image / t)).unwrap_or("–".into()),
            pct(r.per_image),
            torch_s.map(pct).unwrap_or_default(),
        )?;
    }
    md.push_str("\n## Where the time goes, per phase\n\nWall time of each phase of the attack on the whole batch; `other`: the benign maps, the Sobel weights and the final evaluation of the 8-bit images.\n\n| attack | convolutions | phase | iterations | s | ms / iteration | share |\n|---|---|---|---|---|---|---|\n");
    for (kind, use_direct, r) in &runs {
        let total = r.per_image * clean.len() as f64;
        let other = total - r.phases.iter().map(|p| p.seconds).sum::<f64>();
        let label = format!("| PGD x {} | {} ", if *kind == InterpreterKind::Cam { "CAM" } else { "Grad" }, if *use_direct { "direct" } else { "GEMM" });
        for p in &r.phases {
            writeln!(md, "{label}| {} | {} | {:.1} | {:.1} | {:.0} % |", p.phase, p.iterations, p.seconds, 1e3 * p.seconds / p.iterations.max(1) as f64, 100.0 * p.seconds / total)?;
        }
        writeln!(md, "{label}| other | | {other:.1} | | {:.0} % |", 100.0 * other / total)?;
    }
    if let Ok((rows, _, _)) = &torch {
        md.push_str("\nPyTorch raw output:\n\n```\n");
        for r in rows {
            writeln!(md, "{r}")?;
        }
        md.push_str("```\n");
    }
    let path = a.out.clone().unwrap_or_else(|| repo::root().join("results").join("bench").join("pgd_vs_torch.md"));
    crate::bench_cmd::write_report(&path, &md)
}
