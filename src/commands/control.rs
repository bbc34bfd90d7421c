use crate::cli::RetryArgs;
use anyhow::{bail, Result};
use outbox_engine::{Engine, RetryTarget};
use std::process::ExitCode;
use std::time::Duration;

pub fn retry(engine: &Engine, args: RetryArgs) -> Result<ExitCode> {
    let target = if args.failed {
        RetryTarget::AllFailed
    } else if let Some(batch) = args.batch {
        RetryTarget::Batch(batch)
    } else {
        RetryTarget::Jobs(args.jobs)
    };
    let report = engine.retry(&target)?;
    println!(
        "{} job(s) put back at the front of the queue",
        report.retried.len()
    );
    for refusal in &report.refused {
        eprintln!("outbox: {refusal}");
    }
    Ok(if report.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn cancel(engine: &Engine, jobs: &[i64]) -> Result<ExitCode> {
    engine.cancel(jobs)?;
    println!("cancelled {} job(s)", jobs.len());
    Ok(ExitCode::SUCCESS)
}

pub fn pause(engine: &Engine, batch: Option<i64>, pause: bool) -> Result<ExitCode> {
    let verb = if pause { "paused" } else { "resumed" };
    let n = if pause {
        engine.pause(batch)?
    } else {
        engine.resume(batch)?
    };
    match batch {
        Some(b) => println!("{verb} batch {b} ({n} job(s))"),
        None => println!("{verb} the queue"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn clean(engine: &Engine, days: f64) -> Result<ExitCode> {
    if !days.is_finite() || days < 0.0 {
        bail!("--older-than takes a number of days, 0 or more");
    }
    let removed = engine.clean(Duration::from_secs_f64(days * 86_400.0))?;
    println!("removed {removed} finished job(s)");
    Ok(ExitCode::SUCCESS)
}
