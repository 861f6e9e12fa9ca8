//! Data loading: real CIFAR images, missing roots and corrupt files give errors naming the path.
use advedge_data::*;
use std::path::PathBuf;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("advedge-data-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn missing_root_names_every_place_tried() {
    let err = resolve_data_root("no-such-dataset-xyz").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no-such-dataset-xyz"), "{msg}");
    assert!(msg.contains("shared/data/no-such-dataset-xyz"), "{msg}");
    assert!(msg.contains(DATA_ENV), "{msg}");
    assert_eq!(msg.lines().count(), 1);
}

#[test]
fn corrupt_jpeg_is_reported_with_its_path_or_skipped_on_request() {
    let root = tmpdir("corrupt");
    let cls = root.join("train").join("cat");
    std::fs::create_dir_all(&cls).unwrap();
    // one good 32x32 PNG and one corrupt JPEG
    let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 7]));
    img.save(cls.join("0001.png")).unwrap();
    std::fs::write(cls.join("0002.jpg"), b"\xff\xd8\xff\xe0 this is not a jpeg").unwrap();
    let entries = list_image_folder(&root, "train").unwrap();
    assert_eq!(entries.len(), 2);
    let opt = DecodeOptions { resize: Resize::Exact(32, 32), skip_bad: false };
    let err = Dataset::decode(entries.clone(), &opt).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("0002.jpg") && msg.starts_with("cannot decode image"), "{msg}");
    assert_eq!(msg.lines().count(), 1);
    let ds = Dataset::decode(entries, &DecodeOptions { skip_bad: true, ..opt }).unwrap();
    assert_eq!(ds.len(), 1);
    // pixel (x=3, y=2) of channel 0 is 3*8
    assert_eq!(ds.image_u8(0)[2 * 32 + 3], 24);
    assert_eq!(ds.image_u8(0)[2 * 1024 + 5], 7);
}

#[test]
fn cifar_test_split_layout_and_labels() {
    let root = resolve_data_root("cifar10").expect("CIFAR-10 must be available for the tests");
    let entries = list_image_folder(&root.join("cifar10"), "test").unwrap();
    assert_eq!(entries.len(), 10_000);
    assert_eq!(entries[0].label, 0);
    assert_eq!(entries[9_999].label, 9);
    assert!(entries[0].path.to_string_lossy().contains("airplane"));
    let ds = Dataset::decode(entries[..20].to_vec(), &DecodeOptions { resize: Resize::Exact(32, 32), skip_bad: false }).unwrap();
    assert_eq!((ds.height, ds.width, ds.len()), (32, 32, 20));
    let (x, y) = ds.batch_f32(&[0, 1]);
    assert_eq!(x.len(), 2 * 3 * 32 * 32);
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(y, vec![0, 0]);
}

#[test]
fn imagenet_v2_layout_resizes_to_224() {
    let root = resolve_data_root("imagenet-samples").expect("imagenet samples");
    let entries = list_imagenet_v2(&root.join("imagenet-samples")).unwrap();
    assert_eq!(entries.len(), 100);
    let ds = Dataset::decode(entries[..2].to_vec(), &DecodeOptions { resize: Resize::ShorterThenCrop(224), skip_bad: false }).unwrap();
    assert_eq!((ds.height, ds.width), (224, 224));
}

#[test]
fn augmentation_is_deterministic_and_in_range() {
    use rand::SeedableRng;
    let src: Vec<u8> = (0..3 * 32 * 32).map(|i| (i % 251) as u8).collect();
    let mut a = vec![0f32; src.len()];
    let mut b = vec![0f32; src.len()];
    augment_crop_flip(&src, 32, 32, 4, &mut Rng64::seed_from_u64(7), &mut a);
    augment_crop_flip(&src, 32, 32, 4, &mut Rng64::seed_from_u64(7), &mut b);
    assert_eq!(a, b);
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
}

/// A copy of CIFAR-10 with three class folders would renumber the labels 0-2 silently: it is an
/// error naming the missing folders instead.
#[test]
fn class_folders_must_be_the_data_sets_classes() {
    let root = tmpdir("classes");
    for c in ["airplane", "automobile", "cat"] {
        std::fs::create_dir_all(root.join(c)).unwrap();
    }
    let msg = check_classes(&root, &CIFAR10_CLASSES).unwrap_err().to_string();
    assert!(msg.contains("missing") && msg.contains("\"bird\"") && msg.contains("truck"), "{msg}");
    std::fs::create_dir_all(root.join("cats")).unwrap();
    let msg = check_classes(&root, &["airplane", "automobile", "cat"]).unwrap_err().to_string();
    assert!(msg.contains("unexpected: [\"cats\"]"), "{msg}");
    std::fs::remove_dir_all(root.join("cats")).unwrap();
    check_classes(&root, &["airplane", "automobile", "cat"]).unwrap();
}
