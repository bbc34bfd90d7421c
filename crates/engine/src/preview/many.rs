//! Previews of many files at once: one file per core at a time, each result
//! sent as soon as it exists (a JPEG's EXIF thumbnail first, then the real
//! preview), so the first tiles appear while the rest are still decoding.
//! The caller's thread only receives; it never decodes.

use super::{exif_thumbnail, preview, Preview};
use crate::pipeline::{read_source, sniff_format, GenerateError};
use image::ImageFormat;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

/// One step for one file; `index` is its position in the list asked for.
#[derive(Debug)]
pub enum PreviewEvent {
    /// The JPEG's embedded thumbnail: show it until the preview comes.
    Thumbnail {
        index: usize,
        preview: Preview,
    },
    Ready {
        index: usize,
        preview: Preview,
    },
    Failed {
        index: usize,
        error: GenerateError,
    },
}

/// Starts previewing `paths` on `threads` threads (at least one). Dropping
/// the receiver stops the work after the files in hand.
pub fn preview_many(paths: Vec<PathBuf>, size: u32, threads: usize) -> Receiver<PreviewEvent> {
    let (send, receive) = channel();
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..threads.max(1).min(paths.len()) {
        let (send, paths, next) = (send.clone(), paths.clone(), next.clone());
        std::thread::spawn(move || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(index) else {
                return;
            };
            // A failed send means nobody is listening any more.
            if previews_of(path, index, size, |event| send.send(event).is_ok()).is_none() {
                return;
            }
        });
    }
    receive
}

/// Emits the events of one file as they happen; `None` once `emit` refuses.
fn previews_of(
    path: &Path,
    index: usize,
    size: u32,
    emit: impl Fn(PreviewEvent) -> bool,
) -> Option<()> {
    let failed = |error| emit(PreviewEvent::Failed { index, error }).then_some(());
    let bytes = match read_source(path) {
        Ok(bytes) => bytes,
        Err(error) => return failed(error),
    };
    let format = match sniff_format(path, &bytes) {
        Ok(format) => format,
        Err(error) => return failed(error),
    };
    if format == ImageFormat::Jpeg {
        if let Some(preview) = exif_thumbnail(&bytes) {
            emit(PreviewEvent::Thumbnail { index, preview }).then_some(())?;
        }
    }
    match preview(&bytes, format, size) {
        Ok(preview) => emit(PreviewEvent::Ready { index, preview }).then_some(()),
        Err(error) => failed(error),
    }
}
