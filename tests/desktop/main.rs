//! End to end in the real app: the built binary in a real WebKit webview under
//! Xvfb, driven over WebDriver (tauri-driver + WebKitWebDriver). Screenshots of
//! each step land in `target/e2e/` for a person to look at.

mod harness;

use harness::{Display, Driver, Home};
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

fn tiles_in(app: &harness::App<'_>, attribute: &str, value: &str) -> u64 {
    app.js_with(
        "return document.querySelectorAll(`.tile[${arguments[0]}=\"${arguments[1]}\"]`).length",
        json!([attribute, value]),
    )
    .as_u64()
    .unwrap_or(0)
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
        tiles_in(&app, "data-preview", "source") == 4
    });
    app.wait_for("the corrupt file failing with its reason", WAIT, || {
        tiles_in(&app, "data-state", "failed") == 1
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
        tiles_in(&app, "data-state", "completed") == 4
    });
    app.wait_for("every output preview shown", WAIT, || {
        tiles_in(&app, "data-output", "shown") == 4
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
    assert_eq!(tiles_in(&app, "data-state", "completed"), 4);
    assert_eq!(tiles_in(&app, "data-state", "failed"), 1);
    app.quit();

    // A new launch shows the history from the engine.
    let app = driver.launch();
    app.wait_for("the restored grid", WAIT, || {
        app.js("return document.querySelectorAll('.tile').length") == json!(5)
    });
    assert_eq!(tiles_in(&app, "data-state", "completed"), 4);
    assert_eq!(tiles_in(&app, "data-state", "failed"), 1);
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
