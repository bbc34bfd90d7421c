//! Saved recipes: a name and the recipe as JSON.

use super::{Durability, Store};
use crate::error::Result;
use crate::recipe::Recipe;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Saves `recipe` under its name, replacing one saved before.
    pub(crate) fn save_recipe(&self, recipe: &Recipe, json: &str, now: i64) -> Result<()> {
        self.write(Durability::Full, |tx| {
            tx.execute(
                "INSERT INTO recipes (name, json, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET json = excluded.json,
                                                  updated_at = excluded.updated_at",
                params![recipe.name, json, now],
            )?;
            Ok(())
        })
    }

    /// The saved recipe's JSON.
    pub(crate) fn recipe_json(&self, name: &str) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT json FROM recipes WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    /// Every saved recipe's name and JSON, by name.
    pub(crate) fn recipes_json(&self) -> Result<Vec<(String, String)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT name, json FROM recipes ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Removes a saved recipe; says whether there was one.
    pub(crate) fn remove_recipe(&self, name: &str) -> Result<bool> {
        self.write(Durability::Full, |tx| {
            Ok(tx.execute("DELETE FROM recipes WHERE name = ?1", [name])? > 0)
        })
    }

    /// This database's random id (see migration 0005).
    pub(crate) fn database_id(&self) -> Result<String> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT value FROM meta WHERE name = 'database_id'",
                [],
                |r| r.get(0),
            )?)
        })
    }
}
