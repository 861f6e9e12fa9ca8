//! The detector learns a real difference between benign and adversarial map stacks, stays at
//! chance when there is none, and never lets a source image straddle the train/test split.
use advedge_countermeasures::detector::{resize_bilinear, train_and_evaluate, Booster, DetectorConfig, Samples};
use burn::tensor::Device;
use rand::{Rng, SeedableRng};

/// The CNN's initial weights come from the device generator, which `train_and_evaluate` seeds:
/// one process-wide state, so tests that train run one at a time to stay deterministic.
static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two 8x8 "maps" per sample. Benign: one smooth blob, and the second map agrees with the first.
/// Adversarial (if `separable`): the second map's blob moves to another place (the disagreement
/// between interpreters that the detector is meant to see).
fn synthetic(n: usize, separable: bool, seed: u64) -> Samples {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut s = Samples::new(3, 16);
    for i in 0..n {
        let label = (i % 2) as u8;
        let (cy, cx) = (rng.gen_range(2.0..6.0f32), rng.gen_range(2.0..6.0f32));
        let blob = |y0: f32, x0: f32| -> Vec<f32> { (0..64).map(|p| (-(((p / 8) as f32 - y0).powi(2) + ((p % 8) as f32 - x0).powi(2)) / 4.0).exp()).collect() };
        let a = blob(cy, cx);
        let b = if separable && label == 1 { blob(7.0 - cy, 7.0 - cx) } else { blob(cy + rng.gen_range(-0.5..0.5), cx + rng.gen_range(-0.5..0.5)) };
        s.push(&[&a, &b], true, label, i / 2);
    }
    s
}

#[test]
fn resize_matches_torch_bilinear() {
    // torch interpolate([[0, 1], [2, 3]], size 4, bilinear, align_corners=False), first row:
    // [0, 0.25, 0.75, 1]; first column: [0, 0.5, 1.5, 2]
    let r = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 4);
    assert_eq!(&r[0..4], &[0.0, 0.25, 0.75, 1.0]);
    assert_eq!([r[0], r[4], r[8], r[12]], [0.0, 0.5, 1.5, 2.0]);
}

#[test]
fn split_keeps_sources_together() {
    let s = synthetic(200, true, 1);
    let (a, b) = s.split(0.7, 3);
    assert_eq!(a.len() + b.len(), 200);
    assert!(a.sources.iter().all(|x| !b.sources.contains(x)));
    assert!(a.len() > 100 && b.len() > 30, "{} / {}", a.len(), b.len());
    // tiny sets still get both sides
    let tiny = synthetic(4, true, 1);
    for seed in 0..20 {
        let (a, b) = tiny.split(0.7, seed);
        assert!(!a.is_empty() && !b.is_empty(), "seed {seed}");
        assert!(a.sources.iter().all(|x| !b.sources.contains(x)));
    }
}

#[test]
fn detector_separates_real_differences_and_not_noise() {
    let _one_at_a_time = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = DetectorConfig { epochs: 8, gbdt_trees: 40, ..DetectorConfig::default() };
    let dev = Device::flex();
    let (tr, te) = synthetic(240, true, 2).split(0.7, 0);
    let good = train_and_evaluate(&tr, &te, &cfg, &dev).unwrap();
    let (tr, te) = synthetic(240, false, 2).split(0.7, 0);
    let chance = train_and_evaluate(&tr, &te, &cfg, &dev).unwrap();
    eprintln!("separable: {good:?}\nno signal: {chance:?}");
    assert!(good.accuracy >= 0.9, "{good:?}");
    assert!(chance.accuracy <= 0.7, "{chance:?}");
    // Both boosting heads are fitted on the same features; each finds the signal and neither
    // finds one in noise.
    for (r, lo, hi) in [(&good, 0.9, 1.0), (&chance, 0.0, 0.7)] {
        let names: Vec<Booster> = r.boosters.iter().map(|b| b.booster).collect();
        assert_eq!(names, Booster::ALL.to_vec());
        for b in &r.boosters {
            assert!((lo..=hi).contains(&b.accuracy), "{b:?}");
        }
        assert_eq!(r.boosters[0].accuracy, r.accuracy, "gbdt is the reported head by default");
    }
    // Choosing perpetual reports its accuracy; a second run gives the same numbers (seeded, one
    // thread).
    let pcfg = DetectorConfig { booster: Booster::Perpetual, ..cfg };
    let (tr, te) = synthetic(240, true, 2).split(0.7, 0);
    let p1 = train_and_evaluate(&tr, &te, &pcfg, &dev).unwrap();
    let p2 = train_and_evaluate(&tr, &te, &pcfg, &dev).unwrap();
    assert_eq!(p1.accuracy, p1.boosters[1].accuracy);
    let strip = |r: &advedge_countermeasures::detector::DetectorResult| r.boosters.iter().map(|b| (b.accuracy, b.train_accuracy)).collect::<Vec<_>>();
    assert_eq!(strip(&p1), strip(&p2));
}

/// With part of the training split held out from the CNN, the boosting head is fitted on those
/// samples' features: it still finds a real signal, still finds none in noise, and the result
/// counts the whole training split.
#[test]
fn boosting_head_on_held_out_features() {
    let _one_at_a_time = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = DetectorConfig { epochs: 8, gbdt_trees: 40, booster_holdout: 0.3, ..DetectorConfig::default() };
    let dev = Device::flex();
    let (tr, te) = synthetic(240, true, 2).split(0.7, 0);
    let good = train_and_evaluate(&tr, &te, &cfg, &dev).unwrap();
    assert_eq!(good.train_samples, tr.len());
    assert!(good.accuracy >= 0.9, "{good:?}");
    let (tr, te) = synthetic(240, false, 2).split(0.7, 0);
    let chance = train_and_evaluate(&tr, &te, &cfg, &dev).unwrap();
    assert!(chance.accuracy <= 0.7, "{chance:?}");
    // One training source cannot be shared between the CNN and the head.
    let one = synthetic(2, true, 3);
    assert!(train_and_evaluate(&one, &one, &cfg, &dev).is_err());
}
