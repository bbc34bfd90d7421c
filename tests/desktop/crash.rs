//! Crash safety of the real app: a dropped folder is uploading when the app is
//! killed with SIGKILL, several times at different moments; each new launch
//! on the same data folder resumes by itself, and in the end every item is
//! delivered exactly once, whole, with a sound database. Screenshots of each
//! step land in `target/e2e/crash-*.png`.

mod harness;

use harness::{App, Display, Driver, Home};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ITEMS: usize = 60;
const WAIT: Duration = Duration::from_secs(60);

/// Distinct photo-sized JPEGs (distinct pixels: copies would be cancelled
/// as duplicates of each other); returns the file names. Big enough that a
/// relaunch does not find the work done already.
fn write_sources(dir: &Path) -> BTreeSet<String> {
    std::fs::create_dir_all(dir).expect("source folder");
    // 2400×1800: on a quiet machine smaller ones were all delivered within
    // the moments between a relaunch and its kill.
    let (width, height) = (2400, 1800);
    // One gradient, then a square of its own colour and place per image
    // (cheaper than drawing 60 whole images in a debug build); libjpeg-turbo
    // encodes them far faster than the image crate would.
    let base = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
    });
    (0..ITEMS as u32)
        .map(|i| {
            let name = format!("photo-{i:02}.jpg");
            let mut image = base.clone();
            let (left, top) = (40 + (i % 10) * 150, 40 + (i / 10) * 180);
            for y in top..top + 140 {
                for x in left..left + 120 {
                    image.put_pixel(x, y, image::Rgb([(i * 4) as u8, 255 - (i * 4) as u8, 40]));
                }
            }
            let jpeg = turbojpeg::compress(
                turbojpeg::Image {
                    pixels: image.as_raw().as_slice(),
                    width: width as usize,
                    pitch: 3 * width as usize,
                    height: height as usize,
                    format: turbojpeg::PixelFormat::RGB,
                },
                85,
                turbojpeg::Subsamp::Sub2x2,
            )
            .expect("encode a test JPEG");
            std::fs::write(dir.join(&name), &*jpeg).expect("write a test JPEG");
            name
        })
        .collect()
}

/// Every name in the delivery folder, hidden temporary files included.
fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Delivered files: the visible ones (a delivery appears whole, by a link).
fn delivered(home: &Home) -> usize {
    names_in(&home.delivered())
        .iter()
        .filter(|n| !n.starts_with('.'))
        .count()
}

/// Polls the delivery folder until it holds at least `n` files.
fn wait_delivered(home: &Home, n: usize, what: &str) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = delivered(home);
        if now >= n {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {now} of {ITEMS} delivered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The number a chip of the queue panel's counts shows.
fn chip(app: &App<'_>, state: &str) -> String {
    app.js_with(
        "const c = document.querySelector(`.chip[data-state=${arguments[0]}] strong`); return c ? c.textContent : ''",
        json!([state]),
    )
    .as_str()
    .unwrap_or("")
    .to_string()
}

/// Files being written (`.part`), anywhere under `dir`.
fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".part") {
                found.push(p);
            }
        }
    }
    found
}

fn open_database(home: &Home) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        home.data().join("outbox.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database read-only")
}

fn rows<T>(
    db: &rusqlite::Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut statement = db.prepare(sql).expect("prepare");
    let found = statement
        .query_map([], row)
        .and_then(|rows| rows.collect())
        .expect("query");
    found
}

/// The database is sound, and the counters its triggers keep agree with the
/// rows (checked with no app running).
fn check_database(home: &Home, when: &str) {
    let db = open_database(home);
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok", "database {when}");
    let counts: Vec<(String, i64, i64)> = rows(
        &db,
        "SELECT c.state, c.n, (SELECT count(*) FROM jobs j WHERE j.state = c.state)
           FROM state_counts c",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    );
    for (state, counted, actual) in counts {
        assert_eq!(counted, actual, "state_counts[{state}] {when}");
    }
}

/// Kills the app the moment `at_least` files are delivered, then checks
/// that work was indeed left and that the database survived. Returns how
/// many were delivered at the kill.
fn kill_when(app: App<'_>, home: &Home, at_least: usize, step: &str) -> usize {
    let seen = wait_delivered(home, at_least, &format!("{step}: {at_least} delivered"));
    let t = Instant::now();
    app.kill();
    let done = delivered(home);
    println!(
        "{step}: killed at {done} of {ITEMS} delivered ({seen} when sent, in {:.0?})",
        t.elapsed()
    );
    assert!(
        done < ITEMS,
        "{step}: everything was delivered before the kill, so nothing was interrupted"
    );
    check_database(home, &format!("after the kill {step}"));
    done
}

/// A new launch on the same data folder: the grid comes back from the
/// engine, and pending work resumes with nobody asking.
fn relaunch<'d>(driver: &'d Driver, home: &Home, done: usize, step: &str) -> App<'d> {
    let launched = Instant::now();
    let app = driver.launch();
    println!(
        "{step}: window back in {:.1?}, {} delivered",
        launched.elapsed(),
        delivered(home)
    );
    app.wait_for(&format!("{step}: the restored grid"), WAIT, || {
        app.js("return document.querySelector('.results').dataset.items")
            == json!(ITEMS.to_string())
    });
    assert_eq!(chip(&app, "all"), ITEMS.to_string(), "{step}: jobs counted");
    wait_delivered(home, done + 1, &format!("{step}: the work resuming"));
    app
}

#[test]
fn killed_mid_upload_the_app_resumes_and_delivers_each_item_once() {
    let start = Instant::now();
    let display = Display::start();
    let home = Home::new();
    let folder = home.root.path().join("sixty");
    let sources = write_sources(&folder);
    println!("{ITEMS} sources written in {:.1?}", start.elapsed());
    let driver = Driver::start(&display, &home);

    let app = driver.launch();
    app.js_with("window.outbox.drop(arguments[0])", json!([[folder]]));
    app.wait_for("a tile per image", WAIT, || {
        app.js("return document.querySelector('.results').dataset.items")
            == json!(ITEMS.to_string())
    });
    app.screenshot("crash-01-dropped");
    app.wait_for("the queue panel showing work under way", WAIT, || {
        chip(&app, "processing").parse::<usize>().unwrap_or(0) > 0
    });
    app.screenshot("crash-02-working");

    // Three kills at different moments: among the first deliveries (most
    // items still to generate), as soon as a relaunched window is back (the
    // orphans of the previous kill just recovered), and three quarters
    // through. Screenshots come before the waits, not to delay the kills.
    let done = kill_when(app, &home, 4, "at the first deliveries");
    let app = relaunch(&driver, &home, done, "after the first kill");
    app.screenshot("crash-03-relaunched");
    let done = kill_when(app, &home, done + 1, "as the window came back");
    let app = relaunch(&driver, &home, done, "after the second kill");
    // At once when the relaunch found more than that done already.
    let three_quarters = (ITEMS * 3 / 4).max(delivered(&home));
    let done = kill_when(app, &home, three_quarters, "three quarters through");

    let app = relaunch(&driver, &home, done, "after the third kill");
    app.screenshot("crash-04-relaunched");
    wait_delivered(&home, ITEMS, "every item delivered");
    app.wait_for("the counts showing all completed", WAIT, || {
        chip(&app, "completed") == ITEMS.to_string()
    });
    for (state, n) in [
        ("all", ITEMS),
        ("pending", 0),
        ("processing", 0),
        ("failed", 0),
        ("paused", 0),
        ("cancelled", 0),
    ] {
        assert_eq!(chip(&app, state), n.to_string(), "the {state} count");
    }
    // Every tile in view follows its job, including those that finished
    // while the relaunched window was being built.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let behind = app.js(
            "return Array.from(document.querySelectorAll('.tile:not([data-state=completed])'))
               .map(t => t.querySelector('.name').textContent + ': ' + t.dataset.state)",
        );
        if behind == json!([]) {
            break;
        }
        if Instant::now() > deadline {
            app.screenshot("crash-05-tiles-behind");
            panic!("tiles not showing their completed job: {behind}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    app.screenshot("crash-05-all-delivered");
    app.quit_and_wait(Duration::from_secs(30));

    // One whole file per source, nothing partial left anywhere.
    let names = names_in(&home.delivered());
    let extra: Vec<&String> = names.difference(&sources).collect();
    let missing: Vec<&String> = sources.difference(&names).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "delivery folder: extra (duplicates or partial files?) {extra:?}, missing {missing:?}"
    );
    for name in &names {
        let reader = image::ImageReader::open(home.delivered().join(name))
            .and_then(|r| r.with_guessed_format())
            .expect("open a delivered file");
        assert_eq!(reader.format(), Some(image::ImageFormat::Jpeg), "{name}");
        let image = reader
            .decode()
            .unwrap_or_else(|e| panic!("{name} does not decode whole: {e}"));
        // The web recipe fits the 2400×1800 sources within 2048 pixels.
        assert_eq!((image.width(), image.height()), (2048, 1536), "{name}");
    }
    let leftovers = part_files(&home.data());
    assert!(leftovers.is_empty(), "partial outputs: {leftovers:?}");

    check_database(&home, "at the end");
    let db = open_database(&home);
    let jobs: Vec<(String, Option<String>, i64, i64)> = rows(
        &db,
        "SELECT state, remote_url, attempts, max_attempts FROM jobs",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    );
    assert_eq!(jobs.len(), ITEMS, "one job per source");
    let mut urls = BTreeSet::new();
    for (state, url, attempts, max) in &jobs {
        assert_eq!(state, "completed");
        assert!((1..=*max).contains(attempts), "attempts {attempts}/{max}");
        let url = url.as_deref().expect("a delivered job has a url");
        assert!(urls.insert(url.to_string()), "two jobs delivered to {url}");
    }
    println!("{ITEMS} items, 3 kills, {:.1?}", start.elapsed());
}
