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
    /// The same figures at the attack's float result, before rounding to 8 bits.
    pub float: FloatFigures,
}

/// An attack's figures at its float result. The primary fields of [`ImageOutcome`] are those of
/// the 8-bit image a user saves (round to nearest, as `adversarial_u8` stores it): success is
/// the classifier's argmax at that image, the map is the interpreter's map of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FloatFigures {
    /// The attack's own success criterion (argmax, or a stored best point for Grad and MASK).
    pub success: bool,
    pub target_prob: f32,
    pub adversarial: Vec<f32>,
    pub adversarial_map: Vec<f32>,
}

/// Round to the 8-bit grid (nearest, clamped to [0, 1]): the image a PNG holds. An image that
/// PGD kept within ε = 0.031 of an 8-bit original stays within 8/255 = 0.0314 of it.
pub fn quantise(x: &[f32]) -> Vec<f32> {
    to_u8(x).into_iter().map(|v| v as f32 / 255.0).collect()
}

/// The 8-bit values of [`quantise`] (what a PNG stores).
pub fn to_u8(x: &[f32]) -> Vec<u8> {
    x.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
}

/// A batch of clean images to attack (CHW [0,1], flattened) with their labels and indices.
#[derive(Clone, Debug)]
pub struct AttackBatch {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    pub indices: Vec<usize>,
    pub height: usize,
    pub width: usize,
    /// Target classes chosen by the user, one per image; `None`: the paper's random target,
    /// drawn from the seed and the image index (spec 1.1).
    pub targets: Option<Vec<u32>>,
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
    /// Each image's target class: the chosen ones, or the paper's random draw.
    pub fn targets(&self, seed: u64, num_classes: u32) -> Vec<u32> {
        match &self.targets {
            Some(t) => t.clone(),
            None => crate::rng::batch_targets(seed, &self.labels, &self.indices, num_classes),
        }
    }
    /// Images `start..end` as their own batch.
    pub fn slice(&self, start: usize, end: usize) -> AttackBatch {
        let n = self.image_len();
        AttackBatch {
            images: self.images[start * n..end * n].to_vec(),
            labels: self.labels[start..end].to_vec(),
            indices: self.indices[start..end].to_vec(),
            height: self.height,
            width: self.width,
            targets: self.targets.as_ref().map(|t| t[start..end].to_vec()),
        }
    }
}

/// Final evaluation shared by all frameworks: the real interpreter's map for the target at the
/// final images, success by argmax (final-iterate interpreters) or by a stored best point
/// (selecting interpreters), and one `ImageOutcome` per image.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    model: &advedge_models::Classifier,
    interp: &advedge_interpreters::Interpreter,
    variant: crate::Variant,
    batch: &AttackBatch,
    final_images: Vec<f32>,
    targets: &[u32],
    benign: burn::tensor::Tensor<4>,
    benign_is_for_target: bool,
    best: &[crate::interp_loss::Best],
    failure: &[Option<String>],
    iterations: usize,
    started: std::time::Instant,
) -> Vec<ImageOutcome> {
    use advedge_models::tensor_io;
    let dev = benign.device();
    let (b, n) = (batch.len(), batch.image_len());
    // Metrics compare with the benign map for the true class, whatever the attack aimed at.
    let benign = if benign_is_for_target {
        interp.explain(model, tensor_io::images(batch.images.clone(), b, batch.height, batch.width, &dev), tensor_io::labels(&batch.labels, &dev))
    } else {
        benign
    };
    let dims = benign.dims();
    let ml = dims[1] * dims[2] * dims[3];
    let benign_maps = tensor_io::to_vec(benign);
    let xt = tensor_io::images(final_images.clone(), b, batch.height, batch.width, &dev);
    let logits = model.forward(xt.clone());
    let probs = crate::losses::target_probs(logits.clone(), targets);
    let pred = crate::losses::argmax(logits);
    let select = crate::interp_loss::selects_best(interp) && (variant != crate::Variant::Plain || matches!(interp, advedge_interpreters::Interpreter::Mask(_)));
    // Maps of the final images are needed unless every image returns a stored best point.
    let adv_maps = if !select || best.iter().any(|x| x.is_none()) {
        tensor_io::to_vec(interp.explain(model, xt, tensor_io::labels(targets, &dev)))
    } else {
        vec![0.0; b * ml]
    };
    let float: Vec<FloatFigures> = (0..b)
        .map(|j| {
            let fin = || (final_images[j * n..(j + 1) * n].to_vec(), adv_maps[j * ml..(j + 1) * ml].to_vec(), probs[j]);
            let (adv, amap, p, ok) = match (&best[j], select) {
                (Some((bx, bm, bp, _)), true) => (bx.clone(), bm.clone(), *bp, true),
                (None, true) => { let (a, m, p) = fin(); (a, m, p, false) }
                (_, false) => { let (a, m, p) = fin(); (a, m, p, pred[j] == targets[j]) }
            };
            FloatFigures { success: ok && failure[j].is_none(), target_prob: p, adversarial: adv, adversarial_map: amap }
        })
        .collect();
    // The 8-bit images, evaluated afresh: classifier and interpreter see what a user would save.
    let xq: Vec<f32> = float.iter().flat_map(|f| quantise(&f.adversarial)).collect();
    let xq_t = tensor_io::images(xq.clone(), b, batch.height, batch.width, &dev);
    let logits_q = model.forward(xq_t.clone());
    let (probs_q, pred_q) = (crate::losses::target_probs(logits_q.clone(), targets), crate::losses::argmax(logits_q));
    let maps_q = tensor_io::to_vec(interp.explain(model, xq_t, tensor_io::labels(targets, &dev)));
    let secs = started.elapsed().as_secs_f64() / b as f64;
    float
        .into_iter()
        .enumerate()
        .map(|(j, f)| ImageOutcome {
            image_index: batch.indices[j],
            label: batch.labels[j],
            target: targets[j],
            success: pred_q[j] == targets[j] && failure[j].is_none(),
            target_prob: probs_q[j],
            adversarial: xq[j * n..(j + 1) * n].to_vec(),
            benign_map: benign_maps[j * ml..(j + 1) * ml].to_vec(),
            adversarial_map: maps_q[j * ml..(j + 1) * ml].to_vec(),
            map_hw: [dims[2], dims[3]],
            iterations,
            seconds: secs,
            failure: failure[j].clone(),
            float: f,
        })
        .collect()
}
