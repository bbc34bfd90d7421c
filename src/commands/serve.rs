//! `outbox serve`: the headless worker plus the local API (and, when asked,
//! the PicGo protocol), until Ctrl-C or SIGTERM.

use super::run::stop_on_signals;
use crate::cli::ServeArgs;
use anyhow::{bail, Context, Result};
use outbox_engine::{AddOptions, Engine, RetryPolicy, WorkerConfig};
use outbox_local_api::{token, ApiConfig, LocalApi, PicGoConfig, PicGoOptions};
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `OUTBOX_API_TOKEN`: the token itself, for scripts that set it up.
const TOKEN_ENV: &str = "OUTBOX_API_TOKEN";

pub fn run(engine: &Engine, args: ServeArgs) -> Result<ExitCode> {
    let (token, token_place) = match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => {
            let token = token.trim().to_string();
            if token.chars().count() < token::MIN_TOKEN_CHARS {
                bail!(
                    "{TOKEN_ENV} is shorter than {} characters",
                    token::MIN_TOKEN_CHARS
                );
            }
            (token, format!("${TOKEN_ENV}"))
        }
        _ => {
            let path = args
                .token_file
                .clone()
                .unwrap_or_else(|| engine.data_dir().join("api-token"));
            (token::load_or_create(&path)?, path.display().to_string())
        }
    };
    let mut config = ApiConfig::new(token);
    config.max_body_bytes = args.max_body_mb.saturating_mul(1 << 20);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stop = CancellationToken::new();
        tokio::spawn(stop_on_signals(stop.clone()));
        let api = LocalApi::new(engine.clone(), config, stop.clone());
        // Work queued or finished by other processes reaches the event stream.
        let feed = {
            let (engine, stop) = (engine.clone(), stop.clone());
            tokio::spawn(async move { engine.follow_other_processes(stop).await })
        };

        let mut servers = tokio::task::JoinSet::new();
        let listeners = outbox_local_api::bind_loopback(args.port)
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let port = listeners[0].local_addr()?.port();
        servers.spawn(outbox_local_api::serve(
            listeners,
            api.router(port),
            stop.clone(),
        ));
        println!("api: http://127.0.0.1:{port}/v1");
        println!("token: {token_place}");

        if let Some(picgo_port) = args.picgo_port {
            let listeners = outbox_local_api::bind_loopback(picgo_port)
                .await
                .with_context(|| format!("cannot listen on 127.0.0.1:{picgo_port}"))?;
            let port = listeners[0].local_addr()?.port();
            let picgo = PicGoConfig {
                options: PicGoOptions::new(AddOptions {
                    destination: args.picgo_to.clone(),
                    recipe: args.picgo_recipe.clone(),
                    ..PicGoOptions::defaults()
                }),
                ..PicGoConfig::default()
            };
            servers.spawn(outbox_local_api::serve(
                listeners,
                api.picgo_router(port, picgo),
                stop.clone(),
            ));
            println!("picgo: http://127.0.0.1:{port}/upload");
        }

        let mut worker = WorkerConfig {
            upload_concurrency: args.concurrency as usize,
            retry: RetryPolicy {
                first_delay: Duration::from_secs_f64(args.retry_delay.max(0.0)),
                ..RetryPolicy::default()
            },
            ..WorkerConfig::default()
        };
        if let Some(n) = args.generate_concurrency {
            worker.generate_concurrency = n as usize;
        }
        let summary = engine.worker(worker).run(stop.clone()).await;
        // The worker ends at a signal, or on an error: the servers end too.
        stop.cancel();
        while let Some(done) = servers.join_next().await {
            if let Err(e) = done.map_err(anyhow::Error::from).and_then(|r| Ok(r?)) {
                eprintln!("outbox: the API server stopped: {e}");
            }
        }
        if let Ok(Err(e)) = feed.await {
            eprintln!("outbox: other processes' changes were not followed: {e}");
        }
        let summary = summary?;
        println!(
            "done: {} delivered, {} failed, {} cancelled",
            summary.completed, summary.failed, summary.cancelled
        );
        Ok(ExitCode::SUCCESS)
    })
}
