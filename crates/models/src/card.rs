//! Model cards: what was trained, how, and how well (TOML beside the weights).
use crate::{ArchConfig, ModelError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub lr_end: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Cards of weights trained elsewhere (torchvision `.pth` files) need only `name`, `description`,
/// `architecture`, `dataset` and `weights_file`; the training fields then stay at zero.
pub struct ModelCard {
    pub name: String,
    pub description: String,
    pub architecture: ArchConfig,
    #[serde(default)]
    pub parameters: usize,
    pub dataset: String,
    #[serde(default)]
    pub epochs: usize,
    #[serde(default)]
    pub batch_size: usize,
    #[serde(default)]
    pub lr_max: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub augmentation: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub git_commit: String,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub train_seconds: f64,
    #[serde(default)]
    pub test_images: usize,
    #[serde(default)]
    pub test_accuracy: f64,
    pub weights_file: String,
    /// When the run was warm-started from another card's weights: that card's name, git commit,
    /// epochs and accuracy. `epochs`, `train_seconds` and `history` then cover both runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<String>,
    #[serde(default)]
    pub history: Vec<EpochLog>,
}

impl ModelCard {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let s = std::fs::read_to_string(path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })?;
        toml::from_str(&s).map_err(|e| ModelError::Card { path: path.to_path_buf(), reason: e.to_string() })
    }
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let s = toml::to_string_pretty(self).map_err(|e| ModelError::Card { path: path.to_path_buf(), reason: e.to_string() })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, s).map_err(|e| ModelError::Io { path: tmp.clone(), source: e })?;
        std::fs::rename(&tmp, path).map_err(|e| ModelError::Io { path: path.to_path_buf(), source: e })
    }
    /// The weights file named by the card, relative to the card's folder.
    pub fn weights_path(&self, card_path: &Path) -> PathBuf {
        card_path.parent().unwrap_or(Path::new(".")).join(&self.weights_file)
    }
}
