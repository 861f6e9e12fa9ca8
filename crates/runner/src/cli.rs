//! Command-line interface (clap). `cargo xtask --help` lists the commands.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "advedge: AdvEdge/AdvEdge+ reproduction tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a classifier (resumes from its checkpoint if one exists).
    Train(crate::models_cmd::TrainArgs),
    /// Recompute a committed classifier's test accuracy.
    Eval(crate::models_cmd::EvalArgs),
    /// Write randomly initialised weights + card of a model (smoke runs of the paper-scale
    /// models without their real torchvision weights).
    InitWeights(crate::models_cmd::InitWeightsArgs),
    /// Time forward and training steps of a classifier.
    BenchModel(crate::models_cmd::BenchArgs),
    /// Run (or resume) an experiment grid and render its tables.
    Reproduce(crate::reproduce::ReproduceArgs),
    /// Render a grid's tables from the cells that exist and list the missing ones.
    Collect(crate::reproduce::CollectArgs),
    /// Compare the per-image results of two folders of one profile (a fresh run and the
    /// committed one): every column but the seconds; exits 1 on any difference.
    Compare(crate::reproduce::compare::CompareArgs),
    /// Run one attack cell and print its metrics.
    Attack(crate::attack_cmd::AttackArgs),
    /// Time the interpreters and the second-order Grad step.
    BenchInterpreters(crate::bench_cmd::BenchInterpArgs),
    /// Time the 3x3 convolution kernels at ResNet-20's shapes (with a bit-exact result hash).
    BenchConv(crate::bench_cmd::BenchConvArgs),
    /// Time PGD x CAM and PGD x Grad (full schedules) against the PyTorch loop of tools/, with
    /// each attack's per-phase breakdown (results/bench/pgd_vs_torch.md).
    BenchAttack(crate::bench_attack::BenchAttackArgs),
    /// Deletion check of the MASK interpreter (salient vs random regions).
    MaskQuality(crate::quality_cmd::MaskQualityArgs),
    /// Distance between the benign RTS maps for the true and the target class (the RTS attacks'
    /// reference vs the metrics').
    RtsReference(crate::quality_cmd::RtsReferenceArgs),
    /// Train the RTS saliency network of a classifier and measure its quality.
    TrainRts(crate::rts_cmd::TrainRtsArgs),
    /// Write a PNG of an image and its attribution map side by side.
    Explain(crate::explain_cmd::ExplainArgs),
}

pub fn main() -> anyhow::Result<()> {
    // One progress system: log lines (tracing events) and progress bars (tracing spans made by
    // `advedge_models::train::progress`) go through one subscriber; the bars' layer owns stderr
    // and prints the log lines above the bars. Only spans named "progress" get a bar.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // A bar's label is its span's field values alone ("resnet20/pgd/cam/advedge", not "task=...").
    let label = tracing_subscriber::fmt::format::debug_fn(|w, _field, value| write!(w, "{value:?}"));
    let bars = tracing_indicatif::IndicatifLayer::new().with_span_field_formatter(label).with_max_progress_bars(8, None);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with(tracing_subscriber::fmt::layer().with_writer(bars.get_stderr_writer()).with_ansi(ansi))
        .with(tracing_subscriber::Layer::with_filter(bars, tracing_subscriber::filter::filter_fn(|m| m.name() == "progress")))
        .init();
    let cmd = Cli::parse().cmd;
    // The command runs on a thread of the rayon pool its kernels use (RAYON_NUM_THREADS threads,
    // or one per core), so their parallel loops are joined from inside the pool instead of handed
    // across from the main thread, which would sleep and be woken for each one.
    let pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("rayon{i}")).stack_size(crate::STACK_BYTES).build()?;
    pool.install(|| run(cmd))
}

fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Train(a) => crate::models_cmd::train(a),
        Cmd::Eval(a) => crate::models_cmd::eval(a),
        Cmd::InitWeights(a) => crate::models_cmd::init_weights(a),
        Cmd::BenchModel(a) => crate::models_cmd::bench(a),
        Cmd::Reproduce(a) => crate::reproduce::reproduce(a),
        Cmd::Collect(a) => crate::reproduce::collect(a),
        Cmd::Compare(a) => crate::reproduce::compare::run(a),
        Cmd::Attack(a) => crate::attack_cmd::attack(a),
        Cmd::BenchInterpreters(a) => crate::bench_cmd::bench(a),
        Cmd::BenchConv(a) => crate::bench_cmd::bench_conv(a),
        Cmd::BenchAttack(a) => crate::bench_attack::bench_attack(a),
        Cmd::MaskQuality(a) => crate::quality_cmd::mask_quality(a),
        Cmd::RtsReference(a) => crate::quality_cmd::rts_reference(a),
        Cmd::TrainRts(a) => crate::rts_cmd::train(a),
        Cmd::Explain(a) => crate::explain_cmd::explain(a),
    }
}
