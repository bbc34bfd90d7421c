//! The engine's errors: each says in one sentence what went wrong and, where
//! there is one, what the user can do about it.

use crate::model::{JobId, JobState};
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the database {path} is damaged or is not an Outbox database ({reason}); move it aside to start afresh (Outbox never overwrites it)")]
    CorruptDatabase { path: PathBuf, reason: String },

    #[error("the database {path} is locked by another process; try again when it has finished")]
    DatabaseLocked { path: PathBuf },

    #[error("the database {path} was written by a newer Outbox (schema {found}, this one knows up to {known}); update Outbox")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no destination named {0:?}; `outbox dest list` shows the ones there are")]
    UnknownDestination(String),

    #[error("a destination named {0:?} exists already")]
    DestinationExists(String),

    #[error(
        "destination {name:?} still has {jobs} unfinished job(s); cancel or finish them first"
    )]
    DestinationInUse { name: String, jobs: u64 },

    #[error("no recipe named {name:?}; the recipes are: {known}")]
    UnknownRecipe { name: String, known: String },

    #[error("{0:?} is a built-in recipe; save yours under another name")]
    BuiltinRecipe(String),

    #[error("the saved recipe {name:?} is unreadable: {message}")]
    CorruptRecipe { name: String, message: String },

    #[error("no AI provider named {0:?}; `outbox provider list` shows the ones there are")]
    UnknownProvider(String),

    #[error("an AI provider named {0:?} exists already")]
    ProviderExists(String),

    #[error(
        "AI provider {name:?} still has {jobs} unfinished job(s); cancel or finish them first"
    )]
    ProviderInUse { name: String, jobs: u64 },

    #[error("the saved AI provider {name:?} is unreadable: {message}")]
    CorruptProvider { name: String, message: String },

    #[error("{0}")]
    ProviderCheck(String),

    #[error("cannot import {path}: {message}")]
    Manifest { path: PathBuf, message: String },

    #[error("the prompt cannot be filled: {0}")]
    Prompt(String),

    #[error("{0}")]
    Keychain(#[from] crate::secrets::SecretError),

    /// A destination's test failed: what is wrong, and the setting to fix
    /// when one is to blame (a field of its kind's form, or `"secret"`).
    #[error("{message}")]
    DestinationCheck {
        message: String,
        field: Option<&'static str>,
    },

    #[error("invalid setting: {0}")]
    InvalidSetting(String),

    #[error("no job {0}")]
    NoSuchJob(JobId),

    #[error("cannot preview job {job}: {message}")]
    Preview { job: JobId, message: String },
    #[error("cannot add the pasted image: {0}")]
    Pasted(String),
    #[error("no batch {0}")]
    NoSuchBatch(i64),

    #[error("job {job} is {from}; it cannot become {to}")]
    InvalidTransition {
        job: JobId,
        from: JobState,
        to: JobState,
    },

    #[error("job {job} cannot be retried: the same content is already queued or delivered as job {existing}")]
    RetryWouldDuplicate { job: JobId, existing: JobId },

    #[error("no data folder: set OUTBOX_DATA_DIR or pass --data-dir")]
    NoDataDir,

    #[error("no Pictures folder to put the default Outbox folder in; add a folder destination with `outbox dest add NAME --kind folder --path DIR`")]
    NoPicturesDir,
}

impl Error {
    /// The setting a failed destination test blames, if any (see
    /// [`Error::DestinationCheck`]).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::DestinationCheck { field, .. } => *field,
            _ => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
