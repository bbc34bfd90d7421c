//! Keeping the queue's history within the retention rules: the rows go a
//! small transaction at a time ([`crate::store`]), then their files — the
//! outputs, saved AI images, and the pasted or downloaded images no item
//! names any more (never a user's own files).

use crate::error::Result;
use crate::paths::DataDir;
use crate::store::Cleaned;
use crate::Shared;
use std::path::PathBuf;

/// Jobs removed per transaction: a few milliseconds of write lock each.
const BATCH: usize = 500;

/// The folders whose images the engine made, and may delete.
pub(crate) fn owned_folders(data: &DataDir) -> Vec<PathBuf> {
    vec![data.pasted(), data.imports()]
}

/// Applies the rules until nothing more is past them; how many jobs went.
pub(crate) fn apply(shared: &Shared) -> Result<u64> {
    let rules = shared.store.retention()?;
    let owned = owned_folders(&shared.data);
    let mut removed = 0;
    loop {
        let now = shared.clock.now_ms();
        let cleaned = shared.store.retire(now, &rules, BATCH, &owned)?;
        removed += cleaned.jobs;
        delete_files(&shared.data, &cleaned);
        if (cleaned.jobs as usize) < BATCH {
            return Ok(removed);
        }
    }
}

/// Deletes the files of removed jobs (their rows are committed already).
pub(crate) fn delete_files(data: &DataDir, cleaned: &Cleaned) {
    for dir in cleaned.ai_jobs.iter().map(|&job| data.ai_images(job)) {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %dir.display(), "cannot delete AI images: {e}");
            }
        }
    }
    for file in cleaned.output_files.iter().chain(&cleaned.sources) {
        if let Err(e) = std::fs::remove_file(file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %file.display(), "cannot delete a file: {e}");
            }
        }
    }
}
