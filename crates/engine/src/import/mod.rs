//! Bulk import: a CSV or JSON manifest, one item a row, with its fields and
//! its image (a path, relative to the manifest, or an http(s) URL, which is
//! downloaded). Every row the queue did not take is listed with its reason:
//! no image, a missing file, a failed download, a malformed row, a duplicate.

mod csv;
mod download;
mod json;

pub use download::DownloadLimits;

use crate::error::{Error, Result};
use crate::model::{BatchId, JobId};
use crate::store::NewItem;
use crate::template::Fields;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The fields that name an item's image, looked for in this order; the one
/// found is not kept among the item's fields.
pub const IMAGE_COLUMNS: &[&str] = &["image", "image_path", "image_url", "path", "url", "file"];

/// Downloads at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// What an import did, row by row. Rows are CSV line numbers (the header is
/// line 1) or JSON item numbers (from 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub batch_id: Option<BatchId>,
    pub added: Vec<ImportedRow>,
    pub skipped: Vec<SkippedRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportedRow {
    pub row: u64,
    pub job: JobId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    pub row: u64,
    pub reason: String,
}

/// A row read from a manifest: its fields, image column included.
pub(crate) struct ManifestRow {
    pub row: u64,
    pub fields: Fields,
}

#[derive(Default)]
pub(crate) struct Parsed {
    pub rows: Vec<ManifestRow>,
    pub skipped: Vec<SkippedRow>,
}

impl Parsed {
    fn skip(&mut self, row: u64, reason: impl Into<String>) {
        self.skipped.push(SkippedRow {
            row,
            reason: reason.into(),
        });
    }
}

/// A row whose image is found, or still to be downloaded.
pub(crate) struct Resolved {
    pub row: u64,
    pub fields: Fields,
    pub source: Source,
}

pub(crate) enum Source {
    File(NewItem),
    Url(String),
}

/// Reads the manifest and finds each row's image file; URLs are left for
/// [`download_all`]. Blocking.
pub(crate) fn read(manifest: &Path) -> Result<(Vec<Resolved>, Vec<SkippedRow>)> {
    let bytes = std::fs::read(manifest).map_err(|e| Error::io("read the manifest", manifest, e))?;
    let json = match manifest.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => true,
        Some(e) if e.eq_ignore_ascii_case("csv") => false,
        _ => matches!(
            bytes.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'[' | b'{')
        ),
    };
    let parsed = if json {
        json::parse(&bytes)
    } else {
        csv::parse(&bytes)
    }
    .map_err(|message| Error::Manifest {
        path: manifest.to_path_buf(),
        message,
    })?;
    let base = manifest
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let mut skipped = parsed.skipped;
    let mut rows = Vec::with_capacity(parsed.rows.len());
    for ManifestRow { row, mut fields } in parsed.rows {
        let Some(image) = take_image(&mut fields) else {
            skipped.push(SkippedRow {
                row,
                reason: format!(
                    "no image (a field {} with a path or URL)",
                    IMAGE_COLUMNS.join(", ")
                ),
            });
            continue;
        };
        if download::is_url(&image) {
            rows.push(Resolved {
                row,
                fields,
                source: Source::Url(image),
            });
            continue;
        }
        match local_file(&base, &image) {
            Ok(item) => rows.push(Resolved {
                row,
                fields,
                source: Source::File(item),
            }),
            Err(reason) => skipped.push(SkippedRow { row, reason }),
        }
    }
    Ok((rows, skipped))
}

/// Downloads the rows' URLs into `dir`, a few at once; the rows whose image
/// could not be had move to `skipped`.
pub(crate) async fn download_all(
    rows: Vec<Resolved>,
    dir: &Path,
    limits: &DownloadLimits,
    skipped: &mut Vec<SkippedRow>,
) -> Vec<(u64, NewItem)> {
    use futures_util::StreamExt;
    let client = if limits.private_addresses {
        crate::destinations::http_client()
    } else {
        crate::destinations::public_http_client()
    };
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            for row in rows {
                skipped.push(SkippedRow {
                    row: row.row,
                    reason: e.message.clone(),
                });
            }
            return Vec::new();
        }
    };
    let client = &client;
    let fetched: Vec<(u64, Fields, Result<NewItem, String>)> =
        futures_util::stream::iter(rows.into_iter().map(|r| async move {
            let item = match r.source {
                Source::File(item) => Ok(item),
                Source::Url(url) => download::download(client, &url, dir, limits)
                    .await
                    .map_err(|reason| format!("cannot download {url}: {reason}")),
            };
            (r.row, r.fields, item)
        }))
        .buffered(PARALLEL_DOWNLOADS)
        .collect()
        .await;
    let mut items = Vec::with_capacity(fetched.len());
    for (row, fields, item) in fetched {
        match item {
            Ok(mut item) => {
                item.fields = (!fields.is_empty()).then(|| fields.into());
                items.push((row, item));
            }
            Err(reason) => skipped.push(SkippedRow { row, reason }),
        }
    }
    items
}

/// The first image field, removed from the fields.
fn take_image(fields: &mut Fields) -> Option<String> {
    for column in IMAGE_COLUMNS {
        if let Some(serde_json::Value::String(value)) = fields.get(*column) {
            if !value.trim().is_empty() {
                let value = value.trim().to_string();
                fields.remove(*column);
                return Some(value);
            }
        }
    }
    None
}

/// A row's image file, relative to the manifest's folder.
fn local_file(base: &Path, image: &str) -> std::result::Result<NewItem, String> {
    let path = Path::new(image.strip_prefix("file://").unwrap_or(image));
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    if path.is_dir() {
        return Err(format!("{} is a folder, not an image file", path.display()));
    }
    let mut scan = crate::scan::scan(std::slice::from_ref(&path));
    match (scan.items.pop(), scan.skipped.pop()) {
        (Some(item), _) => Ok(item),
        (None, Some(skipped)) => Err(format!("{}: {}", path.display(), skipped.reason)),
        (None, None) => Err(format!("{}: not found", path.display())),
    }
}
