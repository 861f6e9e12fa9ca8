//! `cargo xtask attack --image <folder>` as a user runs it: images of any size are attacked
//! through the model's preprocessing; each gets an 8-bit PNG, a metrics JSON and a panel; a file
//! that does not decode stops the run naming it, or is skipped with `--skip-bad`; a bad
//! `--target` is an error listing the classes.
use std::path::Path;
use std::process::Command;

fn xtask(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env("RUST_BACKTRACE", "0").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_folder_of_own_images_is_attacked_and_reported() {
    let base = std::env::temp_dir().join(format!("advedge-own-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (input, out) = (base.join("in"), base.join("out"));
    std::fs::create_dir_all(&input).unwrap();
    // A CIFAR-10 test image blown up to 48x40: the model's preprocessing brings it to 32x32.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cifar10/test/cat/0000.jpg");
    let img = image::open(&src).unwrap().resize_exact(48, 40, image::imageops::FilterType::Triangle);
    img.save(input.join("my cat.png")).unwrap();
    std::fs::write(input.join("broken.jpg"), b"not a jpeg").unwrap();
    std::fs::write(input.join("notes.txt"), b"ignored: not an image extension").unwrap();
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let common = ["attack", "--model", "resnet20", "--interpreter", "cam", "--framework", "pgd", "--variant", "advedge", "--scale", "0.02", "--image", i, "--out", o];

    let (code, text) = xtask(&common);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("broken.jpg") && text.contains("--skip-bad"), "{text}");

    let (code, text) = xtask(&[&common[..], &["--target", "unicorn"]].concat());
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("unicorn") && text.contains("airplane, automobile"), "{text}");

    let (code, text) = xtask(&[&common[..], &["--skip-bad", "--target", "dog"]].concat());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("broken.jpg"), "the skipped file is named: {text}");
    let stem = out.join("my cat-pgd-cam-advedge");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["target"], 5, "{report}");
    assert_eq!(report["target_name"], "dog");
    assert!(report["linf"].as_f64().unwrap() <= 8.0 / 255.0 + 1e-6, "{report}");
    let adv = image::open(stem.with_extension("png")).unwrap().to_rgb8();
    assert_eq!(adv.dimensions(), (32, 32));
    assert!(out.join("my cat-pgd-cam-advedge-panel.png").is_file());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3, "one PNG, one JSON, one panel");
    let _ = std::fs::remove_dir_all(&base);
}
