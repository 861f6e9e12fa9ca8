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

/// `attack --eps`: one row per variant and budget, one per image, each image's smallest fooling
/// budget no larger than the smallest listed budget that fooled it (and above the largest that
/// did not), a figure; a framework without an L-infinity budget is refused by name.
#[test]
fn epsilon_curves_and_smallest_fooling_budgets() {
    let out = std::env::temp_dir().join(format!("advedge-eps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    let (code, text) = xtask(&["attack", "--model", "resnet20", "--interpreter", "cam", "--framework", "cw", "--variant", "advedge", "--images", "2", "--eps", "2,8/255"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("--framework pgd"), "{text}");
    let (code, text) = xtask(&["attack", "--model", "resnet20", "--interpreter", "cam", "--variant", "advedge", "--images", "2", "--scale", "0.02", "--eps", "1,16/255", "--min-eps-steps", "2", "--out", o]);
    assert_eq!(code, Some(0), "{text}");
    let curve = std::fs::read_to_string(out.join("eps_curve.csv")).unwrap();
    assert_eq!(curve.lines().count(), 3, "{curve}");
    assert!(curve.starts_with("variant,eps,eps_255,images,successes,success_rate,l1_mean_successes\nAdvEdge,"), "{curve}");
    let images = std::fs::read_to_string(out.join("eps_images.csv")).unwrap();
    assert_eq!(images.lines().count(), 5, "{images}");
    let rows: Vec<Vec<String>> = images.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    for line in std::fs::read_to_string(out.join("min_eps.csv")).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == f[1]).collect();
        let first_ok = mine.iter().filter(|r| r[3] == "true").map(|r| r[2].parse::<f32>().unwrap()).fold(f32::INFINITY, f32::min);
        if f[2].is_empty() {
            assert!(first_ok.is_infinite(), "no budget fooled image {}, yet {line}", f[1]);
            continue;
        }
        let m: f32 = f[2].parse().unwrap();
        let below = mine.iter().map(|r| r[2].parse::<f32>().unwrap()).filter(|&e| e < first_ok).fold(0.0, f32::max);
        assert!(m <= first_ok && m > below, "image {}: min eps {m} outside ({below}, {first_ok}]", f[1]);
    }
    assert!(out.join("eps_curve.png").exists());
}
