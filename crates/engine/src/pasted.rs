//! Images pasted from the clipboard have no file: they get one in the data
//! folder (named by their content, so pasting the same image twice is found
//! as a duplicate) before they are queued like any dropped file.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Pasted images above this size are refused.
pub const MAX_PASTED_BYTES: usize = 200 << 20;

/// Saves pasted bytes as a file under `dir`, waiting for the disk.
pub(crate) fn save(dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
    if bytes.len() > MAX_PASTED_BYTES {
        return Err(Error::Pasted(format!(
            "the pasted image is {} MB; the limit is {} MB",
            bytes.len() >> 20,
            MAX_PASTED_BYTES >> 20
        )));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        Error::Pasted("the clipboard does not hold an image Outbox can read".into())
    })?;
    let extension = format.extensions_str().first().copied().unwrap_or("img");
    let hash = blake3::hash(bytes).to_hex();
    let path = dir.join(format!("pasted-{}.{extension}", &hash[..12]));
    if path.exists() {
        return Ok(path);
    }
    let temp = dir.join(format!(".pasted-{}.part", &hash[..12]));
    let write = || -> std::io::Result<()> {
        fs::create_dir_all(dir)?;
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::io("save the pasted image in", dir, e)
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_image_pasted_twice_is_one_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut png = Vec::new();
        image::RgbImage::new(2, 2)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let first = save(dir.path(), &png).expect("saved");
        let second = save(dir.path(), &png).expect("saved");
        assert_eq!(first, second);
        assert_eq!(first.extension().and_then(|e| e.to_str()), Some("png"));
        assert_eq!(fs::read(&first).expect("read"), png);
    }

    #[test]
    fn text_is_refused_with_a_reason_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = save(dir.path(), b"just some words").expect_err("not an image");
        assert!(err.to_string().contains("does not hold an image"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 0);
    }
}
