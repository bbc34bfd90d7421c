//! The local API inside the app, off until the user turns it on: the router
//! `outbox serve` serves (crate `outbox-local-api`) over the app's own
//! engine, on the loopback ports of the settings, with its bearer token in
//! the keychain. PicGo uploads without paths take the clipboard's image.
//! Started at launch and again whenever its settings or its token change.

use crate::settings::Settings;
use crate::worker::queue_runtime;
use outbox_engine::{AddOptions, Engine};
use outbox_local_api::{ApiConfig, ClipboardImage, LocalApi, PicGoConfig, PicGoOptions};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where the servers listen now, or why they do not; shown in the settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Listening {
    /// `http://127.0.0.1:PORT/v1` while the API is on.
    pub api: Option<String>,
    /// `http://127.0.0.1:PORT/upload` while the PicGo protocol is on.
    pub picgo: Option<String>,
    /// Why what the settings ask for is not running.
    pub problem: Option<String>,
}

/// The part of the settings the servers are bound from: a change of it
/// starts them again. (What PicGo queues changes while they run.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    api: Option<u16>,
    picgo: Option<u16>,
}

impl Wanted {
    pub fn from(settings: &Settings) -> Wanted {
        Wanted {
            api: settings.api_enabled.then_some(settings.api_port),
            picgo: settings.picgo_enabled.then_some(settings.picgo_port),
        }
    }

    fn nothing(&self) -> bool {
        self.api.is_none() && self.picgo.is_none()
    }
}

/// PicGo's images go where a drop goes, made with its recipe; never held
/// for review: the editor is waiting for the link.
fn picgo_options(settings: &Settings) -> AddOptions {
    AddOptions {
        destination: settings.destination.clone(),
        recipe: settings.recipe.clone(),
        priority: settings.priority,
        max_attempts: settings.max_attempts,
        ..PicGoOptions::defaults()
    }
}

struct Running {
    stop: CancellationToken,
    servers: tokio::task::JoinHandle<()>,
}

pub struct ApiControl {
    running: Mutex<Option<Running>>,
    listening: Mutex<Listening>,
    picgo: PicGoOptions,
}

impl ApiControl {
    pub fn new(settings: &Settings) -> ApiControl {
        ApiControl {
            running: Mutex::new(None),
            listening: Mutex::new(Listening::default()),
            picgo: PicGoOptions::new(picgo_options(settings)),
        }
    }

    /// What PicGo queues from now on (the drop's choices just changed).
    pub fn follow(&self, settings: &Settings) {
        self.picgo.set(picgo_options(settings));
    }

    /// Stops the servers running (if any) and starts what `wanted` asks for.
    /// An error (a port taken, no keychain) is returned and also kept for
    /// [`ApiControl::listening`].
    pub async fn apply<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        engine: &Engine,
        wanted: Wanted,
    ) -> Result<Listening, String> {
        self.stop().await;
        let started = if wanted.nothing() {
            Ok(None)
        } else {
            start(app, engine, wanted, self.picgo.clone())
                .await
                .map(Some)
        };
        let listening = match started {
            Ok(Some((running, listening))) => {
                *lock(&self.running) = Some(running);
                listening
            }
            Ok(None) => Listening::default(),
            Err(problem) => Listening {
                problem: Some(problem),
                ..Listening::default()
            },
        };
        *lock(&self.listening) = listening.clone();
        match &listening.problem {
            Some(problem) => Err(problem.clone()),
            None => Ok(listening),
        }
    }

    pub fn listening(&self) -> Listening {
        lock(&self.listening).clone()
    }

    /// Ends the servers; open event streams end with them.
    pub async fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            running.stop.cancel();
            if let Err(e) = running.servers.await {
                tracing::warn!("the local API ended abnormally: {e}");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Binds every port first (so a taken one fails the whole change, with the
/// port named), then serves on the queue's runtime until stopped.
async fn start<R: Runtime>(
    app: &AppHandle<R>,
    engine: &Engine,
    wanted: Wanted,
    options: PicGoOptions,
) -> Result<(Running, Listening), String> {
    let runtime = queue_runtime().map_err(|e| format!("cannot start the API's threads: {e}"))?;
    let token = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || engine.api_token())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the local API needs its token: {e}"))?
    };
    let clipboard = clipboard_image(app.clone());
    let engine = engine.clone();
    runtime
        .spawn(async move {
            let stop = CancellationToken::new();
            // A port that cannot be bound ends what was started before it.
            let on_error = stop.clone().drop_guard();
            let api = LocalApi::new(engine, ApiConfig::new(token), stop.clone());
            let mut servers = JoinSet::new();
            let mut listening = Listening::default();
            if let Some(port) = wanted.api {
                let (listeners, port) = bind(port).await?;
                servers.spawn(outbox_local_api::serve(
                    listeners,
                    api.router(port),
                    stop.clone(),
                ));
                listening.api = Some(format!("http://127.0.0.1:{port}/v1"));
            }
            if let Some(port) = wanted.picgo {
                let (listeners, port) = bind(port).await?;
                let config = PicGoConfig {
                    options,
                    clipboard: Some(clipboard),
                    ..PicGoConfig::default()
                };
                servers.spawn(outbox_local_api::serve(
                    listeners,
                    api.picgo_router(port, config),
                    stop.clone(),
                ));
                listening.picgo = Some(format!("http://127.0.0.1:{port}/upload"));
            }
            on_error.disarm();
            tracing::info!(?listening, "local API on");
            let handle = tokio::spawn(async move {
                while let Some(done) = servers.join_next().await {
                    match done {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!("the local API stopped: {e}"),
                        Err(e) => tracing::error!("the local API ended abnormally: {e}"),
                    }
                }
            });
            Ok((
                Running {
                    stop,
                    servers: handle,
                },
                listening,
            ))
        })
        .await
        .map_err(|e| e.to_string())?
}

async fn bind(port: u16) -> Result<(Vec<tokio::net::TcpListener>, u16), String> {
    let listeners = outbox_local_api::bind_loopback(port)
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(port, |a| a.port());
    Ok((listeners, port))
}

/// The clipboard's image as PNG bytes, for PicGo uploads without paths.
fn clipboard_image<R: Runtime>(app: AppHandle<R>) -> ClipboardImage {
    ClipboardImage(Arc::new(move || {
        let image = app
            .clipboard()
            .read_image()
            .map_err(|e| format!("the clipboard holds no image ({e})"))?;
        let pixels =
            image::RgbaImage::from_raw(image.width(), image.height(), image.rgba().to_vec())
                .ok_or("the clipboard's image has the wrong number of pixels")?;
        let mut png = std::io::Cursor::new(Vec::new());
        pixels
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| format!("cannot encode the clipboard's image: {e}"))?;
        Ok(png.into_inner())
    }))
}
