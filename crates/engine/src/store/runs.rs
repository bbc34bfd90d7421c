//! Worker runs and crash recovery in constant time.
//!
//! A worker process registers a run and holds an OS lock on the run's lock
//! file for as long as it lives; the OS releases the lock when the process
//! dies, however it dies. Recovery is then: find runs whose lock is free and
//! mark them dead (a few rows, whatever the number of jobs). Their jobs stay
//! `processing` and are claimed again as orphans ([`super::claim`]), which is
//! where an interrupted upload is marked for reconciliation.

use super::{Durability, Store};
use crate::error::{Error, Result};
use rusqlite::params;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// This process's run; its lock is held until it is dropped.
#[derive(Debug)]
pub(crate) struct RunLock {
    pub id: i64,
    path: PathBuf,
    _file: File,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove before unlocking: a reaper that sees no file treats the run
        // as dead only once its row says it ended or its lock is free.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_path(runs_dir: &Path, id: i64) -> PathBuf {
    runs_dir.join(format!("run-{id}.lock"))
}

impl Store {
    /// Registers a run. Its lock file is locked before its row is committed, so
    /// no reaper can ever see a live run without its lock.
    pub(crate) fn start_run(&self, runs_dir: &Path, now: i64) -> Result<RunLock> {
        self.write(Durability::Normal, |tx| {
            tx.execute(
                "INSERT INTO runs (pid, started_at) VALUES (?1, ?2)",
                params![std::process::id(), now],
            )?;
            let id = tx.last_insert_rowid();
            let path = lock_path(runs_dir, id);
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("create the run lock", &path, e))?;
            file.try_lock()
                .map_err(|e| Error::io("lock", &path, std::io::Error::other(e.to_string())))?;
            Ok(RunLock {
                id,
                path,
                _file: file,
            })
        })
    }

    /// A run that stopped cleanly: nothing of it is left to recover.
    pub(crate) fn end_run(&self, run: &RunLock) -> Result<()> {
        self.write(Durability::Normal, |tx| {
            tx.execute("UPDATE runs SET dead = 1 WHERE id = ?1", [run.id])?;
            Ok(())
        })
    }

    /// Marks the runs whose process is gone as dead, and forgets dead runs
    /// that have no orphans left. Returns how many runs were found dead.
    pub(crate) fn reap_dead_runs(&self, runs_dir: &Path, me: i64) -> Result<usize> {
        let live: Vec<i64> = self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id FROM runs WHERE dead = 0 AND id <> ?1")?;
            let ids = stmt.query_map([me], |r| r.get(0))?;
            Ok(ids.collect::<rusqlite::Result<Vec<i64>>>()?)
        })?;
        let dead: Vec<i64> = live
            .into_iter()
            .filter(|&id| !is_locked(&lock_path(runs_dir, id)))
            .collect();
        self.write(Durability::Normal, |tx| {
            for id in &dead {
                tx.execute("UPDATE runs SET dead = 1 WHERE id = ?1", [id])?;
            }
            tx.execute(
                "DELETE FROM runs WHERE dead = 1 AND NOT EXISTS
                   (SELECT 1 FROM jobs WHERE state = 'processing' AND run_id = runs.id)",
                [],
            )?;
            Ok(())
        })?;
        for id in &dead {
            let _ = std::fs::remove_file(lock_path(runs_dir, *id));
        }
        if !dead.is_empty() {
            tracing::info!(runs = ?dead, "found runs that stopped without finishing; their jobs will be recovered");
        }
        Ok(dead.len())
    }
}

/// Whether some process holds the lock on `path`. A missing file is a run
/// that never got going or ended: not locked.
fn is_locked(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().write(true).open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}
