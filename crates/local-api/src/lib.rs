//! Outbox's local API: other programs on this computer send images and watch
//! the queue over HTTP on a loopback address. Tauri-free: `outbox serve`
//! runs it beside the headless worker, and the desktop app can serve the
//! same router from its own engine handle.
//!
//! - `/v1/…` (see [`openapi`]): bearer token, `Host` and `Origin` checked,
//!   rate and body limits ([`auth`], [`limits`]).
//! - The PicGo protocol ([`picgo`]) on a port of its own, off unless asked
//!   for: no token (editors send none), the same `Host`/`Origin` checks.
//!
//! The caller binds the listeners (loopback only: [`bind_loopback`]) and
//! hands them over, so the port can be 0 in tests and the app can choose.

pub mod auth;
mod error;
pub mod events;
mod intake;
mod items;
pub mod limits;
pub mod openapi;
pub mod picgo;
mod queue;
pub mod token;

pub use error::ApiError;
pub use events::EventHub;

use axum::routing::{get, post};
use axum::Router;
use outbox_engine::{AddOptions, Engine};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The API's port unless the user chooses another.
pub const DEFAULT_PORT: u16 = 36680;
/// PicGo's own port: editors set up for PicGo reach Outbox unchanged.
pub const PICGO_PORT: u16 = 36677;

/// How the API behaves; the port comes from the bound listener.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The bearer token every `/v1` request must carry.
    pub token: String,
    /// The largest request body (multipart uploads included).
    pub max_body_bytes: u64,
    /// Requests per second on average, and the burst allowed above it.
    pub requests_per_second: f64,
    pub burst: f64,
    /// The longest `?wait=` a request may ask for.
    pub max_wait: Duration,
    /// Events kept for clients that reconnect with `Last-Event-ID`.
    pub replay_events: usize,
}

impl ApiConfig {
    pub fn new(token: String) -> ApiConfig {
        ApiConfig {
            token,
            max_body_bytes: 256 << 20,
            requests_per_second: 500.0,
            burst: 1000.0,
            max_wait: Duration::from_secs(120),
            replay_events: 4096,
        }
    }
}

/// What the PicGo endpoint queues, and how long it waits for delivery.
#[derive(Clone, Debug)]
pub struct PicGoConfig {
    pub options: PicGoOptions,
    pub timeout: Duration,
    /// Where an upload without paths takes its image: the app's clipboard.
    /// `None` (`outbox serve`) refuses such an upload, saying why.
    pub clipboard: Option<ClipboardImage>,
}

/// How PicGo's images are queued; the app changes them with its settings
/// while the server runs.
#[derive(Clone, Debug)]
pub struct PicGoOptions(Arc<std::sync::RwLock<AddOptions>>);

impl PicGoOptions {
    pub fn new(options: AddOptions) -> PicGoOptions {
        PicGoOptions(Arc::new(std::sync::RwLock::new(options)))
    }

    /// A batch named PicGo, to the default destination with `web`.
    pub fn defaults() -> AddOptions {
        AddOptions {
            batch_name: Some("PicGo".into()),
            ..AddOptions::default()
        }
    }

    pub fn get(&self) -> AddOptions {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, options: AddOptions) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = options;
    }
}

/// Reads the clipboard's image as encoded bytes (PNG), or says why not. Called
/// on a blocking thread.
#[derive(Clone)]
pub struct ClipboardImage(pub Arc<dyn Fn() -> Result<Vec<u8>, String> + Send + Sync>);

impl std::fmt::Debug for ClipboardImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClipboardImage")
    }
}

impl Default for PicGoConfig {
    fn default() -> Self {
        PicGoConfig {
            options: PicGoOptions::new(PicGoOptions::defaults()),
            timeout: Duration::from_secs(600),
            clipboard: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct State {
    pub engine: Engine,
    pub config: ApiConfig,
    pub hub: EventHub,
    pub limiter: limits::RateLimiter,
    pub stop: CancellationToken,
}

pub(crate) type Shared = Arc<State>;

/// The API over one engine: make it inside a tokio runtime (it starts the
/// event hub), then serve [`LocalApi::router`] on the bound listeners.
#[derive(Clone)]
pub struct LocalApi {
    state: Shared,
}

impl LocalApi {
    /// `stop` ends the event streams and waits at shutdown.
    pub fn new(engine: Engine, config: ApiConfig, stop: CancellationToken) -> LocalApi {
        let hub = EventHub::start(&engine, config.replay_events, stop.clone());
        let limiter = limits::RateLimiter::new(config.requests_per_second, config.burst);
        LocalApi {
            state: Arc::new(State {
                engine,
                config,
                hub,
                limiter,
                stop,
            }),
        }
    }

    /// The `/v1` routes for a server on `port` (the `Host` a client must name).
    pub fn router(&self, port: u16) -> Router {
        let guard = auth::Guard {
            port,
            token: Some(self.state.config.token.clone()),
        };
        let api = Router::new()
            .route("/v1/items", post(items::add))
            .route("/v1/items/{id}", get(items::item))
            .route("/v1/items/{id}/retry", post(items::retry))
            .route("/v1/items/{id}/cancel", post(items::cancel))
            .route("/v1/batches/{id}", get(items::batch))
            .route("/v1/status", get(queue::status))
            .route("/v1/pause", post(queue::pause))
            .route("/v1/resume", post(queue::resume))
            .route("/v1/events", get(events::stream))
            .route("/v1/openapi.json", get(openapi::handler))
            .with_state(self.state.clone());
        limits::wrap(api, &self.state, guard)
    }

    /// The PicGo protocol's routes (`POST /upload`, `/heartbeat`) for a
    /// server on `port`.
    pub fn picgo_router(&self, port: u16, config: PicGoConfig) -> Router {
        let guard = auth::Guard { port, token: None };
        let state = picgo::PicGoState {
            api: self.state.clone(),
            config,
        };
        let routes = Router::new()
            .route("/upload", post(picgo::upload))
            .route("/heartbeat", post(picgo::heartbeat).get(picgo::heartbeat))
            .with_state(Arc::new(state));
        limits::wrap(routes, &self.state, guard)
    }
}

/// Binds `port` on 127.0.0.1 and then on ::1 (the same port, also when 0
/// picked one). A machine without IPv6 gets the IPv4 listener alone.
pub async fn bind_loopback(port: u16) -> std::io::Result<Vec<TcpListener>> {
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let port = v4.local_addr()?.port();
    let mut listeners = vec![v4];
    match TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await {
        Ok(v6) => listeners.push(v6),
        Err(e) => tracing::warn!(port, "not listening on [::1]: {e}"),
    }
    Ok(listeners)
}

/// Serves `router` on every listener until `stop` is cancelled.
pub async fn serve(
    listeners: Vec<TcpListener>,
    router: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let router = router.clone();
        let stop = stop.clone();
        servers.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
    }
    while let Some(done) = servers.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// Runs a blocking engine call (SQLite, file reads) off the executor.
pub(crate) async fn blocking<T, F>(engine: &Engine, call: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> outbox_engine::Result<T> + Send + 'static,
{
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || call(&engine))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)
}
