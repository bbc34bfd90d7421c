//! A damaged queue database in the real app: the window says so, with the
//! file and the reason, and touches nothing; only when the user agrees is it
//! kept as a copy (with its log) and a fresh queue started, which then works.
//! Screenshots land in `target/e2e/damaged-*.png`.

mod harness;

use harness::{Display, Driver, Home};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const DAMAGED: &[u8] = b"these bytes were a queue once; now they are not a database at all";
const DAMAGED_LOG: &[u8] = b"and this was its write-ahead log";

/// The data folder's files whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the data folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_damaged_database_is_kept_and_replaced_only_when_the_user_agrees() {
    let display = Display::start();
    let home = Home::new();
    let data = home.data();
    std::fs::create_dir_all(&data).expect("data folder");
    let db = data.join("outbox.sqlite3");
    std::fs::write(&db, DAMAGED).expect("write the damaged database");
    std::fs::write(data.join("outbox.sqlite3-wal"), DAMAGED_LOG).expect("write its log");
    let photos = home.root.path().join("photos");
    std::fs::create_dir_all(&photos).expect("photos");
    image::RgbImage::from_pixel(640, 480, image::Rgb([30, 120, 200]))
        .save(photos.join("sky.jpg"))
        .expect("write a photo");
    let driver = Driver::start(&display, &home);

    let app = driver.launch_until(
        "the window says the database is damaged",
        "return document.querySelector('.damaged') !== null",
    );
    app.screenshot("damaged-01-asked");
    let said = app.js("return document.querySelector('.damaged').textContent");
    let said = said.as_str().unwrap_or("");
    assert!(said.contains(&*db.to_string_lossy()), "{said}");
    assert!(said.contains("file is not a database"), "{said}");
    // Asked, not yet answered: nothing touched, nothing else running.
    assert_eq!(std::fs::read(&db).expect("the database"), DAMAGED);
    assert_eq!(
        named(&data, "outbox.sqlite3"),
        [db.clone(), data.join("outbox.sqlite3-wal")]
    );
    assert_eq!(
        app.js("return document.body.dataset.ready ?? null"),
        json!(null)
    );

    app.js("document.querySelector('.damaged button.primary').click()");
    app.wait_for("the fresh queue's window is ready", WAIT, || {
        app.js("return document.body.dataset.ready === 'true'") == json!(true)
    });
    app.screenshot("damaged-02-fresh");

    // The damaged file and its log are kept together, byte for byte.
    let kept = named(&data, "outbox.sqlite3.damaged-");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).expect("the kept copy"), DAMAGED);
    assert!(kept[1].to_string_lossy().ends_with("-wal"), "{kept:?}");
    assert_eq!(std::fs::read(&kept[1]).expect("the kept log"), DAMAGED_LOG);
    let notice = app.js("return document.querySelector('.notices').textContent");
    assert!(
        notice
            .as_str()
            .unwrap_or("")
            .contains(&*kept[0].to_string_lossy()),
        "{notice}"
    );

    // The fresh queue works: a dropped photo is delivered.
    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    app.wait_for("the photo is delivered", WAIT, || {
        app.js("return document.querySelectorAll('.tile[data-state=completed]').length") == json!(1)
    });
    app.screenshot("damaged-03-delivered");
    app.quit_and_wait(WAIT);
    let fresh = rusqlite::Connection::open(&db).expect("open the fresh database");
    let integrity: String = fresh
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    assert!(home.delivered().join("sky.jpg").is_file());
}
