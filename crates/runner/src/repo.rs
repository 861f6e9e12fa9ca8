//! Repository facts: root folder, weights folder, git commit, weights fingerprints.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The workspace root (nearest ancestor of the cwd with a `[workspace]` Cargo.toml).
pub fn root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    for dir in cwd.ancestors() {
        if std::fs::read_to_string(dir.join("Cargo.toml")).map(|s| s.contains("[workspace]")).unwrap_or(false) {
            return dir.to_path_buf();
        }
    }
    cwd
}

/// Where model cards and weights live: `$ADVEDGE_WEIGHTS`, else `data/weights`.
pub fn weights_dir() -> PathBuf {
    std::env::var_os("ADVEDGE_WEIGHTS").map(PathBuf::from).unwrap_or_else(|| root().join("data").join("weights"))
}

/// `git rev-parse --short HEAD`, with `-dirty` when the tree has changes; "unknown" without git.
/// FNV-1a of the sources that decide an attack's numbers and of Cargo.lock, fixed at build time
/// (`build.rs`); recorded in every cell's manifest.
pub const CODE_FINGERPRINT: &str = env!("ADVEDGE_CODE_FINGERPRINT");

pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git").args(args).current_dir(root()).output().ok().filter(|o| o.status.success())
    };
    let Some(head) = run(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let mut s = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if let Some(st) = run(&["status", "--porcelain", "--untracked-files=no"]) {
        if !st.stdout.is_empty() {
            s.push_str("-dirty");
        }
    }
    s
}

/// 16 hex digits of FNV-1a over a file's bytes ("missing" when it cannot be read), cached per
/// path. Grid cells include the fingerprint of the weights they attack, so retraining a model
/// makes its old results stale instead of silently mixing them with new ones.
pub fn fingerprint(path: &Path) -> String {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(f) = cache.lock().expect("fingerprint cache").get(path) {
        return f.clone();
    }
    let f = match std::fs::read(path) {
        Ok(bytes) => format!("{:016x}", fnv1a(&bytes)),
        Err(_) => "missing".to_string(),
    };
    cache.lock().expect("fingerprint cache").insert(path.to_path_buf(), f.clone());
    f
}

/// FNV-1a, 64 bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.write(bytes);
    h.finish()
}

/// FNV-1a fed in pieces ([`fnv1a`] of the concatenation).
pub struct Fnv1a(u64);

impl Fnv1a {
    pub fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// Fingerprint of a named classifier's weights (via its card in [`weights_dir`]).
pub fn model_fingerprint(model: &str) -> String {
    model_fingerprint_in(model, &weights_dir())
}

/// [`model_fingerprint`] with the card in `dir`.
pub fn model_fingerprint_in(model: &str, dir: &Path) -> String {
    let card = dir.join(format!("{model}.toml"));
    match advedge_models::ModelCard::load(&card) {
        Ok(c) => fingerprint(&c.weights_path(&card)),
        Err(_) => "missing".to_string(),
    }
}

/// The compute devices of this process: `cpu` (burn-flex, the default), CUDA devices (`cuda`,
/// `cuda:N`, or a comma list `cuda:0,cuda:1`; needs the `cuda` feature) or one wgpu device
/// (`wgpu`: wgpu's choice, `wgpu:gpu:N`, `wgpu:integrated:N`, `wgpu:cpu` (e.g. Mesa's lavapipe);
/// needs the `wgpu` feature). Set once from `--device` or a profile's `device`, before any model
/// loads. With several devices the grid runner starts one worker per device and binds each
/// worker thread to its device.
static DEVICES: OnceLock<Vec<String>> = OnceLock::new();

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Validate and select the device list; a second call with another list is an error.
pub fn select_device(spec: &str) -> anyhow::Result<()> {
    let names: Vec<String> = spec.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
    for name in &names {
        let ok = name == "cpu" || name == "cuda" || name.strip_prefix("cuda:").is_some_and(|i| i.parse::<usize>().is_ok()) || wgpu_kind(name).is_some();
        if !ok {
            anyhow::bail!("unknown device `{name}` (cpu, cuda, cuda:N, a comma list of CUDA devices, wgpu, wgpu:gpu:N, wgpu:integrated:N, wgpu:cpu)");
        }
        if name.starts_with("cuda") && !cfg!(feature = "cuda") {
            anyhow::bail!("device `{name}` needs a build with the `cuda` feature (`cargo xtask --features cuda ...`, see README \"GPU\"); use `--device cpu` here");
        }
        if name.starts_with("wgpu") && !cfg!(feature = "wgpu") {
            anyhow::bail!("device `{name}` needs a build with the `wgpu` feature (`cargo run --release -p xtask --features wgpu -- ...`, see README \"GPU\"); use `--device cpu` here");
        }
    }
    if names.is_empty() || (names.len() > 1 && names.iter().any(|n| n == "cpu" || n.starts_with("wgpu"))) {
        anyhow::bail!("bad device list `{spec}`: give `cpu`, one wgpu device, or one or more CUDA devices");
    }
    let current = DEVICES.get_or_init(|| names.clone());
    if *current != names {
        anyhow::bail!("devices already set to `{}`, cannot switch to `{spec}` in one process", current.join(","));
    }
    #[cfg(feature = "cuda")]
    for name in names.iter().filter(|n| n.starts_with("cuda")) {
        let index = name.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()).unwrap_or(0);
        probe(name, || burn::tensor::Device::cuda(index), "usually no NVIDIA driver library libcuda.so on LD_LIBRARY_PATH, no GPU with that index, or no NVRTC library libnvrtc.so for compiling kernels")?;
    }
    #[cfg(feature = "wgpu")]
    for name in names.iter().filter(|n| n.starts_with("wgpu")) {
        probe(name, || wgpu_device(name), "no Vulkan / Metal / DirectX 12 driver, or no adapter of that kind; for a software Vulkan device install Mesa's lavapipe, Debian's mesa-vulkan-drivers, and use `wgpu:cpu`")?;
    }
    Ok(())
}

/// A wgpu device name as (kind, index): `wgpu`, `wgpu:gpu:N`, `wgpu:integrated:N`, `wgpu:cpu`.
fn wgpu_kind(name: &str) -> Option<(&str, usize)> {
    let rest = name.strip_prefix("wgpu")?;
    let parts: Vec<&str> = rest.split(':').skip(1).collect();
    match parts.as_slice() {
        [] if rest.is_empty() => Some(("default", 0)),
        ["cpu"] => Some(("cpu", 0)),
        [k @ ("gpu" | "integrated"), i] => i.parse().ok().map(|i| (*k, i)),
        _ => None,
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device(name: &str) -> burn::tensor::Device {
    use burn::tensor::DeviceKind;
    let kind = match wgpu_kind(name) {
        Some(("cpu", _)) => DeviceKind::Cpu,
        Some(("gpu", i)) => DeviceKind::DiscreteGpu(i),
        Some(("integrated", i)) => DeviceKind::IntegratedGpu(i),
        _ => DeviceKind::DefaultDevice,
    };
    burn::tensor::Device::wgpu(kind)
}

/// Start device `name` and compute 4 x (1 + 1) on it, so a missing driver, GPU or kernel
/// compiler fails here with the device named instead of as a panic inside the first cell. The
/// GPU runtimes report the cause by panicking on their device thread; that message is printed
/// above ours, and `usual` says what it usually is.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn probe(name: &str, make: impl Fn() -> burn::tensor::Device + std::panic::RefUnwindSafe, usual: &str) -> anyhow::Result<()> {
    let run = || burn::tensor::Tensor::<1>::ones([4], &make()).add_scalar(1.0).sum().into_scalar::<f32>();
    match std::panic::catch_unwind(run) {
        Ok(v) if (v - 8.0).abs() < 1e-6 => Ok(()),
        Ok(v) => anyhow::bail!("device `{name}` started but computed {v} for 4 x (1 + 1) (expected 8)"),
        Err(_) => anyhow::bail!("device `{name}` did not start (the message above says why: {usual}); use `--device cpu`"),
    }
}

/// How many devices were selected (1 for the CPU).
pub fn device_count() -> usize {
    DEVICES.get().map(Vec::len).unwrap_or(1)
}

/// Bind the calling worker thread to device `i` of the list (modulo its length).
pub fn bind_worker(i: usize) {
    WORKER.with(|w| w.set(i % device_count()));
}

fn device_label() -> String {
    let i = WORKER.with(|w| w.get());
    DEVICES.get().and_then(|d| d.get(i).cloned()).unwrap_or_else(|| "cpu".into())
}

/// Human-readable name of this thread's device (manifests).
pub fn device_name() -> String {
    match device_label().as_str() {
        "cpu" => "cpu (burn-flex)".into(),
        other if other.starts_with("wgpu") => format!("{other} (burn-wgpu)"),
        other => format!("{other} (burn-cuda)"),
    }
}

/// The CPU's model name as Linux reports it (benchmarks name the machine they ran on).
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

/// This thread's device (CPU unless [`select_device`] chose CUDA).
pub fn device() -> burn::tensor::Device {
    match device_label().as_str() {
        #[cfg(feature = "cuda")]
        d if d.starts_with("cuda") => burn::tensor::Device::cuda(d.strip_prefix("cuda:").and_then(|i| i.parse::<usize>().ok()).unwrap_or(0)),
        #[cfg(feature = "wgpu")]
        d if d.starts_with("wgpu") => wgpu_device(d),
        _ => burn::tensor::Device::flex(),
    }
}

/// A classifier by name, from its card in `dir` (default [`weights_dir`]), on [`device`],
/// ready for inference.
pub fn load_model(model: &str, dir: Option<&Path>) -> anyhow::Result<(advedge_models::ModelCard, advedge_models::Classifier)> {
    use anyhow::Context;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(weights_dir);
    let card_path = dir.join(format!("{model}.toml"));
    if !card_path.is_file() {
        anyhow::bail!("no weights for `{model}`: {} is missing (train it with `cargo xtask train --model {model}`, or for torchvision models put the card and `.pth` there, see README)", card_path.display());
    }
    let card = advedge_models::ModelCard::load(&card_path)?;
    let weights = card.weights_path(&card_path);
    if !weights.is_file() && card.architecture.is_torchvision() {
        anyhow::bail!("`{model}` needs torchvision weights: put {} there (named by {}; see README, \"Paper scale\"), or run on random weights with `cargo xtask init-weights --model {model} --out-dir DIR` and ADVEDGE_WEIGHTS=DIR", weights.display(), card_path.display());
    }
    let m = advedge_models::tensor_io::load_weights(&card.architecture, &weights, &device()).with_context(|| format!("loading `{model}` from {}", weights.display()))?;
    Ok((card, m))
}

#[cfg(test)]
mod tests {
    use super::wgpu_kind;

    #[test]
    fn wgpu_device_names_parse_and_others_do_not() {
        assert_eq!(wgpu_kind("wgpu"), Some(("default", 0)));
        assert_eq!(wgpu_kind("wgpu:cpu"), Some(("cpu", 0)));
        assert_eq!(wgpu_kind("wgpu:gpu:1"), Some(("gpu", 1)));
        assert_eq!(wgpu_kind("wgpu:integrated:0"), Some(("integrated", 0)));
        for bad in ["wgpux", "wgpu:", "wgpu:gpu", "wgpu:gpu:x", "wgpu:tpu:0", "cuda"] {
            assert_eq!(wgpu_kind(bad), None, "{bad}");
        }
    }
}
