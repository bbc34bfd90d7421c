//! The durable queue: one SQLite file in WAL mode.
//!
//! Every statement that changes a job's state lives in this module's
//! submodules, and each checks its change against [`JobState::can_become`].
//!
//! Durability is chosen per statement class (see [`Durability`]): what the
//! user was told is saved survives power loss; what the worker can redo or
//! reconcile is committed without waiting for the disk.

mod claim;
mod control;
mod destinations;
mod enqueue;
mod feed;
mod providers;
mod query;
mod recipes;
mod retention;
mod review;
mod runs;
mod snapshots;

pub use claim::duplicate_of;
pub(crate) use claim::{ClaimRequest, Claimed, Finished, Generated, OutputRow, Recorded, Turn};
pub use control::RetryTarget;
pub(crate) use destinations::DestinationRow;
pub use enqueue::{source_key, Duplicate, NewItem};
pub(crate) use enqueue::{AiCall, EnqueueBatch, Enqueued};
pub(crate) use feed::FeedMark;
pub(crate) use retention::Cleaned;

use crate::error::{Error, Result};
use crate::model::JobState;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_partial_index_predicates.sql"),
    include_str!("migrations/0003_recipes.sql"),
    include_str!("migrations/0004_upload_steps.sql"),
    include_str!("migrations/0005_database_id.sql"),
    include_str!("migrations/0006_providers.sql"),
    include_str!("migrations/0007_review.sql"),
    include_str!("migrations/0008_attempts.sql"),
    include_str!("migrations/0009_cool_downs.sql"),
    include_str!("migrations/0010_job_changes.sql"),
];

/// How long a statement waits for another process's write lock before the
/// user is told the database is locked.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// When a commit returns, is the change on the disk?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `synchronous=FULL`: survives power loss. For what the user was told is
    /// saved (an enqueue, a retry, a cancel) and for generated outputs, which
    /// may have cost money.
    Full,
    /// `synchronous=NORMAL`: survives a crash of the app, not of the OS. For
    /// claims and completions: after power loss a lost claim is pending again
    /// and a lost completion is reconciled with the destination.
    Normal,
}

pub(crate) struct Store {
    path: PathBuf,
    /// SQLite has one writer at a time anyway; one connection serves them.
    writer: Mutex<Connection>,
    /// Reads (status, history) never wait for a write in WAL mode.
    reader: Mutex<Connection>,
}

impl Store {
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Store> {
        check_header(path)?;
        let writer = connect(path, busy_timeout)?;
        migrate(&writer, path)?;
        let reader = connect(path, busy_timeout)?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one immediate write transaction.
    pub(crate) fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let full = durability == Durability::Full;
        if full {
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(|e| self.classify(e))?;
        }
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.classify(e))?;
            let value = f(&tx).map_err(|e| self.reclassify(e))?;
            tx.commit().map_err(|e| self.classify(e))?;
            Ok(value)
        })();
        if full {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(|e| self.classify(e))?;
        }
        result
    }

    /// SQLite's `data_version` on the writer: it moves only when another
    /// connection commits, and this process's other connection never writes,
    /// so a change means another process (the command line, a second worker)
    /// changed the queue.
    pub(crate) fn foreign_commits(&self) -> Result<i64> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.classify(e))
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|e| self.reclassify(e))
    }

    fn classify(&self, e: rusqlite::Error) -> Error {
        classify(e, &self.path)
    }

    fn reclassify(&self, e: Error) -> Error {
        match e {
            Error::Sqlite(inner) => self.classify(inner),
            other => other,
        }
    }
}

/// A file that is not SQLite's is refused before SQLite opens it: SQLite
/// would take a `-wal` beside it for an empty log and delete it on close,
/// and the damaged database is to be kept as it is, with its log.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        // Missing: made by the first connection; unreadable: SQLite says why.
        Err(_) => return Ok(()),
    };
    let mut header = Vec::with_capacity(MAGIC.len());
    file.by_ref()
        .take(MAGIC.len() as u64)
        .read_to_end(&mut header)
        .map_err(|e| Error::io("read the database", path, e))?;
    if header.is_empty() || header == MAGIC {
        Ok(())
    } else {
        Err(Error::CorruptDatabase {
            path: path.to_path_buf(),
            reason: "file is not a database".into(),
        })
    }
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| classify(e, path))?;
    // journal_mode reads the file header: a damaged file or a foreign one is
    // reported here, before anything is written.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| classify(e, path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode; the queue works but is slower");
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;")
        .map_err(|e| classify(e, path))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| classify(e, path))?;
    if found > known {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    if found == 0 {
        // A file with tables but no version is someone else's database.
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| classify(e, path))?;
        if tables > 0 {
            return Err(Error::CorruptDatabase {
                path: path.to_path_buf(),
                reason: "it holds tables Outbox did not make".into(),
            });
        }
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}\n; PRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            classify(e, path)
        })?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

/// Turns SQLite's codes into the errors a user can act on.
pub(crate) fn classify(e: rusqlite::Error, path: &Path) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, ref message) = e {
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::DatabaseLocked {
                    path: path.to_path_buf(),
                }
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return Error::CorruptDatabase {
                    path: path.to_path_buf(),
                    reason: message.clone().unwrap_or_else(|| failure.to_string()),
                }
            }
            ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                // SQLite says "unable to open database file"; the file system
                // says why (a read-only mount, permissions).
                let cause = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .err()
                    .filter(|e| {
                        matches!(
                            e.kind(),
                            std::io::ErrorKind::ReadOnlyFilesystem
                                | std::io::ErrorKind::PermissionDenied
                        )
                    });
                return Error::io(
                    "open the database",
                    path,
                    cause.unwrap_or_else(|| {
                        std::io::Error::other(
                            message.clone().unwrap_or_else(|| failure.to_string()),
                        )
                    }),
                );
            }
            ErrorCode::DiskFull => {
                return Error::io(
                    "write to the database",
                    path,
                    std::io::Error::new(std::io::ErrorKind::StorageFull, "the disk is full"),
                )
            }
            _ => {}
        }
    }
    Error::Sqlite(e)
}

/// Checks a state change against the state machine before a statement makes it.
pub(crate) fn check_transition(job: i64, from: JobState, to: JobState) -> Result<()> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(Error::InvalidTransition { job, from, to })
    }
}

/// Reads a state column; a value the machine does not know is a damaged file.
pub(crate) fn state_from_sql(s: &str) -> rusqlite::Result<JobState> {
    JobState::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown job state {s:?}").into(),
        )
    })
}
