//! The worker against scripted destinations and a clock the test moves:
//! retries and backoff, priorities, sequential batches, cancellation,
//! per-destination limits, crash recovery and quarantine.

mod support;

use outbox_engine::destinations::DeliveryError;
use outbox_engine::pipeline::{Generate, GenerateError, GeneratedImage, LocalPipeline, SourceItem};
use outbox_engine::recipe::Recipe;
use outbox_engine::{
    AddOptions, Clock, DestinationView, ErrorClass, JobId, JobState, Phase, Remote, RetryTarget,
    WorkerConfig,
};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;

fn transient(message: &str) -> Step {
    Step::Fail(DeliveryError::new(ErrorClass::Transient, message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_back_off_exponentially_on_the_clock_then_deliver() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    dest.script("a0.jpg", vec![transient("503 busy"), transient("503 busy")]);
    let job = bed.add(&bed.images("a", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));

    // First failure: pending, due 2 s ± 25 % later on the test's clock.
    let first = wait_for("the first retry to be scheduled", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.attempts == 1 && j.next_attempt_at.is_some())
            .then_some(j)
    })
    .await;
    let wait = first.next_attempt_at.unwrap() - bed.clock.now_ms();
    assert!((1500..=2500).contains(&wait), "first backoff {wait} ms");
    assert_eq!(first.error.as_ref().unwrap().class, ErrorClass::Transient);
    // Real time passing changes nothing: only the clock decides.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(bed.job(job).attempts, 1);

    bed.clock.advance(Duration::from_millis(wait as u64));
    let second = wait_for("the second retry to be scheduled", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.attempts == 2).then_some(j)
    })
    .await;
    let wait = second.next_attempt_at.unwrap() - bed.clock.now_ms();
    assert!((3000..=5000).contains(&wait), "second backoff {wait} ms");

    bed.clock.advance(Duration::from_millis(wait as u64));
    let done = wait_for("delivery", || {
        let j = bed.job(job);
        (j.state == JobState::Completed).then_some(j)
    })
    .await;
    assert_eq!(done.attempts, 3);
    assert_eq!(done.remote.unwrap().url.as_deref(), Some("test://a0.jpg"));
    assert_eq!(dest.attempts.load(Ordering::SeqCst), 3);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_upload_the_next_attempt_asks_the_destination_first() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    // The upload timed out after the body went out, but it had arrived.
    dest.script("a0.jpg", vec![transient("timed out")]);
    *dest.reconcile_answer.lock().unwrap() = Some(Remote {
        id: Some("arrived".into()),
        url: Some("test://arrived".into()),
    });
    let job = bed.add(&bed.images("a", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));
    wait_for("the retry to be scheduled", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.attempts == 1).then_some(())
    })
    .await;
    bed.clock.advance(Duration::from_secs(10));
    let done = wait_for("completion", || {
        let j = bed.job(job);
        (j.state == JobState::Completed).then_some(j)
    })
    .await;
    assert_eq!(done.remote.unwrap().id.as_deref(), Some("arrived"));
    assert_eq!(dest.attempts.load(Ordering::SeqCst), 1, "not sent twice");
    assert_eq!(dest.reconciles.load(Ordering::SeqCst), 1);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_from_the_server_sets_the_next_attempt() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let mut busy = DeliveryError::new(ErrorClass::Transient, "429 slow down");
    busy.retry_after = Some(Duration::from_secs(30));
    dest.script("a0.jpg", vec![Step::Fail(busy)]);
    let job = bed.add(&bed.images("a", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));
    let j = wait_for("the retry to be scheduled", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.attempts == 1 && j.next_attempt_at.is_some())
            .then_some(j)
    })
    .await;
    assert_eq!(j.next_attempt_at.unwrap() - bed.clock.now_ms(), 30_000);
    bed.clock.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        bed.job(job).state,
        JobState::Pending,
        "not before Retry-After"
    );
    bed.clock.advance(Duration::from_secs(1));
    wait_for("delivery", || {
        (bed.job(job).state == JobState::Completed).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A 429 with `Retry-After` holds the destination's other jobs until then
/// (they do not each run into the limit again), shows in the status, and
/// leaves other destinations alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_the_destinations_other_jobs_until_then() {
    let bed = TestBed::new();
    std::fs::create_dir_all(bed.path("elsewhere")).unwrap();
    bed.engine
        .add_destination(
            DestinationView {
                name: "elsewhere".into(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": bed.path("elsewhere") }),
                max_concurrent: None,
            },
            None,
        )
        .unwrap();
    let dest = Scripted::new();
    let mut busy = DeliveryError::new(ErrorClass::Transient, "429 Too Many Requests: slow down");
    busy.retry_after = Some(Duration::from_secs(30));
    dest.script("a0.jpg", vec![Step::Fail(busy)]);
    // Generated in order, a0 is the first upload; a1…a4 wait for the one
    // upload slot.
    let held = bed.add(&bed.images("a", 5), to("out"));
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(WorkerConfig {
            generate_concurrency: 1,
            upload_concurrency: 1,
            ..fast_worker()
        })
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));
    wait_for("the 429 to be recorded", || {
        (bed.job(held[0]).attempts == 1 && bed.job(held[0]).state == JobState::Pending)
            .then_some(())
    })
    .await;
    let status = bed.engine.status().unwrap();
    assert_eq!(status.cool_downs.len(), 1, "{:?}", status.cool_downs);
    let pause = &status.cool_downs[0];
    assert_eq!((pause.of, pause.name.as_str()), ("destination", "out"));
    assert_eq!(pause.until, bed.clock.now_ms() + 30_000);
    assert!(pause.reason.contains("429"), "{}", pause.reason);

    // Meanwhile another destination's work goes on.
    let other = bed.add(&bed.images("b", 1), to("elsewhere"))[0];
    wait_for("the other destination's delivery", || {
        (bed.job(other).state == JobState::Completed).then_some(())
    })
    .await;
    bed.clock.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        dest.attempts.load(Ordering::SeqCst),
        2,
        "one 429 and the other destination's upload, nothing else before Retry-After"
    );
    for &job in &held {
        assert_eq!(bed.job(job).state, JobState::Pending, "job {job} held");
    }

    bed.clock.advance(Duration::from_secs(1));
    wait_for("every held job to be delivered", || {
        held.iter()
            .all(|&j| bed.job(j).state == JobState::Completed)
            .then_some(())
    })
    .await;
    assert!(bed.engine.status().unwrap().cool_downs.is_empty());
    for &job in &held[1..] {
        assert_eq!(
            bed.job(job).attempts,
            1,
            "job {job} spent no attempt on the limit"
        );
    }
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A destination that asks to wait (WordPress, while an interrupted upload
/// may still be finishing on the site) is asked again at the time it gave,
/// as often as it asks, without spending the job's attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_asks_to_wait_is_asked_again_later_without_spending_attempts() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let wait = || DeliveryError::waiting("settling", Duration::from_secs(20));
    // More waits than the job has attempts (three by default).
    dest.script(
        "w0.jpg",
        vec![
            Step::Fail(wait()),
            Step::Fail(wait()),
            Step::Fail(wait()),
            Step::Fail(wait()),
        ],
    );
    let job = bed.add(&bed.images("w", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));
    for round in 1..=4 {
        let j = wait_for("the wait to be recorded", || {
            let j = bed.job(job);
            (j.state == JobState::Pending
                && j.next_attempt_at.is_some_and(|t| t > bed.clock.now_ms()))
            .then_some(j)
        })
        .await;
        assert_eq!(
            j.next_attempt_at.unwrap() - bed.clock.now_ms(),
            20_000,
            "round {round}"
        );
        assert_eq!(j.attempts, 0, "a wait is not an attempt (round {round})");
        assert_eq!(
            j.error.as_ref().map(|e| e.message.as_str()),
            Some("settling")
        );
        bed.clock.advance(Duration::from_secs(20));
    }
    let j = wait_for("delivery", || {
        let j = bed.job(job);
        (j.state == JobState::Completed).then_some(j)
    })
    .await;
    assert_eq!(j.attempts, 1);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_at_once_and_exhausted_retries_fail_with_the_count() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    dest.script(
        "p0.jpg",
        vec![Step::Fail(DeliveryError::new(
            ErrorClass::Permanent,
            "401 wrong password",
        ))],
    );
    dest.script("t0.jpg", vec![transient("timeout"); 5]);
    let permanent = bed.add(&bed.images("p", 1), to("out"))[0];
    let flaky = bed.add(&bed.images("t", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));

    let failed = wait_for("the permanent failure", || {
        let j = bed.job(permanent);
        (j.state == JobState::Failed).then_some(j)
    })
    .await;
    assert_eq!(failed.attempts, 1);
    let error = failed.error.unwrap();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert_eq!(error.message, "401 wrong password");

    for _ in 0..3 {
        bed.clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gave_up = wait_for("giving up", || {
        let j = bed.job(flaky);
        (j.state == JobState::Failed).then_some(j)
    })
    .await;
    assert_eq!(gave_up.attempts, 3);
    assert_eq!(
        gave_up.error.unwrap().message,
        "gave up after 3 attempts: timeout"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Records the order in which sources are generated, and can be slow for some.
struct RecordingGenerator {
    order: Mutex<Vec<String>>,
    slow: Vec<String>,
}

impl Generate for RecordingGenerator {
    fn generate(
        &self,
        item: SourceItem<'_>,
        recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError> {
        let name = item
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        self.order.lock().unwrap().push(name.clone());
        if self.slow.contains(&name) {
            std::thread::sleep(Duration::from_millis(300));
        }
        LocalPipeline::default().generate(item, recipe)
    }
}

fn one_at_a_time() -> WorkerConfig {
    WorkerConfig {
        generate_concurrency: 1,
        upload_concurrency: 1,
        until_idle: true,
        ..fast_worker()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_first_then_first_in_first_out() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let low = bed.images("low", 3);
    let high = bed.images("high", 3);
    bed.add(&low, to("out"));
    bed.add(
        &high,
        AddOptions {
            priority: 5,
            ..to("out")
        },
    );
    bed.run_with(one_at_a_time(), &dest).await;
    assert_eq!(
        dest.delivered(),
        [
            "high0.jpg",
            "high1.jpg",
            "high2.jpg",
            "low0.jpg",
            "low1.jpg",
            "low2.jpg"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_retry_goes_to_the_front_of_the_backlog() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let gone = bed.path("gone.png");
    write_png(&gone, 8, 8, 99);
    let job = bed.add(std::slice::from_ref(&gone), to("out"))[0];
    std::fs::rename(&gone, bed.path("aside.png")).unwrap();
    bed.run_with(one_at_a_time(), &dest).await;
    let failed = bed.job(job);
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_ref().unwrap().class, ErrorClass::NeedsUser);
    assert!(failed
        .error
        .unwrap()
        .message
        .contains("the source file is gone"));

    // A backlog arrives, the file comes back, the user retries.
    bed.add(&bed.images("backlog", 4), to("out"));
    std::fs::rename(bed.path("aside.png"), &gone).unwrap();
    let report = bed
        .engine
        .retry(&outbox_engine::RetryTarget::Jobs(vec![job]))
        .unwrap();
    assert_eq!(report.retried, vec![job]);
    let generator = Arc::new(RecordingGenerator {
        order: Mutex::new(Vec::new()),
        slow: Vec::new(),
    });
    bed.engine
        .worker(one_at_a_time())
        .with_generator(generator.clone())
        .with_destinations(Arc::new(AllTo(dest.clone())))
        .run(CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(generator.order.lock().unwrap()[0], "gone.png");
    let retried = bed.job(job);
    assert_eq!(retried.state, JobState::Completed);
    assert_eq!((retried.attempts, retried.manual_retries), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequential_batch_is_delivered_strictly_in_order() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    // The first item is the slowest to generate: the others must wait for it.
    let generator = Arc::new(RecordingGenerator {
        order: Mutex::new(Vec::new()),
        slow: vec!["s0.png".into()],
    });
    bed.add(
        &bed.images("s", 5),
        AddOptions {
            sequential: true,
            ..to("out")
        },
    );
    bed.engine
        .worker(WorkerConfig {
            generate_concurrency: 3,
            upload_concurrency: 3,
            until_idle: true,
            ..fast_worker()
        })
        .with_generator(generator.clone())
        .with_destinations(Arc::new(AllTo(dest.clone())))
        .run(CancellationToken::new())
        .await
        .unwrap();
    let generated = generator.order.lock().unwrap().clone();
    assert_ne!(
        generated.last().map(String::as_str),
        Some("s0.png"),
        "{generated:?}"
    );
    assert_eq!(
        dest.delivered(),
        ["s0.jpg", "s1.jpg", "s2.jpg", "s3.jpg", "s4.jpg"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_item_holds_back_the_rest_of_its_sequence_until_cancelled() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    dest.script(
        "q1.jpg",
        vec![Step::Fail(DeliveryError::new(
            ErrorClass::Permanent,
            "422 rejected",
        ))],
    );
    let jobs = bed.add(
        &bed.images("q", 4),
        AddOptions {
            sequential: true,
            ..to("out")
        },
    );
    let run = || {
        bed.engine
            .worker(one_at_a_time())
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(CancellationToken::new())
    };
    run().await.unwrap();
    let states: Vec<JobState> = jobs.iter().map(|&j| bed.job(j).state).collect();
    assert_eq!(
        states,
        [
            JobState::Completed,
            JobState::Failed,
            JobState::Pending,
            JobState::Pending
        ]
    );
    bed.engine.cancel(&[jobs[1]]).unwrap();
    run().await.unwrap();
    assert_eq!(dest.delivered(), ["q0.jpg", "q2.jpg", "q3.jpg"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_job_in_flight_stops_its_upload() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    dest.script("c0.jpg", vec![Step::Hang]);
    let job = bed.add(&bed.images("c", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        bed.engine
            .worker(fast_worker())
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(stop.clone()),
    );
    wait_for("the upload to start", || {
        let j = bed.job(job);
        (j.state == JobState::Processing
            && j.phase == Phase::Upload
            && dest.attempts.load(Ordering::SeqCst) == 1)
            .then_some(())
    })
    .await;
    bed.engine.cancel(&[job]).unwrap();
    wait_for("the upload to be dropped", || {
        (dest.dropped_while_hanging.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let j = bed.job(job);
    assert_eq!(j.state, JobState::Cancelled);
    assert!(dest.delivered().is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_limit_caps_its_concurrent_uploads() {
    let bed = TestBed::new();
    std::fs::create_dir_all(bed.path("slow-out")).unwrap();
    bed.engine
        .add_destination(
            DestinationView {
                name: "slow".into(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": bed.path("slow-out") }),
                max_concurrent: Some(1),
            },
            None,
        )
        .unwrap();
    let dest = Scripted::new();
    *dest.delay.lock().unwrap() = Duration::from_millis(40);
    bed.add(&bed.images("l", 6), to("slow"));
    bed.run_with(
        WorkerConfig {
            upload_concurrency: 3,
            until_idle: true,
            ..fast_worker()
        },
        &dest,
    )
    .await;
    assert_eq!(dest.delivered().len(), 6);
    assert_eq!(dest.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_uploads_run_at_once_up_to_the_concurrency() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    *dest.delay.lock().unwrap() = Duration::from_millis(80);
    bed.add(&bed.images("m", 9), to("out"));
    bed.run_with(
        WorkerConfig {
            upload_concurrency: 3,
            until_idle: true,
            ..fast_worker()
        },
        &dest,
    )
    .await;
    assert_eq!(dest.delivered().len(), 9);
    assert_eq!(dest.max_in_flight.load(Ordering::SeqCst), 3);
}

/// Queues one image whose upload hangs (the body went out, no answer came),
/// then "kills" the worker mid-upload: its run lock is released as when a
/// process dies, and the job is left `processing`.
async fn crash_during_upload(bed: &TestBed, dest: &Arc<Scripted>, prefix: &str) -> JobId {
    dest.script(&format!("{prefix}0.jpg"), vec![Step::Hang]);
    let job = bed.add(&bed.images(prefix, 1), to("out"))[0];
    let crashed = bed.spawn_worker(dest);
    wait_for("the upload to start", || {
        (dest.attempts.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    crashed.abort();
    let _ = crashed.await;
    assert_eq!(bed.job(job).state, JobState::Processing);
    job
}

fn until_idle() -> WorkerConfig {
    WorkerConfig {
        until_idle: true,
        ..fast_worker()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_interrupted_by_a_crash_is_reconciled_not_sent_again() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let job = crash_during_upload(&bed, &dest, "u").await;
    *dest.reconcile_answer.lock().unwrap() = Some(Remote {
        id: Some("already-there".into()),
        url: Some("test://u0.jpg".into()),
    });
    let summary = bed.run_with(until_idle(), &dest).await;
    assert_eq!(summary.dead_runs_found, 1);
    let j = bed.job(job);
    assert_eq!(j.state, JobState::Completed);
    assert_eq!(j.remote.unwrap().id.as_deref(), Some("already-there"));
    assert_eq!(j.attempts, 1, "recovery resumes the interrupted attempt");
    assert_eq!(dest.reconciles.load(Ordering::SeqCst), 1);
    assert_eq!(
        dest.attempts.load(Ordering::SeqCst),
        1,
        "not sent a second time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_that_did_not_arrive_is_sent_after_reconciling() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let job = crash_during_upload(&bed, &dest, "v").await;
    bed.run_with(until_idle(), &dest).await;
    assert_eq!(bed.job(job).state, JobState::Completed);
    assert_eq!(dest.reconciles.load(Ordering::SeqCst), 1);
    assert_eq!(dest.delivered(), ["v0.jpg"]);
}

/// A generator that does not return before the test "kills" the worker (a
/// blocking thread cannot be stopped, and the test runtime waits for it at
/// the end, so it gives up after a while).
struct Hangs;
impl Generate for Hangs {
    fn generate(&self, _: SourceItem<'_>, _: &Recipe) -> Result<GeneratedImage, GenerateError> {
        std::thread::sleep(Duration::from_millis(1500));
        Err(GenerateError {
            class: ErrorClass::Transient,
            message: "unreachable".into(),
        })
    }
}

/// A worker that dies (its task aborted, as a crash would) while it is
/// generating `job`.
async fn die_while_generating(bed: &TestBed, job: JobId) {
    let crashed = tokio::spawn(
        bed.engine
            .worker(fast_worker())
            .with_generator(Arc::new(Hangs))
            .run(CancellationToken::new()),
    );
    wait_for("generation to start", || {
        let j = bed.job(job);
        (j.state == JobState::Processing && j.started_at.is_some()).then_some(())
    })
    .await;
    // Give the claim a moment to be the one of this run.
    tokio::time::sleep(Duration::from_millis(50)).await;
    crashed.abort();
    let _ = crashed.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_that_keeps_killing_the_worker_is_quarantined() {
    let bed = TestBed::new();
    let job = bed.add(&bed.images("k", 1), to("out"))[0];
    for crash in 1..=3 {
        die_while_generating(&bed, job).await;
        assert_eq!(
            bed.job(job).state,
            JobState::Processing,
            "after crash {crash}"
        );
    }
    let summary = bed.run_until_idle().await;
    assert_eq!((summary.quarantined, summary.failed), (1, 1), "{summary:?}");
    let j = bed.job(job);
    assert_eq!(j.state, JobState::Failed);
    let error = j.error.unwrap();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error
            .message
            .starts_with("quarantined: Outbox stopped 3 times"),
        "{}",
        error.message
    );

    // A manual retry forgets the crashes: one more crash is not a quarantine.
    bed.engine.retry(&RetryTarget::Jobs(vec![job])).unwrap();
    die_while_generating(&bed, job).await;
    let summary = bed.run_until_idle().await;
    assert_eq!(
        (summary.quarantined, summary.completed),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(bed.job(job).state, JobState::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_starts_nothing_and_resumes_by_itself() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    bed.engine.pause(None).unwrap();
    let jobs = bed.add(&bed.images("z", 2), to("out"));
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        bed.engine
            .worker(fast_worker())
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(stop.clone()),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(jobs.iter().all(|&j| bed.job(j).state == JobState::Pending));
    bed.engine.resume(None).unwrap();
    wait_for("delivery after resume", || {
        (dest.delivered().len() == 2).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_running_jobs_finish_and_ends_the_run_cleanly() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    *dest.delay.lock().unwrap() = Duration::from_millis(200);
    let jobs = bed.add(&bed.images("g", 1), to("out"));
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        bed.engine
            .worker(fast_worker())
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(stop.clone()),
    );
    wait_for("the upload to start", || {
        (dest.attempts.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(bed.job(jobs[0]).state, JobState::Completed);
    // A clean stop leaves nothing to recover.
    let summary = bed.run_until_idle().await;
    assert_eq!(summary.dead_runs_found, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_preview_comes_from_memory_or_is_made_again_from_its_output_file() {
    for (what, cache_bytes) in [("cached", 64 << 20), ("nothing cached", 0)] {
        let bed = TestBed::with_options(|o| {
            o.output_cache_bytes = cache_bytes;
            o.preview_cache_bytes = cache_bytes;
        });
        let source = bed.path("wide.png");
        write_png(&source, 400, 200, 9);
        let job = bed.add(&[source], to("out"))[0];
        assert_eq!(
            bed.engine.preview(job, 100).unwrap(),
            None,
            "{what}: no output yet"
        );
        bed.run_until_idle().await;

        let first = bed.engine.preview(job, 100).unwrap().expect("a preview");
        assert_eq!((first.width, first.height), (100, 50), "{what}");
        let again = bed.engine.preview(job, 100).unwrap().expect("a preview");
        assert_eq!(Arc::ptr_eq(&first, &again), cache_bytes > 0, "{what}");
        assert_eq!(
            first.jpeg, again.jpeg,
            "{what}: the same preview either way"
        );
        let other_size = bed.engine.preview(job, 40).unwrap().expect("a preview");
        assert_eq!((other_size.width, other_size.height), (40, 20), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_keeps_the_preview_it_made_while_generating() {
    let bed = TestBed::with_options(|o| o.output_cache_bytes = 0);
    let source = bed.path("big.png");
    write_png(&source, 1200, 600, 3);
    let job = bed.add(&[source], to("out"))[0];
    bed.run_until_idle().await;
    // With the output neither in memory nor on disk, only the preview made
    // from the decoded pixels can answer.
    for entry in std::fs::read_dir(bed.engine.data_dir().join("outputs")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let size = outbox_engine::preview::DEFAULT_PREVIEW_SIZE;
    let preview = bed
        .engine
        .preview(job, size)
        .unwrap()
        .expect("kept from generation");
    assert_eq!((preview.width, preview.height), (512, 256));
    assert!(
        bed.engine.preview(job, 100).is_err(),
        "another size needs the output, which is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_held_for_review_wait_for_accept_and_can_be_made_again() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let options = AddOptions {
        review: true,
        ..to("out")
    };
    let jobs = bed.add(&bed.images("r", 3), options);
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        bed.engine
            .worker(fast_worker())
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(stop.clone()),
    );
    wait_for("three outputs waiting for review", || {
        jobs.iter()
            .all(|&j| bed.job(j).awaiting_review)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        dest.attempts.load(Ordering::SeqCst),
        0,
        "nothing uploaded unreviewed"
    );
    assert!(
        bed.engine.preview(jobs[0], 64).unwrap().is_some(),
        "the output can be seen"
    );

    // Accept one, discard one (a cancel), make the third again.
    bed.engine.accept(&[jobs[0]]).unwrap();
    bed.engine.cancel(&[jobs[1]]).unwrap();
    let old_output = bed
        .engine
        .output_bytes(jobs[2])
        .unwrap()
        .expect("an output");
    bed.engine.regenerate(&[jobs[2]]).unwrap();
    wait_for("the accepted one delivered", || {
        (bed.job(jobs[0]).state == JobState::Completed).then_some(())
    })
    .await;
    wait_for("the third made again and held again", || {
        let j = bed.job(jobs[2]);
        (j.awaiting_review && j.phase == Phase::Upload).then_some(())
    })
    .await;
    assert_eq!(
        bed.engine.output_bytes(jobs[2]).unwrap().as_deref(),
        Some(&old_output[..]),
        "the local recipe makes the same output again"
    );
    assert_eq!(dest.delivered().len(), 1);
    assert_eq!(bed.job(jobs[1]).state, JobState::Cancelled);

    // Only outputs waiting for review can be accepted or made again.
    let err = bed.engine.accept(&[jobs[0]]).unwrap_err();
    assert!(
        err.to_string().contains("no output waiting for review"),
        "{err}"
    );
    assert!(bed.engine.regenerate(&[jobs[1]]).is_err());
    assert!(bed.engine.accept(&[9999]).is_err());
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_job_waits_the_configured_time_before_its_output_is_generated() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    let job = bed.add(&bed.images("p", 1), to("out"))[0];
    let stop = CancellationToken::new();
    let config = WorkerConfig {
        generate_after: Duration::from_secs(10),
        ..fast_worker()
    };
    let running = tokio::spawn(
        bed.engine
            .worker(config)
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(stop.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = bed.job(job);
    assert_eq!(
        (waiting.state, waiting.phase),
        (JobState::Pending, Phase::Generate)
    );
    bed.clock.advance(Duration::from_secs(10));
    wait_for("generation and delivery once the time has passed", || {
        (bed.job(job).state == JobState::Completed).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}
