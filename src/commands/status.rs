use super::print_json;
use crate::cli::{HistoryArgs, StatusArgs};
use crate::render;
use anyhow::Result;
use outbox_engine::{Engine, HistoryQuery};
use std::process::ExitCode;
use std::time::Duration;

pub fn status(engine: &Engine, args: StatusArgs) -> Result<ExitCode> {
    loop {
        let status = engine.status()?;
        if args.json {
            print_json(&status)?;
        } else {
            if args.watch {
                // Clear the screen and go home, like `watch`.
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", render::status(&status));
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn history(engine: &Engine, args: HistoryArgs) -> Result<ExitCode> {
    let jobs = engine.history(&HistoryQuery {
        state: args.state,
        batch: args.batch,
        search: args.search.clone(),
        destination: args.destination.clone(),
        limit: args.limit,
        offset: args.offset,
        ..HistoryQuery::default()
    })?;
    if args.json {
        print_json(&jobs)?;
    } else if jobs.is_empty() {
        println!("no jobs");
    } else {
        for job in &jobs {
            println!("{}", render::job_line(job));
        }
    }
    Ok(ExitCode::SUCCESS)
}
