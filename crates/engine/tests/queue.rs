//! The queue through the engine's API on a real SQLite file: enqueue,
//! duplicates, user actions and their refusals, history, clean-up, frozen
//! settings, and a damaged or locked database.

mod support;

use outbox_engine::{
    AddOptions, Clock, DestinationView, Engine, EngineOptions, Error, ErrorClass, HistoryQuery,
    JobState, NewItem, Retention, RetryTarget, StateCounts,
};
use std::time::Duration;
use support::*;

/// Counts by a full scan, to check the counters kept with every change.
fn counted_by_scan(bed: &TestBed) -> StateCounts {
    let db = rusqlite::Connection::open(bed.engine.database_path()).unwrap();
    let mut counts = StateCounts::default();
    let mut stmt = db
        .prepare("SELECT state, count(*) FROM jobs GROUP BY state")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
        .unwrap();
    for row in rows {
        let (state, n) = row.unwrap();
        match JobState::parse(&state).unwrap() {
            JobState::Pending => counts.pending = n,
            JobState::Processing => counts.processing = n,
            JobState::Completed => counts.completed = n,
            JobState::Failed => counts.failed = n,
            JobState::Paused => counts.paused = n,
            JobState::Cancelled => counts.cancelled = n,
        }
        counts.total += n;
    }
    counts
}

#[test]
fn an_enqueue_is_on_disk_when_add_returns() {
    let bed = TestBed::new();
    let jobs = bed.add(&bed.images("d", 3), to("out"));
    assert_eq!(jobs.len(), 3);
    // A second, independent connection sees the committed rows.
    let reopened = Engine::open(EngineOptions {
        data_dir: Some(bed.engine.data_dir().to_path_buf()),
        ..EngineOptions::default()
    })
    .unwrap();
    assert_eq!(reopened.counts().unwrap().pending, 3);
    let journal: String = rusqlite::Connection::open(bed.engine.database_path())
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn adding_the_same_files_again_names_the_existing_jobs_and_force_sends_again() {
    let bed = TestBed::new();
    let images = bed.images("dup", 2);
    let first = bed.add(&images, to("out"));
    let again = bed.engine.add(&images, &to("out")).unwrap();
    assert!(again.added.is_empty());
    assert_eq!(again.batch_id, None);
    let named: Vec<_> = again.duplicates.iter().map(|d| d.existing_job).collect();
    assert_eq!(named, first);
    assert!(again
        .duplicates
        .iter()
        .all(|d| d.state == JobState::Pending));

    // Another destination is not a duplicate; --force is not either.
    let forced = bed
        .engine
        .add(
            &images,
            &AddOptions {
                force: true,
                ..to("out")
            },
        )
        .unwrap();
    assert_eq!(forced.added.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_under_another_name_is_caught_when_its_bytes_are_read() {
    let bed = TestBed::new();
    let original = bed.images("orig", 1);
    let copy = bed.path("copy.png");
    std::fs::copy(&original[0], &copy).unwrap();
    let first = bed.add(&original, to("out"))[0];
    bed.run_until_idle().await;
    let second = bed.add(&[copy], to("out"))[0];
    bed.run_until_idle().await;

    assert_eq!(bed.job(first).state, JobState::Completed);
    let dup = bed.job(second);
    assert_eq!(dup.state, JobState::Cancelled);
    let message = dup.error.unwrap().message;
    assert!(
        message.contains(&format!("already completed as job {first} at file://")),
        "{message}"
    );
    assert_eq!(std::fs::read_dir(bed.path("out")).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_changes_are_refused_with_an_error() {
    let bed = TestBed::new();
    let job = bed.add(&bed.images("i", 1), to("out"))[0];
    bed.run_until_idle().await;
    assert_eq!(bed.job(job).state, JobState::Completed);
    match bed.engine.retry(&RetryTarget::Jobs(vec![job])) {
        Err(Error::InvalidTransition { from, to, .. }) => {
            assert_eq!((from, to), (JobState::Completed, JobState::Pending))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        bed.engine.cancel(&[job]),
        Err(Error::InvalidTransition { .. })
    ));
    assert!(matches!(
        bed.engine.cancel(&[9999]),
        Err(Error::NoSuchJob(9999))
    ));
    assert!(matches!(
        bed.engine.pause(Some(77)),
        Err(Error::NoSuchBatch(77))
    ));
    assert_eq!(bed.job(job).state, JobState::Completed);
}

#[test]
fn unknown_destination_and_recipe_are_refused_before_anything_is_queued() {
    let bed = TestBed::new();
    let images = bed.images("u", 1);
    let err = bed.engine.add(&images, &to("nowhere")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no destination named \"nowhere\"; `outbox dest list` shows the ones there are"
    );
    let err = bed
        .engine
        .add(
            &images,
            &AddOptions {
                recipe: Some("sepia".into()),
                ..to("out")
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no recipe named \"sepia\"; the recipes are: web, thumbnail, original"
    );
    assert_eq!(bed.engine.counts().unwrap().total, 0);
}

#[test]
fn pausing_a_batch_parks_its_waiting_jobs_and_resuming_brings_them_back() {
    let bed = TestBed::new();
    let a = bed.engine.add(&bed.images("pa", 3), &to("out")).unwrap();
    let b = bed.add(&bed.images("pb", 2), to("out"));
    let batch = a.batch_id.unwrap();
    assert_eq!(bed.engine.pause(Some(batch)).unwrap(), 3);
    let status = bed.engine.status().unwrap();
    assert_eq!((status.counts.paused, status.counts.pending), (3, 2));
    assert!(status.batches.iter().any(|v| v.id == batch && v.paused));
    assert!(b.iter().all(|&j| bed.job(j).state == JobState::Pending));
    assert_eq!(bed.engine.resume(Some(batch)).unwrap(), 3);
    assert_eq!(bed.engine.counts().unwrap().pending, 5);
    assert_eq!(counted_by_scan(&bed), bed.engine.counts().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_newest_first_and_filters_by_state() {
    let bed = TestBed::new();
    let mut images = bed.images("h", 4);
    let bad = bed.path("bad.jpg");
    std::fs::write(&bad, b"this is text").unwrap();
    images.push(bad);
    let jobs = bed.add(&images, to("out"));
    bed.run_until_idle().await;

    let page = |limit, offset| {
        bed.engine
            .history(&HistoryQuery {
                limit,
                offset,
                ..HistoryQuery::default()
            })
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(2, 0), [jobs[4], jobs[3]]);
    assert_eq!(page(2, 2), [jobs[2], jobs[1]]);
    assert_eq!(page(2, 4), [jobs[0]]);
    let failed = bed
        .engine
        .history(&HistoryQuery {
            state: Some(JobState::Failed),
            limit: 10,
            ..HistoryQuery::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, jobs[4]);
    let error = failed[0].error.as_ref().unwrap();
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(
        error
            .message
            .starts_with("not an image: its name ends in .jpg"),
        "{}",
        error.message
    );
    assert_eq!(counted_by_scan(&bed), bed.engine.counts().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_finished_jobs_older_than_asked_and_their_outputs() {
    let bed = TestBed::new();
    let old = bed.add(&bed.images("old", 2), to("out"));
    bed.run_until_idle().await;
    bed.clock.advance(Duration::from_secs(3 * 86_400));
    let recent = bed.add(&bed.images("new", 1), to("out"));
    bed.run_until_idle().await;
    let waiting = bed.add(&bed.images("wait", 1), to("out"));
    let outputs = bed.engine.data_dir().join("outputs");
    assert_eq!(std::fs::read_dir(&outputs).unwrap().count(), 3);

    let removed = bed.engine.clean(Duration::from_secs(2 * 86_400)).unwrap();
    assert_eq!(removed, 2);
    assert!(old.iter().all(|&j| bed.engine.job(j).unwrap().is_none()));
    assert_eq!(bed.job(recent[0]).state, JobState::Completed);
    assert_eq!(bed.job(waiting[0]).state, JobState::Pending);
    assert_eq!(std::fs::read_dir(&outputs).unwrap().count(), 1);
    let counts = bed.engine.counts().unwrap();
    assert_eq!((counts.total, counts.completed, counts.pending), (2, 1, 1));
    assert_eq!(counted_by_scan(&bed), counts);
    // Delivered files are the user's: clean-up never touches them.
    assert_eq!(std::fs::read_dir(bed.path("out")).unwrap().count(), 3);
}

/// Retention keeps the newest jobs and the recent ones; the rest go with
/// their outputs and the pasted images only they used, never pending work or
/// the user's own files; a rule of zero is refused and changes nothing; the
/// worker applies the rules by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_and_recent_jobs_and_removes_the_rest_with_their_files() {
    let bed = TestBed::new();
    let mine = bed.images("old", 4);
    let old = bed.add(&mine, to("out"));
    let png = std::fs::read(&mine[0]).unwrap();
    let pasted = bed
        .engine
        .add_pasted(&[png.as_slice(), b"\0"].concat(), &to("out"))
        .unwrap()
        .added;
    bed.run_until_idle().await;
    bed.clock.advance(Duration::from_secs(86_400));
    let recent = bed.add(&bed.images("new", 3), to("out"));
    bed.run_until_idle().await;
    bed.engine.pause(None).unwrap();
    let waiting = bed.add(&bed.images("wait", 2), to("out"));
    let outputs = bed.engine.data_dir().join("outputs");
    let pasted_dir = bed.engine.data_dir().join("pasted");
    assert_eq!(std::fs::read_dir(&outputs).unwrap().count(), 8);
    assert_eq!(std::fs::read_dir(&pasted_dir).unwrap().count(), 1);

    let defaults = bed.engine.retention().unwrap();
    assert_eq!(defaults, Retention::default());
    assert_eq!(
        bed.engine.apply_retention().unwrap(),
        0,
        "the defaults keep all of it"
    );
    let zero = Retention {
        completed_keep: 0,
        ..defaults
    };
    let refused = bed.engine.set_retention(&zero).unwrap_err().to_string();
    assert!(refused.contains("at least 1"), "{refused}");
    assert_eq!(bed.engine.retention().unwrap(), defaults, "nothing changed");

    let keep_three = Retention {
        completed_keep: 3,
        ..defaults
    };
    bed.engine.set_retention(&keep_three).unwrap();
    assert_eq!(bed.engine.apply_retention().unwrap(), 5);
    for &job in old.iter().chain(&pasted) {
        assert!(bed.engine.job(job).unwrap().is_none(), "job {job} removed");
    }
    for &job in &recent {
        assert_eq!(bed.job(job).state, JobState::Completed);
    }
    assert_eq!(std::fs::read_dir(&outputs).unwrap().count(), 3);
    assert_eq!(
        std::fs::read_dir(&pasted_dir).unwrap().count(),
        0,
        "its image went with it"
    );
    assert!(
        mine.iter().all(|p| p.exists()),
        "the user's own images stay"
    );
    assert_eq!(std::fs::read_dir(bed.path("out")).unwrap().count(), 8);

    // Past the age limit, a running worker removes them itself.
    bed.clock.advance(Duration::from_secs(31 * 86_400));
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(bed.engine.worker(fast_worker()).run(stop.clone()));
    wait_for("the worker to apply the rules", || {
        recent
            .iter()
            .all(|&j| bed.engine.job(j).unwrap().is_none())
            .then_some(())
    })
    .await;
    stop.cancel();
    worker.await.unwrap().unwrap();
    for &job in &waiting {
        assert_eq!(bed.job(job).state, JobState::Pending, "pending work stays");
    }
    let counts = bed.engine.counts().unwrap();
    assert_eq!((counts.total, counts.pending), (2, 2));
    assert_eq!(counted_by_scan(&bed), counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_goes_where_the_job_was_first_sent_even_after_the_destination_changed() {
    let bed = TestBed::new();
    let first = bed.path("first-place");
    bed.engine
        .add_destination(
            DestinationView {
                name: "photos".into(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": first }),
                max_concurrent: None,
            },
            None,
        )
        .unwrap();
    // The folder is missing: the job fails, needing the user.
    let job = bed.add(&bed.images("f", 1), to("photos"))[0];
    bed.run_until_idle().await;
    let failed = bed.job(job);
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_ref().unwrap().class, ErrorClass::NeedsUser);
    assert!(failed.error.unwrap().message.contains("does not exist"));

    // The user re-points "photos" elsewhere, then makes the first folder.
    let second = bed.path("second-place");
    std::fs::create_dir_all(&second).unwrap();
    bed.engine.remove_destination("photos").unwrap();
    bed.engine
        .add_destination(
            DestinationView {
                name: "photos".into(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": second }),
                max_concurrent: None,
            },
            None,
        )
        .unwrap();
    std::fs::create_dir_all(&first).unwrap();
    bed.engine.retry(&RetryTarget::AllFailed).unwrap();
    bed.run_until_idle().await;
    assert_eq!(bed.job(job).state, JobState::Completed);
    assert!(first.join("f0.jpg").is_file());
    assert_eq!(std::fs::read_dir(&second).unwrap().count(), 0);
}

#[tokio::test]
async fn a_folder_test_names_the_folder_setting_when_the_folder_is_missing() {
    let bed = TestBed::new();
    assert!(bed.engine.test_destination("out").await.is_ok());
    std::fs::remove_dir(bed.path("out")).unwrap();

    let error = bed.engine.test_destination("out").await.unwrap_err();

    assert!(matches!(error, Error::DestinationCheck { .. }), "{error:?}");
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert_eq!(error.field(), Some("path"), "the folder is to fix");
}

#[test]
fn a_destination_with_unfinished_jobs_cannot_be_removed() {
    let bed = TestBed::new();
    bed.add(&bed.images("r", 2), to("out"));
    match bed.engine.remove_destination("out") {
        Err(Error::DestinationInUse { jobs, .. }) => assert_eq!(jobs, 2),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_damaged_database_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.sqlite3");
    let garbage = b"this is not a database, it is a shopping list".repeat(200);
    std::fs::write(&db, &garbage).unwrap();
    let err = Engine::open(EngineOptions {
        data_dir: Some(dir.path().to_path_buf()),
        ..EngineOptions::default()
    })
    .err()
    .expect("opening garbage must fail");
    assert!(matches!(err, Error::CorruptDatabase { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("is damaged or is not an Outbox database"));
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn a_database_locked_by_another_process_is_reported_after_the_busy_timeout() {
    let bed = TestBed::new();
    let blocker = rusqlite::Connection::open(bed.engine.database_path()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let engine = Engine::open(EngineOptions {
        data_dir: Some(bed.engine.data_dir().to_path_buf()),
        busy_timeout: Duration::from_millis(200),
        ..EngineOptions::default()
    });
    let err = match engine {
        Ok(engine) => engine.add(&bed.images("l", 1), &to("out")).unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(err, Error::DatabaseLocked { .. }), "{err:?}");
    blocker.execute_batch("ROLLBACK").unwrap();
    // Once the lock is gone, nothing was lost and work goes on.
    assert_eq!(bed.engine.counts().unwrap().total, 0);
    bed.add(&bed.images("l", 1), to("out"));
}

#[test]
fn a_database_from_a_newer_outbox_is_refused() {
    let bed = TestBed::new();
    let dir = bed.engine.data_dir().to_path_buf();
    rusqlite::Connection::open(bed.engine.database_path())
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = Engine::open(EngineOptions {
        data_dir: Some(dir),
        ..EngineOptions::default()
    })
    .err()
    .unwrap();
    assert!(
        matches!(err, Error::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn ten_thousand_items_enqueue_in_one_batch_with_counts_kept() {
    let bed = TestBed::new();
    let items: Vec<NewItem> = (0..10_000)
        .map(|i| NewItem {
            path: bed.path(&format!("bulk/{i}.jpg")),
            size: 1000 + i,
            mtime_ms: 1,
            fields: None,
        })
        .collect();
    let report = bed.engine.enqueue(items, &to("out")).unwrap();
    assert_eq!(report.added.len(), 10_000);
    let status = bed.engine.status().unwrap();
    assert_eq!(status.counts.pending, 10_000);
    assert_eq!(status.batches.len(), 1);
    assert_eq!(status.batches[0].counts.total, 10_000);
    assert_eq!(counted_by_scan(&bed), status.counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_state_changes_and_counts_without_flooding() {
    let bed = TestBed::new();
    let mut events = bed.engine.subscribe();
    bed.add(&bed.images("e", 20), to("out"));
    bed.run_until_idle().await;
    bed.engine.flush_events();
    let mut completed = std::collections::HashSet::new();
    let mut last_counts = None;
    let mut received = 0;
    while let Ok(event) = events.try_recv() {
        received += 1;
        match event {
            outbox_engine::Event::JobChanged {
                job_id,
                state: JobState::Completed,
                ..
            } => {
                completed.insert(job_id);
            }
            outbox_engine::Event::CountsChanged { counts } => last_counts = Some(counts),
            _ => {}
        }
    }
    assert_eq!(completed.len(), 20);
    assert_eq!(last_counts.map(|c| c.completed), Some(20));
    // Each job changes state four times and sends bytes twice; coalescing
    // must have merged some of the 120+ raw events.
    assert!(received < 20 * 6, "{received} events");
}

#[test]
fn a_preview_made_before_the_enqueue_is_the_one_its_job_shows() {
    let bed = TestBed::new();
    let paths = bed.images("early", 2);
    let scan = outbox_engine::scan(&paths);
    for path in &paths {
        bed.engine.prepare_source_preview(path, 8);
    }
    let jobs = bed.engine.add_scanned(scan, &to("out")).expect("add").added;
    assert_eq!(jobs.len(), 2);
    // The files change once queued: what the jobs show is what was made
    // early, not a second decode of what is on disk now.
    for path in &paths {
        std::fs::write(path, b"no longer an image").expect("overwrite");
    }
    for job in &jobs {
        let shown = bed
            .engine
            .source_preview(*job, 8)
            .expect("the early preview")
            .expect("the job exists");
        assert_eq!((shown.width, shown.height), (8, 6));
    }
    // Another size was not made early: it is decoded now, and fails with the
    // file's reason on its own job.
    let other = bed.engine.source_preview(jobs[0], 12);
    assert!(
        matches!(&other, Err(Error::Preview { job, .. }) if *job == jobs[0]),
        "{other:?}"
    );
}

#[test]
fn a_bad_file_prepared_early_fails_its_own_preview_with_the_reason() {
    let bed = TestBed::new();
    let good = bed.images("good", 1);
    let bad = bed.path("bad.png");
    std::fs::write(&bad, b"not a png at all").expect("write");
    let paths = vec![bad.clone(), good[0].clone()];
    let scan = outbox_engine::scan(&paths);
    for path in &paths {
        bed.engine.prepare_source_preview(path, 8);
    }
    let jobs = bed.engine.add_scanned(scan, &to("out")).expect("add").added;
    let shown: Vec<_> = jobs
        .iter()
        .map(|job| bed.engine.source_preview(*job, 8))
        .collect();
    let failed = shown.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 1, "{shown:?}");
    let message = shown
        .iter()
        .find_map(|r| r.as_ref().err())
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(message.to_lowercase().contains("png"), "{message}");
    assert!(shown.iter().any(|r| matches!(r, Ok(Some(_)))));
}

#[test]
fn another_process_commit_moves_foreign_commits_and_its_own_do_not() {
    let bed = TestBed::new();
    let other = Engine::open(EngineOptions {
        data_dir: Some(bed.engine.data_dir().to_path_buf()),
        ..EngineOptions::default()
    })
    .unwrap();
    let before = bed.engine.foreign_commits().unwrap();
    bed.add(&bed.images("mine", 2), to("out"));
    assert_eq!(
        bed.engine.foreign_commits().unwrap(),
        before,
        "its own enqueue is not foreign"
    );
    other.add(&bed.images("theirs", 1), &to("out")).unwrap();
    assert_ne!(
        bed.engine.foreign_commits().unwrap(),
        before,
        "another connection's enqueue is seen"
    );
}

#[tokio::test]
async fn a_destination_edited_while_jobs_wait_changes_new_jobs_only() {
    let bed = TestBed::new();
    let (first, second) = (bed.path("first"), bed.path("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let view = |path: &std::path::Path| DestinationView {
        name: "photos".into(),
        kind: "folder".into(),
        settings: serde_json::json!({ "path": path }),
        max_concurrent: None,
    };
    bed.engine.add_destination(view(&first), None).unwrap();
    let queued = bed.add(&bed.images("before", 1), to("photos"))[0];
    // Allowed while a job waits: removing is refused, editing is not.
    bed.engine.update_destination(view(&second), None).unwrap();
    let after = bed.add(&bed.images("after", 1), to("photos"))[0];
    assert_eq!(
        bed.engine
            .destinations()
            .unwrap()
            .iter()
            .find(|d| d.name == "photos")
            .unwrap()
            .settings["path"],
        serde_json::json!(second)
    );

    // Bad settings and unknown names are refused, and change nothing.
    let refused = bed
        .engine
        .update_destination(view(std::path::Path::new("relative")), None);
    assert!(
        matches!(refused, Err(Error::InvalidSetting(_))),
        "{refused:?}"
    );
    let mut unknown = view(&second);
    unknown.name = "nowhere".into();
    assert!(matches!(
        bed.engine.update_destination(unknown, None),
        Err(Error::UnknownDestination(_))
    ));
    let limitless = DestinationView {
        max_concurrent: Some(0),
        ..view(&second)
    };
    assert!(matches!(
        bed.engine.update_destination(limitless, None),
        Err(Error::InvalidSetting(_))
    ));
    assert!(matches!(
        bed.engine.set_destination_secret("nowhere", "s3cret"),
        Err(Error::UnknownDestination(_))
    ));

    bed.run_until_idle().await;
    assert_eq!(bed.job(queued).state, JobState::Completed);
    assert_eq!(bed.job(after).state, JobState::Completed);
    assert!(
        first.join("before0.jpg").is_file(),
        "the queued job kept its settings"
    );
    assert!(
        second.join("after0.jpg").is_file(),
        "the new job took the new ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_finds_by_name_destination_and_date_and_takes_wildcards_literally() {
    let bed = TestBed::new();
    let paths = bed.images("cat", 2);
    let dogs = bed.images("dog", 1);
    let percent = bed.path("100%_done.png");
    write_png(&percent, 16, 16, 77);
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
    let early = bed.add(&paths, to("out"));
    bed.clock.advance(Duration::from_secs(3_600));
    let later = bed.clock.now_ms();
    let dog = bed.add(&dogs, to("elsewhere"));
    let odd = bed.add(std::slice::from_ref(&percent), to("out"));
    let found = |q: HistoryQuery| {
        bed.engine
            .history(&HistoryQuery { limit: 50, ..q })
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    let search = |text: &str| HistoryQuery {
        search: Some(text.into()),
        ..HistoryQuery::default()
    };
    assert_eq!(found(search("CAT")), [early[1], early[0]], "any case");
    assert_eq!(found(search("dog0")), dog);
    // `%` and `_` are the user's characters, not LIKE's wildcards.
    assert_eq!(found(search("0%_d")), odd);
    assert_eq!(found(search("t_")), Vec::<i64>::new());
    assert_eq!(found(search("   ")).len(), 4, "a blank search is no filter");
    let to_elsewhere = HistoryQuery {
        destination: Some("elsewhere".into()),
        ..HistoryQuery::default()
    };
    assert_eq!(found(to_elsewhere), dog);
    let since = HistoryQuery {
        since: Some(later),
        ..HistoryQuery::default()
    };
    assert_eq!(found(since), [odd[0], dog[0]]);
    let until = HistoryQuery {
        until: Some(later),
        ..HistoryQuery::default()
    };
    assert_eq!(found(until), [early[1], early[0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_s_detail_lists_every_attempt_with_its_time_and_error() {
    let bed = TestBed::new();
    let dest = Scripted::new();
    dest.script(
        "a0.jpg",
        vec![Step::Fail(outbox_engine::destinations::DeliveryError::new(
            ErrorClass::Transient,
            "503 busy",
        ))],
    );
    let job = bed.add(&bed.images("a", 1), to("out"))[0];
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = bed
        .engine
        .worker(fast_worker())
        .with_destinations(std::sync::Arc::new(AllTo(dest.clone())));
    let running = tokio::spawn(worker.run(stop.clone()));
    wait_for("the retry to be scheduled", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.next_attempt_at.is_some()).then_some(())
    })
    .await;
    bed.clock.advance(Duration::from_secs(60));
    wait_for("the delivery", || {
        (bed.job(job).state == JobState::Completed).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();

    let detail = bed.engine.job_detail(job).unwrap().expect("the job");
    let outcomes: Vec<(&str, &str)> = detail
        .attempts
        .iter()
        .map(|a| (a.phase.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("generate", "generated"),
            ("upload", "retrying"),
            ("upload", "delivered")
        ]
    );
    let failed = &detail.attempts[1];
    let error = failed.error.as_ref().expect("the failed attempt's error");
    assert_eq!(
        (error.class, error.message.as_str()),
        (ErrorClass::Transient, "503 busy")
    );
    assert!(failed.started_at.is_some_and(|s| s <= failed.ended_at));
    assert!(
        detail.attempts[2].ended_at > failed.ended_at,
        "{:?}",
        detail.attempts
    );
    // The job's own error is gone with the success; the attempt keeps it.
    assert_eq!(detail.job.error, None);
    let output = detail.output.expect("the output");
    assert!(output.size > 0 && output.width > 0, "{output:?}");
    assert!(bed.engine.job_detail(job + 1000).unwrap().is_none());

    // Clean-up removes a job's attempts with it.
    bed.clock.advance(Duration::from_secs(3 * 86_400));
    bed.engine.clean(Duration::from_secs(86_400)).unwrap();
    let db = rusqlite::Connection::open(bed.engine.database_path()).unwrap();
    let left: i64 = db
        .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

/// Waits for an event `wanted` picks out, at most `limit`; how long it took.
async fn event_within(
    events: &mut tokio::sync::broadcast::Receiver<outbox_engine::Event>,
    limit: Duration,
    mut wanted: impl FnMut(&outbox_engine::Event) -> bool,
) -> Duration {
    let asked = std::time::Instant::now();
    let found = tokio::time::timeout(limit, async {
        loop {
            match events.recv().await {
                Ok(e) if wanted(&e) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the event bus closed: {e}"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no such event within {limit:?}");
    asked.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_s_adds_and_changes_reach_this_one_s_subscribers_within_a_second() {
    use outbox_engine::Event;
    let bed = TestBed::new();
    // Its own connections, as `outbox add` in a terminal has.
    let other = Engine::open(EngineOptions {
        data_dir: Some(bed.engine.data_dir().to_path_buf()),
        ..EngineOptions::default()
    })
    .unwrap();
    let mut events = bed.engine.subscribe();
    let stop = tokio_util::sync::CancellationToken::new();
    let feed = tokio::spawn({
        let (engine, stop) = (bed.engine.clone(), stop.clone());
        async move { engine.follow_other_processes(stop).await }
    });
    tokio::time::sleep(outbox_engine::feed::TICK).await;

    let report = other.add(&bed.images("elsewhere", 3), &to("out")).unwrap();
    let batch = report.batch_id.unwrap();
    let queued = event_within(&mut events, Duration::from_secs(1), |e| {
        *e == Event::JobsQueued {
            batch_id: batch,
            jobs: 3,
        }
    })
    .await;
    let job = report.added[0];
    other.cancel(&[job]).unwrap();
    let changed = event_within(&mut events, Duration::from_secs(1), |e| {
        matches!(e, Event::JobChanged { job_id, state: JobState::Cancelled, .. } if *job_id == job)
    })
    .await;
    let counts = event_within(&mut events, Duration::from_secs(1), |e| {
        matches!(e, Event::CountsChanged { counts } if counts.cancelled == 1 && counts.pending == 2)
    })
    .await;
    eprintln!("seen after: queued {queued:?}, changed {changed:?}, counts {counts:?}");

    // This process's own change, with nothing from elsewhere: not published
    // again by the feed (a user's cancel publishes the counts only).
    let own = report.added[1];
    bed.engine.cancel(&[own]).unwrap();
    let repeated = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Ok(Event::JobChanged { job_id, .. }) = events.recv().await {
                if job_id == own {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        repeated.is_err(),
        "the feed published this process's own change"
    );

    stop.cancel();
    feed.await.unwrap().unwrap();
}
