use super::new_file::write_new;
use crate::cli::PreviewArgs;
use anyhow::{bail, Context, Result};
use outbox_engine::preview::{exif_thumbnail, preview_file, preview_many, Preview, PreviewEvent};
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: &PreviewArgs) -> Result<ExitCode> {
    match args.paths.as_slice() {
        [path] => one(path, args),
        paths if args.exif_thumbnail => {
            bail!("--exif-thumbnail takes one path, not {}", paths.len())
        }
        _ => many(args),
    }
}

fn one(path: &Path, args: &PreviewArgs) -> Result<ExitCode> {
    let preview = if args.exif_thumbnail {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        match exif_thumbnail(&bytes) {
            Some(preview) => preview,
            None => bail!("{} has no embedded EXIF thumbnail", path.display()),
        }
    } else {
        preview_file(path, args.size).with_context(|| format!("{}", path.display()))?
    };
    std::fs::write(&args.output, &preview.jpeg)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    print_written(&preview, &args.output);
    Ok(ExitCode::SUCCESS)
}

/// Every file on all cores, each written as it is ready; a file that fails
/// is reported and the rest go on.
fn many(args: &PreviewArgs) -> Result<ExitCode> {
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut failed = 0;
    for event in preview_many(args.paths.clone(), args.size, threads) {
        let (index, result) = match event {
            PreviewEvent::Thumbnail { .. } => continue,
            PreviewEvent::Ready { index, preview } => (index, Ok(preview)),
            PreviewEvent::Failed { index, error } => (index, Err(error)),
        };
        let source = &args.paths[index];
        let name = source
            .file_name()
            .map_or_else(|| "preview".into(), |n| n.to_string_lossy().into_owned());
        let written = result.map_err(anyhow::Error::from).and_then(|preview| {
            Ok((
                write_new(dir, &format!("{name}.jpg"), &preview.jpeg)?,
                preview,
            ))
        });
        match written {
            Ok((path, preview)) => print_written(&preview, &path),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", source.display());
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "outbox: {} of {} preview(s) written",
            args.paths.len() - failed,
            args.paths.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_written(preview: &Preview, path: &Path) {
    println!("{}×{} {}", preview.width, preview.height, path.display());
}
