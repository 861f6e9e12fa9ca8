//! Named classifiers of the embedded default (CIFAR-10): architecture + training recipe.
//! Their trained weights and cards live in `data/weights/<name>.{safetensors,toml}`.
use crate::train::TrainConfig;
use crate::{ArchConfig, ModelError};

pub struct Preset {
    pub name: &'static str,
    pub arch: ArchConfig,
    pub train: TrainConfig,
}

pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "resnet20",
            arch: ArchConfig::Resnet { depth: 20, width: 16, num_classes: 10 },
            // Measured on the 2-core CI machine: ~13 min per epoch at batch 64 (burn-flex).
            train: TrainConfig { epochs: 7, batch_size: 64, lr_max: 0.15, ..TrainConfig::default() },
        },
        Preset {
            name: "densenet40",
            arch: ArchConfig::Densenet { depth: 40, growth: 12, num_classes: 10 },
            train: TrainConfig { epochs: 10, ..TrainConfig::default() },
        },
        Preset {
            name: "densenet22",
            // DenseNet-BC-22, k = 12 (74k parameters). Measured `bench-model` b64 train step:
            // 1.3x ResNet-20's, so ~17 min/epoch on 2 idle cores. DenseNet-BC-40 (8.2 s/step at
            // b128, ~53 min/epoch) does not fit the CPU budget.
            arch: ArchConfig::Densenet { depth: 22, growth: 12, num_classes: 10 },
            train: TrainConfig { epochs: 12, batch_size: 64, lr_max: 0.15, ..TrainConfig::default() },
        },
        // Deliberately tiny networks for tests and reference fixtures (not trained to accuracy).
        Preset {
            name: "tiny-densenet",
            arch: ArchConfig::Densenet { depth: 10, growth: 4, num_classes: 10 },
            train: TrainConfig { epochs: 1, batch_size: 64, ..TrainConfig::default() },
        },
        Preset {
            name: "tiny",
            arch: ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 },
            train: TrainConfig { epochs: 1, batch_size: 64, ..TrainConfig::default() },
        },
    ]
}

pub fn preset(name: &str) -> Result<Preset, ModelError> {
    presets().into_iter().find(|p| p.name == name).ok_or_else(|| {
        ModelError::UnknownModel(name.to_string(), presets().iter().map(|p| p.name).collect::<Vec<_>>().join(", "))
    })
}
