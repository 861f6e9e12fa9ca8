//! `bench-interpreters`: time each interpreter per image at two batch sizes, one PGD attack step
//! of PGD x CAM and PGD x Grad (the explicit second-order graph) and the first-order saliency
//! pass. Input size follows the model (32 for CIFAR models, 224 for torchvision ones). Writes a
//! Markdown table to results/bench/interpreters[-<model>].md (what this machine measured).
use crate::repo;
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
    /// cpu, or cuda / cuda:N (the `cuda` build).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Folder of the model's card and weights (default: ADVEDGE_WEIGHTS, else data/weights).
    #[arg(long)]
    weights_dir: Option<std::path::PathBuf>,
    /// Where the Markdown table goes (default results/bench/interpreters[-<model>].md).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
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
    for b in batches {
        let x = Tensor::<4>::random([b, 3, side, side], Distribution::Uniform(0.0, 1.0), &dev);
        let cls = tensor_io::labels(&vec![3; b], &dev);
        let cls_ad = tensor_io::labels(&vec![3; b], &ad);
        let mut row = |name: &str, s: f64| md.push_str(&format!("| {name} | {b} | {:.1} | {:.2} |\n", s * 1e3, s * 1e3 / b as f64));
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Cam.explain(&model, x.clone(), cls.clone())); });
        row("CAM map", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Grad { pool }.explain(&model, x.clone(), cls.clone())); });
        row("Grad map, first order (autodiff)", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(grad_map_explicit(&model, x.clone(), cls.clone(), pool, ReluDeriv::Exact)); });
        row("Grad map, explicit backward graph (no autodiff)", t);
        let t = time(a.reps, || {
            let xa = x.clone().autodiff().require_grad();
            let s = grad_map_explicit(&mad, xa.clone(), cls_ad.clone(), pool, ReluDeriv::PAPER);
            let g = xa.grad(&s.powf_scalar(2.0).sum().backward()).unwrap();
            let _ = tensor_io::to_vec(g);
        });
        row("PGD x Grad attack step: explicit soft-ReLU map + backward (second order)", t);
        let t = time(a.reps, || {
            // One PGD x CAM step: logits and the differentiable CAM from one forward, a
            // classification + map loss, one backward to the input.
            let xa = x.clone().autodiff().require_grad();
            let f = mad.features(xa.clone());
            let cam = minmax(cam_raw(f.last, mad.fc_weight(), cls_ad.clone()), 1e-12);
            let l = f.logits.sum() + cam.powf_scalar(2.0).sum();
            let _ = tensor_io::to_vec(xa.grad(&l.backward()).unwrap());
        });
        row("PGD x CAM attack step: forward + CAM + backward", t);
        let t = time(a.reps, || {
            let xa = x.clone().autodiff().require_grad();
            let l = mad.forward(xa.clone()).sum();
            let _ = tensor_io::to_vec(xa.grad(&l.backward()).unwrap());
        });
        row("reference: forward + input gradient (first order)", t);
    }
    let path = a.out.clone().unwrap_or_else(|| {
        let name = if a.model == "resnet20" { "interpreters.md".to_string() } else { format!("interpreters-{}.md", a.model) };
        repo::root().join("results").join("bench").join(name)
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &md)?;
    print!("{md}");
    println!("\nwrote {}", path.display());
    Ok(())
}
