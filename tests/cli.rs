//! End-to-end tests of the `outbox` command line: the real binary, a real
//! SQLite queue in a temporary data folder, real images, folder destinations.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", path.display()))
}

// ---------------------------------------------------------------- happy path

#[test]
fn happy_path_add_run_status_and_delivered_web_jpegs() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("photos", &out);

    let src = ob.dir("src");
    write_image(&src.join("wide.png"), 3000, 1000, 1);
    write_image(&src.join("small.png"), 640, 480, 2);
    write_image(&src.join("tall.jpg"), 800, 2500, 3);
    std::fs::write(src.join("notes.txt"), "not an image").unwrap();
    std::fs::write(src.join("empty.png"), b"").unwrap();

    let report = ob.add(&[&src], "photos", &[]);
    let batch = report["batch_id"].as_i64().expect("a batch id");
    assert!(batch > 0);
    let added = Outbox::added_ids(&report);
    assert_eq!(added.len(), 3, "{report:#}");
    assert_eq!(report["duplicates"], serde_json::json!([]));
    let skipped: BTreeSet<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                file_name_of(str_of(s, "path")),
                str_of(s, "reason").to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            ("empty.png".into(), "empty file (0 bytes)".into()),
            (
                "notes.txt".into(),
                "not an image Outbox reads (.txt)".into()
            ),
        ])
    );

    let before = ob.counts();
    assert_eq!((before["pending"], before["total"]), (3, 3), "{before:?}");

    let run = ob.run_until_idle(&[]).ok();
    assert!(
        run.stdout.contains("3 delivered, 0 failed"),
        "{}",
        run.stdout
    );

    let counts = ob.counts();
    for (key, want) in [
        ("pending", 0),
        ("processing", 0),
        ("completed", 3),
        ("failed", 0),
        ("paused", 0),
        ("cancelled", 0),
        ("total", 3),
    ] {
        assert_eq!(counts[key], want, "{key} in {counts:?}");
    }

    assert_eq!(file_names(&out), ["small.jpg", "tall.jpg", "wide.jpg"]);
    for (name, w, h) in [
        ("wide.jpg", 2048, 683),
        ("small.jpg", 640, 480),
        ("tall.jpg", 655, 2048),
    ] {
        let (format, width, height) = decode(&out.join(name));
        assert_eq!(format, image::ImageFormat::Jpeg, "{name}");
        assert_eq!((width, height), (w, h), "{name}");
        assert!(width.max(height) <= 2048);
    }

    let jobs = ob.history();
    assert_eq!(jobs.len(), 3);
    for job in &jobs {
        assert_eq!(str_of(job, "state"), "completed", "{job:#}");
        assert_eq!(str_of(job, "destination"), "photos");
        assert_eq!(str_of(job, "recipe"), "web");
        assert_eq!(job["batch_id"].as_i64(), Some(batch));
        assert_eq!(job["attempts"].as_u64(), Some(1), "{job:#}");
        assert!(job["error"].is_null(), "{job:#}");
        let stem = Path::new(str_of(job, "source"))
            .file_stem()
            .unwrap()
            .to_owned();
        let delivered = out.join(stem).with_extension("jpg");
        assert_eq!(
            job["remote"]["url"].as_str(),
            Some(file_url(&delivered).as_str())
        );
        assert!(added.contains(&job["id"].as_i64().unwrap()));
    }
    // Each generated output is kept in the data folder until cleaned up.
    let outputs = file_names(&ob.outputs_dir());
    assert_eq!(outputs.len(), 3, "{outputs:?}");

    let dests = ob.json(&["dest", "list", "--json"]);
    assert_eq!(dests[0]["name"], "photos");
    assert_eq!(dests[0]["kind"], "folder");
    assert_eq!(
        dests[0]["settings"]["path"].as_str(),
        Some(s(&out).as_str())
    );
}

#[test]
fn data_folder_can_come_from_the_environment() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    let env_data = ob.path("env-data");
    let add = run_command(
        {
            let mut cmd = ob.bare_command();
            cmd.env("OUTBOX_DATA_DIR", &env_data).args([
                "dest",
                "add",
                "d",
                "--kind",
                "folder",
                "--path",
                &s(&out),
            ]);
            cmd
        },
        TIMEOUT,
    )
    .ok();
    assert!(add.stdout.contains("added destination"), "{}", add.stdout);
    assert!(env_data.join("outbox.sqlite3").is_file());
    // --data-dir pointing at the same folder sees the destination.
    let other = Outbox {
        tmp: tempfile::tempdir().unwrap(),
        data: env_data,
    };
    let list = other.json(&["dest", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    // And the data folder of `ob` itself was never created.
    assert!(!ob.data.exists());
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_inputs_fail_alone_each_with_its_own_message() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);

    let src = ob.dir("src");
    write_image(&src.join("good1.png"), 300, 200, 10);
    write_image(&src.join("good2.jpg"), 200, 300, 11);
    // JPEG magic, then garbage: the bytes say JPEG but do not decode.
    let mut corrupt = vec![0xFF, 0xD8, 0xFF, 0xE0];
    corrupt.extend((0..4000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(src.join("corrupt.jpg"), corrupt).unwrap();
    // A real PNG cut in half.
    write_image(&ob.path("whole.png"), 200, 200, 12);
    let whole = std::fs::read(ob.path("whole.png")).unwrap();
    std::fs::write(src.join("truncated.png"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(src.join("zero.png"), b"").unwrap();
    std::fs::write(src.join("text.jpg"), "hello, I am a shopping list\n").unwrap();
    write_image(&src.join("gone.png"), 100, 100, 13);

    let report = ob.add(&[&src], "out", &[]);
    assert_eq!(Outbox::added_ids(&report).len(), 6, "{report:#}");
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report:#}");
    assert_eq!(file_name_of(str_of(&skipped[0], "path")), "zero.png");
    assert_eq!(str_of(&skipped[0], "reason"), "empty file (0 bytes)");

    // Deleted between add and run.
    std::fs::remove_file(src.join("gone.png")).unwrap();

    let run = ob.run_until_idle(&[]).expect_code(1);
    assert!(
        run.stdout.contains("2 delivered, 4 failed"),
        "{}",
        run.stdout
    );

    let counts = ob.counts();
    assert_eq!(
        (counts["completed"], counts["failed"], counts["total"]),
        (2, 4, 6)
    );
    assert_eq!(file_names(&out), ["good1.jpg", "good2.jpg"]);
    for name in ["good1.jpg", "good2.jpg"] {
        assert_eq!(decode(&out.join(name)).0, image::ImageFormat::Jpeg);
    }

    let mut messages = BTreeSet::new();
    for (name, class, needles) in [
        ("corrupt.jpg", "permanent", &["damaged or truncated"][..]),
        ("truncated.png", "permanent", &["damaged or truncated"][..]),
        ("text.jpg", "permanent", &["not an image", ".jpg"][..]),
        (
            "gone.png",
            "needs_user",
            &["source file is gone", "gone.png"][..],
        ),
    ] {
        let job = ob.job_by_source(name);
        assert_eq!(str_of(&job, "state"), "failed", "{job:#}");
        let (got_class, message) = error_of(&job);
        assert_eq!(got_class, class, "{name}: {message}");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{name}: {message:?} lacks {needle:?}"
            );
        }
        assert!(!message.contains('\n'), "{name}: one line: {message:?}");
        // Not transient: failed at once, no automatic retries.
        assert_eq!(job["attempts"].as_u64(), Some(1), "{job:#}");
        messages.insert(message);
    }
    // Text and truncation are told apart from each other.
    assert!(messages.len() >= 3, "{messages:#?}");

    // `history --state failed` lists exactly these four.
    let failed: BTreeSet<String> = ob
        .history_with(&["--state", "failed"])
        .iter()
        .map(|j| file_name_of(str_of(j, "source")))
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from(["corrupt.jpg", "gone.png", "text.jpg", "truncated.png"].map(String::from))
    );
}

#[test]
fn unknown_destination_unknown_recipe_and_usage_errors() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 50, 50, 1);

    let bad = ob.run(&["add", &s(&src), "--to", "nope"]).expect_code(1);
    let lines = bad.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {:?}", bad.stderr);
    assert!(lines[0].starts_with("outbox: "), "{lines:?}");
    assert!(lines[0].contains("\"nope\""), "{lines:?}");
    assert!(lines[0].contains("no destination"), "{lines:?}");

    let bad = ob
        .run(&["add", &s(&src), "--to", "out", "--recipe", "nope"])
        .expect_code(1);
    let lines = bad.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {:?}", bad.stderr);
    assert!(lines[0].contains("no recipe named \"nope\""), "{lines:?}");
    assert!(lines[0].contains("web"), "lists the recipes: {lines:?}");

    // Nothing was queued by the failed adds, and no default destination was made.
    assert_eq!(ob.counts()["total"], 0);
    let dests = ob.json(&["dest", "list", "--json"]);
    assert_eq!(dests.as_array().map(Vec::len), Some(1), "{dests:#}");

    // A path that does not exist: nothing queued, said so, exit 1.
    let missing = ob
        .run(&["add", &s(&ob.path("missing.jpg")), "--to", "out"])
        .expect_code(1);
    assert!(missing.stdout.contains("skipped:"), "{}", missing.stdout);
    assert!(missing.stdout.contains("not found"), "{}", missing.stdout);
    assert!(
        missing.stderr.contains("no image was queued"),
        "{}",
        missing.stderr
    );

    // Usage errors are exit code 2.
    let usage = ob.run(&["retry"]).expect_code(2);
    assert!(!usage.stderr.is_empty());
    ob.run(&["history", "--state", "bogus"]).expect_code(2);
    ob.run(&["cancel"]).expect_code(2);
    ob.run(&["frobnicate"]).expect_code(2);

    // The good add still works afterwards.
    let report = ob.add(&[&src], "out", &[]);
    assert_eq!(Outbox::added_ids(&report).len(), 1);
}

// ------------------------------------------------------ destination faults

#[test]
fn missing_destination_folder_needs_the_user_then_retry_delivers() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("usb", &out);
    std::fs::remove_dir(&out).unwrap();

    let src = ob.dir("src");
    write_image(&src.join("a.png"), 120, 80, 1);
    let id = Outbox::added_ids(&ob.add(&[&src], "usb", &[]))[0];

    let run = ob.run_until_idle(&[]).expect_code(1);
    assert!(
        run.stdout.contains("0 delivered, 1 failed"),
        "{}",
        run.stdout
    );
    let job = ob.job(id);
    assert_eq!(str_of(&job, "state"), "failed");
    assert_eq!(
        str_of(&job, "phase"),
        "upload",
        "generated, then failed to deliver"
    );
    let (class, message) = error_of(&job);
    assert_eq!(class, "needs_user");
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains(&s(&out)), "names the folder: {message}");
    // A folder the user chose is never created behind their back.
    assert!(!out.exists());

    std::fs::create_dir(&out).unwrap();
    let retry = ob.run(&["retry", "--failed"]).ok();
    assert!(retry.stdout.contains("1 job(s)"), "{}", retry.stdout);
    assert_eq!(str_of(&ob.job(id), "state"), "pending");
    ob.run_until_idle(&[]).ok();
    let job = ob.job(id);
    assert_eq!(str_of(&job, "state"), "completed", "{job:#}");
    assert_eq!(job["manual_retries"].as_u64(), Some(1));
    assert_eq!(file_names(&out), ["a.jpg"]);
    decode(&out.join("a.jpg"));
}

/// Makes a folder unwritable, even for root; undoes it when dropped.
enum Unwritable {
    /// chmod 555: what a user without write permission meets.
    Mode(std::path::PathBuf),
    /// A read-only file system mounted on the folder: what a write-protected
    /// card or a drive mounted read-only is. Root cannot write there either.
    /// (Held for its `Drop`, which unmounts.)
    ReadOnlyMount(#[allow(dead_code)] Mount),
    /// `chattr +i`: an immutable folder, which root may not add files to either.
    Immutable(std::path::PathBuf),
}

impl Unwritable {
    fn make(dir: &Path) -> Result<Unwritable, String> {
        use std::os::unix::fs::PermissionsExt;
        if !is_root() {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555))
                .map_err(|e| e.to_string())?;
            return Ok(Unwritable::Mode(dir.to_path_buf()));
        }
        let mount_error = match Mount::tmpfs(dir, "ro,size=1m") {
            Ok(m) => return Ok(Unwritable::ReadOnlyMount(m)),
            Err(e) => e,
        };
        let chattr = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .map_err(|e| e.to_string());
        match chattr {
            Ok(o) if o.status.success() => Ok(Unwritable::Immutable(dir.to_path_buf())),
            Ok(o) => Err(format!(
                "mount: {mount_error}; chattr: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("mount: {mount_error}; chattr: {e}")),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Unwritable::Mode(_) => "chmod 555",
            Unwritable::ReadOnlyMount(_) => "read-only tmpfs mount",
            Unwritable::Immutable(_) => "chattr +i",
        }
    }

    /// Makes the folder writable again.
    fn undo(self) {
        drop(self)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        match self {
            Unwritable::Mode(dir) => {
                let _ = std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o755));
            }
            Unwritable::ReadOnlyMount(_) => {} // the Mount unmounts itself
            Unwritable::Immutable(dir) => {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(&*dir)
                    .status();
            }
        }
    }
}

#[test]
fn read_only_destination_folder_needs_the_user_then_retry_delivers() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("ro", &out);
    let lock = match Unwritable::make(&out) {
        Ok(lock) => lock,
        Err(why) => {
            println!("skipped: cannot make a folder unwritable here ({why})");
            return;
        }
    };
    println!("destination made unwritable by {}", lock.describe());

    let src = ob.dir("src");
    write_image(&src.join("a.png"), 120, 80, 1);
    write_image(&src.join("b.png"), 120, 80, 2);
    let ids = Outbox::added_ids(&ob.add(&[&src], "ro", &[]));

    let run = ob.run_until_idle(&[]).expect_code(1);
    assert!(
        run.stdout.contains("0 delivered, 2 failed"),
        "{}",
        run.stdout
    );
    for &id in &ids {
        let job = ob.job(id);
        assert_eq!(str_of(&job, "state"), "failed");
        let (class, message) = error_of(&job);
        assert_eq!(class, "needs_user", "{message}");
        assert!(message.contains("may not write to"), "{message}");
        assert!(message.contains(&s(&out)), "{message}");
        assert_eq!(job["attempts"].as_u64(), Some(1), "not retried by itself");
    }

    lock.undo();
    assert_eq!(
        file_names(&out),
        Vec::<String>::new(),
        "nothing half-written"
    );
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out), ["a.jpg", "b.jpg"]);
    assert_eq!(ob.counts()["completed"], 2);
}

#[test]
fn full_disk_needs_the_user_and_leaves_no_partial_file() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    let mount = if is_root() {
        Mount::tmpfs(&out, "size=64k")
    } else {
        Err("not root".to_string())
    };
    let mount = match mount {
        Ok(m) => m,
        Err(why) => {
            println!("skipped: cannot mount tmpfs here ({why})");
            return;
        }
    };
    ob.add_folder_destination("small-disk", &out);

    let src = ob.dir("src");
    // Noise does not compress: its JPEG is far bigger than the 64 KiB disk.
    write_noise_image(&src.join("big.png"), 700, 700, 7);
    write_image(&src.join("tiny.png"), 16, 16, 8);
    let report = ob.add(&[&src], "small-disk", &[]);
    assert_eq!(Outbox::added_ids(&report).len(), 2);

    ob.run_until_idle(&[]).expect_code(1);
    let big = ob.job_by_source("big.png");
    assert_eq!(str_of(&big, "state"), "failed", "{big:#}");
    let (class, message) = error_of(&big);
    assert_eq!(class, "needs_user", "{message}");
    assert!(message.contains("full"), "{message}");
    assert!(message.contains(&s(&out)), "{message}");
    // The small one fitted and is whole; the big one left nothing behind.
    assert_eq!(str_of(&ob.job_by_source("tiny.png"), "state"), "completed");
    assert_eq!(file_names(&out), ["tiny.jpg"]);
    decode(&out.join("tiny.jpg"));

    // The user frees space (here: grows the disk), then retries.
    mount.remount("size=16m");
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out), ["big.jpg", "tiny.jpg"]);
    assert_eq!(decode(&out.join("big.jpg")).1, 700);
    drop(mount);
}

// --------------------------------------------------------- database faults

#[test]
fn locked_database_is_reported_within_the_busy_timeout() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 40, 40, 1);

    let holder = rusqlite::Connection::open(ob.db_path()).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let add = ob.run(&["add", &s(&src), "--to", "out"]).expect_code(1);
    let lines = add.stderr_lines();
    assert_eq!(lines.len(), 1, "{:?}", add.stderr);
    assert!(lines[0].contains("locked"), "{lines:?}");
    assert!(lines[0].contains(&s(&ob.db_path())), "{lines:?}");
    // The busy timeout is 5 s: it waited, but not for ever.
    assert!(
        add.elapsed >= Duration::from_secs(3) && add.elapsed < Duration::from_secs(30),
        "took {:?}",
        add.elapsed
    );

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(ob.counts()["total"], 0, "the refused add queued nothing");
    let report = ob.add(&[&src], "out", &[]);
    assert_eq!(Outbox::added_ids(&report).len(), 1);
}

#[test]
fn corrupt_database_is_reported_and_left_untouched() {
    let ob = Outbox::new();
    std::fs::create_dir_all(&ob.data).unwrap();
    let garbage: Vec<u8> = b"this is not a database at all. "
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    std::fs::write(ob.db_path(), &garbage).unwrap();
    let out = ob.dir("out");
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 40, 40, 1);

    for args in [
        vec!["status"],
        vec!["history", "--json"],
        vec!["dest", "add", "x", "--kind", "folder", "--path", &s(&out)],
        vec!["add", &s(&src), "--to", "x"],
        vec!["run", "--until-idle"],
    ] {
        let r = ob.run(&args).expect_code(1);
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "{args:?}: {:?}", r.stderr);
        assert!(lines[0].contains("damaged"), "{args:?}: {lines:?}");
        assert!(lines[0].contains(&s(&ob.db_path())), "{args:?}: {lines:?}");
        assert_eq!(
            std::fs::read(ob.db_path()).unwrap(),
            garbage,
            "{args:?} changed the damaged file"
        );
    }
}

// ------------------------------------------------------------ queue behaviour

#[test]
fn duplicates_are_named_and_force_queues_again() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 60, 40, 1);
    write_image(&src.join("b.png"), 60, 40, 2);

    let first = Outbox::added_ids(&ob.add(&[&src], "out", &[]));
    assert_eq!(first.len(), 2);

    // While pending.
    let again = ob.add(&[&src], "out", &[]);
    assert!(again["batch_id"].is_null(), "{again:#}");
    assert_eq!(again["added"], serde_json::json!([]));
    let dups = again["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 2, "{again:#}");
    for d in dups {
        assert_eq!(str_of(d, "state"), "pending");
        assert!(
            first.contains(&d["existing_job"].as_i64().unwrap()),
            "{d:#}"
        );
    }
    // Text mode names the existing job too, and that is not a failure.
    let text = ob.run(&["add", &s(&src.join("a.png")), "--to", "out"]).ok();
    assert!(
        text.stdout.contains(&format!("is job {}", first[0])),
        "{}",
        text.stdout
    );

    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out), ["a.jpg", "b.jpg"]);

    // After delivery: named with where it went.
    let again = ob.add(&[&src], "out", &[]);
    let dups = again["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 2, "{again:#}");
    for d in dups {
        assert_eq!(str_of(d, "state"), "completed");
        let name = Path::new(str_of(d, "path")).file_stem().unwrap().to_owned();
        let url = file_url(&out.join(name).with_extension("jpg"));
        assert_eq!(d["url"].as_str(), Some(url.as_str()));
    }
    assert_eq!(ob.counts()["total"], 2);

    // The same bytes under another name are caught when read.
    let copies = ob.dir("copies");
    std::fs::copy(src.join("a.png"), copies.join("a-copy.png")).unwrap();
    let copy_id = Outbox::added_ids(&ob.add(&[&copies], "out", &[]))[0];
    ob.run_until_idle(&[]).ok();
    let copy = ob.job(copy_id);
    assert_eq!(str_of(&copy, "state"), "cancelled", "{copy:#}");
    let (_, message) = error_of(&copy);
    assert!(message.contains("duplicate"), "{message}");
    assert!(message.contains(&format!("job {}", first[0])), "{message}");
    assert_eq!(file_names(&out), ["a.jpg", "b.jpg"]);

    // --force queues them again; delivery finds its own identical files.
    let forced = ob.add(&[&src], "out", &["--force"]);
    let forced_ids = Outbox::added_ids(&forced);
    assert_eq!(forced_ids.len(), 2, "{forced:#}");
    assert_eq!(forced["duplicates"], serde_json::json!([]));
    assert!(forced_ids.iter().all(|id| !first.contains(id)));
    ob.run_until_idle(&[]).ok();
    for (old, new) in first.iter().zip(&forced_ids) {
        let (old, new) = (ob.job(*old), ob.job(*new));
        assert_eq!(str_of(&new, "state"), "completed", "{new:#}");
        assert_eq!(new["remote"]["url"], old["remote"]["url"]);
    }
    assert_eq!(file_names(&out), ["a.jpg", "b.jpg"]);
}

#[test]
fn a_later_higher_priority_batch_is_delivered_first() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let low_src = ob.dir("low");
    let high_src = ob.dir("high");
    write_small_pngs(&low_src, "low-", 4, 100);
    write_small_pngs(&high_src, "high-", 4, 200);

    let low = Outbox::added_ids(&ob.add(&[&low_src], "out", &[]));
    let high = Outbox::added_ids(&ob.add(&[&high_src], "out", &["--priority", "5"]));
    assert!(low.iter().max() < high.iter().min(), "low was queued first");

    ob.run_until_idle(&["--concurrency", "1", "--generate-concurrency", "1"])
        .ok();

    let finished = |ids: &[i64]| -> Vec<i64> {
        ids.iter()
            .map(|&id| {
                let job = ob.job(id);
                assert_eq!(str_of(&job, "state"), "completed");
                job["finished_at"].as_i64().unwrap()
            })
            .collect()
    };
    let (low_done, high_done) = (finished(&low), finished(&high));
    assert!(
        high_done.iter().max() <= low_done.iter().min(),
        "high {high_done:?} must all finish before low {low_done:?}"
    );
    for id in &high {
        assert_eq!(ob.job(*id)["priority"].as_i64(), Some(5));
    }
    // The files' own times (nanoseconds) say the same, strictly.
    let times = |prefix: &str| -> Vec<SystemTime> {
        file_names(&out)
            .iter()
            .filter(|n| n.starts_with(prefix))
            .map(|n| mtime(&out.join(n)))
            .collect()
    };
    let (low_t, high_t) = (times("low-"), times("high-"));
    assert_eq!((low_t.len(), high_t.len()), (4, 4));
    assert!(high_t.iter().max() < low_t.iter().min());
}

#[test]
fn a_sequential_batch_is_delivered_strictly_in_order() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    // The first item is slow to generate: without --sequential the small ones
    // behind it would be delivered before it.
    write_noise_image(&src.join("a-big.png"), 2600, 2600, 1);
    for (i, name) in ["b.png", "c.png", "d.png", "e.png", "f.png"]
        .iter()
        .enumerate()
    {
        write_image(&src.join(name), 40, 40, 10 + i as u64);
    }
    let ids = Outbox::added_ids(&ob.add(&[&src], "out", &["--sequential"]));
    assert_eq!(ids.len(), 6);

    ob.run_until_idle(&["--generate-concurrency", "2", "--concurrency", "3"])
        .ok();

    let jobs: Vec<Value> = ids.iter().map(|&id| ob.job(id)).collect();
    let finished: Vec<i64> = jobs
        .iter()
        .map(|j| {
            assert_eq!(str_of(j, "state"), "completed");
            j["finished_at"].as_i64().unwrap()
        })
        .collect();
    assert!(
        finished.windows(2).all(|w| w[0] <= w[1]),
        "finished_at in add order: {finished:?}"
    );
    let times: Vec<SystemTime> = ["a-big.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
        .iter()
        .map(|n| mtime(&out.join(n)))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "files written in order: {times:?}"
    );
}

#[test]
fn a_paused_queue_delivers_nothing_until_resumed() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "p", 3, 1);
    ob.add(&[&src], "out", &[]);

    let paused = ob.run(&["pause"]).ok();
    assert!(
        paused.stdout.contains("paused the queue"),
        "{}",
        paused.stdout
    );
    assert_eq!(ob.json(&["status", "--json"])["queue_paused"], true);

    let run = ob.run_until_idle(&[]).ok();
    assert!(run.stdout.contains("0 delivered"), "{}", run.stdout);
    assert_eq!(file_names(&out), Vec::<String>::new());
    let counts = ob.counts();
    assert_eq!(
        (counts["pending"], counts["completed"]),
        (3, 0),
        "{counts:?}"
    );

    ob.run(&["resume"]).ok();
    assert_eq!(ob.json(&["status", "--json"])["queue_paused"], false);
    let run = ob.run_until_idle(&[]).ok();
    assert!(run.stdout.contains("3 delivered"), "{}", run.stdout);
    assert_eq!(file_names(&out).len(), 3);
}

#[test]
fn pausing_one_batch_holds_only_that_batch() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let one = ob.dir("one");
    let two = ob.dir("two");
    write_small_pngs(&one, "one-", 2, 1);
    write_small_pngs(&two, "two-", 2, 10);
    let r1 = ob.add(&[&one], "out", &[]);
    let r2 = ob.add(&[&two], "out", &[]);
    let (b1, b2) = (
        r1["batch_id"].as_i64().unwrap(),
        r2["batch_id"].as_i64().unwrap(),
    );
    assert_ne!(b1, b2);

    let p = ob.run(&["pause", "--batch", &b1.to_string()]).ok();
    assert!(
        p.stdout.contains(&format!("paused batch {b1} (2 job(s))")),
        "{}",
        p.stdout
    );
    for job in ob.history_with(&["--batch", &b1.to_string()]) {
        assert_eq!(str_of(&job, "state"), "paused", "{job:#}");
    }
    assert_eq!(ob.counts()["paused"], 2);

    ob.run_until_idle(&[]).ok();
    let names = file_names(&out);
    assert_eq!(names, ["two-0000.jpg", "two-0001.jpg"]);
    for job in ob.history_with(&["--batch", &b1.to_string()]) {
        assert_eq!(str_of(&job, "state"), "paused", "{job:#}");
    }
    for job in ob.history_with(&["--batch", &b2.to_string()]) {
        assert_eq!(str_of(&job, "state"), "completed", "{job:#}");
    }

    ob.run(&["resume", "--batch", &b1.to_string()]).ok();
    for job in ob.history_with(&["--batch", &b1.to_string()]) {
        assert_eq!(str_of(&job, "state"), "pending", "{job:#}");
    }
    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out).len(), 4);
    assert_eq!(ob.counts()["completed"], 4);

    // An unknown batch is an error, not a silent no-op.
    let bad = ob.run(&["pause", "--batch", "999"]).expect_code(1);
    assert!(bad.stderr.contains("no batch 999"), "{}", bad.stderr);
}

#[test]
fn a_cancelled_pending_job_is_not_delivered() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "c", 3, 1);
    let ids = Outbox::added_ids(&ob.add(&[&src], "out", &[]));

    let c = ob.run(&["cancel", &ids[1].to_string()]).ok();
    assert!(c.stdout.contains("cancelled 1 job(s)"), "{}", c.stdout);
    assert_eq!(str_of(&ob.job(ids[1]), "state"), "cancelled");

    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out), ["c0000.jpg", "c0002.jpg"]);
    assert_eq!(str_of(&ob.job(ids[1]), "state"), "cancelled");
    let counts = ob.counts();
    assert_eq!((counts["completed"], counts["cancelled"]), (2, 1));

    // A completed job cannot be cancelled, nor an unknown one.
    let bad = ob.run(&["cancel", &ids[0].to_string()]).expect_code(1);
    assert!(
        bad.stderr.contains("cannot become cancelled"),
        "{}",
        bad.stderr
    );
    let bad = ob.run(&["cancel", "4242"]).expect_code(1);
    assert!(bad.stderr.contains("no job 4242"), "{}", bad.stderr);
}

#[test]
fn retrying_a_completed_job_is_refused() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "r", 1, 1);
    let id = Outbox::added_ids(&ob.add(&[&src], "out", &[]))[0];
    ob.run_until_idle(&[]).ok();

    let bad = ob.run(&["retry", &id.to_string()]).expect_code(1);
    let lines = bad.stderr_lines();
    assert_eq!(lines.len(), 1, "{:?}", bad.stderr);
    assert!(lines[0].contains(&format!("job {id}")), "{lines:?}");
    assert!(lines[0].contains("cannot become pending"), "{lines:?}");
    let job = ob.job(id);
    assert_eq!(str_of(&job, "state"), "completed");
    assert_eq!(job["manual_retries"].as_u64(), Some(0));
}

#[test]
fn history_pages_newest_first_and_filters_by_state() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "h", 5, 1);
    let ids = Outbox::added_ids(&ob.add(&[&src], "out", &[]));
    assert_eq!(ids.len(), 5);
    let bad = ob.dir("bad");
    std::fs::write(bad.join("oops.png"), "no pixels here").unwrap();
    let bad_id = Outbox::added_ids(&ob.add(&[&bad], "out", &[]))[0];
    ob.run_until_idle(&[]).expect_code(1);

    let all: Vec<i64> = ob
        .history()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    let mut expected: Vec<i64> = ids.iter().copied().chain([bad_id]).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(all, expected, "newest first");

    let page = ob.json(&["history", "--json", "--limit", "2", "--offset", "2"]);
    let page: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page, expected[2..4].to_vec());

    let failed = ob.history_with(&["--state", "failed"]);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["id"].as_i64(), Some(bad_id));
    assert_eq!(ob.history_with(&["--state", "completed"]).len(), 5);
    assert_eq!(ob.history_with(&["--state", "pending"]).len(), 0);

    // Past the end: an empty page, not an error.
    let empty = ob.json(&["history", "--json", "--offset", "100"]);
    assert_eq!(empty, serde_json::json!([]));
}

#[test]
fn clean_removes_finished_jobs_and_their_generated_outputs() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "k", 3, 1);
    std::fs::write(src.join("broken.png"), "not a png").unwrap();
    ob.add(&[&src], "out", &[]);
    ob.run_until_idle(&[]).expect_code(1);
    assert_eq!(file_names(&ob.outputs_dir()).len(), 3);

    // A job still waiting must survive the clean-up.
    let later = ob.dir("later");
    write_small_pngs(&later, "later-", 1, 50);
    let waiting = Outbox::added_ids(&ob.add(&[&later], "out", &[]))[0];
    std::thread::sleep(Duration::from_millis(20));

    // Retention: a bad rule is refused and changes nothing; keeping the
    // newest two completed jobs removes the third (and the failed one stays,
    // within its own rule); the waiting job is never touched.
    let refused = ob
        .run(&["retention", "--completed-keep", "0"])
        .expect_code(1);
    assert!(
        refused
            .stderr
            .contains("--completed-keep takes a whole number of at least 1"),
        "{}",
        refused.stderr
    );
    let shown = ob.run(&["retention"]).ok();
    assert!(
        shown.stdout.contains("at most the newest 50000;"),
        "{}",
        shown.stdout
    );
    let applied = ob
        .run(&["retention", "--completed-keep", "2", "--apply"])
        .ok();
    assert!(
        applied.stdout.contains("removed 1 finished job(s)"),
        "{}",
        applied.stdout
    );
    assert_eq!(file_names(&ob.outputs_dir()).len(), 2);

    let clean = ob.run(&["clean", "--older-than", "0"]).ok();
    assert!(
        clean.stdout.contains("removed 3 finished job(s)"),
        "{}",
        clean.stdout
    );
    let counts = ob.counts();
    assert_eq!(
        (counts["total"], counts["pending"], counts["completed"]),
        (1, 1, 0)
    );
    let left: Vec<i64> = ob
        .history()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(left, [waiting]);
    assert_eq!(file_names(&ob.outputs_dir()), Vec::<String>::new());
    // What was delivered stays delivered.
    assert_eq!(file_names(&out), ["k0000.jpg", "k0001.jpg", "k0002.jpg"]);

    // Negative days are refused.
    ob.run(&["clean", "--older-than=-1"]).expect_code(1);
}

// ---------------------------------------------------------------- previews

#[test]
fn preview_writes_the_apps_preview_without_touching_the_queue() {
    let ob = Outbox::new();
    let src = ob.dir("src");
    write_image(&src.join("wide.jpg"), 1600, 900, 21);
    write_image(&src.join("small.png"), 120, 80, 22);

    let out = ob.path("wide-preview.jpg");
    let run = ob
        .run(&["preview", &s(&src.join("wide.jpg")), "-o", &s(&out)])
        .ok();
    assert!(run.stdout.contains("512×288"), "{}", run.stdout);
    assert_eq!(decode(&out), (image::ImageFormat::Jpeg, 512, 288));

    let out = ob.path("small-preview.jpg");
    ob.run(&[
        "preview",
        &s(&src.join("small.png")),
        "-o",
        &s(&out),
        "--size",
        "64",
    ])
    .ok();
    assert_eq!(decode(&out), (image::ImageFormat::Jpeg, 64, 43));

    // No EXIF thumbnail in a JPEG made by the image crate: said in one line.
    let none = ob
        .run(&[
            "preview",
            &s(&src.join("wide.jpg")),
            "-o",
            &s(&ob.path("t.jpg")),
            "--exif-thumbnail",
        ])
        .expect_code(1);
    let lines = none.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("no embedded EXIF thumbnail"), "{lines:?}");
    assert!(!ob.path("t.jpg").exists());

    // Not an image: one clear line, nothing written.
    std::fs::write(src.join("notes.jpg"), "shopping list\n").unwrap();
    let bad = ob
        .run(&[
            "preview",
            &s(&src.join("notes.jpg")),
            "-o",
            &s(&ob.path("n.jpg")),
        ])
        .expect_code(1);
    let lines = bad.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not an image"), "{lines:?}");
    assert!(!ob.path("n.jpg").exists());

    // A size of 0 is a usage error.
    ob.run(&[
        "preview",
        &s(&src.join("wide.jpg")),
        "-o",
        &s(&out),
        "--size",
        "0",
    ])
    .expect_code(2);

    // Many files: one preview each into a folder; a bad file fails alone.
    let many = ob.path("many");
    let other = ob.dir("other");
    write_image(&other.join("wide.jpg"), 300, 100, 23);
    let run = ob
        .run(&[
            "preview",
            &s(&src.join("wide.jpg")),
            &s(&src.join("small.png")),
            &s(&src.join("notes.jpg")),
            &s(&other.join("wide.jpg")),
            "-o",
            &s(&many),
            "--size",
            "100",
        ])
        .expect_code(1);
    assert!(
        run.stderr.contains("notes.jpg: ") && run.stderr.contains("3 of 4 preview(s) written"),
        "{}",
        run.stderr
    );
    assert_eq!(
        file_names(&many),
        ["small.png.jpg", "wide.jpg-2.jpg", "wide.jpg.jpg"]
    );
    let mut wides = [
        decode(&many.join("wide.jpg.jpg")),
        decode(&many.join("wide.jpg-2.jpg")),
    ];
    wides.sort_by_key(|d| d.2);
    // 1600×900 is decoded at 1/8 to 200×113 (libjpeg rounds up), then fitted.
    assert_eq!(wides.map(|d| (d.1, d.2)), [(100, 33), (100, 57)]);
    assert_eq!(decode(&many.join("small.png.jpg")).1, 100);

    // The queue was never opened: no data folder was made.
    assert!(!ob.data.exists());
}

#[test]
fn names_in_any_script_and_of_the_longest_length_are_delivered() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let long_stem = "長".repeat(83); // 249 bytes of UTF-8: with ".png", 253
    let names = [
        "写真 — ünïcødé 😀.png".to_string(),
        "Ελληνικά עברית العربية.png".to_string(),
        format!("{long_stem}.png"),
    ];
    // The same names twice, from two folders: the second of each needs a
    // collision-free name, which must still fit the file system's limit.
    for (i, dir) in ["one", "two"].into_iter().enumerate() {
        let src = ob.dir(dir);
        for (j, name) in names.iter().enumerate() {
            write_image(&src.join(name), 40, 30, (10 * i + j) as u64);
        }
        ob.add(&[&src], "out", &[]);
    }
    ob.run_until_idle(&[]).ok();
    let delivered = file_names(&out);
    assert_eq!(delivered.len(), 6, "{delivered:#?}");
    for name in &delivered {
        assert!(name.len() <= 255, "{} bytes: {name}", name.len());
        assert!(name.ends_with(".jpg"), "{name}");
        decode(&out.join(name));
    }
    for stem in ["写真 — ünïcødé 😀", "Ελληνικά עברית العربية"] {
        assert!(delivered.contains(&format!("{stem}.jpg")), "{delivered:#?}");
    }
}

#[test]
fn render_runs_a_recipe_into_a_folder_without_the_queue() {
    let ob = Outbox::new();
    let src = ob.dir("src");
    write_image(&src.join("big.png"), 3000, 1500, 31);
    write_image(&src.join("nested/small.jpg"), 300, 200, 32);
    std::fs::write(src.join("broken.jpg"), b"\xFF\xD8\xFF\xE0 not really").unwrap();
    std::fs::write(src.join("readme.txt"), "not an image").unwrap();
    // Same stem twice, and a file already in the output folder: nothing is overwritten.
    write_image(&ob.path("other/big.png"), 100, 100, 33);
    let out = ob.path("rendered");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("small.jpg"), b"keep me").unwrap();

    let run = ob
        .run(&[
            "render",
            &s(&src),
            &s(&ob.path("other/big.png")),
            "-o",
            &s(&out),
        ])
        .expect_code(1);
    assert!(run.stderr.contains("broken.jpg: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("damaged or truncated"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("3 of 4 image(s) rendered"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("readme.txt"),
        "skipped is listed: {}",
        run.stderr
    );

    assert_eq!(std::fs::read(out.join("small.jpg")).unwrap(), b"keep me");
    assert_eq!(
        decode(&out.join("small-2.jpg")),
        (image::ImageFormat::Jpeg, 300, 200)
    );
    let mut bigs: Vec<(u32, u32)> = ["big.jpg", "big-2.jpg"]
        .iter()
        .map(|n| {
            let (_, w, h) = decode(&out.join(n));
            (w, h)
        })
        .collect();
    bigs.sort();
    assert_eq!(bigs, [(100, 100), (2048, 1024)]);

    // The thumbnail recipe; an unknown recipe is refused before anything runs.
    let thumbs = ob.path("thumbs");
    ob.run(&[
        "render",
        &s(&src.join("big.png")),
        "--recipe",
        "thumbnail",
        "-o",
        &s(&thumbs),
    ])
    .ok();
    assert_eq!(decode(&thumbs.join("big.jpg")).1, 512);
    assert!(
        !ob.data.exists(),
        "built-in recipes need no database: it was never opened"
    );
    // An unknown name is looked up among the saved recipes, then refused
    // before anything runs.
    let bad = ob
        .run(&[
            "render",
            &s(&src),
            "--recipe",
            "nope",
            "-o",
            &s(&ob.path("x")),
        ])
        .expect_code(1);
    assert!(
        bad.stderr.contains("no recipe named \"nope\""),
        "{}",
        bad.stderr
    );
    assert!(!ob.path("x").exists());
}

// ---------------------------------------------------------------- recipes

#[test]
fn saved_recipes_are_listed_queued_and_rendered_by_name() {
    let ob = Outbox::new();
    let recipes = ob.dir("recipes");
    write_image(&recipes.join("mark.png"), 40, 20, 41);
    let square = r##"{"name": "square", "operations": [
        {"op": "crop_to_aspect", "width": 1, "height": 1},
        {"op": "resize", "mode": "fill", "width": 300, "height": 300},
        {"op": "watermark", "image": "mark.png", "corner": "bottom_right",
         "width": 0.2, "opacity": 0.8, "margin": 4},
        {"op": "png"},
        {"op": "rename", "pattern": "{stem}-sq"}]}"##;
    std::fs::write(recipes.join("square.json"), square).unwrap();
    let saved = ob
        .run(&["recipe", "save", &s(&recipes.join("square.json"))])
        .ok();
    assert!(
        saved.stdout.contains("saved recipe \"square\""),
        "{}",
        saved.stdout
    );

    let list = ob.json(&["recipe", "list", "--json"]);
    let names: Vec<(&str, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (str_of(r, "name"), r["builtin"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("web", true),
            ("thumbnail", true),
            ("original", true),
            ("square", false)
        ]
    );
    // The watermark named relative to the recipe file was made absolute.
    let shown = ob.json(&["recipe", "show", "square"]);
    assert_eq!(
        shown["operations"][2]["image"],
        s(&recipes.join("mark.png"))
    );

    let src = ob.dir("src");
    write_image(&src.join("wide.jpg"), 900, 600, 42);
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    ob.add(&[&src], "out", &["--recipe", "square"]);
    // Moving the recipe file away changes nothing: the recipe is saved.
    std::fs::remove_file(recipes.join("square.json")).unwrap();
    ob.run_until_idle(&[]).ok();
    assert_eq!(
        decode(&out.join("wide-sq.png")),
        (image::ImageFormat::Png, 300, 300)
    );

    let rendered = ob.path("rendered");
    ob.run(&[
        "render",
        &s(&src),
        "--recipe",
        "square",
        "-o",
        &s(&rendered),
    ])
    .ok();
    assert_eq!(decode(&rendered.join("wide-sq.png")).1, 300);

    ob.run(&["recipe", "remove", "square"]).ok();
    let gone = ob
        .run(&["add", &s(&src), "--to", "out", "--recipe", "square"])
        .expect_code(1);
    assert!(
        gone.stderr.contains("no recipe named \"square\"")
            && gone.stderr.contains("web, thumbnail, original"),
        "{}",
        gone.stderr
    );
}

#[test]
fn bad_recipes_are_refused_with_the_reason_and_nothing_is_saved() {
    let ob = Outbox::new();
    let file = |name: &str, text: &str| {
        let path = ob.path(name);
        std::fs::write(&path, text).unwrap();
        s(&path)
    };
    for (path, needle) in [
        (
            file("web.json", r#"{"name":"web","operations":[]}"#),
            "\"web\" is a built-in recipe",
        ),
        (
            file("broken.json", r#"{"name":"x","operations":["#),
            "is not a recipe",
        ),
        (
            file(
                "unknown.json",
                r#"{"name":"x","operations":[{"op":"sepia"}]}"#,
            ),
            "unknown variant `sepia`",
        ),
        (
            file(
                "q.json",
                r#"{"name":"x","operations":[{"op":"jpeg","quality":101}]}"#,
            ),
            "JPEG quality must be 1 to 100",
        ),
        (
            file(
                "text.json",
                r##"{"name":"x","operations":[{"op":"text_watermark","text":"© {owner",
                    "corner":"top_left","height":0.05,"colour":"#fff","opacity":1,"margin":0}]}"##,
            ),
            "without its }",
        ),
        (s(&ob.path("missing.json")), "cannot read"),
    ] {
        let out = ob.run(&["recipe", "save", &path]).expect_code(1);
        assert!(out.stderr.contains(needle), "{path}: {}", out.stderr);
    }
    let list = ob.json(&["recipe", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "only the built-in ones");
    let out = ob.run(&["recipe", "remove", "thumbnail"]).expect_code(1);
    assert!(out.stderr.contains("built-in"), "{}", out.stderr);
    let out = ob.run(&["recipe", "remove", "nope"]).expect_code(1);
    assert!(
        out.stderr.contains("no recipe named \"nope\""),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- import

#[test]
fn import_queues_manifest_rows_and_lists_the_skipped_ones_with_their_line() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("photos", &out);
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 64, 48, 1);
    write_image(&src.join("b.png"), 64, 48, 2);
    std::fs::write(
        src.join("items.csv"),
        "image,title\na.png,\"Shoe, red\"\nb.png,Hat,extra\n,No image\nmissing.png,Ghost\n",
    )
    .unwrap();
    let manifest = src.join("items.csv");
    let manifest = manifest.to_str().unwrap();

    let report = ob.json(&[
        "import",
        manifest,
        "--to",
        "photos",
        "--priority",
        "5",
        "--json",
    ]);
    assert_eq!(report["added"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["added"][0]["row"], 2);
    let skipped: Vec<(u64, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["row"].as_u64().unwrap(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(
        skipped[0].1.contains("3 field(s); the header has 2"),
        "{skipped:?}"
    );
    assert!(skipped[1].1.contains("no image"), "{skipped:?}");
    assert!(skipped[2].1.contains("not found"), "{skipped:?}");
    let job = &ob.history()[0];
    assert_eq!(job["priority"], 5);

    // Again: the one queued row is a duplicate now, and nothing is queued.
    let again = ob
        .run(&["import", manifest, "--to", "photos"])
        .expect_code(1);
    assert!(
        again.stdout.contains("skipped row 2: a duplicate"),
        "{}",
        again.stdout
    );
    assert!(again.stderr.contains("no item of"), "{}", again.stderr);

    ob.run_until_idle(&[]).ok();
    assert!(out.join("a.jpg").is_file());

    let missing = ob.run(&["import", "/nonexistent/items.csv"]).expect_code(1);
    assert!(
        missing.stderr.contains("/nonexistent/items.csv"),
        "{}",
        missing.stderr
    );
}

#[test]
fn provider_settings_are_checked_before_the_key_is_asked_for() {
    let ob = Outbox::new();
    let bad = ob
        .run(&[
            "provider", "add", "studio", "--kind", "gemini", "--count", "2",
        ])
        .expect_code(1);
    assert!(
        bad.stderr.contains("one image per request"),
        "{}",
        bad.stderr
    );
    let no_key = ob
        .run(&["provider", "add", "studio", "--kind", "openai"])
        .expect_code(1);
    assert!(
        no_key.stderr.contains("--secret-stdin"),
        "{}",
        no_key.stderr
    );
    assert_eq!(
        ob.json(&["provider", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn a_spending_cap_is_set_raised_and_lifted_and_bad_caps_are_refused() {
    let ob = Outbox::new();
    let negative = ob
        .run(&[
            "provider",
            "add",
            "studio",
            "--kind",
            "openai",
            "--spending-cap=-1",
        ])
        .expect_code(1);
    assert!(
        negative.stderr.contains("spending cap"),
        "{}",
        negative.stderr
    );
    // The key from the environment, into the test command's Secret Service.
    let mut add = ob.command(&[
        "provider",
        "add",
        "studio",
        "--kind",
        "openai",
        "--cost-per-image",
        "0.04",
        "--spending-cap",
        "5",
    ]);
    add.env("OUTBOX_SECRET", "sk-test");
    run_command(add, std::time::Duration::from_secs(30)).expect_code(0);
    let cap = |ob: &Outbox| {
        ob.json(&["provider", "list", "--json"])[0]["settings"]["spending_cap"].clone()
    };
    assert_eq!(cap(&ob), serde_json::json!(5.0));

    ob.run(&["provider", "cap", "studio", "12.50"])
        .expect_code(0);
    assert_eq!(cap(&ob), serde_json::json!(12.5));
    let words = ob
        .run(&["provider", "cap", "studio", "lots"])
        .expect_code(1);
    assert!(
        words.stderr.contains("an amount such as 20"),
        "{}",
        words.stderr
    );
    let unknown = ob.run(&["provider", "cap", "nobody", "3"]).expect_code(1);
    assert!(
        unknown.stderr.contains("no AI provider named"),
        "{}",
        unknown.stderr
    );
    ob.run(&["provider", "cap", "studio", "none"])
        .expect_code(0);
    assert_eq!(cap(&ob), serde_json::Value::Null);

    // `provider edit` changes what it is given and nothing else.
    ob.run(&[
        "provider",
        "edit",
        "studio",
        "--spending-cap",
        "8",
        "--model",
        "gpt-image-1-mini",
        "--requests-per-minute",
        "30",
    ])
    .expect_code(0);
    let settings = || ob.json(&["provider", "list", "--json"])[0]["settings"].clone();
    let edited = settings();
    assert_eq!(edited["spending_cap"], serde_json::json!(8.0));
    assert_eq!(edited["model"], "gpt-image-1-mini");
    assert_eq!(edited["requests_per_minute"], 30);
    assert_eq!(edited["cost_per_image"], serde_json::json!(0.04));
    // A bad value among good ones changes nothing.
    let bad = ob
        .run(&[
            "provider",
            "edit",
            "studio",
            "--model",
            "",
            "--spending-cap=-2",
        ])
        .expect_code(1);
    assert!(bad.stderr.contains("spending cap"), "{}", bad.stderr);
    assert_eq!(settings(), edited);
    ob.run(&[
        "provider",
        "edit",
        "studio",
        "--model",
        "",
        "--requests-per-minute",
        "none",
    ])
    .expect_code(0);
    let back = settings();
    assert_eq!(back["model"], serde_json::Value::Null);
    assert_eq!(back["requests_per_minute"], serde_json::Value::Null);
    assert_eq!(back["spending_cap"], serde_json::json!(8.0));
}

#[test]
fn outputs_held_for_review_are_listed_accepted_discarded_and_regenerated_from_the_command_line() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    for i in 0..3 {
        write_image(&src.join(format!("r{i}.png")), 64, 48, 90 + i);
    }
    let jobs = Outbox::added_ids(&ob.add(&[&src], "out", &["--review"]));
    assert_eq!(jobs.len(), 3);
    ob.run_until_idle(&[]).ok();
    // Generated, held: nothing delivered yet.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    let held: Vec<i64> = match ob.json(&["review", "--json"]) {
        Value::Array(held) => held.iter().filter_map(|j| j["id"].as_i64()).collect(),
        other => panic!("review --json is not a list: {other}"),
    };
    assert_eq!(held, jobs, "oldest first");

    let (keep, discarded, again) = (
        jobs[0].to_string(),
        jobs[1].to_string(),
        jobs[2].to_string(),
    );
    ob.run(&["accept", &keep]).ok();
    ob.run(&["discard", &discarded]).ok();
    ob.run(&["regenerate", &again]).ok();
    ob.run_until_idle(&[]).ok();
    let state = |id: i64| {
        ob.history()
            .into_iter()
            .find(|j| j["id"] == id)
            .map(|j| (j["state"].clone(), j["awaiting_review"].clone()))
            .unwrap()
    };
    assert_eq!(
        state(jobs[0]),
        (serde_json::json!("completed"), serde_json::json!(false))
    );
    assert_eq!(
        state(jobs[1]),
        (serde_json::json!("cancelled"), serde_json::json!(false))
    );
    assert_eq!(
        state(jobs[2]),
        (serde_json::json!("pending"), serde_json::json!(true)),
        "made again, held again"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    let listed = ob.run(&["review"]).ok();
    assert!(listed.stdout.contains("r2.png"), "{}", listed.stdout);

    // Bad input: a job with nothing to review, and one that does not exist;
    // nothing changes.
    let refused = ob.run(&["discard", &keep]).expect_code(1);
    assert!(
        refused
            .stderr
            .contains(&format!("job {keep} has no output waiting for review")),
        "{}",
        refused.stderr
    );
    let refused = ob.run(&["accept", &again, "999"]).expect_code(1);
    assert!(refused.stderr.contains("999"), "{}", refused.stderr);
    assert_eq!(
        state(jobs[2]),
        (serde_json::json!("pending"), serde_json::json!(true)),
        "all or nothing"
    );
    // The history finds a job by part of its name, any case.
    let found = ob.history_with(&["--search", "R2.PN"]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], jobs[2]);
    assert_eq!(ob.history_with(&["--destination", "nowhere"]).len(), 0);
}
