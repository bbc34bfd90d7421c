//! Writing into a folder without ever replacing what is there.

use anyhow::{bail, Context, Result};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// How many `stem-N` names to try before giving up on a file.
const MAX_SAME_NAME: u32 = 10_000;

/// Writes `bytes` as `dir/file_name`, or `stem-2.ext`, `stem-3.ext`… when
/// taken: never over an existing file (`create_new` makes each claim atomic,
/// also between threads).
pub fn write_new(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (file_name, String::new()),
    };
    for n in 1..=MAX_SAME_NAME {
        let name = match n {
            1 => file_name.to_string(),
            _ => format!("{stem}-{n}{ext}"),
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        }
    }
    bail!(
        "{MAX_SAME_NAME} files named like {file_name} exist already in {}",
        dir.display()
    )
}
