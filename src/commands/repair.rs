//! `outbox repair --fresh-database`: a damaged database is never replaced
//! behind the user's back; when they ask, it is kept under another name and
//! a fresh one is started.

use crate::cli::RepairArgs;
use anyhow::{bail, Context, Result};
use outbox_engine::{Engine, Error};
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn run(
    args: &RepairArgs,
    open: impl Fn() -> outbox_engine::Result<Engine>,
) -> Result<ExitCode> {
    debug_assert!(args.fresh_database, "clap requires the flag");
    // Damage in the header is found by opening; damage deeper in the file by
    // reading every page. The engine is dropped before the file is moved.
    let (path, reason) = match open() {
        Ok(engine) => match engine.check_database() {
            Ok(()) => bail!(
                "the database {} is sound; nothing was changed",
                engine.database_path().display()
            ),
            Err(Error::CorruptDatabase { path, reason }) => (path, reason),
            Err(e) => return Err(e.into()),
        },
        Err(Error::CorruptDatabase { path, reason }) => (path, reason),
        Err(e) => return Err(e.into()),
    };
    let kept = set_aside(&path)?;
    let engine = open()?;
    println!(
        "the damaged database ({reason}) is kept as {}; started a fresh, empty queue in {} (add your destinations again)",
        kept.display(),
        engine.database_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `PATH` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the database and its `-wal` and `-shm` to
/// `NAME.damaged-<unix-ms>` (the kept copy opens as one database again).
fn set_aside(db: &Path) -> Result<PathBuf> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_millis();
    let kept = with_suffix(db, &format!(".damaged-{ms}"));
    if kept.exists() {
        bail!("{} exists already; try again", kept.display());
    }
    // The journal files first: a -wal left beside a fresh database would be
    // replayed into it.
    for suffix in ["-wal", "-shm"] {
        let (from, to) = (with_suffix(db, suffix), with_suffix(&kept, suffix));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot move {} aside", from.display()))
            }
        }
    }
    std::fs::rename(db, &kept).with_context(|| format!("cannot move {} aside", db.display()))?;
    // The renames reach the disk before a fresh database is made beside them.
    if let Some(dir) = db.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    Ok(kept)
}
