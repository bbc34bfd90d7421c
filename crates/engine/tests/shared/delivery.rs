//! Deliveries built by hand for the destination tests.

use outbox_engine::destinations::Delivery;
use std::path::{Path, PathBuf};

/// The sending queue's id in these deliveries.
pub const QUEUE: &str = "0123456789abcdef";

/// An output still in memory.
pub fn in_memory(job: i64, name: &str, bytes: Vec<u8>) -> Delivery {
    Delivery {
        queue_id: QUEUE.into(),
        job_id: job,
        file_name: name.into(),
        mime: "image/jpeg".into(),
        size: bytes.len() as u64,
        hash: *blake3::hash(&bytes).as_bytes(),
        // Nothing there: a delivery from memory must not read the file.
        path: PathBuf::from("/nonexistent/outbox-test"),
        bytes: Some(bytes.into()),
        fields: None,
    }
}

/// The same output, on disk only (as after a restart).
pub fn on_disk(dir: &Path, job: i64, name: &str, bytes: Vec<u8>) -> Delivery {
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    Delivery {
        path,
        bytes: None,
        ..in_memory(job, name, bytes)
    }
}
