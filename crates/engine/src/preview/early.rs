//! Previews started before their job exists. The app starts the first
//! previews of a drop while the enqueue still waits for the disk; the job's
//! first preview request then picks the result up, waiting for it if the
//! decode is still running, instead of decoding the file a second time.

use super::Preview;
use crate::pipeline::GenerateError;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// One preview being made, or made: whoever gets to it first makes it, and
/// anyone else waits for that result.
pub(crate) type Made = Arc<OnceLock<Result<Arc<Preview>, GenerateError>>>;

/// Previews nobody asked for (the file was a duplicate, the window closed)
/// leave once this many newer ones have started.
const KEPT: usize = 16;

#[derive(Default)]
pub(crate) struct EarlyPreviews {
    started: Mutex<VecDeque<((PathBuf, u32), Made)>>,
}

impl EarlyPreviews {
    /// Registers the preview of `path` at `size` as started.
    pub fn start(&self, path: &Path, size: u32) -> Made {
        let made = Made::default();
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if started.len() == KEPT {
            started.pop_front();
        }
        started.push_back(((path.to_path_buf(), size), made.clone()));
        made
    }

    /// The preview of `path` at `size` started early, if any; it is handed
    /// out once.
    pub fn take(&self, path: &Path, size: u32) -> Option<Made> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let at = started
            .iter()
            .position(|((p, s), _)| p == path && *s == size)?;
        started.remove(at).map(|(_, made)| made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_preview_is_handed_out_once_and_only_for_its_file_and_size() {
        let early = EarlyPreviews::default();
        let made = early.start(Path::new("/a.jpg"), 512);
        assert!(early.take(Path::new("/a.jpg"), 256).is_none());
        assert!(early.take(Path::new("/b.jpg"), 512).is_none());
        let taken = early.take(Path::new("/a.jpg"), 512).expect("started");
        assert!(Arc::ptr_eq(&made, &taken));
        assert!(early.take(Path::new("/a.jpg"), 512).is_none());
    }

    #[test]
    fn previews_nobody_asked_for_do_not_pile_up() {
        let early = EarlyPreviews::default();
        for i in 0..KEPT + 3 {
            early.start(Path::new(&format!("/{i}.jpg")), 512);
        }
        assert!(early.take(Path::new("/0.jpg"), 512).is_none());
        assert!(early
            .take(Path::new(&format!("/{}.jpg", KEPT + 2)), 512)
            .is_some());
        assert_eq!(early.started.lock().expect("lock").len(), KEPT - 1);
    }
}
