//! The app's life beyond its window: closing the window while work remains
//! keeps Outbox in the tray (its tooltip shows the progress) until the queue
//! is idle or the user quits; a notification says when a batch finishes.

use crate::state::AppState;
use outbox_engine::{BatchId, Engine, Status};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{MouseButton, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime, WindowEvent};
use tauri_plugin_notification::NotificationExt;

const TRAY_ID: &str = "outbox";
/// How often the tray and the batch notifications look at the queue.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Set while the window is closed to the tray.
static IN_TRAY: AtomicBool = AtomicBool::new(false);

/// Work that would go on without the user: something running, or waiting
/// while the queue runs.
pub fn has_work(status: &Status) -> bool {
    status.counts.processing > 0 || (status.counts.pending > 0 && !status.queue_paused)
}

/// Whether a closed window leaves Outbox in the tray: while work remains,
/// or always when the user asked for it (`stay_in_tray`).
pub fn keep_in_tray(status: &Status, stay_in_tray: bool) -> bool {
    stay_in_tray || has_work(status)
}

pub fn tooltip(status: &Status) -> String {
    let c = &status.counts;
    let left = c.pending + c.processing;
    let mut text = if left == 0 {
        "Outbox: idle".to_string()
    } else {
        format!("Outbox: {} of {} left", left, c.total)
    };
    if status.queue_paused {
        text.push_str(" (paused)");
    }
    if c.failed > 0 {
        text.push_str(&format!(", {} failed", c.failed));
    }
    text
}

pub fn create_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Outbox", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause the queue", true, None::<&str>)?;
    let resume = MenuItem::with_id(app, "resume", "Resume the queue", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Outbox", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &pause, &resume, &quit])?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(include_bytes!("../icons/tray.png"))?)
        .tooltip("Outbox")
        .menu(&menu)
        .on_menu_event(|app, event| {
            let engine = app.state::<AppState>().engine.clone();
            let acted = match event.id.as_ref() {
                "show" => {
                    show_window(app);
                    Ok(0)
                }
                "pause" => engine.pause(None),
                "resume" => engine.resume(None),
                "quit" => {
                    app.exit(0);
                    Ok(0)
                }
                _ => Ok(0),
            };
            if let Err(e) = acted {
                tracing::warn!("tray action failed: {e}");
            }
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                ..
            } = event
            {
                show_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(())
}

fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        IN_TRAY.store(false, Ordering::SeqCst);
        let shown = window.show().and_then(|_| window.set_focus());
        if let Err(e) = shown {
            tracing::warn!("cannot show the window: {e}");
        }
    }
}

/// Closing the window while work remains hides it instead.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    // No engine yet (a damaged database waiting for the user): just close.
    let Some(state) = window.try_state::<AppState>() else {
        return;
    };
    let engine = &state.engine;
    let stay = state.settings().stay_in_tray;
    match engine.status() {
        Ok(status) if keep_in_tray(&status, stay) => {
            api.prevent_close();
            IN_TRAY.store(true, Ordering::SeqCst);
            if let Err(e) = window.hide() {
                tracing::warn!("cannot hide the window: {e}");
            }
            tracing::info!("window closed to the tray: {}", tooltip(&status));
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the queue at close: {e}"),
    }
}

/// Keeps the tray tooltip current, notifies finished batches, and ends the
/// app once the window is in the tray and the queue is idle.
pub fn watch<R: Runtime>(app: AppHandle<R>, engine: Engine) {
    tauri::async_runtime::spawn(async move {
        let mut active: HashSet<BatchId> = HashSet::new();
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        loop {
            tick.tick().await;
            let status = {
                let engine = engine.clone();
                match tauri::async_runtime::spawn_blocking(move || engine.status()).await {
                    Ok(Ok(status)) => status,
                    Ok(Err(e)) => {
                        tracing::warn!("cannot read the queue: {e}");
                        continue;
                    }
                    Err(_) => continue,
                }
            };
            if let Some(tray) = app.tray_by_id(TRAY_ID) {
                let _ = tray.set_tooltip(Some(tooltip(&status)));
            }
            let now: HashSet<BatchId> = status.batches.iter().map(|b| b.id).collect();
            for finished in active.difference(&now) {
                notify_finished(&app, &engine, *finished);
            }
            active = now;
            let stay = app
                .try_state::<AppState>()
                .is_some_and(|s| s.settings().stay_in_tray);
            if IN_TRAY.load(Ordering::SeqCst) && !keep_in_tray(&status, stay) {
                tracing::info!("the queue is idle and the window closed: quitting");
                app.exit(0);
                break;
            }
        }
    });
}

fn notify_finished<R: Runtime>(app: &AppHandle<R>, engine: &Engine, batch: BatchId) {
    let Ok(Some(view)) = engine.batch(batch) else {
        return;
    };
    let c = &view.counts;
    let mut body = format!("{} delivered", c.completed);
    if c.failed > 0 {
        body.push_str(&format!(", {} failed", c.failed));
    }
    if c.cancelled > 0 {
        body.push_str(&format!(", {} cancelled", c.cancelled));
    }
    let shown = app
        .notification()
        .builder()
        .title(format!("Outbox: {} finished", view.name))
        .body(body)
        .show();
    // No notification service (a bare X server, say) is not an error to the user.
    if let Err(e) = shown {
        tracing::debug!("cannot show a notification: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outbox_engine::StateCounts;

    fn status(pending: u64, processing: u64, failed: u64, paused: bool) -> Status {
        Status {
            counts: StateCounts {
                pending,
                processing,
                failed,
                total: pending + processing + failed,
                ..StateCounts::default()
            },
            queue_paused: paused,
            in_flight: Vec::new(),
            batches: Vec::new(),
            cost: Default::default(),
            cool_downs: Vec::new(),
        }
    }

    #[test]
    fn work_that_would_go_on_keeps_the_app_in_the_tray() {
        assert!(has_work(&status(3, 0, 0, false)));
        assert!(has_work(&status(0, 1, 0, true)), "a running job finishes");
        assert!(
            !has_work(&status(3, 0, 0, true)),
            "a paused queue waits for the user"
        );
        assert!(
            !has_work(&status(0, 0, 5, false)),
            "failed jobs wait for the user"
        );
    }

    #[test]
    fn the_setting_keeps_an_idle_app_in_the_tray() {
        let idle = status(0, 0, 2, false);
        assert!(!keep_in_tray(&idle, false), "the default: idle quits");
        assert!(keep_in_tray(&idle, true));
        assert!(keep_in_tray(&status(1, 0, 0, false), false));
    }

    #[test]
    fn the_tooltip_says_what_is_left_and_what_failed() {
        assert_eq!(tooltip(&status(0, 0, 0, false)), "Outbox: idle");
        assert_eq!(
            tooltip(&status(2, 1, 4, true)),
            "Outbox: 3 of 7 left (paused), 4 failed"
        );
    }
}
