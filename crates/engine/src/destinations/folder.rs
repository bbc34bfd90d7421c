//! The folder destination: the default, and the model of an idempotent one.
//!
//! A file appears whole or not at all (temporary file, fsync, then a hard
//! link, which fails instead of replacing an existing file, then fsync of the
//! folder). Names are deterministic: `name.jpg`, else `name-<hash>.jpg`, else
//! `name-<hash>-2.jpg`…; a candidate holding the same bytes is this very
//! output delivered before, so a repeated delivery finds it instead of
//! writing a second copy.

use super::{BoxFuture, Delivery, DeliveryError, Destination, Steps};
use crate::model::{ErrorClass, Remote};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many names are tried before giving up.
const MAX_CANDIDATES: u32 = 1000;

#[derive(Clone, Debug)]
pub struct FolderDestination {
    root: PathBuf,
    /// Create the folder when it is missing (the default `~/Pictures/Outbox`);
    /// a folder the user chose is never created, since a missing one usually
    /// means an unmounted drive.
    create: bool,
}

impl FolderDestination {
    pub fn new(root: PathBuf, create: bool) -> Self {
        FolderDestination { root, create }
    }

    pub fn from_settings(settings: &serde_json::Value) -> Result<Self, DeliveryError> {
        let path = settings
            .get("path")
            .and_then(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                DeliveryError::new(ErrorClass::Permanent, "a folder destination needs a path")
            })?;
        let root = PathBuf::from(path);
        if !root.is_absolute() {
            return Err(DeliveryError::new(
                ErrorClass::Permanent,
                format!("the folder path must be absolute, not {path:?}"),
            ));
        }
        let create = settings
            .get("create")
            .and_then(|c| c.as_bool())
            .unwrap_or(false);
        Ok(FolderDestination { root, create })
    }

    fn deliver_blocking(&self, d: &Delivery) -> Result<Remote, DeliveryError> {
        self.ensure_root()?;
        let temp = self.temp_path(d);
        let result = self.place(d, &temp);
        let _ = fs::remove_file(&temp);
        result
    }

    fn place(&self, d: &Delivery, temp: &Path) -> Result<Remote, DeliveryError> {
        let mut written = false;
        for n in 0..MAX_CANDIDATES {
            let candidate = self.root.join(candidate_name(d, n));
            match same_content(&candidate, d) {
                Ok(true) => return Ok(remote(&candidate)),
                Ok(false) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&self.root, e)),
            }
            if !written {
                write_synced(temp, d).map_err(|e| io_error(&self.root, e))?;
                written = true;
            }
            match fs::hard_link(temp, &candidate) {
                Ok(()) => {}
                // Someone else took the name meanwhile: look at it again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                // File systems without hard links: rename, after checking the name is free.
                Err(_) => {
                    if candidate.exists() {
                        continue;
                    }
                    fs::rename(temp, &candidate).map_err(|e| io_error(&self.root, e))?;
                }
            }
            sync_dir(&self.root).map_err(|e| io_error(&self.root, e))?;
            return Ok(remote(&candidate));
        }
        Err(DeliveryError::new(
            ErrorClass::Permanent,
            format!(
                "{} holds {MAX_CANDIDATES} other files named like {:?}",
                self.root.display(),
                d.file_name
            ),
        ))
    }

    fn reconcile_blocking(&self, d: &Delivery) -> Result<Option<Remote>, DeliveryError> {
        let _ = fs::remove_file(self.temp_path(d));
        if !self.root.is_dir() {
            return Ok(None);
        }
        for n in 0..MAX_CANDIDATES {
            let candidate = self.root.join(candidate_name(d, n));
            match same_content(&candidate, d) {
                Ok(true) => return Ok(Some(remote(&candidate))),
                Ok(false) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error(&self.root, e)),
            }
        }
        Ok(None)
    }

    fn ensure_root(&self) -> Result<(), DeliveryError> {
        if self.root.is_dir() {
            return Ok(());
        }
        if self.create {
            return fs::create_dir_all(&self.root).map_err(|e| io_error(&self.root, e));
        }
        Err(DeliveryError::new(
            ErrorClass::NeedsUser,
            format!(
                "the destination folder {} does not exist (is its drive mounted?); create it, then retry",
                self.root.display()
            ),
        ))
    }

    /// The folder exists (or may be made) and takes a file.
    /// Every failure here is the folder's: it is missing, not writable or
    /// full, so the user fixes (or changes) the folder setting.
    fn check_blocking(&self) -> Result<String, DeliveryError> {
        self.ensure_root().map_err(|e| e.about("path"))?;
        let probe = self
            .root
            .join(format!(".outbox-check-{}", std::process::id()));
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"outbox"))
            .map_err(|e| io_error(&self.root, e).about("path"))?;
        let _ = fs::remove_file(&probe);
        Ok(format!(
            "the folder {} takes new files",
            self.root.display()
        ))
    }

    /// Hidden, and the same for every attempt of a job, so a leftover from a
    /// crash is overwritten or swept rather than piling up.
    fn temp_path(&self, d: &Delivery) -> PathBuf {
        self.root.join(format!(".outbox-{}.part", d.job_id))
    }
}

impl Destination for FolderDestination {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        _steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move {
            let this = self.clone();
            let d = d.clone();
            tokio::task::spawn_blocking(move || this.deliver_blocking(&d))
                .await
                .map_err(|e| DeliveryError::new(ErrorClass::Transient, e.to_string()))?
        })
    }

    fn reconcile<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async move {
            let this = self.clone();
            let d = d.clone();
            tokio::task::spawn_blocking(move || this.reconcile_blocking(&d))
                .await
                .map_err(|e| DeliveryError::new(ErrorClass::Transient, e.to_string()))?
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async move {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.check_blocking())
                .await
                .map_err(|e| DeliveryError::new(ErrorClass::Transient, e.to_string()))?
        })
    }
}

/// Longest file name (in bytes) that Linux, macOS and Windows file systems take.
const MAX_NAME_BYTES: usize = 255;

fn candidate_name(d: &Delivery, n: u32) -> String {
    let (stem, ext) = match d.file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (d.file_name.as_str(), String::new()),
    };
    let suffix = match n {
        0 => ext,
        1 => format!("-{}{ext}", d.short_hash()),
        _ => format!("-{}-{n}{ext}", d.short_hash()),
    };
    // A long name gives up the end of its stem, so the suffix that makes it
    // unique always fits.
    let mut keep = MAX_NAME_BYTES.saturating_sub(suffix.len()).min(stem.len());
    while !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &stem[..keep])
}

/// Whether `path` holds exactly the delivery's bytes.
fn same_content(path: &Path, d: &Delivery) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() || meta.len() != d.size {
        return Ok(false);
    }
    let mut hasher = blake3::Hasher::new();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().as_bytes() == &d.hash)
}

fn write_synced(temp: &Path, d: &Delivery) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)?;
    match &d.bytes {
        Some(bytes) => file.write_all(bytes)?,
        None => {
            let mut source = File::open(&d.path)?;
            io::copy(&mut source, &mut file)?;
        }
    }
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remote(path: &Path) -> Remote {
    Remote {
        id: None,
        url: Some(file_url(path)),
    }
}

/// A `file://` URL, with everything but unreserved characters and `/` escaped.
pub(crate) fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn io_error(root: &Path, e: io::Error) -> DeliveryError {
    let place = root.display();
    match e.kind() {
        io::ErrorKind::StorageFull => DeliveryError::new(
            ErrorClass::NeedsUser,
            format!("the disk holding {place} is full; free some space, then retry"),
        ),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => DeliveryError::new(
            ErrorClass::NeedsUser,
            format!("Outbox may not write to {place} ({e}); change its permissions or choose another folder, then retry"),
        ),
        io::ErrorKind::NotFound => DeliveryError::new(
            ErrorClass::NeedsUser,
            format!("the destination folder {place} is gone ({e}); create it, then retry"),
        ),
        // Trying again cannot make a name acceptable.
        io::ErrorKind::InvalidFilename => DeliveryError::new(
            ErrorClass::Permanent,
            format!("{place} does not accept this file name ({e})"),
        ),
        _ => DeliveryError::new(ErrorClass::Transient, format!("cannot write to {place}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_file_system_even_with_a_collision_suffix() {
        let long = format!("{}.jpg", "長".repeat(83)); // 253 bytes
        let delivery = |file_name: &str| Delivery {
            queue_id: "0123456789abcdef".into(),
            job_id: 1,
            file_name: file_name.to_string(),
            mime: "image/jpeg".into(),
            path: "/nowhere".into(),
            size: 1,
            hash: [7; 32],
            bytes: None,
            fields: None,
        };
        let d = delivery(&long);
        assert_eq!(candidate_name(&d, 0), long);
        for n in 1..4 {
            let name = candidate_name(&d, n);
            assert!(name.len() <= MAX_NAME_BYTES, "{n}: {} bytes", name.len());
            assert!(name.starts_with("長長") && name.ends_with(".jpg"), "{name}");
            assert_ne!(name, candidate_name(&d, n + 1));
        }
        assert_eq!(candidate_name(&delivery("a.jpg"), 0), "a.jpg");
    }

    #[test]
    fn file_urls_escape_everything_but_unreserved_characters() {
        assert_eq!(
            file_url(Path::new("/srv/out/IMG_01-a.b~c.jpg")),
            "file:///srv/out/IMG_01-a.b~c.jpg"
        );
        assert_eq!(
            file_url(Path::new("/srv/my photos/#1 été.jpg")),
            "file:///srv/my%20photos/%231%20%C3%A9t%C3%A9.jpg"
        );
    }
}
