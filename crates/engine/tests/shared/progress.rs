//! `Steps` that remember the upload progress reported (shared by the
//! destination tests).

use outbox_engine::destinations::{BoxFuture, DeliveryError, Steps};
use serde_json::Value;
use std::sync::Mutex;

#[derive(Default)]
pub struct Progress(Mutex<Vec<u64>>);

impl Steps for Progress {
    fn saved(&self) -> Option<Value> {
        None
    }
    fn may_have_arrived(&self) -> bool {
        false
    }
    fn save(&self, _: Value) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async { Ok(()) })
    }
    fn sent(&self, bytes: u64) {
        self.0.lock().unwrap().push(bytes);
    }
}

impl Progress {
    pub fn reports(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }
}
