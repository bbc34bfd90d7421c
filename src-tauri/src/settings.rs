//! The user's settings, kept with tauri-plugin-store in `settings.json` in the
//! data folder. Destinations and recipes live in the engine's database (the
//! command line shares them); secrets live in the OS keychain, never here.

use crate::error::CommandError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;

const KEY: &str = "settings";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Uploads at once.
    pub concurrency: u32,
    /// Automatic attempts per job before it fails.
    pub max_attempts: u32,
    /// Outputs go to their destination without waiting for the user.
    pub auto_accept: bool,
    /// Where new items go (`None`: the default folder).
    pub destination: Option<String>,
    /// What new items are made with (`None`: `web`).
    pub recipe: Option<String>,
    /// New batches' priority (higher goes first).
    pub priority: i64,
    /// New batches are delivered strictly in order.
    pub sequential: bool,
    /// Links put on the clipboard as uploads end: `off`, `url`, `markdown`,
    /// `html`, `bbcode` or `template` (the window formats them).
    pub copy_links: String,
    /// Each upload's link as it ends (`each`), or a batch's links together
    /// when the batch ends (`batch`).
    pub copy_links_when: String,
    /// The `template` format: `{url}`, `{name}` and `{alt}` are filled in.
    pub link_template: String,
    /// A closed window leaves Outbox in the tray even when the queue is
    /// idle (by default it quits once the work is done).
    pub stay_in_tray: bool,
    /// Programs on this computer may send images over HTTP (the local API,
    /// `/v1`, with a bearer token), on 127.0.0.1 and ::1 only.
    pub api_enabled: bool,
    pub api_port: u16,
    /// The PicGo protocol (`POST /upload`, no token), which Markdown editors
    /// speak to a local uploader.
    pub picgo_enabled: bool,
    pub picgo_port: u16,
}

const LINK_FORMATS: &[&str] = &["off", "url", "markdown", "html", "bbcode", "template"];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 3,
            max_attempts: 5,
            auto_accept: true,
            destination: None,
            recipe: None,
            priority: 0,
            sequential: false,
            copy_links: "off".into(),
            copy_links_when: "each".into(),
            link_template: "{url}".into(),
            stay_in_tray: false,
            api_enabled: false,
            api_port: outbox_local_api::DEFAULT_PORT,
            picgo_enabled: false,
            picgo_port: outbox_local_api::PICGO_PORT,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), CommandError> {
        if !(1..=32).contains(&self.concurrency) {
            return Err(CommandError::Invalid(
                "uploads at once must be between 1 and 32".into(),
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(CommandError::Invalid(
                "attempts must be between 1 and 100".into(),
            ));
        }
        if !(-100..=100).contains(&self.priority) {
            return Err(CommandError::Invalid(
                "priority must be between -100 and 100".into(),
            ));
        }
        if !LINK_FORMATS.contains(&self.copy_links.as_str()) {
            return Err(CommandError::Invalid(format!(
                "copied links are one of {}, not {:?}",
                LINK_FORMATS.join(", "),
                self.copy_links
            )));
        }
        if !["each", "batch"].contains(&self.copy_links_when.as_str()) {
            return Err(CommandError::Invalid(
                "links are copied for each upload or for each batch".into(),
            ));
        }
        if self.copy_links == "template" && !self.link_template.contains("{url}") {
            return Err(CommandError::Invalid(
                "the link template needs {url}, where the link goes".into(),
            ));
        }
        // Below 1024 a port needs root; 0 would be a different one each launch.
        for (port, what) in [(self.api_port, "the API's"), (self.picgo_port, "PicGo's")] {
            if port < 1024 {
                return Err(CommandError::Invalid(format!(
                    "{what} port must be between 1024 and 65535, not {port}"
                )));
            }
        }
        if self.api_enabled && self.picgo_enabled && self.api_port == self.picgo_port {
            return Err(CommandError::Invalid(format!(
                "the API and PicGo need ports of their own ({} is both)",
                self.api_port
            )));
        }
        Ok(())
    }
}

fn file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("settings.json")
}

/// The saved settings; defaults when none are saved, and when the saved ones
/// cannot be read (said in the log, and replaced at the next save).
pub fn load<R: Runtime>(app: &AppHandle<R>, data_dir: &Path) -> Settings {
    let store = match app.store(file(data_dir)) {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!("cannot open the settings file, using defaults: {e}");
            return Settings::default();
        }
    };
    match store.get(KEY).map(serde_json::from_value::<Settings>) {
        Some(Ok(settings)) if settings.validate().is_ok() => settings,
        Some(_) => {
            tracing::warn!("the saved settings are not valid, using defaults");
            Settings::default()
        }
        None => Settings::default(),
    }
}

pub fn save<R: Runtime>(
    app: &AppHandle<R>,
    data_dir: &Path,
    settings: &Settings,
) -> Result<(), CommandError> {
    settings.validate()?;
    let store = app
        .store(file(data_dir))
        .map_err(|e| CommandError::Shell(format!("cannot open the settings file: {e}")))?;
    let value = serde_json::to_value(settings)
        .map_err(|e| CommandError::Shell(format!("cannot write the settings: {e}")))?;
    store.set(KEY, value);
    store
        .save()
        .map_err(|e| CommandError::Shell(format!("cannot save the settings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_auto_accept_and_are_valid() {
        let s = Settings::default();
        assert!(s.auto_accept);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn link_copying_settings_are_checked() {
        let bad_format = Settings {
            copy_links: "rtf".into(),
            ..Settings::default()
        };
        assert!(bad_format
            .validate()
            .unwrap_err()
            .to_string()
            .contains("markdown"));
        let no_url = Settings {
            copy_links: "template".into(),
            link_template: "<{name}>".into(),
            ..Settings::default()
        };
        assert!(no_url.validate().unwrap_err().to_string().contains("{url}"));
        let when = Settings {
            copy_links_when: "hourly".into(),
            ..Settings::default()
        };
        assert!(when.validate().is_err());
        let priority = Settings {
            priority: 101,
            ..Settings::default()
        };
        assert!(priority
            .validate()
            .unwrap_err()
            .to_string()
            .contains("-100 and 100"));
        // Settings saved before these fields existed still load.
        let old: Settings =
            serde_json::from_str(r#"{"concurrency": 2, "max_attempts": 3, "auto_accept": false}"#)
                .unwrap();
        assert_eq!(old.copy_links, "off");
        assert!(old.validate().is_ok());
    }

    #[test]
    fn out_of_range_numbers_are_refused_with_the_range() {
        let zero = Settings {
            concurrency: 0,
            ..Settings::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("between 1 and 32"));
        let many = Settings {
            max_attempts: 1000,
            ..Settings::default()
        };
        assert!(many
            .validate()
            .unwrap_err()
            .to_string()
            .contains("between 1 and 100"));
    }

    #[test]
    fn the_local_api_is_off_by_default_and_its_ports_are_checked() {
        let s = Settings::default();
        assert!(!s.api_enabled && !s.picgo_enabled);
        assert_eq!((s.api_port, s.picgo_port), (36680, 36677));
        let low = Settings {
            api_port: 80,
            ..Settings::default()
        };
        assert!(low
            .validate()
            .unwrap_err()
            .to_string()
            .contains("between 1024 and 65535, not 80"));
        let same = Settings {
            api_enabled: true,
            picgo_enabled: true,
            picgo_port: 36680,
            ..Settings::default()
        };
        assert!(same
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ports of their own"));
        // The same number is fine while one of the two is off.
        let one_on = Settings {
            api_enabled: true,
            picgo_port: 36680,
            ..Settings::default()
        };
        assert!(one_on.validate().is_ok());
    }

    #[test]
    fn missing_fields_in_a_saved_file_take_their_defaults() {
        let s: Settings = serde_json::from_str(r#"{"auto_accept": false}"#).expect("parse");
        assert!(!s.auto_accept);
        assert_eq!(s.concurrency, Settings::default().concurrency);
    }
}
