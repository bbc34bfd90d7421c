//! Review from the command line: the outputs held by `add --review`, and
//! accepting, discarding or regenerating them.

use super::print_json;
use anyhow::{bail, Result};
use outbox_engine::{Engine, HistoryQuery, JobId, JobState, JobView};
use std::process::ExitCode;

/// Every job whose output waits for review, oldest first.
fn waiting(engine: &Engine) -> Result<Vec<JobView>> {
    let mut held = Vec::new();
    for offset in (0..).step_by(1000) {
        let page = engine.history(&HistoryQuery {
            state: Some(JobState::Pending),
            limit: 1000,
            offset,
            ..HistoryQuery::default()
        })?;
        let last = page.len() < 1000;
        held.extend(page.into_iter().filter(|j| j.awaiting_review));
        if last {
            break;
        }
    }
    held.reverse();
    Ok(held)
}

pub fn list(engine: &Engine, json: bool) -> Result<ExitCode> {
    let held = waiting(engine)?;
    if json {
        print_json(&held)?;
    } else if held.is_empty() {
        println!("no output waits for review");
    } else {
        for j in &held {
            println!(
                "{:>6}  {}  ({} → {})",
                j.id,
                j.source.display(),
                j.recipe,
                j.destination
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn accept(engine: &Engine, jobs: &[JobId]) -> Result<ExitCode> {
    engine.accept(jobs)?;
    println!("accepted {} output(s)", jobs.len());
    Ok(ExitCode::SUCCESS)
}

/// A cancel, refused (and nothing cancelled) unless every job's output
/// waits for review: a typo must not cancel an upload.
pub fn discard(engine: &Engine, jobs: &[JobId]) -> Result<ExitCode> {
    for &id in jobs {
        match engine.job(id)? {
            None => bail!("no job {id}"),
            Some(j) if !j.awaiting_review => bail!("job {id} has no output waiting for review"),
            Some(_) => {}
        }
    }
    engine.cancel(jobs)?;
    println!("discarded {} output(s)", jobs.len());
    Ok(ExitCode::SUCCESS)
}

pub fn regenerate(engine: &Engine, jobs: &[JobId]) -> Result<ExitCode> {
    engine.regenerate(jobs)?;
    println!("{} output(s) to be made again, then reviewed", jobs.len());
    Ok(ExitCode::SUCCESS)
}
