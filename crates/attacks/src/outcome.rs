//! What an attack returns for each image.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageOutcome {
    pub image_index: usize,
    pub label: u32,
    pub target: u32,
    pub success: bool,
    /// Softmax probability of the target at the returned image.
    pub target_prob: f32,
    /// Adversarial image, CHW in [0,1].
    pub adversarial: Vec<f32>,
    /// Benign map of the image (the interpreter's own class convention) and the adversarial map
    /// for the target, both flattened at the native resolution `map_hw`.
    pub benign_map: Vec<f32>,
    pub adversarial_map: Vec<f32>,
    pub map_hw: [usize; 2],
    pub iterations: usize,
    pub seconds: f64,
    /// Why the attack on this image stopped early (NaN/Inf), if it did.
    pub failure: Option<String>,
}

/// A batch of clean images to attack (CHW [0,1], flattened) with their labels and indices.
#[derive(Clone, Debug)]
pub struct AttackBatch {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    pub indices: Vec<usize>,
    pub height: usize,
    pub width: usize,
}

impl AttackBatch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image_len(&self) -> usize {
        3 * self.height * self.width
    }
}
