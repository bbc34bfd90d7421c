//! Frozen settings: recipes and destination settings as they were when a job
//! was queued. Content-addressed, so identical settings share one row.

use crate::error::Result;
use rusqlite::{params, OptionalExtension, Transaction};

pub(crate) const RECIPE: &str = "recipe";
pub(crate) const DESTINATION: &str = "destination";

/// The id of the snapshot holding exactly `json`, made if it is new.
pub(crate) fn intern(tx: &Transaction<'_>, kind: &str, json: &str) -> Result<i64> {
    let existing = tx
        .prepare_cached("SELECT id FROM snapshots WHERE kind = ?1 AND json = ?2")?
        .query_row(params![kind, json], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO snapshots (kind, json) VALUES (?1, ?2)")?
        .execute(params![kind, json])?;
    Ok(tx.last_insert_rowid())
}
