use super::print_json;
use crate::cli::AddArgs;
use anyhow::Result;
use outbox_engine::{AddOptions, Engine};
use std::process::ExitCode;

pub fn run(engine: &Engine, args: AddArgs) -> Result<ExitCode> {
    let report = engine.add(
        &args.paths,
        &AddOptions {
            destination: args.to,
            recipe: args.recipe,
            priority: args.priority,
            sequential: args.sequential,
            batch_name: args.batch,
            force: args.force,
            max_attempts: args.max_attempts,
        },
    )?;
    if args.json {
        print_json(&report)?;
    } else {
        match report.batch_id {
            Some(batch) => println!("queued {} job(s) as batch {batch}", report.added.len()),
            None => println!("queued nothing"),
        }
        for d in &report.duplicates {
            let place = d
                .url
                .as_deref()
                .map(|u| format!(" at {u}"))
                .unwrap_or_default();
            println!(
                "already there: {} is job {} ({}){place}; --force sends it again",
                d.path.display(),
                d.existing_job,
                d.state
            );
        }
        for s in &report.skipped {
            println!("skipped: {}: {}", s.path.display(), s.reason);
        }
    }
    // Nothing queued and nothing already there: what was asked did not happen.
    let failed = report.added.is_empty() && report.duplicates.is_empty();
    if failed && !args.json {
        eprintln!("outbox: no image was queued");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
