//! Passwords, tokens and keys live in the operating system's keychain (the
//! Secret Service on Linux, through the `keyring` crate), never in the
//! settings, the database, a log line or an error message. Destinations and
//! AI providers find theirs by the database's id and their name.

use std::sync::Arc;

/// The keychain's service name for every Outbox secret.
pub const SERVICE: &str = "app.outbox.desktop";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No keychain to talk to (no Secret Service running, a locked one).
    #[error("the keychain is not available: {0}")]
    Unavailable(String),
    #[error("the keychain refused: {0}")]
    Refused(String),
    #[error("no randomness for a token: {0}")]
    NoRandomness(String),
}

/// Where secrets are kept. The keychain in the app and the command line;
/// tests use the real one too, in a private D-Bus session.
pub trait Secrets: Send + Sync + 'static {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError>;
    fn set(&self, key: &str, secret: &str) -> Result<(), SecretError>;
    /// Removing a secret that is not there is not an error.
    fn delete(&self, key: &str) -> Result<(), SecretError>;
}

/// The key of a destination's secret: the database's id (every data folder
/// on the machine shares the keychain) and the destination's name.
pub fn destination_key(database: &str, name: &str) -> String {
    format!("{database}/destination:{name}")
}

/// The key of an AI provider's API key, beside the destinations'.
pub fn provider_key(database: &str, name: &str) -> String {
    format!("{database}/provider:{name}")
}

/// The key of the desktop app's local API token (`outbox serve` keeps its
/// own in a file: a headless machine often has no keychain).
pub fn api_token_key(database: &str) -> String {
    format!("{database}/local-api-token")
}

/// A new bearer token: 32 random bytes from the operating system, as hex.
pub fn new_token() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::NoRandomness(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The operating system's keychain.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keychain;

impl Keychain {
    pub fn shared() -> Arc<dyn Secrets> {
        Arc::new(Keychain)
    }

    fn entry(key: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, key).map_err(classify)
    }
}

impl Secrets for Keychain {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError> {
        match Self::entry(key)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn set(&self, key: &str, secret: &str) -> Result<(), SecretError> {
        Self::entry(key)?.set_password(secret).map_err(classify)
    }

    fn delete(&self, key: &str) -> Result<(), SecretError> {
        match Self::entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

/// keyring's errors say what failed, never the secret itself.
fn classify(e: keyring::Error) -> SecretError {
    match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            SecretError::Unavailable(one_line(&inner.to_string()))
        }
        // keyring sets its store up once per process: no D-Bus session then
        // means no keychain for this process.
        keyring::Error::NoDefaultStore => SecretError::Unavailable(
            "no Secret Service was reachable when Outbox started (is a keyring running?)".into(),
        ),
        other => SecretError::Refused(one_line(&other.to_string())),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
