use super::print_json;
use crate::cli::RecipeCommand;
use anyhow::{Context, Result};
use outbox_engine::recipe::{Operation, Recipe};
use outbox_engine::Engine;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(engine: &Engine, cmd: RecipeCommand) -> Result<ExitCode> {
    match cmd {
        RecipeCommand::Save { file } => {
            let recipe = read_recipe(&file)?;
            engine.save_recipe(&recipe)?;
            println!(
                "saved recipe {:?} ({} operation(s))",
                recipe.name,
                recipe.operations.len()
            );
        }
        RecipeCommand::List { json } => {
            let list = engine.recipes()?;
            if json {
                print_json(&list)?;
            } else {
                for view in list {
                    let ops: Vec<String> = view
                        .recipe
                        .operations
                        .iter()
                        .map(|op| serde_json::to_value(op).map_or_else(|_| "?".into(), op_name))
                        .collect();
                    let origin = if view.builtin { "built-in" } else { "saved" };
                    let ops = if ops.is_empty() {
                        "unchanged".to_string()
                    } else {
                        ops.join(", ")
                    };
                    println!("{:<16} {origin:<8} {ops}", view.recipe.name);
                }
            }
        }
        RecipeCommand::Show { name } => print_json(&engine.recipe(&name)?)?,
        RecipeCommand::Remove { name } => {
            engine.remove_recipe(&name)?;
            println!("removed recipe {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn op_name(value: serde_json::Value) -> String {
    value
        .get("op")
        .and_then(|op| op.as_str())
        .unwrap_or("?")
        .to_string()
}

/// Reads a recipe; a watermark image named relative to the recipe file is
/// made absolute, so the saved recipe works from any folder.
fn read_recipe(file: &Path) -> Result<Recipe> {
    let (text, base) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        (text, std::env::current_dir()?)
    } else {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let base = std::path::absolute(file)?
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        (text, base)
    };
    let mut recipe: Recipe = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a recipe", file.display()))?;
    for op in &mut recipe.operations {
        if let Operation::Watermark { image, .. } = op {
            if image.is_relative() {
                *image = base.join(&*image);
            }
        }
    }
    Ok(recipe)
}
