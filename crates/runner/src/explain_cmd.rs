//! `explain`: one image and its attribution map side by side, as a PNG (a first look at an
//! interpreter). Maps are upsampled by nearest neighbour and coloured with a perceptual ramp.
use crate::repo;
use crate::data_source::DataSource;
use advedge_data::{decode_image, Resize};
use advedge_interpreters::Interpreter;
use advedge_models::tensor_io;
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExplainArgs {
    #[arg(long)]
    model: String,
    /// grad, cam, rts or mask.
    #[arg(long)]
    interpreter: String,
    /// An index into the model's evaluation images (CIFAR-10 test set, or the ImageNet samples
    /// for torchvision models), or a path to an image file (32x32 for CIFAR models).
    #[arg(long)]
    image: String,
    /// Class to explain (default: the model's prediction).
    #[arg(long)]
    class: Option<u32>,
    #[arg(long, default_value = "results/explain.png")]
    out: PathBuf,
    /// Pixels per input pixel in the PNG (default 8 for 32x32 images, 1 for 224x224).
    #[arg(long)]
    scale: Option<u32>,
}

/// A perceptual dark-blue -> red -> yellow ramp for v in [0,1].
pub fn colormap(v: f32) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let stops: [[f32; 3]; 5] = [[0.0, 0.0, 0.2], [0.3, 0.0, 0.6], [0.8, 0.1, 0.3], [1.0, 0.6, 0.0], [1.0, 1.0, 0.6]];
    let t = v * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f32;
    let c = |k: usize| ((stops[i][k] * (1.0 - f) + stops[i + 1][k] * f) * 255.0) as u8;
    [c(0), c(1), c(2)]
}

pub fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let interp: Interpreter = crate::names::parse_interpreter(&a.interpreter, &a.model, &repo::weights_dir())?;
    let (card, model) = repo::load_model(&a.model, None)?;
    let dev = repo::device();
    let data = DataSource::for_arch(&card.architecture);
    let side = data.side();
    let (img, label) = match a.image.parse::<usize>() {
        Ok(i) => {
            let test = data.test_set()?;
            if i >= test.len() {
                bail!("test index {i} out of range (0..{})", test.len());
            }
            (test.image_u8(i).to_vec(), Some(test.labels[i]))
        }
        Err(_) => {
            let resize = if data == DataSource::Cifar10 { Resize::Exact(32, 32) } else { Resize::ShorterThenCrop(224) };
            (decode_image(&PathBuf::from(&a.image), resize)?.0, None)
        }
    };
    let x: Vec<f32> = img.iter().map(|&v| v as f32 / 255.0).collect();
    let xt = tensor_io::images(x.clone(), 1, side, side, &dev);
    let probs = tensor_io::to_vec(burn::tensor::activation::softmax(model.forward(xt.clone()), 1));
    let pred = (0..probs.len()).max_by(|&i, &j| probs[i].total_cmp(&probs[j])).unwrap() as u32;
    let class = a.class.unwrap_or(pred);
    let map = interp.explain(&model, xt, tensor_io::labels(&[class], &dev));
    let [_, _, mh, mw] = map.dims();
    let m = tensor_io::to_vec(map);
    let s = a.scale.unwrap_or(if side > 64 { 1 } else { 8 }).max(1);
    let (n, plane) = (side as u32, side * side);
    let mut out = image::RgbImage::new(2 * n * s + s, n * s);
    for y in 0..n * s {
        for xx in 0..n * s {
            let (py, px) = ((y / s) as usize, (xx / s) as usize);
            let rgb = [img[py * side + px], img[plane + py * side + px], img[2 * plane + py * side + px]];
            out.put_pixel(xx, y, image::Rgb(rgb));
            let v = m[(py * mh / side) * mw + px * mw / side];
            out.put_pixel(n * s + s + xx, y, image::Rgb(colormap(v)));
        }
    }
    if let Some(p) = a.out.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    out.save(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let name = |c: u32| if data == DataSource::Cifar10 { advedge_data::CIFAR10_CLASSES.get(c as usize).copied().unwrap_or("?") } else { "ImageNet class" };
    println!(
        "{} map ({mh}x{mw}) for class {} ({}), predicted {} ({}, p={:.3}){}; wrote {}",
        interp.name(), class, name(class), pred, name(pred), probs[pred as usize],
        label.map(|l| format!(", true {} ({})", l, name(l))).unwrap_or_default(),
        a.out.display()
    );
    Ok(())
}
