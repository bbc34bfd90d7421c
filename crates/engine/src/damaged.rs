//! A damaged database is never replaced behind the user's back: when they
//! agree, it is kept under another name, with its `-wal` and `-shm` and the
//! outputs its jobs made, and the next open starts a fresh, empty queue
//! beside it.

use crate::error::{Error, Result};
use crate::paths::DataDir;
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
/// `NAME.damaged-<unix-ms>` (the kept copy opens as one database again), and
/// the data folder's `outputs` to `outputs.damaged-<unix-ms>`: a fresh queue
/// gives job ids from 1 again, and a job's files are named by its id (an old
/// job's output or paid AI image must never pass for a new job's). Returns
/// the kept database's path. No engine may have `db` open.
pub fn set_aside(db: &Path) -> Result<PathBuf> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let suffix = format!(".damaged-{ms}");
    let kept = with_suffix(db, &suffix);
    if kept.exists() {
        return Err(Error::io(
            "keep the damaged database",
            &kept,
            std::io::Error::new(ErrorKind::AlreadyExists, "exists already; try again"),
        ));
    }
    let dir = db.parent().unwrap_or(Path::new("."));
    // The journal files first, on disk before the database moves: a -wal
    // left beside a fresh database would be replayed into it.
    for journal in ["-wal", "-shm"] {
        move_if_there(&with_suffix(db, journal), &with_suffix(&kept, journal))?;
    }
    sync_dir(dir)?;
    std::fs::rename(db, &kept).map_err(|e| Error::io("move the damaged database aside", db, e))?;
    let outputs = DataDir::existing(dir.to_path_buf()).outputs();
    move_if_there(&outputs, &with_suffix(&outputs, &suffix))?;
    // The renames reach the disk before a fresh database is made beside them.
    sync_dir(dir)?;
    Ok(kept)
}

fn move_if_there(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("move the damaged database aside", from, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_its_journal_files_and_its_outputs_are_kept_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outbox.sqlite3");
        for (suffix, bytes) in [("", "damaged"), ("-wal", "log"), ("-shm", "index")] {
            std::fs::write(with_suffix(&db, suffix), bytes).unwrap();
        }
        std::fs::create_dir(dir.path().join("outputs")).unwrap();
        std::fs::write(dir.path().join("outputs").join("1.jpg"), "old job 1").unwrap();
        let kept = set_aside(&db).unwrap();
        assert!(!db.exists() && !with_suffix(&db, "-wal").exists());
        assert!(!dir.path().join("outputs").exists());
        let suffix = kept
            .to_string_lossy()
            .rsplit_once(".damaged-")
            .unwrap()
            .1
            .to_string();
        let old_outputs = dir.path().join(format!("outputs.damaged-{suffix}"));
        assert_eq!(
            std::fs::read_to_string(old_outputs.join("1.jpg")).unwrap(),
            "old job 1"
        );
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
