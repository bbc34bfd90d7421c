//! One function per command, each a thin layer over the engine.

mod add;
mod control;
mod dest;
mod import;
mod new_file;
mod preview;
mod provider;
mod recipe;
mod render;
mod repair;
mod review;
mod run;
mod serve;
mod status;

use crate::cli::{Cli, Command};
use anyhow::Result;
use outbox_engine::{Engine, EngineOptions};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Opened by the commands that use the database (a preview does not).
    let data_dir = cli.data_dir.clone();
    let open = move || {
        Engine::open(EngineOptions {
            data_dir: data_dir.clone(),
            // No window shows previews here: a headless run keeps none.
            preview_cache_bytes: 0,
            ..EngineOptions::default()
        })
    };
    match cli.command {
        Command::Dest(cmd) => dest::run(&open()?, cmd),
        Command::Recipe(cmd) => recipe::run(&open()?, cmd),
        Command::Provider(cmd) => provider::run(&open()?, cmd),
        Command::Add(args) => add::run(&open()?, args),
        Command::Import(args) => import::run(&open()?, args),
        Command::Run(args) => run::run(&open()?, args),
        Command::Serve(args) => serve::run(&open()?, args),
        Command::Status(args) => status::status(&open()?, args),
        Command::History(args) => status::history(&open()?, args),
        Command::Retry(args) => control::retry(&open()?, args),
        Command::Cancel { jobs } => control::cancel(&open()?, &jobs),
        Command::Review { json } => review::list(&open()?, json),
        Command::Accept { jobs } => review::accept(&open()?, &jobs),
        Command::Discard { jobs } => review::discard(&open()?, &jobs),
        Command::Regenerate { jobs } => review::regenerate(&open()?, &jobs),
        Command::Pause(b) => control::pause(&open()?, b.batch, true),
        Command::Resume(b) => control::pause(&open()?, b.batch, false),
        Command::Clean { older_than } => control::clean(&open()?, older_than),
        Command::Retention(args) => control::retention(&open()?, &args),
        Command::Preview(args) => preview::run(&args),
        Command::Render(args) => render::run(&args, open),
        Command::Repair(args) => repair::run(&args, open),
    }
}

/// Runs a `test` command's check and says how it went in one sentence:
/// on stdout, or on stderr with exit code 1.
pub(crate) fn check<F>(name: &str, check: F) -> Result<ExitCode>
where
    F: std::future::Future<Output = outbox_engine::Result<String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(check) {
        Ok(summary) => {
            println!("ok: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("outbox: {name:?}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
