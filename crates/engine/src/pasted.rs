//! Images pasted from the clipboard have no file: they get one in the data
//! folder (named by their content, so pasting the same image twice is found
//! as a duplicate) before they are queued like any dropped file.

use crate::error::{Error, Result};
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
    let name = format!("pasted-{}.{extension}", &hash[..12]);
    crate::durable::write_file(dir, &name, bytes)
        .map_err(|e| Error::io("save the pasted image in", dir, e))
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
        assert_eq!(std::fs::read(&first).expect("read"), png);
    }

    #[test]
    fn text_is_refused_with_a_reason_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = save(dir.path(), b"just some words").expect_err("not an image");
        assert!(err.to_string().contains("does not hold an image"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path())
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
    }
}
