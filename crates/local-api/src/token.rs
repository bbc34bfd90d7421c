//! The bearer token of `outbox serve`: kept in a file readable by its owner
//! only (`<data folder>/api-token` unless told otherwise), made on first use.
//! A headless machine often has no keychain (no Secret Service in an SSH
//! session or a container); the file is as private as the queue's database
//! beside it. The desktop app keeps its token in the keychain instead.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Tokens shorter than this are refused: the token is the only secret.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token from {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot save the API token in {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the API token in {0} is shorter than {MIN_TOKEN_CHARS} characters")]
    TooShort(String),
    #[error(transparent)]
    Random(outbox_engine::secrets::SecretError),
}

/// A new token: 32 random bytes as hex.
pub fn generate() -> Result<String, TokenError> {
    outbox_engine::secrets::new_token().map_err(TokenError::Random)
}

/// The token in `path`, or a new one saved there (mode 0600).
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim().to_string();
            if token.chars().count() < MIN_TOKEN_CHARS {
                return Err(TokenError::TooShort(shown));
            }
            // Tighten a file someone made readable by others.
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate()?;
            let write = |source| TokenError::Write {
                path: shown.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(write)?;
            file.write_all(format!("{token}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(write)?;
            Ok(token)
        }
        Err(source) => Err(TokenError::Read {
            path: shown,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/api-token");
        let first = load_or_create(&path).expect("made");
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&path).expect("read"), first);
        assert_ne!(generate().expect("another"), first);
    }

    #[test]
    fn a_short_token_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("api-token");
        std::fs::write(&path, "short\n").expect("write");
        assert!(matches!(
            load_or_create(&path),
            Err(TokenError::TooShort(_))
        ));
    }
}
