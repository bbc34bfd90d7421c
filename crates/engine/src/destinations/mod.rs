//! Where outputs go. A destination delivers one output and, after a run died
//! mid-upload, tells whether that output already arrived ([`Destination::reconcile`]),
//! so an interrupted upload is never blindly sent twice.

mod folder;

pub use folder::FolderDestination;

use crate::model::{ErrorClass, JobId, Remote};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One output on its way to one destination.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub job_id: JobId,
    /// The name to deliver it under.
    pub file_name: String,
    pub mime: String,
    pub size: u64,
    /// BLAKE3 of the bytes: lets a destination recognise its own earlier copy.
    pub hash: [u8; 32],
    /// The output file in the data folder (fsynced).
    pub path: PathBuf,
    /// The same bytes, when they are still in memory.
    pub bytes: Option<Arc<[u8]>>,
}

impl Delivery {
    /// The first 16 hex digits of the content hash.
    pub fn short_hash(&self) -> String {
        self.hash[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A failed delivery: what went wrong, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub class: ErrorClass,
    pub message: String,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        DeliveryError {
            class,
            message: message.into(),
            retry_after: None,
        }
    }
}

pub trait Destination: Send + Sync + 'static {
    /// Delivers the output; returns where it is now.
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>>;

    /// After an interrupted upload: is this output there already?
    fn reconcile<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>>;
}

/// A destination's settings as frozen into a job when it was queued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DestinationSnapshot {
    pub name: String,
    pub kind: String,
    pub settings: serde_json::Value,
}

/// Builds the destination a frozen snapshot describes.
pub trait ResolveDestination: Send + Sync + 'static {
    fn resolve(
        &self,
        snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError>;
}

/// The destination kinds Outbox ships.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinDestinations;

impl ResolveDestination for BuiltinDestinations {
    fn resolve(
        &self,
        snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError> {
        match snapshot.kind.as_str() {
            "folder" => Ok(Arc::new(FolderDestination::from_settings(
                &snapshot.settings,
            )?)),
            other => Err(DeliveryError::new(
                ErrorClass::Permanent,
                format!(
                    "destination {:?} has an unknown kind {other:?}",
                    snapshot.name
                ),
            )),
        }
    }
}

/// Checks a new destination's settings before they are saved.
pub fn validate_settings(kind: &str, settings: &serde_json::Value) -> Result<(), String> {
    match kind {
        "folder" => FolderDestination::from_settings(settings)
            .map(|_| ())
            .map_err(|e| e.message),
        other => Err(format!(
            "unknown destination kind {other:?}; the kinds are: folder"
        )),
    }
}
