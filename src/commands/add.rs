use super::print_json;
use crate::cli::AddArgs;
use anyhow::{bail, Result};
use outbox_engine::{AddOptions, Engine};
use std::process::ExitCode;

pub fn run(engine: &Engine, args: AddArgs) -> Result<ExitCode> {
    let fields = parse_fields(&args.fields)?;
    let scanned = outbox_engine::scan(&args.paths);
    let items = scanned
        .items
        .into_iter()
        .map(|mut item| {
            item.fields = fields.clone();
            item
        })
        .collect();
    let mut report = engine.enqueue(
        items,
        &AddOptions {
            destination: args.to,
            recipe: args.recipe,
            priority: args.priority,
            sequential: args.sequential,
            batch_name: args.batch,
            force: args.force,
            max_attempts: args.max_attempts,
            review: args.review,
        },
    )?;
    report.skipped = scanned.skipped;
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

/// `--field key=value`, repeated: the same fields for every item added.
fn parse_fields(pairs: &[String]) -> Result<Option<serde_json::Value>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut fields = serde_json::Map::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                fields.insert(key.trim().to_string(), value.into());
            }
            _ => bail!("--field {pair:?} is not key=value"),
        }
    }
    Ok(Some(fields.into()))
}
