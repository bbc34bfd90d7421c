//! The fuzz target's inputs as regression tests (see `fuzz/`): every input
//! that ever crashed it (`fuzz/regressions/preview/`) and the corpus it
//! grew (`fuzz/corpus/preview/`) go through the same calls on every test
//! run, and the seeds, which are valid images, must give a preview.

use outbox_engine::pipeline::GenerateError;
use outbox_engine::preview::{self, Preview};
use std::path::{Path, PathBuf};

/// What the fuzz target does with one input: its first byte picks the format.
fn preview_fuzz_input(data: &[u8]) -> Option<Result<Preview, GenerateError>> {
    let (&selector, bytes) = data.split_first()?;
    let format = preview::FORMATS[usize::from(selector) % preview::FORMATS.len()];
    let _ = preview::exif_thumbnail(bytes);
    Some(preview::preview(
        bytes,
        format,
        preview::DEFAULT_PREVIEW_SIZE,
    ))
}

fn inputs(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file() && !p.ends_with(".keep"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_is_an_image_the_preview_path_reads() {
    let seeds = inputs("seeds/preview");
    assert!(seeds.len() >= 6, "one seed per format at least");
    for seed in seeds {
        let data = std::fs::read(&seed).expect("read a seed");
        let made = preview_fuzz_input(&data).expect("a seed is not empty");
        let made = made.unwrap_or_else(|e| panic!("{}: {}", seed.display(), e.message));
        assert!(made.width > 0 && made.height > 0, "{}", seed.display());
    }
}

/// A panic here fails the test; an `Err` is the right answer to bad bytes.
#[test]
fn no_corpus_or_crash_input_panics() {
    let files: Vec<PathBuf> = inputs("corpus/preview")
        .into_iter()
        .chain(inputs("regressions/preview"))
        .collect();
    assert!(!files.is_empty());
    for file in &files {
        let data = std::fs::read(file).expect("read an input");
        let outcome = std::panic::catch_unwind(|| preview_fuzz_input(&data).map(|r| r.is_ok()));
        assert!(outcome.is_ok(), "{} panicked", file.display());
    }
}
