//! Provider rows (name, kind, non-secret settings), and what the AI jobs
//! record of their provider calls.

use super::{Durability, Store};
use crate::error::{Error, Result};
use crate::model::JobId;
use crate::providers::{ProviderKind, ProviderSettings, ProviderView};
use rusqlite::{params, OptionalExtension};

impl Store {
    pub(crate) fn add_provider(&self, view: &ProviderView, now: i64) -> Result<()> {
        let settings = serde_json::to_string(&view.settings)
            .map_err(|e| Error::InvalidSetting(format!("provider {:?}: {e}", view.name)))?;
        self.write(Durability::Full, |tx| {
            let inserted = tx.execute(
                "INSERT INTO providers (name, kind, settings, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![view.name, view.kind.as_str(), settings, now],
            )?;
            if inserted == 0 {
                return Err(Error::ProviderExists(view.name.clone()));
            }
            Ok(())
        })
    }

    /// New settings for an existing provider (queued jobs read them when
    /// they run; their cost stays as it was when they were queued).
    pub(crate) fn update_provider(&self, view: &ProviderView) -> Result<()> {
        let settings = serde_json::to_string(&view.settings)
            .map_err(|e| Error::InvalidSetting(format!("provider {:?}: {e}", view.name)))?;
        self.write(Durability::Full, |tx| {
            if let Some(cap) = view.settings.spending_cap {
                // A cap below what is paid already could never be met.
                let spent: f64 = tx.query_row(
                    "SELECT coalesce(sum(ai_cost), 0) FROM jobs INDEXED BY jobs_ai
                      WHERE ai_provider = ?1 AND ai_paid",
                    [&view.name],
                    |r| r.get(0),
                )?;
                if cap + 1e-9 < spent {
                    return Err(Error::InvalidSetting(format!(
                        "a spending cap of {cap:.2} is below the {spent:.2} {} has spent already; \
                         set at least {spent:.2}, or no cap",
                        view.name
                    )));
                }
            }
            let changed = tx.execute(
                "UPDATE providers SET kind = ?2, settings = ?3 WHERE name = ?1",
                params![view.name, view.kind.as_str(), settings],
            )?;
            if changed == 0 {
                return Err(Error::UnknownProvider(view.name.clone()));
            }
            if view.settings.spending_cap.is_none() {
                // Nothing is held back any more: the claims go on at once.
                tx.execute(
                    "UPDATE jobs SET error_class = NULL, error_message = NULL
                      WHERE ai_provider = ?1 AND state = 'pending'
                        AND error_message LIKE 'spending cap reached:%'",
                    [&view.name],
                )?;
            }
            Ok(())
        })
    }

    pub(crate) fn provider(&self, name: &str) -> Result<Option<ProviderView>> {
        self.read(|conn| {
            let row = conn
                .query_row(
                    "SELECT name, kind, settings FROM providers WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(parse_provider).transpose()
        })
    }

    /// When `name`'s pause ends, if its server asked for one (`Retry-After`)
    /// that has not ended by `now`.
    pub(crate) fn provider_cool_down(&self, name: &str, now: i64) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT cool_down_until FROM providers WHERE name = ?1 AND cool_down_until > ?2",
                )?
                .query_row(params![name, now], |r| r.get(0))
                .optional()?)
        })
    }

    pub(crate) fn providers(&self) -> Result<Vec<ProviderView>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT name, kind, settings FROM providers ORDER BY name")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(parse_provider).collect()
        })
    }

    /// Removes a provider no unfinished job waits for.
    pub(crate) fn remove_provider(&self, name: &str) -> Result<()> {
        self.write(Durability::Full, |tx| {
            let unfinished: u64 = tx.query_row(
                "SELECT count(*) FROM jobs INDEXED BY jobs_ai
                  WHERE ai_provider = ?1 AND state IN ('pending', 'processing', 'paused')",
                [name],
                |r| r.get(0),
            )?;
            if unfinished > 0 {
                return Err(Error::ProviderInUse {
                    name: name.to_string(),
                    jobs: unfinished,
                });
            }
            if tx.execute("DELETE FROM providers WHERE name = ?1", [name])? == 0 {
                return Err(Error::UnknownProvider(name.to_string()));
            }
            Ok(())
        })
    }

    /// The provider's image of `job` is saved: its cost counts as spent.
    pub(crate) fn mark_ai_paid(&self, job: JobId) -> Result<()> {
        self.write(Durability::Normal, |tx| {
            tx.execute("UPDATE jobs SET ai_paid = 1 WHERE id = ?1", params![job])?;
            Ok(())
        })
    }
}

fn parse_provider((name, kind, settings): (String, String, String)) -> Result<ProviderView> {
    let corrupt = |message: String| Error::CorruptProvider {
        name: name.clone(),
        message,
    };
    let kind: ProviderKind = serde_json::from_value(serde_json::Value::String(kind))
        .map_err(|e| corrupt(e.to_string()))?;
    let settings: ProviderSettings =
        serde_json::from_str(&settings).map_err(|e| corrupt(e.to_string()))?;
    Ok(ProviderView {
        name,
        kind,
        settings,
    })
}
