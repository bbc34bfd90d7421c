//! What a `POST /v1/items` asks for, from either body it may have:
//!
//! - JSON: `{"paths": [...], "urls": [...], "destination", "recipe",
//!   "batch", "priority", "sequential", "fields": {...}, "review", "force",
//!   "max_attempts"}` (`outbox add`'s options);
//! - multipart: file parts (any part with a file name), and text parts
//!   named like the JSON keys (`path`, `url` and `field` = `key=value`
//!   repeatable; `fields` a JSON object).
//!
//! Files sent are saved under `<data folder>/uploads/<hash>/<name>` (named
//! by content, so sending the same file again is found as a duplicate).
//! Everything that cannot become an item is listed with its reason.

use crate::error::ApiError;
use axum::extract::multipart::{Field, Multipart};
use outbox_engine::{AddOptions, NewItem, DEFAULT_MAX_ATTEMPTS};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The JSON body (and the options of a multipart one).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddRequest {
    pub paths: Vec<String>,
    pub urls: Vec<String>,
    #[serde(alias = "to")]
    pub destination: Option<String>,
    pub recipe: Option<String>,
    pub batch: Option<String>,
    pub priority: i64,
    pub sequential: bool,
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub review: bool,
    pub force: bool,
    pub max_attempts: Option<u32>,
}

impl AddRequest {
    pub fn options(&self) -> AddOptions {
        AddOptions {
            destination: self.destination.clone(),
            recipe: self.recipe.clone(),
            priority: self.priority,
            sequential: self.sequential,
            batch_name: self.batch.clone(),
            force: self.force,
            max_attempts: self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            review: self.review,
        }
    }
}

/// An input that did not become an item, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub input: String,
    pub reason: String,
}

/// A file sent in a multipart body, saved (or refused).
pub struct Uploaded {
    pub name: String,
    pub saved: Result<PathBuf, String>,
}

/// Reads a multipart body: the files are saved as they stream in.
pub async fn read_multipart(
    mut multipart: Multipart,
    uploads: &Path,
    limit: u64,
) -> Result<(AddRequest, Vec<Uploaded>), ApiError> {
    let mut request = AddRequest::default();
    let mut files = Vec::new();
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit }
        } else {
            ApiError::BadRequest(format!(
                "the multipart body is malformed: {}",
                e.body_text()
            ))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if let Some(name) = field.file_name().map(str::to_string) {
            let saved = save_upload(field, &name, uploads, limit).await?;
            files.push(Uploaded { name, saved });
            continue;
        }
        let key = field.name().unwrap_or("").to_string();
        let value = field.text().await.map_err(multipart_error)?;
        set_option(&mut request, &key, value)?;
    }
    Ok((request, files))
}

fn set_option(request: &mut AddRequest, key: &str, value: String) -> Result<(), ApiError> {
    let flag = |v: &str| matches!(v.trim(), "true" | "1" | "yes" | "on");
    let number = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("{key} must be a whole number, not {v:?}")))
    };
    match key {
        "path" | "paths" => request.paths.push(value),
        "url" | "urls" => request.urls.push(value),
        "destination" | "to" => request.destination = Some(value),
        "recipe" => request.recipe = Some(value),
        "batch" => request.batch = Some(value),
        "priority" => request.priority = number(&value)?,
        "max_attempts" => {
            let n = number(&value)?;
            request.max_attempts = Some(u32::try_from(n).map_err(|_| {
                ApiError::BadRequest(format!("max_attempts must be 1 or more, not {n}"))
            })?);
        }
        "sequential" => request.sequential = flag(&value),
        "review" => request.review = flag(&value),
        "force" => request.force = flag(&value),
        "field" => {
            let Some((k, v)) = value.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
                return Err(ApiError::BadRequest(format!(
                    "field {value:?} is not key=value"
                )));
            };
            request
                .fields
                .get_or_insert_with(Default::default)
                .insert(k.trim().to_string(), v.into());
        }
        "fields" => {
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&value)
                .map_err(|e| {
                ApiError::BadRequest(format!("fields is not a JSON object: {e}"))
            })?;
            request
                .fields
                .get_or_insert_with(Default::default)
                .extend(parsed);
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown part {other:?} (a file part needs a file name)"
            )))
        }
    }
    Ok(())
}

/// Streams a file part to a temporary file while hashing it, then moves it
/// to `uploads/<hash>/<name>`, synced. A part that is not an image is
/// dropped with the reason; a failure to write is the server's error.
async fn save_upload(
    mut field: Field<'_>,
    name: &str,
    uploads: &Path,
    limit: u64,
) -> Result<Result<PathBuf, String>, ApiError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        ApiError::Internal(format!("cannot {what} {}: {e}", path.display()))
    };
    tokio::fs::create_dir_all(uploads)
        .await
        .map_err(|e| io("create", uploads, e))?;
    let temp = uploads.join(format!(".upload-{:016x}.part", fastrand::u64(..)));
    let mut file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| io("write", &temp, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut head = Vec::with_capacity(64);
    let mut size = 0u64;
    let streamed: Result<(), ApiError> = async {
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(ApiError::TooLarge { limit })
                }
                Err(e) => {
                    return Err(ApiError::BadRequest(format!(
                        "the file {name:?} was cut short: {}",
                        e.body_text()
                    )))
                }
            };
            size += chunk.len() as u64;
            if head.len() < 64 {
                head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("write", &temp, e))?;
        }
        file.sync_all().await.map_err(|e| io("write", &temp, e))
    }
    .await;
    drop(file);
    let remove_temp = || async { drop(tokio::fs::remove_file(&temp).await) };
    if let Err(e) = streamed {
        remove_temp().await;
        return Err(e);
    }
    if size == 0 {
        remove_temp().await;
        return Ok(Err("empty file (0 bytes)".into()));
    }
    let Ok(format) = image::guess_format(&head) else {
        remove_temp().await;
        return Ok(Err("not an image Outbox reads".into()));
    };
    let hash = hasher.finalize().to_hex();
    let folder = uploads.join(&hash[..16]);
    let path = folder.join(safe_name(name, format));
    let placed = async {
        tokio::fs::create_dir_all(&folder).await?;
        if tokio::fs::try_exists(&path).await? {
            // The same bytes under the same name, sent before.
            tokio::fs::remove_file(&temp).await
        } else {
            tokio::fs::rename(&temp, &path).await?;
            tokio::fs::File::open(&folder).await?.sync_all().await
        }
    };
    if let Err(e) = placed.await {
        remove_temp().await;
        return Err(io("save", &path, e));
    }
    Ok(Ok(path))
}

/// The file name a client gave, without folders or odd characters, with
/// an image extension matching its content when it lacks one.
fn safe_name(given: &str, format: image::ImageFormat) -> String {
    let base = given.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.trim_matches('.').is_empty() {
        name = "image".into();
    }
    if !outbox_engine::is_image_name(Path::new(&name)) {
        let ext = format.extensions_str().first().copied().unwrap_or("img");
        name = format!("{name}.{ext}");
    }
    name
}

/// Paths as `outbox add` takes them (files, folders recursively); each must
/// be absolute: the server's working folder means nothing to the client.
pub fn scan_paths(paths: &[String], refused: &mut Vec<Refused>) -> Vec<NewItem> {
    let mut absolute = Vec::new();
    for path in paths {
        let p = PathBuf::from(path.strip_prefix("file://").unwrap_or(path));
        if p.is_absolute() {
            absolute.push(p);
        } else {
            refused.push(Refused {
                input: path.clone(),
                reason: "a path must be absolute".into(),
            });
        }
    }
    let scan = outbox_engine::scan(&absolute);
    refused.extend(scan.skipped.into_iter().map(|s| Refused {
        input: s.path.display().to_string(),
        reason: s.reason,
    }));
    scan.items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_name_loses_its_folders_and_gains_an_extension() {
        let png = image::ImageFormat::Png;
        assert_eq!(safe_name("../../etc/passwd", png), "passwd.png");
        assert_eq!(safe_name("C:\\pics\\cat.JPG", png), "cat.JPG");
        assert_eq!(safe_name("my photo (1).png", png), "my_photo__1_.png");
        assert_eq!(safe_name("..", png), "image.png");
    }

    #[test]
    fn relative_paths_are_refused_with_a_reason() {
        let mut refused = Vec::new();
        let items = scan_paths(&["photos/cat.png".into()], &mut refused);
        assert!(items.is_empty());
        assert_eq!(refused[0].reason, "a path must be absolute");
    }
}
