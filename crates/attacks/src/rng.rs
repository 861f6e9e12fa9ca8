//! Reproducible per-image random streams: every draw for image i comes from a generator seeded
//! by (seed, i), so outcomes do not depend on how images are batched.
use rand::SeedableRng;

pub type ImageRng = rand_chacha::ChaCha8Rng;

pub fn image_rng(seed: u64, image_index: u64, purpose: u64) -> ImageRng {
    let mut z = seed ^ image_index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ImageRng::seed_from_u64(z ^ (z >> 31))
}

/// The paper's random target: t = (y + u) mod K with u ~ U{1..K-1}, so t != y (spec 1.1).
pub fn random_target(seed: u64, image_index: u64, label: u32, num_classes: u32) -> u32 {
    use rand::Rng;
    let u = image_rng(seed, image_index, 1).gen_range(1..num_classes);
    (label + u) % num_classes
}

/// [`random_target`] for every image of a batch (labels and dataset indices side by side).
pub fn batch_targets(seed: u64, labels: &[u32], indices: &[usize], num_classes: u32) -> Vec<u32> {
    labels.iter().zip(indices).map(|(&y, &i)| random_target(seed, i as u64, y, num_classes)).collect()
}
