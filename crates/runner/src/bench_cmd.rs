//! `bench-interpreters`: time each interpreter per image at two batch sizes, one PGD attack step
//! of PGD x CAM and PGD x Grad (the explicit second-order graph) and the first-order saliency
//! pass. Input size follows the model (32 for CIFAR models, 224 for torchvision ones). Writes a
//! Markdown table to results/bench/interpreters[-<model>].md (what this machine measured).
use crate::repo;
use crate::bench_profile as conv_profile;
use advedge_interpreters::cam::cam_raw;
use advedge_interpreters::grad::{grad_map_explicit, minmax};
use advedge_interpreters::{Interpreter, ReluDeriv};
use advedge_models::tensor_io;
use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchInterpArgs {
    #[arg(long, default_value = "resnet20")]
    model: String,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Batch sizes (default 1,32 for CIFAR models, 1,10 for torchvision ones).
    #[arg(long, value_delimiter = ',')]
    batches: Option<Vec<usize>>,
    /// cpu, cuda / cuda:N (the `cuda` build), or wgpu / wgpu:gpu:N / wgpu:integrated:N / wgpu:cpu
    /// (the `wgpu` build).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Folder of the model's card and weights (default: ADVEDGE_WEIGHTS, else data/weights).
    #[arg(long)]
    weights_dir: Option<std::path::PathBuf>,
    /// Where the Markdown table goes (default results/bench/interpreters[-<model>].md).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Also time every convolution of one PGD x CAM and one PGD x Grad step per batch size
    /// (geometry, path, time) and write results/bench/conv_profile-<model>.{md,json}
    /// (`tools/bench_torch_step.py --profile` adds PyTorch's side).
    #[arg(long)]
    conv_profile: bool,
}

/// Writes a benchmark's Markdown table (creating its folder) and prints it.
pub(crate) fn write_report(path: &std::path::Path, md: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, md)?;
    print!("{md}");
    println!("\nwrote {}", path.display());
    Ok(())
}

fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f(); // warm-up
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

pub fn bench(a: BenchInterpArgs) -> anyhow::Result<()> {
    repo::select_device(&a.device)?;
    let (card, model) = repo::load_model(&a.model, a.weights_dir.as_deref())?;
    let dev = repo::device();
    let ad = dev.clone().autodiff();
    let mad = model.clone().to_device(&ad).freeze();
    let data = crate::data_source::DataSource::for_arch(&card.architecture);
    let (side, pool) = (data.side(), data.grad_pool());
    let batches = a.batches.clone().unwrap_or(if side == 32 { vec![1, 32] } else { vec![1, 10] });
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mut md = format!(
        "# Interpreter timings ({}, {side}x{side})\n\nMachine: {} CPU threads (RAYON_NUM_THREADS={threads}), device {}, burn 0.22.1, f32. Command: `cargo xtask bench-interpreters --model {} --device {}`; mean of {} runs after one warm-up (each run reads its result back to the host).\n\n| operation | batch | ms per batch | ms per image |\n|---|---|---|---|\n",
        card.description, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), repo::device_name(), a.model, a.device, a.reps
    );
    let mut profiles = Vec::new();
    for b in batches {
        let x = Tensor::<4>::random([b, 3, side, side], Distribution::Uniform(0.0, 1.0), &dev);
        let cls = tensor_io::labels(&vec![3; b], &dev);
        let cls_ad = tensor_io::labels(&vec![3; b], &ad);
        let grad_step = || {
            let xa = x.clone().autodiff().require_grad();
            let s = grad_map_explicit(&mad, xa.clone(), cls_ad.clone(), pool, ReluDeriv::PAPER);
            let g = xa.grad(&s.powf_scalar(2.0).sum().backward()).unwrap();
            let _ = tensor_io::to_vec(g);
        };
        let cam_step = || {
            // One PGD x CAM step: logits and the differentiable CAM from one forward, a
            // classification + map loss, one backward to the input.
            let xa = x.clone().autodiff().require_grad();
            let f = mad.features(xa.clone());
            let cam = minmax(cam_raw(f.last, mad.fc_weight(), cls_ad.clone()), 1e-12);
            let l = f.logits.sum() + cam.powf_scalar(2.0).sum();
            let _ = tensor_io::to_vec(xa.grad(&l.backward()).unwrap());
        };
        let mut row = |name: &str, s: f64| md.push_str(&format!("| {name} | {b} | {:.1} | {:.2} |\n", s * 1e3, s * 1e3 / b as f64));
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Cam.explain(&model, x.clone(), cls.clone())); });
        row("CAM map", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Grad { pool }.explain(&model, x.clone(), cls.clone())); });
        row("Grad map, first order (autodiff)", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(grad_map_explicit(&model, x.clone(), cls.clone(), pool, ReluDeriv::Exact)); });
        row("Grad map, explicit backward graph (no autodiff)", t);
        let grad_t = time(a.reps, grad_step);
        row("PGD x Grad attack step: explicit soft-ReLU map + backward (second order)", grad_t);
        let cam_t = time(a.reps, cam_step);
        row("PGD x CAM attack step: forward + CAM + backward", cam_t);
        let t = time(a.reps, || {
            let xa = x.clone().autodiff().require_grad();
            let l = mad.forward(xa.clone()).sum();
            let _ = tensor_io::to_vec(xa.grad(&l.backward()).unwrap());
        });
        row("reference: forward + input gradient (first order)", t);
        if a.conv_profile {
            profiles.push(conv_profile::record("PGD x CAM", b, cam_t, &cam_step));
            profiles.push(conv_profile::record("PGD x Grad", b, grad_t, &grad_step));
        }
    }
    let path = a.out.clone().unwrap_or_else(|| {
        let name = if a.model == "resnet20" { "interpreters.md".to_string() } else { format!("interpreters-{}.md", a.model) };
        repo::root().join("results").join("bench").join(name)
    });
    write_report(&path, &md)?;
    if a.conv_profile {
        let dir = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let (md, json) = conv_profile::pages(&a.model, &card.description, side, &profiles)?;
        write_report(&dir.join(format!("conv_profile-{}.md", a.model)), &md)?;
        let json_path = dir.join(format!("conv_profile-{}.json", a.model));
        std::fs::write(&json_path, json)?;
        println!("wrote {}", json_path.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchConvArgs {
    #[arg(long, default_value_t = 20)]
    reps: usize,
    /// Where the Markdown table goes (default results/bench/conv.md).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// `bench-conv`: one 3x3 stride-1 pad-1 convolution and its input gradient (`conv_transpose2d`)
/// at ResNet-20's shapes, the two kernels that take most of an attack's time on the CPU. Each
/// row also prints an FNV-1a hash of the output's bits for a seeded input, so a kernel change
/// that must keep results bit for bit is checked by comparing two runs' hashes.
pub fn bench_conv(a: BenchConvArgs) -> anyhow::Result<()> {
    use burn_flex::ops::conv_fma;
    let direct_available = || { conv_fma::set_enabled(true); conv_fma::active() };
    use burn::tensor::module::{conv2d, conv_transpose2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};
    let dev = repo::device();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut rand_tensor = |shape: [usize; 4]| {
        let v: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        Tensor::<4>::from_data(TensorData::new(v, shape), &dev)
    };
    let hash = |t: Tensor<4>| {
        tensor_io::to_vec(t).iter().fold(0xcbf29ce484222325u64, |h, v| (h ^ v.to_bits() as u64).wrapping_mul(0x100000001b3))
    };
    let mut md = format!(
        "# 3x3 convolution kernels (burn-flex, f32)\n\nMachine: {} CPU threads, {}. Command: `cargo xtask bench-conv`; mean of {} runs after one warm-up, output read back each run. Each operation runs on the patched backend's GEMM path (im2col / col2im + gemm) and on its direct FMA kernels{}, one after the other. `hash`: FNV-1a of the output's bits for a seeded input; `same bits`: whether the two paths' outputs are equal bit for bit.\n\n| N | C | HxW | conv2d GEMM ms | direct ms | speedup | direct GFLOP/s | same bits | hash | conv_transpose2d GEMM ms | direct ms | speedup | direct GFLOP/s | same bits | hash |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        repo::cpu_name(),
        a.reps,
        if direct_available() { "" } else { " (not available on this CPU: no AVX-512 + FMA, so both columns time the GEMM path)" }
    );
    for (n, c, s) in [(20, 16, 32), (20, 32, 16), (20, 64, 8), (80, 16, 32), (80, 32, 16), (80, 64, 8)] {
        let x = rand_tensor([n, c, s, s]);
        let w = rand_tensor([c, c, 3, 3]);
        let flop = 2.0 * (n * c * c * 9 * s * s) as f64;
        let fwd = || conv2d(x.clone(), w.clone(), None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        let bwd = || conv_transpose2d(x.clone(), w.clone(), None, ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1));
        let mut cols = String::new();
        for op in [&fwd as &dyn Fn() -> Tensor<4>, &bwd] {
            let run = |direct: bool| {
                conv_fma::set_enabled(direct);
                (time(a.reps, || { let _ = tensor_io::to_vec(op()); }), hash(op()))
            };
            let ((tg, hg), (td, hd)) = (run(false), run(true));
            cols.push_str(&format!(" {:.2} | {:.2} | {:.2}x | {:.0} | {} | {hd:016x} |", tg * 1e3, td * 1e3, tg / td, flop / td / 1e9, if hg == hd { "yes" } else { "NO" }));
        }
        md.push_str(&format!("| {n} | {c} | {s}x{s} |{cols}\n"));
    }
    conv_fma::set_enabled(true);
    let path = a.out.clone().unwrap_or_else(|| repo::root().join("results").join("bench").join("conv.md"));
    write_report(&path, &md)
}
