//! Turning dropped paths into items: files as they are, folders recursively,
//! images only. Everything passed over is listed with the reason.

use crate::store::NewItem;
use serde::Serialize;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// File name extensions Outbox reads (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "bmp", "tif", "tiff",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub items: Vec<NewItem>,
    pub skipped: Vec<Skipped>,
}

impl Scan {
    fn skip(&mut self, path: &Path, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason: reason.into(),
        });
    }
}

/// Files as they are, folders recursively (images only); what was passed
/// over is listed with the reason.
pub fn scan(paths: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    let mut seen = HashSet::new();
    for path in paths {
        visit(path, true, &mut scan, &mut seen);
    }
    scan
}

pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn visit(path: &Path, named_by_user: bool, scan: &mut Scan, seen: &mut HashSet<PathBuf>) {
    let link = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return scan.skip(path, describe_io(&e)),
    };
    if !named_by_user && is_hidden(path) {
        return scan.skip(path, "hidden");
    }
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => return scan.skip(path, format!("broken link ({})", describe_io(&e))),
    };
    if meta.is_dir() {
        // Links to folders inside a dropped folder are not followed: they can loop.
        if link.file_type().is_symlink() && !named_by_user {
            return scan.skip(path, "link to a folder (not followed)");
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                return scan.skip(path, format!("cannot read the folder: {}", describe_io(&e)))
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for child in children {
            visit(&child, false, scan, seen);
        }
        return;
    }
    if !meta.is_file() {
        return scan.skip(path, "not a regular file");
    }
    if !is_image_name(path) {
        let reason = match path.extension() {
            Some(ext) => format!("not an image Outbox reads (.{})", ext.to_string_lossy()),
            None => "not an image Outbox reads (no extension)".to_string(),
        };
        return scan.skip(path, reason);
    }
    if meta.len() == 0 {
        return scan.skip(path, "empty file (0 bytes)");
    }
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen.insert(canonical.clone()) {
        return scan.skip(path, "listed twice in this add");
    }
    let mtime_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    scan.items.push(NewItem {
        path: canonical,
        size: meta.len(),
        mtime_ms,
        fields: None,
    });
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().starts_with('.'))
        .unwrap_or(false)
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_for_images_and_the_rest_is_listed_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("b.jpg"), b"x").unwrap();
        fs::write(root.join("sub/a.PNG"), b"x").unwrap();
        fs::write(root.join("notes.txt"), b"x").unwrap();
        fs::write(root.join("empty.jpg"), b"").unwrap();
        fs::write(root.join(".hidden.jpg"), b"x").unwrap();
        let scan = scan(&[
            root.to_path_buf(),
            root.join("b.jpg"),
            root.join("missing.jpg"),
        ]);
        let names: Vec<_> = scan
            .items
            .iter()
            .map(|i| i.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["b.jpg", "a.PNG"]);
        let reasons: Vec<(String, String)> = scan
            .skipped
            .iter()
            .map(|s| {
                (
                    s.path.file_name().unwrap().to_string_lossy().into_owned(),
                    s.reason.clone(),
                )
            })
            .collect();
        assert!(reasons.contains(&(
            "notes.txt".into(),
            "not an image Outbox reads (.txt)".into()
        )));
        assert!(reasons.contains(&("empty.jpg".into(), "empty file (0 bytes)".into())));
        assert!(reasons.contains(&(".hidden.jpg".into(), "hidden".into())));
        assert!(reasons.contains(&("b.jpg".into(), "listed twice in this add".into())));
        assert!(reasons.contains(&("missing.jpg".into(), "not found".into())));
    }
}
