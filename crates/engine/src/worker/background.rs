//! Generation runs on threads of its own at a lower CPU priority: decoding a
//! queue of photos would otherwise take the cores from what the user is
//! waiting for right now (a dropped file's preview, the window's frames).
//! The scheduler still gives these threads every cycle nobody else wants,
//! so a headless run is as fast as before.

use std::future::Future;

/// How much lower than normal (Linux nice value): low enough that previews
/// and the webview win every contest, not so low that a busy desktop
/// starves the queue.
const NICENESS: libc::c_int = 10;

/// The work died before answering: what it said when it panicked.
#[derive(Debug)]
pub(crate) struct Crashed(pub String);

/// Runs `work` on a new low-priority thread; the future resolves with its
/// result. A thread per job is cheap beside decoding an image.
pub(crate) fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, Crashed>> {
    let (answer, result) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("outbox-generate".into())
        .spawn(move || {
            lower_this_threads_priority();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = answer.send(outcome.map_err(|panic| Crashed(panic_message(&*panic))));
        });
    async move {
        spawned.map_err(|e| Crashed(format!("cannot start a thread for it: {e}")))?;
        result
            .await
            .unwrap_or_else(|_| Err(Crashed("its thread ended without answering".into())))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Lowers the calling thread's CPU priority to the queue's (nice +10 on
/// Linux; elsewhere nothing): for the threads of a runtime that only works
/// the queue, beside a window that must stay smooth.
#[cfg(target_os = "linux")]
pub fn lower_this_threads_priority() {
    // On Linux the nice value belongs to the thread: this one only.
    // SAFETY: gettid and setpriority take plain integers and touch no memory.
    let done = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS)
    };
    if done != 0 {
        tracing::debug!(
            "generation runs at normal priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_this_threads_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_at_a_lower_priority_and_answers() {
        let nice = run(|| unsafe {
            libc::getpriority(
                libc::PRIO_PROCESS,
                libc::syscall(libc::SYS_gettid) as libc::id_t,
            )
        })
        .await
        .expect("the thread answers");
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert_eq!(nice, (here + NICENESS).min(19));
    }

    #[tokio::test]
    async fn a_panic_is_a_crash_not_a_hang() {
        let answer = run(|| -> u8 { panic!("a decoder bug") }).await;
        assert!(matches!(answer, Err(Crashed(m)) if m == "a decoder bug"));
    }
}
