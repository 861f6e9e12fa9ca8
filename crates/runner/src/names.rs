//! Names to typed values, one place for the `attack` command, the grids and the other commands:
//! an interpreter kind becomes its settings for a model (RTS: the trained network, checked
//! against the classifier's weights; MASK: v1 or v2 by framework), and (framework, interpreter,
//! variant) plus a profile's common settings become an attack configuration.
use crate::data_source::DataSource;
use crate::repo;
use advedge_attacks::{AttackConfig, EdgeScope, Framework, RtsReference, Variant};
use advedge_interpreters::{Interpreter, InterpreterKind};
use anyhow::{bail, Context};
use std::path::Path;

/// The interpreter `kind` for classifier `model` as the benign maps use it (MASK v1). RTS
/// resolves the trained network `<weights_dir>/rts-<model>.toml` (written by `cargo xtask
/// train-rts`) and checks it was trained on the classifier's current weights.
pub fn interpreter(kind: InterpreterKind, model: &str, weights_dir: &Path) -> anyhow::Result<Interpreter> {
    let data = DataSource::for_model(model, weights_dir);
    Ok(match kind {
        InterpreterKind::Grad => Interpreter::Grad { pool: data.grad_pool() },
        InterpreterKind::Cam => Interpreter::Cam,
        InterpreterKind::Mask => Interpreter::Mask(data.mask(false)),
        InterpreterKind::Rts => rts(model, weights_dir)?,
    })
}

/// The interpreter an attack in `framework` runs against: MASK v2 for C&W and StAdv (spec 2.4).
pub fn attacked_interpreter(kind: InterpreterKind, framework: Framework, model: &str, weights_dir: &Path) -> anyhow::Result<Interpreter> {
    Ok(match interpreter(kind, model, weights_dir)? {
        Interpreter::Mask(_) if framework.mask_v2() => Interpreter::Mask(DataSource::for_model(model, weights_dir).mask(true)),
        other => other,
    })
}

/// [`interpreter`] from a name (`grad`, `CAM`, ...), for commands and tables that hold names.
pub fn parse_interpreter(name: &str, model: &str, weights_dir: &Path) -> anyhow::Result<Interpreter> {
    interpreter(name.parse()?, model, weights_dir)
}

fn rts(model: &str, weights_dir: &Path) -> anyhow::Result<Interpreter> {
    let card = weights_dir.join(format!("rts-{model}.toml"));
    let rc = crate::rts_cmd::RtsCard::load(&card).with_context(|| format!("RTS interpreter for `{model}`: run `cargo xtask train-rts --model {model}` first"))?;
    let path = weights_dir.join(&rc.weights_file);
    if !path.is_file() {
        bail!("{}: RTS weights named by {} are missing", path.display(), card.display());
    }
    // A truncated or damaged file is an error here, not a panic inside a cell. Checked once per
    // file state (path, size, modification time) and process: a grid resolves the same network
    // for every cell.
    let meta = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    static CHECKED: std::sync::Mutex<Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)>> = std::sync::Mutex::new(Vec::new());
    let key = (path.clone(), meta.len(), meta.modified().ok());
    if !CHECKED.lock().expect("rts check cache").contains(&key) {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if let Err(e) = safetensors::SafeTensors::deserialize(&bytes) {
            bail!("{}: not a usable safetensors file ({e:?}); retrain it with `cargo xtask train-rts --model {model}`", path.display());
        }
        CHECKED.lock().expect("rts check cache").push(key);
    }
    let current = repo::model_fingerprint_in(model, weights_dir);
    match &rc.classifier_weights {
        Some(fp) if *fp != current => bail!(
            "the RTS network {} was trained on other weights of `{model}` (fingerprint {fp}, now {current}): retrain it with `cargo xtask train-rts --model {model}`",
            card.display()
        ),
        None => tracing::warn!("{} does not record the classifier weights it was trained on; cannot check it matches `{model}`", card.display()),
        _ => {}
    }
    Ok(Interpreter::Rts(advedge_interpreters::rts::RtsSpec { name: rc.weights_file.clone(), fingerprint: repo::fingerprint(&path), widths: rc.config.widths.clone(), kappa: rc.config.kappa, path }))
}

/// The settings a profile (or the `attack` command) applies on top of the paper's.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    /// Multiplier on every iteration count (interpreter scale included).
    pub scale: f64,
    pub seed: u64,
    pub edge_scope: EdgeScope,
    /// `None`: the spec's choice per framework.
    pub rts_reference: Option<RtsReference>,
}

/// The paper's attack for (framework, interpreter, variant) with `common` applied. The RTS
/// reference enters RTS attacks only, so other cells keep their keys.
pub fn attack_config(framework: Framework, interp: &Interpreter, variant: Variant, common: Common) -> AttackConfig {
    let rts_ref = common.rts_reference.filter(|_| matches!(interp, Interpreter::Rts(_)));
    AttackConfig::paper(framework, interp, variant).scaled(common.scale).with_common(common.seed, common.edge_scope, rts_ref)
}
