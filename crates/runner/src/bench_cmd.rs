//! `bench-interpreters`: time each interpreter per image at batch 1 and 32, and the explicit
//! second-order Grad attack step against the first-order saliency pass. Writes a Markdown table
//! to results/bench/interpreters.md (numbers are what this machine measured, nothing else).
use crate::repo;
use advedge_interpreters::grad::grad_map_explicit;
use advedge_interpreters::{Interpreter, ReluDeriv};
use advedge_models::{tensor_io, ModelCard};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchInterpArgs {
    #[arg(long, default_value = "resnet20")]
    model: String,
    #[arg(long, default_value_t = 3)]
    reps: usize,
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
    let card_path = repo::weights_dir().join(format!("{}.toml", a.model));
    let card = ModelCard::load(&card_path)?;
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let model = tensor_io::load_weights(&card.architecture, &card.weights_path(&card_path), &dev)?;
    let mad = model.clone().to_device(&ad).freeze();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mut md = format!(
        "# Interpreter timings ({}, CIFAR-10 32x32)\n\nMachine: {} CPU threads (RAYON_NUM_THREADS={threads}), burn 0.22.1 flex, f32. Command: `cargo xtask bench-interpreters --model {}`; mean of {} runs after one warm-up.\n\n| operation | batch | ms per batch | ms per image |\n|---|---|---|---|\n",
        card.description, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), a.model, a.reps
    );
    for b in [1usize, 32] {
        let x = Tensor::<4>::random([b, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev);
        let cls = tensor_io::labels(&vec![3; b], &dev);
        let cls_ad = tensor_io::labels(&vec![3; b], &ad);
        let mut row = |name: &str, s: f64| md.push_str(&format!("| {name} | {b} | {:.1} | {:.2} |\n", s * 1e3, s * 1e3 / b as f64));
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Cam.explain(&model, x.clone(), cls.clone())); });
        row("CAM map", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(Interpreter::Grad { pool: 2 }.explain(&model, x.clone(), cls.clone())); });
        row("Grad map, first order (autodiff)", t);
        let t = time(a.reps, || { let _ = tensor_io::to_vec(grad_map_explicit(&model, x.clone(), cls.clone(), 2, ReluDeriv::Exact)); });
        row("Grad map, explicit backward graph (no autodiff)", t);
        let t = time(a.reps, || {
            let xa = x.clone().autodiff().require_grad();
            let s = grad_map_explicit(&mad, xa.clone(), cls_ad.clone(), 2, ReluDeriv::PAPER);
            let g = xa.grad(&s.powf_scalar(2.0).sum().backward()).unwrap();
            let _ = tensor_io::to_vec(g);
        });
        row("Grad attack step: explicit soft-ReLU map + backward (second order)", t);
        let t = time(a.reps, || {
            let xa = x.clone().autodiff().require_grad();
            let l = mad.forward(xa.clone()).sum();
            let _ = tensor_io::to_vec(xa.grad(&l.backward()).unwrap());
        });
        row("reference: forward + input gradient (first order)", t);
    }
    let dir = repo::root().join("results").join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("interpreters.md"), &md)?;
    print!("{md}");
    println!("\nwrote {}", dir.join("interpreters.md").display());
    Ok(())
}
