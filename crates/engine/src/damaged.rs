//! A damaged database is never replaced behind the user's back: when they
//! agree, it is kept under another name, with its `-wal` and `-shm`, and the
//! next open starts a fresh, empty queue beside it.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `PATH` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the database `db` and its `-wal` and `-shm` to
/// `NAME.damaged-<unix-ms>` (the kept copy opens as one database again) and
/// returns the kept database's path. No engine may have `db` open.
pub fn set_aside(db: &Path) -> Result<PathBuf> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let kept = with_suffix(db, &format!(".damaged-{ms}"));
    if kept.exists() {
        return Err(Error::io(
            "keep the damaged database",
            &kept,
            std::io::Error::new(ErrorKind::AlreadyExists, "exists already; try again"),
        ));
    }
    // The journal files first: a -wal left beside a fresh database would be
    // replayed into it.
    for suffix in ["-wal", "-shm"] {
        let (from, to) = (with_suffix(db, suffix), with_suffix(&kept, suffix));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("move the damaged database aside", &from, e)),
        }
    }
    std::fs::rename(db, &kept).map_err(|e| Error::io("move the damaged database aside", db, e))?;
    // The renames reach the disk before a fresh database is made beside them.
    if let Some(dir) = db.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync", dir, e))?;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_and_its_journal_files_are_kept_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outbox.sqlite3");
        for (suffix, bytes) in [("", "damaged"), ("-wal", "log"), ("-shm", "index")] {
            std::fs::write(with_suffix(&db, suffix), bytes).unwrap();
        }
        let kept = set_aside(&db).unwrap();
        assert!(!db.exists() && !with_suffix(&db, "-wal").exists());
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "damaged");
        assert_eq!(
            std::fs::read_to_string(with_suffix(&kept, "-wal")).unwrap(),
            "log"
        );
        assert_eq!(
            std::fs::read_to_string(with_suffix(&kept, "-shm")).unwrap(),
            "index"
        );
    }
}
