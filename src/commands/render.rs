//! `outbox render`: a recipe over files, straight into a folder, one image
//! per core at a time. Each file succeeds or fails on its own.

use crate::cli::RenderArgs;
use anyhow::{bail, Context, Result};
use outbox_engine::pipeline::{Generate, GeneratedImage, LocalPipeline, SourceItem};
use outbox_engine::recipe::find_recipe;
use outbox_engine::{scan, Engine};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many `stem-N` names to try before giving up on a file.
const MAX_SAME_NAME: u32 = 10_000;

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
                        .and_then(|image| Ok((write_new(&args.output, &image)?, image)));
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

/// Writes under the output's name, or `stem-2.ext`, `stem-3.ext`… when taken:
/// never over an existing file (`create_new` makes each claim atomic, also
/// between the worker threads).
fn write_new(dir: &Path, image: &GeneratedImage) -> Result<PathBuf> {
    let (stem, ext) = match image.file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (image.file_name.as_str(), String::new()),
    };
    for n in 1..=MAX_SAME_NAME {
        let name = match n {
            1 => image.file_name.clone(),
            _ => format!("{stem}-{n}{ext}"),
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(&image.bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        }
    }
    bail!(
        "{MAX_SAME_NAME} files named like {} exist already in {}",
        image.file_name,
        dir.display()
    )
}
