use super::print_json;
use crate::cli::ImportArgs;
use anyhow::Result;
use outbox_engine::{AddOptions, Engine, DEFAULT_MAX_ATTEMPTS};
use std::process::ExitCode;

pub fn run(engine: &Engine, args: ImportArgs) -> Result<ExitCode> {
    let options = AddOptions {
        destination: args.to,
        recipe: args.recipe,
        priority: args.priority,
        sequential: args.sequential,
        batch_name: args.batch,
        force: args.force,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
        review: false,
    };
    // Downloads of images named by URL run on a small runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let limits = outbox_engine::import::DownloadLimits {
        private_addresses: args.private_addresses,
        ..Default::default()
    };
    let report = runtime.block_on(engine.import_with_limits(&args.file, &options, &limits))?;
    if args.json {
        print_json(&report)?;
    } else {
        match report.batch_id {
            Some(batch) => println!(
                "queued {} item(s) as batch {batch}; skipped {}",
                report.added.len(),
                report.skipped.len()
            ),
            None => println!("queued nothing; skipped {}", report.skipped.len()),
        }
        for s in &report.skipped {
            println!("skipped row {}: {}", s.row, s.reason);
        }
    }
    let failed = report.added.is_empty();
    if failed && !args.json {
        eprintln!("outbox: no item of {} was queued", args.file.display());
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
