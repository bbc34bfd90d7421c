use super::print_json;
use crate::cli::RunArgs;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use outbox_engine::{Engine, Event, JobState, RetryPolicy, WorkerConfig};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn run(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stop = CancellationToken::new();
        tokio::spawn(stop_on_signals(stop.clone()));

        let mut config = WorkerConfig {
            upload_concurrency: args.concurrency as usize,
            until_idle: args.until_idle,
            retry: RetryPolicy {
                first_delay: Duration::from_secs_f64(args.retry_delay.max(0.0)),
                ..RetryPolicy::default()
            },
            ..WorkerConfig::default()
        };
        if let Some(n) = args.generate_concurrency {
            config.generate_concurrency = n as usize;
        }

        let watcher = if args.json {
            None
        } else {
            Some(tokio::spawn(show_progress(
                engine.clone(),
                std::io::stderr().is_terminal(),
            )))
        };
        let summary = engine.worker(config).run(stop).await;
        if let Some(watcher) = watcher {
            // Let the last events of the run reach the screen.
            engine.flush_events();
            tokio::time::sleep(Duration::from_millis(50)).await;
            watcher.abort();
        }
        let summary = summary?;
        if args.json {
            print_json(&summary)?;
        } else {
            println!(
                "done: {} delivered, {} failed, {} cancelled, {} retries scheduled{}",
                summary.completed,
                summary.failed,
                summary.cancelled,
                summary.retries_scheduled,
                if summary.dead_runs_found > 0 {
                    format!(
                        " (recovered the work of {} interrupted run(s))",
                        summary.dead_runs_found
                    )
                } else {
                    String::new()
                }
            );
        }
        Ok(if args.until_idle && summary.failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Ctrl-C or SIGTERM stops cleanly (running jobs may finish); a second one
/// exits at once, and the next run recovers what was in flight.
pub(crate) async fn stop_on_signals(stop: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    for round in 0..2 {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        if round == 0 {
            eprintln!("outbox: stopping after the running jobs (again to quit now)");
            stop.cancel();
        } else {
            std::process::exit(130);
        }
    }
}

/// A progress bar on a terminal; elsewhere a line per finished job.
async fn show_progress(engine: Engine, terminal: bool) {
    let mut events = engine.subscribe();
    let bar = terminal.then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} finished  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    if let (Some(bar), Ok(counts)) = (&bar, engine.counts()) {
        bar.set_length(counts.total);
        bar.set_position(counts.finished());
    }
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match (&bar, event) {
            (Some(bar), Event::CountsChanged { counts }) => {
                bar.set_length(counts.total);
                bar.set_position(counts.finished());
                bar.set_message(format!(
                    "{} running, {} waiting, {} failed",
                    counts.processing, counts.pending, counts.failed
                ));
            }
            (
                Some(bar),
                Event::JobChanged {
                    job_id,
                    state: JobState::Failed,
                    error,
                    ..
                },
            ) => {
                let why = error.map(|(_, m)| m).unwrap_or_default();
                bar.println(format!("job {job_id} failed: {why}"));
            }
            (
                None,
                Event::JobChanged {
                    job_id,
                    state,
                    error,
                    ..
                },
            ) if state.is_finished() => match error {
                Some((_, why)) => eprintln!("job {job_id} {state}: {why}"),
                None => eprintln!("job {job_id} {state}"),
            },
            _ => {}
        }
    }
}
