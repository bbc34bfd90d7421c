//! Where Outbox keeps its files: the data folder (database, generated outputs,
//! run locks) and the default delivery folder.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The desktop app's bundle identifier. Tauri puts the app's data in
/// `$XDG_DATA_HOME/<identifier>`, so the command line uses the same folder
/// and both share one queue.
pub const APP_IDENTIFIER: &str = "app.outbox.desktop";

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "OUTBOX_DATA_DIR";

/// The data folder: an explicit choice, then `OUTBOX_DATA_DIR`, then the XDG
/// data folder the desktop app uses.
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir()
        .map(|d| d.join(APP_IDENTIFIER))
        .ok_or(Error::NoDataDir)
}

/// `~/Pictures/Outbox` (XDG Pictures folder): where outputs go when the user
/// has configured nothing.
pub fn default_delivery_folder() -> Result<PathBuf> {
    dirs::picture_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join("Pictures")))
        .map(|p| p.join("Outbox"))
        .ok_or(Error::NoPicturesDir)
}

/// The files inside a data folder.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn create(root: PathBuf) -> Result<Self> {
        let dir = DataDir { root };
        for sub in [dir.root.clone(), dir.outputs(), dir.runs()] {
            std::fs::create_dir_all(&sub).map_err(|e| Error::io("create the folder", &sub, e))?;
        }
        Ok(dir)
    }

    /// The data folder at `root`, as it is (nothing is created).
    pub(crate) fn existing(root: PathBuf) -> Self {
        DataDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("outbox.sqlite3")
    }

    pub fn outputs(&self) -> PathBuf {
        self.root.join("outputs")
    }

    /// Images pasted from the clipboard, kept as files for their jobs.
    pub fn pasted(&self) -> PathBuf {
        self.root.join("pasted")
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The images an AI provider made for `job` (paid for: kept until the
    /// job is cleaned, and reused by its retries).
    pub fn ai_images(&self, job: crate::model::JobId) -> PathBuf {
        self.outputs().join("ai").join(job.to_string())
    }

    /// Images downloaded by an import, named by their content.
    pub fn imports(&self) -> PathBuf {
        self.root.join("imports")
    }
}
