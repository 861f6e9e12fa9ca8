//! RTS saliency network: shapes, value range, pixel-shuffle semantics (torch's channel order).
use advedge_models::{tensor_io, ArchConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

#[test]
fn rts_network_shapes_and_range() {
    use advedge_interpreters::rts::{pixel_shuffle2, RtsNet};
    let dev = Device::flex();
    // pixel shuffle: channel 4c+2i+j of the input lands at (2h+i, 2w+j)
    let x = Tensor::<4>::from_data(TensorData::new((0..4).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 1, 1]), &dev);
    assert_eq!(tensor_io::to_vec(pixel_shuffle2(x)), vec![0.0, 1.0, 2.0, 3.0]);
    for arch in [ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }, ArchConfig::Densenet { depth: 10, growth: 4, num_classes: 10, blocks: None }] {
        let m = arch.init(&dev);
        let f = m.features(Tensor::<4>::random([2, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &dev));
        let n = f.scales.len();
        let ch = vec![f.last.dims()[1], f.scales[n - 2].dims()[1], f.scales[n - 3].dims()[1]];
        let net = RtsNet::new(10, &ch, &[16, 8], &dev);
        let (mask, exists) = net.forward(&f, tensor_io::labels(&[3, 4], &dev), 5.0);
        assert_eq!(mask.dims(), [2, 1, 32, 32]);
        assert_eq!(exists.dims(), [2, 2]);
        assert!(tensor_io::to_vec(mask).iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

/// Paper scale (spec 2.3): on a torchvision-shaped ResNet at 224x224 the decoder runs three
/// up-blocks from layer4 (7x7) through layer3, layer2 and layer1 to a 56x56 map.
#[test]
fn rts_network_at_paper_scale_gives_56x56_maps() {
    use advedge_interpreters::rts::RtsNet;
    use advedge_interpreters::rts::encoder_channels;
    let dev = Device::flex();
    let m = ArchConfig::TvResnet { layers: vec![1, 1, 1, 1], width: 8, num_classes: 10, block: Default::default() }.init(&dev);
    let ch = encoder_channels(&m, &dev, 3);
    assert_eq!(ch, vec![256, 128, 64, 32], "layer4, layer3, layer2, layer1 channels");
    let net = RtsNet::new(10, &ch, &[32, 16, 8], &dev);
    let f = m.features(Tensor::<4>::random([1, 3, 224, 224], Distribution::Uniform(0.0, 1.0), &dev));
    let (mask, _) = net.forward(&f, tensor_io::labels(&[3], &dev), 5.0);
    assert_eq!(mask.dims(), [1, 1, 56, 56]);
}

#[test]
fn rts_training_runs_checkpoints_and_resumes() {
    use advedge_interpreters::rts_train::{train_rts, RtsTrainConfig};
    use burn::module::Module;
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    ad.seed(4);
    let m = ArchConfig::Resnet { depth: 8, width: 4, num_classes: 10 }.init(&ad);
    let _ = m.forward(Tensor::<4>::random([8, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &ad));
    let m = m.valid();
    let root = advedge_data::resolve_data_root("cifar10").unwrap();
    let entries = advedge_data::list_image_folder(&root.join("cifar10"), "test").unwrap();
    let pick: Vec<_> = entries.iter().step_by(500).cloned().collect();
    let data = advedge_data::Dataset::decode(pick, &advedge_data::DecodeOptions { resize: advedge_data::Resize::Exact(32, 32), skip_bad: false }).unwrap();
    let dir = std::env::temp_dir().join(format!("advedge-rts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = RtsTrainConfig { steps_a: 3, steps_b: 4, batch: 4, widths: vec![8, 8], ckpt_every: 2, ..RtsTrainConfig::default() };
    let calls = std::cell::Cell::new(0);
    let (net, st) = train_rts(&m, &data, &cfg, &dir, &dev, &|_, _, _, l| { assert!(l.is_finite()); calls.set(calls.get() + 1); }).unwrap();
    assert_eq!(calls.get(), 7);
    // one committed checkpoint: the state file and the two files it names, nothing older
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["optim-p1-s4.bin", "rts-p1-s4.bpk", "state.json"]);
    // a rerun of the finished run does no further steps and returns the same weights
    calls.set(0);
    let (net2, _) = train_rts(&m, &data, &cfg, &dir, &dev, &|_, _, _, _| calls.set(calls.get() + 1)).unwrap();
    assert_eq!(calls.get(), 0);
    assert_eq!(tensor_io::to_vec(net.embed.val()), tensor_io::to_vec(net2.embed.val()));
    // a different config is refused
    let other = RtsTrainConfig { steps_b: 9, ..cfg };
    assert!(train_rts(&m, &data, &other, &dir, &dev, &|_, _, _, _| {}).unwrap_err().to_string().contains("another config"));
    assert!(st.last_loss.is_finite());
}

/// Paper-scale training path: a torchvision-shaped encoder, ImageNetV2-layout files decoded per
/// batch at 224 (`LazyDataset`), three up-blocks, 56x56 masks upsampled to 224 inside the
/// preserver / destroyer terms, the 55-tap blur of `RtsTrainConfig::paper`.
#[test]
fn rts_training_at_paper_scale_on_lazily_decoded_imagenet_files() {
    use advedge_data::{list_class_folders, ImageSource, LazyDataset, Resize};
    use advedge_interpreters::rts_train::{train_rts, RtsTrainConfig};
    let dev = Device::flex();
    dev.seed(5);
    let m = ArchConfig::TvResnet { layers: vec![1, 1, 1, 1], width: 4, num_classes: 1000, block: Default::default() }.init(&dev);
    let root = advedge_data::resolve_data_root("imagenet-samples").unwrap();
    let entries = list_class_folders(&root.join("imagenet-samples")).unwrap();
    assert_eq!(entries[10].label, 100, "class-index folders keep their index as the label");
    let data = LazyDataset::new(entries, Resize::ShorterThenCrop(224));
    assert_eq!(data.size(), (224, 224));
    let dir = std::env::temp_dir().join(format!("advedge-rts-paper-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = RtsTrainConfig { steps_a: 1, steps_b: 2, batch: 2, widths: vec![16, 8, 8], ..RtsTrainConfig::paper() };
    assert_eq!(RtsTrainConfig::paper().widths, vec![256, 128, 64]);
    let (net, st) = train_rts(&m, &data, &cfg, &dir, &dev, &|_, _, _, l| assert!(l.is_finite())).unwrap();
    assert!(st.last_loss.is_finite());
    let f = m.features(tensor_io::images(data.batch(&[0]).unwrap().0, 1, 224, 224, &dev));
    let (mask, _) = net.forward(&f, tensor_io::labels(&[0], &dev), cfg.kappa);
    assert_eq!(mask.dims(), [1, 1, 56, 56]);
    let _ = std::fs::remove_dir_all(&dir);
}
