//! `outbox repair --fresh-database`: a damaged database is never replaced
//! behind the user's back; when they ask, it is kept under another name and
//! a fresh one is started.

use crate::cli::RepairArgs;
use anyhow::{bail, Result};
use outbox_engine::{Engine, Error};
use std::process::ExitCode;

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
    let kept = outbox_engine::damaged::set_aside(&path)?;
    let engine = open()?;
    println!(
        "the damaged database ({reason}) is kept as {}, its outputs beside it; started a fresh, empty queue in {} (add your destinations again)",
        kept.display(),
        engine.database_path().display()
    );
    Ok(ExitCode::SUCCESS)
}
