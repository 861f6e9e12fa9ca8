//! `cargo xtask ...`: a thin shim over `advedge_runner::cli`.
fn main() -> anyhow::Result<()> {
    advedge_runner::cli::main()
}
