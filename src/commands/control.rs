use super::print_json;
use crate::cli::{RetentionArgs, RetryArgs};
use anyhow::{bail, Context, Result};
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

pub fn retention(engine: &Engine, args: &RetentionArgs) -> Result<ExitCode> {
    let mut rules = engine.retention()?;
    let changes = [
        (
            "--completed-days",
            args.completed_days,
            &mut rules.completed_days,
        ),
        (
            "--completed-keep",
            args.completed_keep,
            &mut rules.completed_keep,
        ),
        ("--failed-keep", args.failed_keep, &mut rules.failed_keep),
    ];
    let changed = changes.iter().any(|(_, value, _)| value.is_some());
    for (flag, value, rule) in changes {
        if let Some(value) = value {
            // Checked before anything is saved: a bad value changes nothing.
            *rule = u32::try_from(value)
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| {
                    format!("{flag} takes a whole number of at least 1, not {value}")
                })?;
        }
    }
    if changed {
        engine.set_retention(&rules)?;
    }
    let removed = if args.apply {
        Some(engine.apply_retention()?)
    } else {
        None
    };
    if args.json {
        print_json(&serde_json::json!({ "rules": rules, "removed": removed }))?;
    } else {
        println!(
            "keeping completed jobs for {} day(s), at most the newest {}; failed or cancelled: the newest {}",
            rules.completed_days, rules.completed_keep, rules.failed_keep
        );
        if let Some(n) = removed {
            println!("removed {n} finished job(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
