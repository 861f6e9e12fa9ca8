//! Batches of [0,1] images from an in-memory [`Dataset`] or from files decoded on demand
//! ([`LazyDataset`]: training sets too large for memory, e.g. ImageNet for the paper-scale RTS
//! network). Trainers take `&dyn ImageSource`, so both serve the same loop.
use crate::{decode_image, DataError, Dataset, ImageEntry, Resize};
use rayon::prelude::*;

pub trait ImageSource: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// (height, width) of every image.
    fn size(&self) -> (usize, usize);
    /// Images `idx` as one flat B*3*H*W buffer in [0,1], and their labels.
    fn batch(&self, idx: &[usize]) -> Result<(Vec<f32>, Vec<u32>), DataError>;
}

impl ImageSource for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn size(&self) -> (usize, usize) {
        (self.height, self.width)
    }
    fn batch(&self, idx: &[usize]) -> Result<(Vec<f32>, Vec<u32>), DataError> {
        Ok(self.batch_f32(idx))
    }
}

/// Listed images, decoded (in parallel) only when a batch asks for them. A bad file fails the
/// batch with its path.
pub struct LazyDataset {
    pub entries: Vec<ImageEntry>,
    pub resize: Resize,
}

impl LazyDataset {
    pub fn new(entries: Vec<ImageEntry>, resize: Resize) -> Self {
        Self { entries, resize }
    }
}

impl ImageSource for LazyDataset {
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn size(&self) -> (usize, usize) {
        match self.resize {
            Resize::Exact(w, h) => (h as usize, w as usize),
            Resize::ShorterThenCrop(s) => (s as usize, s as usize),
        }
    }
    fn batch(&self, idx: &[usize]) -> Result<(Vec<f32>, Vec<u32>), DataError> {
        let imgs: Vec<Vec<u8>> = idx.par_iter().map(|&i| decode_image(&self.entries[i].path, self.resize).map(|(px, _, _)| px)).collect::<Result<_, _>>()?;
        let px = imgs.iter().flatten().map(|&v| v as f32 / 255.0).collect();
        Ok((px, idx.iter().map(|&i| self.entries[i].label).collect()))
    }
}
