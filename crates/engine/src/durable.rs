//! Files that must be whole or absent after a crash (generated outputs, paid
//! AI images, pasted images): written to a temporary name, synced, renamed,
//! and the folder synced, before anyone is told they exist.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `name` in `dir` (made if missing) and waits for the disk.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.part"));
    let write = || -> io::Result<()> {
        if !dir.is_dir() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_whole_in_a_new_folder_and_no_temporary_is_left() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("a").join("b");
        let path = write_file(&dir, "x.jpg", b"bytes").expect("written");
        assert_eq!(fs::read(&path).expect("read"), b"bytes");
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.jpg")]);
    }
}
