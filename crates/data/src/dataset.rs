//! Parallel decoding into one in-memory `u8` CHW buffer.
use crate::{DataError, ImageEntry};
use image::imageops::FilterType;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How decoded images are brought to a common size.
#[derive(Clone, Copy, Debug)]
pub enum Resize {
    /// Require exactly this size (width, height); anything else is an error.
    Exact(u32, u32),
    /// Resize the shorter side to `s` (bilinear), then centre-crop `s`x`s` (torchvision's
    /// `Resize(s) + CenterCrop(s)`, the authors' ImageNet preprocessing).
    ShorterThenCrop(u32),
}

#[derive(Clone, Debug)]
pub struct DecodeOptions {
    pub resize: Resize,
    /// Skip unreadable images with a warning instead of failing (the CLI's `--skip-bad`).
    pub skip_bad: bool,
}

/// Decoded images, CHW `u8`, all of one size.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub paths: Vec<PathBuf>,
    pub height: usize,
    pub width: usize,
}

/// Decode one image file to RGB CHW `u8` at the requested size.
pub fn decode_image(path: &Path, resize: Resize) -> Result<(Vec<u8>, usize, usize), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| DataError::Decode { path: path.to_path_buf(), reason: e.to_string() })?
        .to_rgb8();
    let img = match resize {
        Resize::Exact(w, h) => {
            if img.width() != w || img.height() != h {
                return Err(DataError::BadSize {
                    path: path.to_path_buf(),
                    got_w: img.width(),
                    got_h: img.height(),
                    want_w: w,
                    want_h: h,
                });
            }
            img
        }
        Resize::ShorterThenCrop(s) => {
            let (w, h) = (img.width(), img.height());
            let (nw, nh) = if w < h {
                (s, ((h as f64 * s as f64 / w as f64).round() as u32).max(s))
            } else {
                (((w as f64 * s as f64 / h as f64).round() as u32).max(s), s)
            };
            let r = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
            let (x0, y0) = ((nw - s) / 2, (nh - s) / 2);
            image::imageops::crop_imm(&r, x0, y0, s, s).to_image()
        }
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut chw = vec![0u8; 3 * h * w];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            chw[c * h * w + i] = p.0[c];
        }
    }
    Ok((chw, h, w))
}

impl Dataset {
    /// Decode all entries in parallel. Fails on the first bad image unless `skip_bad`.
    pub fn decode(entries: Vec<ImageEntry>, opt: &DecodeOptions) -> Result<Self, DataError> {
        let decoded: Vec<(ImageEntry, Result<(Vec<u8>, usize, usize), DataError>)> = entries
            .into_par_iter()
            .map(|e| {
                let r = decode_image(&e.path, opt.resize);
                (e, r)
            })
            .collect();
        let mut ds = Dataset { pixels: Vec::new(), labels: Vec::new(), paths: Vec::new(), height: 0, width: 0 };
        for (e, r) in decoded {
            match r {
                Ok((px, h, w)) => {
                    if ds.labels.is_empty() {
                        ds.height = h;
                        ds.width = w;
                        ds.pixels.reserve(px.len() * 1024);
                    }
                    ds.pixels.extend_from_slice(&px);
                    ds.labels.push(e.label);
                    ds.paths.push(e.path);
                }
                Err(err) if opt.skip_bad => tracing::warn!("skipping: {err}"),
                Err(err) => return Err(err),
            }
        }
        Ok(ds)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Values per image (3*H*W).
    pub fn image_len(&self) -> usize {
        3 * self.height * self.width
    }
    pub fn image_u8(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
    /// Images `idx` as one flat [0,1] `f32` buffer (B*3*H*W) plus their labels.
    pub fn batch_f32(&self, idx: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let mut out = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            out.extend(self.image_u8(i).iter().map(|&v| v as f32 / 255.0));
        }
        (out, idx.iter().map(|&i| self.labels[i]).collect())
    }
    /// `n` indices spread evenly over the data set (class-balanced for sorted ImageFolder data).
    pub fn spread_indices(&self, n: usize) -> Vec<usize> {
        let len = self.len();
        let n = n.min(len);
        (0..n).map(|k| k * len / n.max(1)).collect()
    }
    /// Keep only the listed indices (in that order).
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            pixels.extend_from_slice(self.image_u8(i));
        }
        Dataset {
            pixels,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            paths: idx.iter().map(|&i| self.paths[i].clone()).collect(),
            height: self.height,
            width: self.width,
        }
    }
}
