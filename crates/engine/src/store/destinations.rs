//! Destination rows: name, kind and non-secret settings.

use super::Store;
use crate::error::{Error, Result};
use crate::model::DestinationView;
use rusqlite::{params, OptionalExtension};

/// A destination as the enqueue needs it: its id and its frozen settings.
#[derive(Clone, Debug)]
pub(crate) struct DestinationRow {
    pub id: i64,
    pub view: DestinationView,
}

impl DestinationRow {
    /// The settings a job freezes: everything that decides where it goes.
    pub(crate) fn snapshot_json(&self) -> String {
        serde_json::json!({
            "name": self.view.name,
            "kind": self.view.kind,
            "settings": self.view.settings,
        })
        .to_string()
    }
}

impl Store {
    pub(crate) fn add_destination(&self, view: &DestinationView, now: i64) -> Result<()> {
        self.write(super::Durability::Full, |tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT id FROM destinations WHERE name = ?1",
                    [&view.name],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(Error::DestinationExists(view.name.clone()));
            }
            tx.execute(
                "INSERT INTO destinations (name, kind, settings, max_concurrent, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    view.name,
                    view.kind,
                    view.settings.to_string(),
                    view.max_concurrent,
                    now
                ],
            )?;
            Ok(())
        })
    }

    /// New settings for an existing destination. Queued jobs keep the
    /// settings they froze when they were queued.
    pub(crate) fn update_destination(&self, view: &DestinationView) -> Result<()> {
        self.write(super::Durability::Full, |tx| {
            let changed = tx.execute(
                "UPDATE destinations SET kind = ?2, settings = ?3, max_concurrent = ?4 WHERE name = ?1",
                params![
                    view.name,
                    view.kind,
                    view.settings.to_string(),
                    view.max_concurrent
                ],
            )?;
            if changed == 0 {
                return Err(Error::UnknownDestination(view.name.clone()));
            }
            Ok(())
        })
    }

    pub(crate) fn destination(&self, name: &str) -> Result<Option<DestinationRow>> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT id, name, kind, settings, max_concurrent FROM destinations WHERE name = ?1",
                    [name],
                    row_to_destination,
                )
                .optional()?)
        })
    }

    pub(crate) fn destinations(&self) -> Result<Vec<DestinationRow>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, name, kind, settings, max_concurrent FROM destinations ORDER BY name",
            )?;
            let rows = stmt.query_map([], row_to_destination)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub(crate) fn remove_destination(&self, name: &str) -> Result<()> {
        self.write(super::Durability::Full, |tx| {
            let id: i64 = tx
                .query_row("SELECT id FROM destinations WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| Error::UnknownDestination(name.to_string()))?;
            let unfinished: u64 = tx.query_row(
                "SELECT count(*) FROM jobs WHERE destination_id = ?1
                   AND state IN ('pending', 'processing', 'paused')",
                [id],
                |r| r.get(0),
            )?;
            if unfinished > 0 {
                return Err(Error::DestinationInUse {
                    name: name.to_string(),
                    jobs: unfinished,
                });
            }
            tx.execute("DELETE FROM destinations WHERE id = ?1", [id])?;
            Ok(())
        })
    }
}

fn row_to_destination(r: &rusqlite::Row<'_>) -> rusqlite::Result<DestinationRow> {
    let settings: String = r.get(3)?;
    Ok(DestinationRow {
        id: r.get(0)?,
        view: DestinationView {
            name: r.get(1)?,
            kind: r.get(2)?,
            settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
            max_concurrent: r.get(4)?,
        },
    })
}
