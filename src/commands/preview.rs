use crate::cli::PreviewArgs;
use anyhow::{bail, Context, Result};
use outbox_engine::preview::{exif_thumbnail, preview_file};
use std::process::ExitCode;

pub fn run(args: &PreviewArgs) -> Result<ExitCode> {
    let path = &args.path;
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
    println!(
        "{}×{} {}",
        preview.width,
        preview.height,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
