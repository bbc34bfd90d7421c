//! End to end in the real app: the built binary in a real WebKit webview under
//! Xvfb, driven over WebDriver (tauri-driver + WebKitWebDriver). Screenshots of
//! each step land in `target/e2e/` for a person to look at.

mod harness;

#[path = "../../crates/engine/tests/shared/loopback.rs"]
mod loopback;

use harness::{Display, Driver, Home, Modifier};
use loopback::{Reply, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

fn write_jpeg(path: &Path, width: u32, height: u32, seed: u8) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            seed.wrapping_mul(37),
        ])
    });
    image.save(path).expect("write a test JPEG");
}

/// A folder as people drop it: good images (one in a subfolder, one with a
/// Unicode name), a PNG, a corrupt JPEG, an empty file, and a text file.
fn mixed_folder(root: &Path) -> std::path::PathBuf {
    let dir = root.join("drop me");
    std::fs::create_dir_all(dir.join("sub")).expect("folders");
    write_jpeg(&dir.join("beach.jpg"), 1200, 800, 1);
    write_jpeg(&dir.join("forêt ünïcode.jpg"), 800, 1200, 2);
    write_jpeg(&dir.join("sub").join("city.jpg"), 1000, 1000, 3);
    image::RgbaImage::from_pixel(300, 200, image::Rgba([10, 200, 90, 255]))
        .save(dir.join("logo.png"))
        .expect("png");
    std::fs::write(
        dir.join("broken.jpg"),
        b"\xff\xd8\xff\xe0 this is not really a jpeg",
    )
    .expect("corrupt");
    std::fs::write(dir.join("empty.jpg"), b"").expect("empty");
    std::fs::write(dir.join("notes.txt"), b"not an image").expect("text");
    dir
}

#[test]
fn a_dropped_folder_previews_delivers_and_survives_a_restart() {
    let display = Display::start();
    let home = Home::new();
    let folder = mixed_folder(home.root.path());
    let driver = Driver::start(&display, &home);

    let app = driver.launch();
    app.screenshot("01-empty-window");

    // The same handler the native drop event calls.
    app.js_with("window.outbox.drop(arguments[0])", json!([[folder]]));
    app.wait_for("a tile per image file", WAIT, || {
        app.js("return document.querySelectorAll('.tile').length") == json!(5)
    });
    app.screenshot("02-dropped");

    // The empty file and the text file are listed as skipped, with reasons.
    let skipped = app.js(
        "return Array.from(document.querySelectorAll('.skipped li')).map(li => li.textContent)",
    );
    assert_eq!(
        skipped,
        json!([
            "empty.jpg — empty file (0 bytes)",
            "notes.txt — not an image Outbox reads (.txt)"
        ])
    );

    app.wait_for("the previews of the four good images", WAIT, || {
        app.tiles("data-preview", "source") == 4
    });
    app.wait_for("the corrupt file failing with its reason", WAIT, || {
        app.tiles("data-state", "failed") == 1
    });
    let reasons: Value = app.js(
        "return Array.from(document.querySelectorAll('.tile[data-state=failed]'))
           .map(t => [t.querySelector('.name').textContent, t.querySelector('.reason').textContent])",
    );
    for pair in reasons.as_array().cloned().unwrap_or_default() {
        let (name, reason) = (
            pair[0].as_str().unwrap_or(""),
            pair[1].as_str().unwrap_or(""),
        );
        assert!(name == "broken.jpg", "{pair}");
        assert!(reason.len() > 10, "{name} has no reason: {pair}");
    }
    app.screenshot("03-previews-and-reasons");

    app.wait_for("the four good images delivered", WAIT, || {
        app.tiles("data-state", "completed") == 4
    });
    app.wait_for("every output preview shown", WAIT, || {
        app.tiles("data-output", "shown") == 4
    });
    let delivered = std::fs::read_dir(home.delivered())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(delivered, 4, "files in {}", home.delivered().display());
    app.screenshot("04-delivered");

    // A reload of the webview rebuilds the whole view from the engine.
    app.js("location.reload()");
    app.wait_for("the reloaded window", WAIT, || {
        app.poll_js(
            "return document.body.dataset.ready === 'true' && document.querySelectorAll('.tile').length",
        ) == json!(5)
    });
    assert_eq!(app.tiles("data-state", "completed"), 4);
    assert_eq!(app.tiles("data-state", "failed"), 1);
    app.quit();

    // A new launch shows the history from the engine.
    let app = driver.launch();
    app.wait_for("the restored grid", WAIT, || {
        app.js("return document.querySelectorAll('.tile').length") == json!(5)
    });
    assert_eq!(app.tiles("data-state", "completed"), 4);
    assert_eq!(app.tiles("data-state", "failed"), 1);
    let counts = app.js("return ['completed', 'failed'].map(s =>
           document.querySelector(`.chip[data-state=${s}] strong`).textContent)");
    assert_eq!(counts, json!(["4", "1"]));
    app.wait_for("the job list rows", WAIT, || {
        app.js("return document.querySelectorAll('.jobrow[data-job]:not([data-job=\"\"])').length")
            == json!(5)
    });
    app.screenshot("05-after-restart");
    app.quit();
}

/// What the queue panel shows, read in one script (so from one rendering):
/// the count chips, the batch cards' progress and the rows in progress.
const PANEL: &str = "
  const chip = s => Number(document.querySelector(`.chip[data-state=${s}] strong`).textContent);
  const bars = Array.from(document.querySelectorAll('.batch progress'));
  return {
    all: chip('all'), processing: chip('processing'), completed: chip('completed'),
    failed: chip('failed'), cancelled: chip('cancelled'),
    batch_done: bars.reduce((n, p) => n + Number(p.value), 0),
    batch_total: bars.reduce((n, p) => n + Number(p.max), 0),
    batches: bars.length,
    flights: document.querySelectorAll('.in-progress .flight').length,
  };";

/// Rows of the job list whose content spills out of the row (clipped by it).
const CLIPPED_ROWS: &str = "
  return Array.from(document.querySelectorAll('.jobrow:not([hidden])')).flatMap(row => {
    const r = row.getBoundingClientRect();
    const out = Array.from(row.querySelectorAll('.badge, .name, .detail, .actions button'))
      .filter(c => c.getClientRects().length > 0)
      .filter(c => { const b = c.getBoundingClientRect(); return b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5; });
    return out.length > 0 || Math.abs(r.height - 44) > 0.5
      ? [`${row.dataset.job}: ${r.height}px, ${out.map(c => c.className || c.textContent).join(', ')} outside`] : [];
  });";

#[test]
fn the_panel_agrees_with_itself_while_jobs_run_and_shows_another_process_work() {
    let display = Display::start();
    let home = Home::new();
    let folder = home.root.path().join("many");
    std::fs::create_dir_all(&folder).expect("folder");
    for i in 0..30u8 {
        write_jpeg(&folder.join(format!("p{i:02}.jpg")), 2400, 1600, i);
    }
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    app.js_with("window.outbox.drop(arguments[0])", json!([[folder]]));

    // Sampled while the batch runs: every reading agrees with itself.
    let mut busy_samples = 0;
    let mut shot = false;
    let mut sample = || {
        let p = app.js(PANEL);
        let n = |k: &str| p[k].as_u64().unwrap_or(u64::MAX);
        if n("batches") == 1 {
            assert_eq!(n("batch_total"), n("all"), "batch total vs counts: {p}");
            assert_eq!(
                n("batch_done"),
                n("completed") + n("failed") + n("cancelled"),
                "batch progress vs counts: {p}"
            );
        }
        assert_eq!(
            n("flights"),
            n("processing"),
            "rows in progress vs counts: {p}"
        );
        let busy = n("processing") > 0 && n("completed") > 0;
        if busy {
            busy_samples += 1;
            if !shot {
                shot = true;
                app.screenshot("06-panel-while-working");
                let clipped = app.js(CLIPPED_ROWS);
                assert_eq!(clipped, json!([]), "job rows clipped");
            }
        }
        (
            busy,
            n("all") == 30 && n("completed") == 30 && n("batches") == 0,
        )
    };
    app.wait_for("jobs in progress beside finished ones", WAIT, || sample().0);

    // Halfway, held still by a pause: the panel says what the engine's own
    // status (read by this process from the database) says.
    app.js("return window.__TAURI_INTERNALS__.invoke('pause', { batch: null })");
    let engine = home.engine();
    let mut settled = None;
    app.wait_for("the jobs in flight finished", WAIT, || {
        let status = engine.status().expect("status");
        let still = status.counts.processing == 0;
        settled = Some(status);
        still
    });
    let status = settled.expect("a status");
    let batch = &status.batches[0].counts;
    let expected = json!({
        "all": status.counts.total, "processing": 0, "completed": status.counts.completed,
        "failed": status.counts.failed, "cancelled": status.counts.cancelled,
        "batch_done": batch.completed + batch.failed + batch.cancelled,
        "batch_total": batch.total, "batches": 1, "flights": 0,
    });
    app.wait_for("the panel shows the engine's status", WAIT, || {
        app.js(PANEL) == expected
    });
    assert!(
        status.counts.completed > 0 && status.counts.completed < 30,
        "paused halfway: {:?}",
        status.counts
    );
    app.js("return window.__TAURI_INTERNALS__.invoke('resume', { batch: null })");
    app.wait_for("the batch finished", WAIT, || sample().1);
    assert!(
        busy_samples > 0,
        "never saw jobs in progress beside finished ones"
    );
    assert_eq!(app.js(CLIPPED_ROWS), json!([]), "job rows clipped");
    let flights = app.js("return document.querySelector('.in-progress > div').textContent");
    assert_eq!(flights, json!("Nothing in progress."));

    // Another process (this test) queues three more on the app's database:
    // the window shows them, and the app's worker delivers them.
    let theirs = home.root.path().join("theirs");
    std::fs::create_dir_all(&theirs).expect("folder");
    for i in 0..3u8 {
        write_jpeg(&theirs.join(format!("t{i}.jpg")), 800, 600, 100 + i);
    }
    let added_at = std::time::Instant::now();
    let report = engine
        .add(&[theirs], &outbox_engine::AddOptions::default())
        .expect("add from another process");
    assert_eq!(report.added.len(), 3);
    app.wait_for("the other process's jobs in the window", WAIT, || {
        app.js(PANEL)["all"] == json!(33)
            && app.tiles("data-job", &report.added[0].to_string()) == 1
    });
    let shown_after = added_at.elapsed();
    eprintln!("another process's add shown in the window after {shown_after:?}");
    assert!(shown_after < Duration::from_secs(3), "took {shown_after:?}");
    app.wait_for("the other process's jobs delivered", WAIT, || {
        app.js(PANEL)["completed"] == json!(33)
    });
    app.screenshot("07-another-process-delivered");
    app.quit();
}

#[test]
fn a_second_launch_hands_its_file_to_the_first_window_and_exits() {
    let display = Display::start();
    let home = Home::new();
    let photo = home.root.path().join("opened with.jpg");
    write_jpeg(&photo, 400, 300, 9);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    let first = app.pid();

    let status = harness::launch_directly(&display, &home, &[&photo], Duration::from_secs(30));
    assert!(status.success(), "the second launch: {status}");
    app.wait_for("the handed-over file's tile", WAIT, || {
        app.js(
            "return Array.from(document.querySelectorAll('.tile .name')).map(n => n.textContent)",
        ) == json!(["opened with.jpg"])
    });
    app.wait_for("it delivered", WAIT, || {
        app.tiles("data-state", "completed") == 1
    });
    assert_eq!(app.pid(), first, "one app, the first, runs this queue");
    app.screenshot("08-handed-over");
    app.quit();
}

/// Adds a destination and queues `folder`'s images to it from another
/// process (this test's), as the command line would; the jobs queued.
fn queue_from_another_process(
    home: &Home,
    name: &str,
    settings: Value,
    kind: &str,
    folder: &Path,
) -> Vec<i64> {
    let engine = home.engine();
    engine
        .add_destination(
            outbox_engine::DestinationView {
                name: name.into(),
                kind: kind.into(),
                settings,
                max_concurrent: Some(1),
            },
            None,
        )
        .expect("add the destination");
    engine
        .add(
            &[folder.to_path_buf()],
            &outbox_engine::AddOptions {
                destination: Some(name.into()),
                ..outbox_engine::AddOptions::default()
            },
        )
        .expect("queue the folder")
        .added
}

/// The failed jobs the list shows, by id, and which of its rows are selected.
const FAILED_ROWS: &str = "
  return Array.from(document.querySelectorAll('.jobrow[data-state]:not([hidden])'))
    .map(r => [Number(r.dataset.job), r.dataset.state, r.getAttribute('aria-selected') === 'true']);";

#[test]
fn several_failed_jobs_selected_with_the_mouse_are_retried_at_once() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the server");
    // Four uploads are refused for good (413), the rest are taken.
    let mut replies = vec![Reply::json(413, json!({"error": "too large"})); 4];
    replies.push(Reply::json(
        201,
        json!({"url": "http://cdn.example/ok.jpg"}),
    ));
    let server = runtime.block_on(Server::start(replies));

    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("photos");
    std::fs::create_dir_all(&photos).expect("folder");
    for i in 0..4u8 {
        write_jpeg(&photos.join(format!("f{i}.jpg")), 320, 240, 40 + i);
    }
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    // Set up and queued from another process.
    let jobs = queue_from_another_process(
        &home,
        "uploads",
        json!({"url": format!("{}/upload", server.url), "result": {"json_pointer": "/url"}}),
        "http",
        &photos,
    );
    assert_eq!(jobs.len(), 4);
    app.wait_for("four jobs failed for good", WAIT, || {
        let rows = app.js(FAILED_ROWS);
        rows.as_array()
            .is_some_and(|r| r.len() == 4 && r.iter().all(|row| row[1] == "failed"))
    });
    // Newest first: click the first row, then Shift-click the third.
    let ids: Vec<u64> = app
        .js(FAILED_ROWS)
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row[0].as_u64())
        .collect();
    app.click_holding(
        &format!(".jobrow[data-job=\"{}\"] .name", ids[0]),
        Modifier::None,
    );
    app.click_holding(
        &format!(".jobrow[data-job=\"{}\"] .name", ids[2]),
        Modifier::Shift,
    );
    // Ctrl-click takes the second out again.
    app.click_holding(
        &format!(".jobrow[data-job=\"{}\"] .name", ids[1]),
        Modifier::Control,
    );
    app.wait_for("two rows selected", WAIT, || {
        app.js("return document.querySelector('.bulk .count').textContent") == json!("2 selected")
    });
    let selected: Vec<u64> = app
        .js(FAILED_ROWS)
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row[2] == json!(true))
        .filter_map(|row| row[0].as_u64())
        .collect();
    assert_eq!(selected, [ids[0], ids[2]]);
    app.screenshot("08-two-failed-selected");

    app.click_holding(".bulk button[data-action=retry]", Modifier::None);
    app.wait_for("the two retried and delivered", WAIT, || {
        let rows = app.js(FAILED_ROWS);
        let state = |id: u64| {
            rows.as_array().and_then(|r| {
                r.iter()
                    .find(|row| row[0] == json!(id))
                    .map(|row| row[1].clone())
            })
        };
        state(ids[0]) == Some(json!("completed")) && state(ids[2]) == Some(json!("completed"))
    });
    let rows = app.js(FAILED_ROWS);
    let state = |id: u64| {
        rows.as_array().and_then(|r| {
            r.iter()
                .find(|row| row[0] == json!(id))
                .map(|row| row[1].clone())
        })
    };
    assert_eq!(
        state(ids[1]),
        Some(json!("failed")),
        "the unselected stay failed: {rows}"
    );
    assert_eq!(
        state(ids[3]),
        Some(json!("failed")),
        "the unselected stay failed: {rows}"
    );
    assert_eq!(
        app.js("return document.querySelector('.bulk').hidden"),
        json!(true)
    );
    assert_eq!(
        server.requests_to("/upload").len(),
        6,
        "four refused, two retried"
    );
    app.screenshot("09-two-retried");

    // The keyboard: Ctrl+A in the list selects all four, Escape clears.
    app.js("document.querySelector('.joblist').focus()");
    app.press(Modifier::Control, "a");
    app.wait_for("all selected", WAIT, || {
        app.js("return document.querySelector('.bulk .count').textContent") == json!("4 selected")
    });
    app.press(Modifier::None, "\u{E00C}");
    app.wait_for("the selection cleared", WAIT, || {
        app.js("return document.querySelector('.bulk').hidden") == json!(true)
    });
    app.quit();
}

#[test]
fn the_history_gallery_finds_a_job_by_name_and_opens_its_detail_with_attempts() {
    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("catalogue");
    std::fs::create_dir_all(&photos).expect("folder");
    for i in 0..24u8 {
        write_jpeg(&photos.join(format!("item-{i:02}.jpg")), 640, 480, i);
    }
    write_jpeg(&photos.join("red-shoe.jpg"), 640, 480, 200);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    // Queued from another process, to a folder in the test's home.
    std::fs::create_dir_all(home.delivered()).expect("the shop's folder");
    let jobs = queue_from_another_process(
        &home,
        "shop",
        json!({ "path": home.delivered() }),
        "folder",
        &photos,
    );
    assert_eq!(jobs.len(), 25);
    app.wait_for("all delivered", WAIT, || {
        app.js(PANEL)["completed"] == json!(25)
    });
    let delivered = std::fs::read_dir(home.delivered()).map_or(0, |d| d.count());
    assert_eq!(delivered, 25);
    app.click_holding("header.top button[data-open=history]", Modifier::None);
    app.wait_for("the gallery with loaded thumbnails", WAIT, || {
        app.js(
            "const imgs = Array.from(document.querySelectorAll('dialog.history .cell[data-job] img'));
             return imgs.length >= 12 && imgs.every(i => i.complete && i.naturalWidth > 0);",
        ) == json!(true)
    });
    assert_eq!(
        app.js("return document.querySelector('dialog.history .summary').textContent"),
        json!("25 job(s), newest first.")
    );
    app.screenshot("10-history-gallery");

    // Typed into the search box, as a user would.
    app.click_holding("dialog.history input[type=search]", Modifier::None);
    for key in ["s", "h", "o", "e"] {
        app.press(Modifier::None, key);
    }
    app.wait_for("one match", WAIT, || {
        app.js("return document.querySelectorAll('dialog.history .cell[data-job]').length")
            == json!(1)
    });
    let shoe =
        app.js("return document.querySelector('dialog.history .cell[data-job] .name').textContent");
    assert_eq!(shoe, json!("red-shoe.jpg"));
    app.click_holding("dialog.history .cell[data-job]", Modifier::None);
    app.wait_for("the detail with its attempts", WAIT, || {
        app.js("return document.querySelectorAll('dialog.detail .attempts tbody tr').length")
            == json!(2)
    });
    let outcomes = app.js(
        "return Array.from(document.querySelectorAll('dialog.detail .attempts tbody tr'))
           .map(r => r.lastElementChild.textContent)",
    );
    assert_eq!(outcomes, json!(["generated", "delivered"]));
    app.wait_for("source and output shown", WAIT, || {
        app.js(
            "const imgs = Array.from(document.querySelectorAll('dialog.detail .pictures img'));
             return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);",
        ) == json!(true)
    });
    app.screenshot("11-history-detail");
    app.quit();
}

#[test]
fn twenty_thousand_jobs_queued_by_another_process_show_in_the_open_window_and_are_found() {
    let display = Display::start();
    let home = Home::new();
    let many = harness::tiny_pngs(&home.root.path().join("many"), 20_000);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    std::fs::create_dir_all(home.delivered()).expect("the shop's folder");

    let added_at = std::time::Instant::now();
    let jobs = queue_from_another_process(
        &home,
        "shop",
        json!({ "path": home.delivered() }),
        "folder",
        &many,
    );
    let queued_in = added_at.elapsed();
    assert_eq!(jobs.len(), 20_000);
    app.wait_for("the 20,000 jobs counted in the window", WAIT, || {
        app.js(PANEL)["all"] == json!(20_000)
    });
    eprintln!(
        "20,000 jobs queued by another process in {queued_in:?}, counted in the window after {:?}",
        added_at.elapsed()
    );
    app.wait_for("the app's worker delivering them", WAIT, || {
        app.js(PANEL)["completed"].as_u64().unwrap_or(0) > 0
    });
    eprintln!("the first delivered after {:?}", added_at.elapsed());

    // The job list, scrolled to its end, shows the first job queued.
    app.js("const list = document.querySelector('.joblist'); list.scrollTop = list.scrollHeight;");
    app.wait_for("the list's last rows loaded", WAIT, || {
        app.js(
            "return Array.from(document.querySelectorAll('.jobrow[data-job]:not([hidden])'))
               .some(r => (r.querySelector('.name')?.textContent ?? '').endsWith(' 00000.png'))",
        ) == json!(true)
    });
    app.screenshot("12-twenty-thousand-list-end");

    // The history gallery pages through them and finds one by name.
    app.click_holding("header.top button[data-open=history]", Modifier::None);
    app.wait_for("the gallery's first cells", WAIT, || {
        app.js("return document.querySelectorAll('dialog.history .cell[data-job]').length > 0")
            == json!(true)
    });
    let summary = app.js("return document.querySelector('dialog.history .summary').textContent");
    assert_eq!(summary, json!("20000 job(s), newest first."));
    app.js(
        "const grid = document.querySelector('dialog.history .history-cells'); grid.scrollTop = grid.scrollHeight;",
    );
    app.wait_for("the gallery's last page", WAIT, || {
        app.js(
            "return Array.from(document.querySelectorAll('dialog.history .cell[data-job] .name'))
               .some(n => n.textContent === '00000.png')",
        ) == json!(true)
    });
    app.screenshot("13-twenty-thousand-gallery-end");
    app.click_holding("dialog.history input[type=search]", Modifier::None);
    for key in ["1", "2", "3", "4", "5"] {
        app.press(Modifier::None, key);
    }
    app.wait_for("one match", WAIT, || {
        app.js(
            "return Array.from(document.querySelectorAll('dialog.history .cell[data-job] .name')).map(n => n.textContent)",
        ) == json!(["12345.png"])
    });
    app.quit();
}
