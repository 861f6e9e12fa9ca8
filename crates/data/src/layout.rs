//! Folder layouts: ImageFolder (`<root>/<split>/<class name>/<file>`, label = rank of the class
//! name in sorted order) and ImageNetV2 (`<root>/<class index>/<file>`).
use crate::DataError;
use std::path::{Path, PathBuf};

/// One image file and its label.
#[derive(Clone, Debug)]
pub struct ImageEntry {
    pub path: PathBuf,
    pub label: u32,
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io { path: dir.to_path_buf(), source: e })?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("jpg" | "jpeg" | "png")
    )
}

/// List `<root>/<split>/<class>/<file>`; files sorted within each class.
pub fn list_image_folder(root: &Path, split: &str) -> Result<Vec<ImageEntry>, DataError> {
    let dir = root.join(split);
    let classes: Vec<PathBuf> = read_dir_sorted(&dir)?.into_iter().filter(|p| p.is_dir()).collect();
    let mut out = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        for f in read_dir_sorted(class_dir)? {
            if is_image(&f) {
                out.push(ImageEntry { path: f, label: label as u32 });
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: dir });
    }
    Ok(out)
}

/// A folder of class folders in either layout: ImageNetV2 when every class folder is named by a
/// number (`<dir>/<class index>/<file>`), else ImageFolder (`<dir>/<class name>/<file>`, labels by
/// sorted name: for ImageNet's `n01440764`-style folders that is torchvision's class order).
pub fn list_class_folders(dir: &Path) -> Result<Vec<ImageEntry>, DataError> {
    let subdirs: Vec<PathBuf> = read_dir_sorted(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    let numeric = !subdirs.is_empty() && subdirs.iter().all(|d| d.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.parse::<u32>().is_ok()));
    if numeric {
        list_imagenet_v2(dir)
    } else {
        list_image_folder(dir, "")
    }
}

/// List `<root>/<class index>/<file>`, ordered by class index then file name.
pub fn list_imagenet_v2(root: &Path) -> Result<Vec<ImageEntry>, DataError> {
    let mut classes = Vec::new();
    for d in read_dir_sorted(root)?.into_iter().filter(|p| p.is_dir()) {
        let idx: u32 = d
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| DataError::BadClassFolder { path: d.clone() })?;
        classes.push((idx, d));
    }
    classes.sort();
    let mut out = Vec::new();
    for (label, d) in classes {
        for f in read_dir_sorted(&d)? {
            if is_image(&f) {
                out.push(ImageEntry { path: f, label });
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: root.to_path_buf() });
    }
    Ok(out)
}
