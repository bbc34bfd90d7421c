//! Images named by URL in a manifest: downloaded into the data folder within
//! a size and a time limit, named by their content (so importing the same
//! URL again finds the same file, and the queue sees a duplicate).

use crate::destinations::{http_outcome, public_net};
use crate::scan::is_image_name;
use crate::store::NewItem;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How large and how slow a downloaded image may be, and from where.
#[derive(Clone, Debug)]
pub struct DownloadLimits {
    pub max_bytes: u64,
    /// For the whole download, answer and body.
    pub timeout: Duration,
    /// Also from this computer and private networks (a NAS, a local
    /// server); off, only public addresses ([`public_net`]).
    pub private_addresses: bool,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            max_bytes: 50 << 20,
            timeout: Duration::from_secs(60),
            private_addresses: false,
        }
    }
}

/// The longest file name kept from a URL.
const MAX_NAME_CHARS: usize = 100;

pub(super) fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Downloads `url` into `dir`; the reason when it cannot be had.
pub(super) async fn download(
    client: &reqwest::Client,
    url: &str,
    dir: &Path,
    limits: &DownloadLimits,
) -> Result<NewItem, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
    if !limits.private_addresses {
        public_net::check_literal(&parsed)?;
    }
    let temp = dir.join(format!(".download-{:016x}.part", fastrand::u64(..)));
    let fetched = tokio::time::timeout(limits.timeout, fetch(client, &parsed, &temp, limits)).await;
    let (hash, size, format) = match fetched {
        Ok(Ok(done)) => done,
        Ok(Err(reason)) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(reason);
        }
        Err(_) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(format!(
                "the download took longer than {} s",
                limits.timeout.as_secs()
            ));
        }
    };
    let folder = dir.join(&hash[..16]);
    let path = folder.join(file_name(&parsed, format));
    let placed = async {
        tokio::fs::create_dir_all(&folder).await?;
        if tokio::fs::try_exists(&path).await? {
            // The same bytes, downloaded before.
            tokio::fs::remove_file(&temp).await
        } else {
            tokio::fs::rename(&temp, &path).await
        }
    };
    if let Err(e) = placed.await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(format!("cannot save it in {}: {e}", folder.display()));
    }
    Ok(NewItem {
        path,
        size,
        // Named by content: no date needed to tell versions apart.
        mtime_ms: 0,
        fields: None,
    })
}

/// Streams the body into `temp`; its BLAKE3 (hex), size and image format.
async fn fetch(
    client: &reqwest::Client,
    url: &reqwest::Url,
    temp: &Path,
    limits: &DownloadLimits,
) -> Result<(String, u64, image::ImageFormat), String> {
    let what = "the download";
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| http_outcome::transport_failure(what, &e).message)?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    let too_large = || format!("larger than the limit of {} MB", limits.max_bytes >> 20);
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes)
    {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(temp)
        .await
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut head = Vec::new();
    let mut size = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| http_outcome::transport_failure(what, &e).message)?
    {
        size += chunk.len() as u64;
        if size > limits.max_bytes {
            return Err(too_large());
        }
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    }
    file.sync_all()
        .await
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    if size == 0 {
        return Err("the server sent an empty file".into());
    }
    let format = image::guess_format(&head)
        .map_err(|_| "what the server sent is not an image Outbox reads".to_string())?;
    Ok((hasher.finalize().to_hex().to_string(), size, format))
}

/// The URL's last path segment, made safe, with the format's extension
/// when it lacks an image one.
fn file_name(url: &reqwest::Url, format: image::ImageFormat) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let mut name: String = segment
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let name_trimmed = name.trim_matches('.');
    if name_trimmed.is_empty() {
        name = "image".into();
    }
    if !is_image_name(&PathBuf::from(&name)) {
        let extension = format.extensions_str().first().copied().unwrap_or("img");
        name = format!("{name}.{extension}");
    }
    name
}
