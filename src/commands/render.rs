//! `outbox render`: a recipe over files, straight into a folder, one image
//! per core at a time. Each file succeeds or fails on its own.

use super::new_file::write_new;
use crate::cli::RenderArgs;
use anyhow::{Context, Result};
use outbox_engine::pipeline::{Generate, LocalPipeline, SourceItem};
use outbox_engine::recipe::find_recipe;
use outbox_engine::{scan, Engine};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `open` gives the engine, for a saved recipe (built-in ones need no database).
pub fn run(
    args: &RenderArgs,
    open: impl FnOnce() -> outbox_engine::Result<Engine>,
) -> Result<ExitCode> {
    let recipe = match find_recipe(&args.recipe) {
        Ok(recipe) => recipe,
        Err(_) => open()?.recipe(&args.recipe)?,
    };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot make {}", args.output.display()))?;
    let scanned = scan(&args.paths);
    for skipped in &scanned.skipped {
        eprintln!("skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers.min(scanned.items.len()) {
            s.spawn(|| {
                while let Some(item) = scanned.items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let written = LocalPipeline::default()
                        .generate(SourceItem::file(&item.path), &recipe)
                        .map_err(anyhow::Error::from)
                        .and_then(|image| {
                            let path = write_new(&args.output, &image.file_name, &image.bytes)?;
                            Ok((path, image))
                        });
                    match written {
                        Ok((path, image)) => println!(
                            "{} -> {} ({}×{})",
                            item.path.display(),
                            path.display(),
                            image.width,
                            image.height
                        ),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("{}: {e:#}", item.path.display());
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner();
    if scanned.items.is_empty() || failed > 0 {
        eprintln!(
            "outbox: {} of {} image(s) rendered",
            scanned.items.len() - failed,
            scanned.items.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
