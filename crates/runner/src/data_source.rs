//! Which images a classifier is attacked on, and the interpreter settings that go with their size.
//! Derived from the model card: CIFAR architectures take the CIFAR-10 test set (32x32), the
//! torchvision ones the ImageNetV2-layout samples (shorter side 224, centre crop, spec 1.2).
//! So a paper-scale grid is the same grid with other model names.
use advedge_data::{load_cifar10, load_imagenet_samples, Dataset};
use advedge_interpreters::mask::MaskConfig;
use advedge_models::{ArchConfig, ModelCard};
use std::path::Path;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSource {
    Cifar10,
    ImagenetSamples,
}

impl DataSource {
    pub fn for_arch(arch: &ArchConfig) -> Self {
        if arch.is_torchvision() {
            DataSource::ImagenetSamples
        } else {
            DataSource::Cifar10
        }
    }

    /// From the card `<weights_dir>/<model>.toml`; CIFAR-10 when there is none (the cell then
    /// fails at run time with the missing-card message).
    pub fn for_model(model: &str, weights_dir: &Path) -> Self {
        ModelCard::load(&weights_dir.join(format!("{model}.toml"))).map(|c| Self::for_arch(&c.architecture)).unwrap_or(DataSource::Cifar10)
    }

    /// The evaluation images, decoded once per process.
    pub fn test_set(self) -> anyhow::Result<&'static Dataset> {
        static CIFAR: OnceLock<Dataset> = OnceLock::new();
        static IMAGENET: OnceLock<Dataset> = OnceLock::new();
        let (cell, load): (_, fn() -> Result<Dataset, advedge_data::DataError>) = match self {
            DataSource::Cifar10 => (&CIFAR, || load_cifar10("test", false)),
            DataSource::ImagenetSamples => (&IMAGENET, || load_imagenet_samples(false)),
        };
        if let Some(d) = cell.get() {
            return Ok(d);
        }
        let d = load()?;
        Ok(cell.get_or_init(|| d))
    }

    /// 16 hex digits of FNV-1a over the decoded evaluation set (each image's file name relative
    /// to the data root, label and pixels), computed once per process. It enters every cell's
    /// key: a cell made on other data (another `ADVEDGE_DATA`, a changed decoder) is another cell.
    pub fn fingerprint(self) -> anyhow::Result<String> {
        static CIFAR: OnceLock<String> = OnceLock::new();
        static IMAGENET: OnceLock<String> = OnceLock::new();
        let cell = match self {
            DataSource::Cifar10 => &CIFAR,
            DataSource::ImagenetSamples => &IMAGENET,
        };
        if let Some(f) = cell.get() {
            return Ok(f.clone());
        }
        let d = self.test_set()?;
        let mut h = crate::repo::Fnv1a::new();
        let n = d.height * d.width * 3;
        for (i, (p, l)) in d.paths.iter().zip(&d.labels).enumerate() {
            // The last two components (class folder, file): independent of where the data root is.
            let tail: Vec<_> = p.components().rev().take(2).collect();
            for c in tail.iter().rev() {
                h.write(c.as_os_str().to_string_lossy().as_bytes());
                h.write(b"/");
            }
            h.write(&l.to_le_bytes());
            h.write(&d.pixels[i * n..(i + 1) * n]);
        }
        Ok(cell.get_or_init(|| format!("{:016x}", h.finish())).clone())
    }

    /// Image side in pixels.
    pub fn side(self) -> usize {
        match self {
            DataSource::Cifar10 => 32,
            DataSource::ImagenetSamples => 224,
        }
    }

    /// How files of this source are brought to [`Self::side`] (CIFAR-10 must already be 32x32).
    pub fn resize(self) -> advedge_data::Resize {
        let s = self.side() as u32;
        match self {
            DataSource::Cifar10 => advedge_data::Resize::Exact(s, s),
            DataSource::ImagenetSamples => advedge_data::Resize::ShorterThenCrop(s),
        }
    }

    /// Images per forward pass when screening for correctly classified ones.
    pub fn screen_batch(self) -> usize {
        match self {
            DataSource::Cifar10 => 200,
            DataSource::ImagenetSamples => 10,
        }
    }

    /// Grad maps are average-pooled by 4 at 224 (56x56, spec 2.1) and by 2 at 32 (16x16).
    pub fn grad_pool(self) -> usize {
        match self {
            DataSource::Cifar10 => 2,
            DataSource::ImagenetSamples => 4,
        }
    }

    /// MASK v1 (benign maps, PGD) or v2 (C&W, StAdv) at this scale (spec 2.4).
    pub fn mask(self, v2: bool) -> MaskConfig {
        match (self, v2) {
            (DataSource::Cifar10, false) => MaskConfig::v1_cifar(),
            (DataSource::Cifar10, true) => MaskConfig::v2_cifar(),
            (DataSource::ImagenetSamples, false) => MaskConfig::v1_paper(),
            (DataSource::ImagenetSamples, true) => MaskConfig::v2_paper(),
        }
    }
}
