use super::print_json;
use crate::cli::{DestCommand, DestKind};
use anyhow::{bail, Result};
use outbox_engine::{DestinationView, Engine};
use std::process::ExitCode;

pub fn run(engine: &Engine, cmd: DestCommand) -> Result<ExitCode> {
    match cmd {
        DestCommand::Add {
            name,
            kind: DestKind::Folder,
            path,
            max_concurrent,
        } => {
            let Some(path) = path else {
                bail!("a folder destination needs --path DIR");
            };
            let path = std::path::absolute(&path)?;
            if !path.is_dir() {
                bail!("{} is not a folder (create it first)", path.display());
            }
            engine.add_destination(DestinationView {
                name: name.clone(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": path }),
                max_concurrent,
            })?;
            println!("added destination {name:?}: folder {}", path.display());
        }
        DestCommand::List { json } => {
            let list = engine.destinations()?;
            if json {
                print_json(&list)?;
            } else if list.is_empty() {
                println!("no destinations yet (the default folder is made on the first add)");
            } else {
                for d in list {
                    let path = d
                        .settings
                        .get("path")
                        .and_then(|p| p.as_str())
                        .unwrap_or("");
                    let limit = d
                        .max_concurrent
                        .map(|n| format!("  (at most {n} at once)"))
                        .unwrap_or_default();
                    println!("{:<16} {:<8} {path}{limit}", d.name, d.kind);
                }
            }
        }
        DestCommand::Remove { name } => {
            engine.remove_destination(&name)?;
            println!("removed destination {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
