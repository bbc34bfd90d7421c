//! One function per command, each a thin layer over the engine.

mod add;
mod control;
mod dest;
mod run;
mod status;

use crate::cli::{Cli, Command};
use anyhow::Result;
use outbox_engine::{Engine, EngineOptions};
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let engine = Engine::open(EngineOptions {
        data_dir: cli.data_dir.clone(),
        ..EngineOptions::default()
    })?;
    match cli.command {
        Command::Dest(cmd) => dest::run(&engine, cmd),
        Command::Add(args) => add::run(&engine, args),
        Command::Run(args) => run::run(&engine, args),
        Command::Status(args) => status::status(&engine, args),
        Command::History(args) => status::history(&engine, args),
        Command::Retry(args) => control::retry(&engine, args),
        Command::Cancel { jobs } => control::cancel(&engine, &jobs),
        Command::Pause(b) => control::pause(&engine, b.batch, true),
        Command::Resume(b) => control::pause(&engine, b.batch, false),
        Command::Clean { older_than } => control::clean(&engine, older_than),
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
