//! One app per queue. A second launch on the same data folder (a file
//! manager's "Open with", `outbox-desktop photo.jpg`) hands its file
//! arguments to the running app, which brings its window forward and adds
//! them, and exits; two apps never share a database. The D-Bus name carries
//! the data folder, so apps on different queues (another user's, a test's)
//! run side by side.

use outbox_engine::paths::APP_IDENTIFIER;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Emitter, Manager, Wry};

/// The webview event that carries paths to add.
pub const OPEN_PATHS: &str = "open-paths";

/// The paths this launch was given, until the window takes them.
#[derive(Default)]
pub struct LaunchPaths(pub Mutex<Vec<PathBuf>>);

pub fn plugin(data_dir: &Path) -> TauriPlugin<Wry> {
    tauri_plugin_single_instance::Builder::new()
        .dbus_id(bus_name(data_dir))
        .callback(|app, argv, cwd| handed_over(app, &argv, Path::new(&cwd)))
        .build()
}

/// A second launch's arguments, in the running app.
fn handed_over(app: &AppHandle, argv: &[String], cwd: &Path) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
    let paths = launch_paths(argv.get(1..).unwrap_or_default(), cwd);
    tracing::info!(files = paths.len(), "a second launch handed over");
    if !paths.is_empty() {
        if let Err(e) = app.emit(OPEN_PATHS, &paths) {
            tracing::warn!("cannot hand the paths to the window: {e}");
        }
    }
}

/// The file arguments of a command line (options are not files), made
/// absolute against the directory it was started in.
pub fn launch_paths(args: &[String], cwd: &Path) -> Vec<PathBuf> {
    args.iter()
        .filter(|a| !a.is_empty() && !a.starts_with('-'))
        .map(|a| {
            let path = PathBuf::from(a.strip_prefix("file://").unwrap_or(a));
            if path.is_absolute() {
                path
            } else {
                cwd.join(path)
            }
        })
        .collect()
}

/// `app.outbox.desktop.q<hash of the data folder>`: a D-Bus name element
/// must not start with a digit.
fn bus_name(data_dir: &Path) -> String {
    // FNV-1a: stable across builds, unlike the standard library's hasher.
    let hash = data_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{APP_IDENTIFIER}.q{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_arguments_are_made_absolute_and_options_left_out() {
        let args = [
            "photo.jpg",
            "--verbose",
            "/abs/b.png",
            "file:///x/c.webp",
            "",
        ]
        .map(String::from);
        assert_eq!(
            launch_paths(&args, Path::new("/home/me")),
            [
                PathBuf::from("/home/me/photo.jpg"),
                PathBuf::from("/abs/b.png"),
                PathBuf::from("/x/c.webp")
            ]
        );
    }

    #[test]
    fn each_data_folder_has_its_own_valid_bus_name() {
        let a = bus_name(Path::new("/home/a/.local/share/app.outbox.desktop"));
        let b = bus_name(Path::new("/tmp/test-data"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            bus_name(Path::new("/home/a/.local/share/app.outbox.desktop"))
        );
        let last = a.rsplit('.').next().unwrap_or_default();
        assert!(last.starts_with('q') && last.len() == 17, "{a}");
    }
}
