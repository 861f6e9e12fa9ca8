//! A training run killed mid-epoch and started again ends with the same weights as one that ran
//! through, and a warm start loads the given weights (the two promises `cargo xtask train` makes).
use advedge_models::presets::preset;
use advedge_models::train::{train, train_until, TrainConfig};
use advedge_models::tensor_io;
use burn::tensor::Device;

fn weights(m: &advedge_models::Classifier) -> Vec<f32> {
    let x = tensor_io::images(vec![0.3; 2 * 3 * 32 * 32], 2, 32, 32, &Device::flex());
    // Logits on a fixed input summarise every parameter (and batch-norm running statistics).
    tensor_io::to_vec(burn::module::Module::to_device(m.clone(), &Device::flex()).forward(x))
}

#[test]
fn killed_run_resumes_to_the_same_weights() {
    let data = advedge_data::load_cifar10("train", false).unwrap();
    let p = preset("tiny").unwrap();
    // 6 steps per epoch, 2 epochs; checkpoints every 4 steps and at epoch ends.
    let cfg = TrainConfig { epochs: 2, batch_size: 32, limit_train: Some(192), ckpt_every: 4, ..p.train.clone() };
    let tmp = std::env::temp_dir().join(format!("advedge-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let dev = Device::flex().autodiff();
    let straight = train(&p.arch, &cfg, &data, &tmp.join("a"), &dev).unwrap();

    // "Kill" after global step 8 (epoch 2, step 2), then rerun the same command.
    assert!(train_until(&p.arch, &cfg, &data, &tmp.join("b"), &dev, Some(8)).unwrap().is_none());
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.join("b/state.json")).unwrap()).unwrap();
    assert_eq!((state["epoch"].as_u64(), state["step_in_epoch"].as_u64()), (Some(1), Some(2)));
    // One committed checkpoint: state.json and the two files it names, the older ones removed.
    let mut files: Vec<String> = std::fs::read_dir(tmp.join("b")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["model-e1-s2.bpk", "optim-e1-s2.bin", "state.json"]);
    // A checkpoint in the older layout (fixed names, no `files` key) resumes the same way.
    let legacy = tmp.join("legacy");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::copy(tmp.join("b/model-e1-s2.bpk"), legacy.join("model.bpk")).unwrap();
    std::fs::copy(tmp.join("b/optim-e1-s2.bin"), legacy.join("optim.bin")).unwrap();
    let mut old_state = state.clone();
    old_state.as_object_mut().unwrap().remove("files");
    std::fs::write(legacy.join("state.json"), old_state.to_string()).unwrap();
    let from_legacy = train(&p.arch, &cfg, &data, &legacy, &dev).unwrap();
    let resumed = train(&p.arch, &cfg, &data, &tmp.join("b"), &dev).unwrap();
    let l = weights(&from_legacy.model);

    assert_eq!(resumed.state.history.len(), 2);
    let (a, b) = (weights(&straight.model), weights(&resumed.model));
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(diff <= 1e-5, "resumed run differs from the uninterrupted one by {diff}");
    let diff_legacy = a.iter().zip(&l).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(diff_legacy <= 1e-5, "run resumed from a legacy checkpoint differs by {diff_legacy}");
    // Training did something: the weights moved away from the seeded initialisation.
    let init = weights(&p.arch.init(&Device::flex()));
    assert!(a.iter().zip(&init).any(|(x, y)| (x - y).abs() > 1e-3));

    // A changed config is refused instead of mixing checkpoints.
    let other = TrainConfig { lr_max: 0.01, ..cfg.clone() };
    assert!(train(&p.arch, &other, &data, &tmp.join("b"), &dev).is_err());

    // Warm start: zero-lr-ish single step from the straight run's weights stays close to them.
    let w = tmp.join("a.safetensors");
    tensor_io::save_weights(&straight.model, &w).unwrap();
    // Saving the same model again gives the same bytes (burn-store's metadata is written in hash
    // order; save_weights fixes it), so the weight fingerprint in cell keys is stable.
    let w2 = tmp.join("a2.safetensors");
    for _ in 0..3 {
        tensor_io::save_weights(&straight.model, &w2).unwrap();
        assert_eq!(std::fs::read(&w).unwrap(), std::fs::read(&w2).unwrap(), "two saves of one model differ");
    }
    let warm = TrainConfig { epochs: 1, lr_max: 1e-9, init_from: Some(w), ..cfg.clone() };
    let cont = train(&p.arch, &warm, &data, &tmp.join("c"), &dev).unwrap();
    let c = weights(&cont.model);
    // Only batch-norm running statistics move with lr ~ 0.
    let rel = a.iter().zip(&c).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / a.iter().map(|v| v.abs()).fold(0f32, f32::max);
    assert!(rel < 0.5, "warm start did not start from the given weights (rel change {rel})");
    let _ = std::fs::remove_dir_all(&tmp);
}
