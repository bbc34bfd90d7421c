//! Setting up in the real window: a destination added through its form (a
//! bad address refused beside its field), made the default, and jobs that
//! meet a wrong password shown as needing the user, with a button that leads
//! to the fix; the secret replaced, the jobs retried and delivered. The HTTP
//! endpoint is a loopback server spawned here; the keychain is the real
//! Secret Service the test command starts. A WordPress destination (a real
//! site, its Test's diagnosis beside the password) and an S3 one (moto) are
//! set up through the same form and delivered to. Recipes built step by step
//! with their live sketch, and AI providers with a spending cap. The local
//! API and PicGo turned on in the window and used by a real HTTP client.
//! Screenshots in `target/e2e/`.

mod harness;

#[path = "../../crates/engine/tests/shared/loopback.rs"]
mod loopback;
#[path = "../common/wordpress_site.rs"]
mod wordpress_site;

use harness::{App, Display, Driver, Home};
use loopback::{Reply, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use wordpress_site::{script, Site};

const WAIT: Duration = Duration::from_secs(60);

/// Sets a form control's value as typing would, and says it changed.
fn set(app: &App<'_>, selector: &str, value: &str) {
    let found = app.js_with(
        "const el = document.querySelector(arguments[0]);
         if (!el) return false;
         el.value = arguments[1];
         el.dispatchEvent(new Event('input', { bubbles: true }));
         el.dispatchEvent(new Event('change', { bubbles: true }));
         return true;",
        json!([selector, value]),
    );
    assert_eq!(found, json!(true), "no {selector}");
}

/// Clicks the first button whose text is `label`, within `scope`.
fn click(app: &App<'_>, scope: &str, label: &str) {
    let found = app.js_with(
        "const b = Array.from(document.querySelectorAll(`${arguments[0]} button`))
           .find(b => b.textContent.trim() === arguments[1] && b.offsetParent !== null);
         if (!b) return false;
         b.click();
         return true;",
        json!([scope, label]),
    );
    assert_eq!(found, json!(true), "no button {label:?} in {scope}");
}

fn text(app: &App<'_>, selector: &str) -> String {
    app.js_with(
        "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
        json!([selector]),
    )
    .as_str()
    .unwrap_or("")
    .to_string()
}

#[test]
fn a_destination_set_up_in_the_form_asks_for_its_fix_and_delivers_once_fixed() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the server");
    // Two uploads meet a refused token, the rest are taken.
    let server = runtime.block_on(Server::start(vec![
        Reply::json(401, json!({"error": "invalid token"})),
        Reply::json(401, json!({"error": "invalid token"})),
        Reply::json(201, json!({"url": "http://cdn.example/uploaded.jpg"})),
    ]));

    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("photos");
    std::fs::create_dir_all(&photos).expect("folder");
    for i in 0..2u32 {
        image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x + i * 90) as u8, y as u8, 60])
        })
        .save(photos.join(format!("shot-{i}.jpg")))
        .expect("a test JPEG");
    }
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    // The form, drawn from the engine's description of an HTTP endpoint.
    open_settings(&app);
    click(&app, "dialog.settings", "Add destination…");
    set(&app, "#d-kind", "http");
    app.wait_for("the HTTP form", WAIT, || {
        app.js("return !!document.querySelector('.kind-form[data-kind=http]')") == json!(true)
    });
    set(&app, "#d-name", "uploads");
    set(&app, "#d-url", "127.0.0.1/upload"); // no scheme: refused beside the field
    set(&app, "#d-auth", "bearer");
    set(&app, "#d-result", "json_pointer");
    set(&app, "#d-result_at", "/url");
    set(&app, "#d-secret", "wrong-token");
    click(&app, ".kind-editor", "Add destination");
    app.wait_for("the address refused beside its field", WAIT, || {
        !text(&app, "[data-field=url] .error").is_empty()
    });
    let refusal = text(&app, "[data-field=url] .error");
    assert!(refusal.contains("Address"), "{refusal}");
    app.screenshot("settings-01-field-refused");

    set(&app, "#d-url", &format!("{}/upload", server.url));
    click(&app, ".kind-editor", "Add destination");
    app.wait_for("the destination listed, or a refusal", WAIT, || {
        app.js(
            "return !!document.querySelector('li[data-destination=uploads]')
               || Array.from(document.querySelectorAll('.kind-editor .error')).some(e => !e.hidden)",
        ) == json!(true)
    });
    let refused = app.js(
        "return Array.from(document.querySelectorAll('.kind-editor .error'))
           .filter(e => !e.hidden).map(e => e.textContent)",
    );
    assert_eq!(refused, json!([]), "the corrected form was refused");
    click(&app, "li[data-destination=uploads]", "Make default");
    app.wait_for("it is the default", WAIT, || {
        text(&app, "li[data-destination=uploads]").contains("new items go here")
    });
    app.screenshot("settings-02-added");
    click(&app, "dialog.settings header", "Close");

    // Dropped images meet the wrong token: they need the user.
    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    app.wait_for("both jobs needing the user", WAIT, || {
        app.tiles("data-standing", "needs_you") == 2
    });
    let reason = text(&app, ".tile[data-standing=needs_you] .reason");
    assert!(reason.starts_with("Needs you:"), "{reason}");
    assert!(
        app.js("return document.querySelectorAll('.tile[data-standing=needs_you] .badge')[0].textContent")
            == json!("needs you")
    );
    app.screenshot("settings-03-needs-you");

    // Its button opens the settings at that destination; the secret is replaced.
    click(&app, ".tile[data-standing=needs_you]", "Fix uploads");
    app.wait_for("the destination shown for fixing", WAIT, || {
        app.js("return !!document.querySelector('li.attention[data-destination=uploads]')")
            == json!(true)
    });
    set(
        &app,
        "li[data-destination=uploads] input.secret",
        "right-token",
    );
    click(&app, "li[data-destination=uploads]", "Replace secret");
    app.wait_for("the secret replaced", WAIT, || {
        text(&app, "dialog.settings [role=status]").contains("replaced")
    });
    click(&app, "dialog.settings header", "Close");
    click(&app, ".toolbar", "Retry all failed");
    app.wait_for("both delivered", WAIT, || {
        app.tiles("data-state", "completed") == 2
    });
    app.screenshot("settings-04-delivered");

    let uploads = server.requests_to("/upload");
    let auth: Vec<Option<&str>> = uploads.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(uploads.len(), 4, "{auth:?}");
    assert_eq!(&auth[..2], [Some("Bearer wrong-token"); 2]);
    assert_eq!(&auth[2..], [Some("Bearer right-token"); 2]);
    let links: Value = app
        .js("return Array.from(document.querySelectorAll('.jobrow[data-state=completed]')).length");
    assert_eq!(links, json!(2));
    app.quit();
}

/// Opens the settings dialog and waits for its sections.
fn open_settings(app: &App<'_>) {
    click(app, "header.top", "Settings");
    app.wait_for("the settings", WAIT, || {
        let said = text(app, "dialog.settings > [role=status]");
        assert!(said.is_empty(), "the settings say: {said}");
        text(app, "dialog.settings h3").contains("Queue")
    });
}

/// The X clipboard as another program reads it.
fn clipboard(display: &Display) -> String {
    let out = std::process::Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", &display.name)
        .output()
        .expect("xclip (installed by the test command)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn with_the_markdown_setting_a_finished_upload_s_link_is_on_the_clipboard() {
    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("photos");
    std::fs::create_dir_all(&photos).expect("folder");
    image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([x as u8, y as u8, 200]))
        .save(photos.join("blue mug.jpg"))
        .expect("a test JPEG");
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    open_settings(&app);
    set(&app, "#s-copy-links", "markdown");
    click(&app, "dialog.settings section", "Save");
    app.wait_for("the settings saved", WAIT, || {
        text(&app, "dialog.settings [role=status]") == "Settings saved."
    });
    click(&app, "dialog.settings header", "Close");

    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    app.wait_for("the upload finished", WAIT, || {
        app.tiles("data-state", "completed") == 1
    });
    app.wait_for("the window saying it copied the link", WAIT, || {
        let said = text(&app, ".notices");
        assert!(!said.contains("Cannot"), "{said}");
        said.contains("Link copied")
    });
    let wanted = |text: &str| {
        // The alt text keeps its space; the address has it escaped.
        text.starts_with("![blue mug](file://") && text.ends_with("/blue%20mug.jpg)")
    };
    let mut last = String::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !wanted(&last) {
        assert!(
            std::time::Instant::now() < deadline,
            "the clipboard holds {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        last = clipboard(&display);
    }
    let copied = clipboard(&display);
    let delivered = home.delivered().join("blue mug.jpg");
    assert!(delivered.is_file(), "{}", delivered.display());
    assert!(copied.contains("blue%20mug.jpg"), "{copied}");
    app.screenshot("links-01-copied");

    // The tile's own button copies it again, after something else was copied.
    let status = std::process::Command::new("sh")
        .args(["-c", "printf other | xclip -i -selection clipboard"])
        .env("DISPLAY", &display.name)
        .status()
        .expect("xclip");
    assert!(status.success());
    app.wait_for("the clipboard changed", WAIT, || {
        clipboard(&display) == "other"
    });
    click(&app, ".tile[data-state=completed]", "Copy link");
    app.wait_for("the link copied by the button", WAIT, || {
        clipboard(&display) == copied
    });
    app.quit();
}

#[test]
fn a_drop_s_choices_reach_its_jobs_and_the_choices_and_window_survive_a_restart() {
    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("shoot");
    std::fs::create_dir_all(&photos).expect("folder");
    for i in 0..2u32 {
        image::RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([x as u8, (y + i * 50) as u8, 90])
        })
        .save(photos.join(format!("frame-{i}.jpg")))
        .expect("a test JPEG");
    }
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    let saved = |app: &App<'_>| {
        app.js_async(
            "const done = arguments[arguments.length - 1];
             window.__TAURI_INTERNALS__.invoke('get_settings').then(s => done([s.priority, s.sequential]), e => done(String(e)));",
            json!([]),
            WAIT,
        )
    };

    // A bad priority is refused beside the choices and not saved.
    set(&app, "#c-priority", "1000");
    app.wait_for("the priority refused", WAIT, || {
        text(&app, ".drop-choices .error").contains("-100 to 100")
    });
    assert_eq!(saved(&app), json!([0, false]));

    set(&app, "#c-priority", "5");
    app.js("const box = document.querySelector('#c-sequential'); box.checked = true; box.dispatchEvent(new Event('change', { bubbles: true }));");
    app.wait_for("the choices saved", WAIT, || {
        saved(&app) == json!([5, true])
    });
    set(&app, "#c-batch", "Shoot A");
    app.screenshot("choices-01-set");
    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    app.wait_for("both delivered", WAIT, || {
        app.tiles("data-state", "completed") == 2
    });
    assert_eq!(
        app.js("return document.querySelector('#c-batch').value"),
        json!(""),
        "the batch name was for that drop only"
    );

    // The jobs, as the engine has them.
    let engine = home.engine();
    let jobs = engine
        .history(&outbox_engine::HistoryQuery {
            limit: 10,
            ..outbox_engine::HistoryQuery::default()
        })
        .expect("history");
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.priority == 5), "{jobs:?}");
    let batch = engine
        .batch(jobs[0].batch_id)
        .expect("batch")
        .expect("the batch");
    assert_eq!((batch.name.as_str(), batch.sequential), ("Shoot A", true));
    drop(engine);

    app.resize(1100, 720);
    app.wait_for("the window resized", WAIT, || {
        app.window_size() == (1100, 720)
    });
    // Saved once the resize settles, not only at a clean exit.
    let state = home
        .home()
        .join(".config/app.outbox.desktop/.window-state.json");
    app.wait_for("the window's size saved", WAIT, || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("1100"))
    });
    app.quit_and_wait(Duration::from_secs(30));

    let app = driver.launch();
    assert_eq!(
        app.window_size(),
        (1100, 720),
        "the window's size after a restart"
    );
    assert_eq!(
        app.js("return document.querySelector('#c-priority').value"),
        json!("5")
    );
    assert_eq!(
        app.js("return document.querySelector('#c-sequential').checked"),
        json!(true)
    );
    app.screenshot("choices-02-after-restart");
    app.quit();
}

/// Opens the settings' new AI provider form and fills it: the provider
/// "studio" at `server`, key `sk-test-key`, and `fields` (selector, value).
fn open_provider_form(app: &App<'_>, server: &Server, fields: &[(&str, &str)]) {
    open_settings(app);
    click(app, "dialog.settings", "Add AI provider…");
    app.wait_for("the provider form", WAIT, || {
        app.js("return !!document.querySelector('.kind-form[data-kind=openai]')") == json!(true)
    });
    set(app, "#p-name", "studio");
    set(app, "#p-base_url", &format!("{}/v1", server.url));
    set(app, "#p-secret", "sk-test-key");
    for (selector, value) in fields {
        set(app, selector, value);
    }
}

#[test]
fn an_ai_provider_is_set_up_in_its_form_and_tested_without_paying() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the server");
    // The OpenAI wire format's model list: what `Test` asks for.
    let server = runtime.block_on(Server::start(vec![Reply::json(
        200,
        json!({"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}),
    )]));
    let display = Display::start();
    let home = Home::new();
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    open_provider_form(
        &app,
        &server,
        &[
            ("#p-cost_per_image", "-1"),
            ("#p-size", "1536x1024"),
            ("#p-quality", "high"),
        ],
    );
    click(&app, ".kind-editor", "Add AI provider");
    app.wait_for("the cost refused beside its field", WAIT, || {
        !text(&app, "[data-field=cost_per_image] .error").is_empty()
    });
    app.screenshot("providers-01-cost-refused");
    set(&app, "#p-cost_per_image", "0.04");
    click(&app, ".kind-editor", "Add AI provider");
    app.wait_for("the provider listed with its cost", WAIT, || {
        text(&app, "li[data-provider=studio]").contains("0.04 per image")
    });

    click(&app, "li[data-provider=studio]", "Test");
    app.wait_for("the test's answer", WAIT, || {
        text(&app, "dialog.settings [role=status]").contains("took the key")
    });
    app.screenshot("providers-02-tested");
    let asked = server.requests_to("/v1/models");
    assert_eq!(asked.len(), 1, "one free request, nothing generated");
    assert_eq!(asked[0].header("authorization"), Some("Bearer sk-test-key"));
    assert!(server.requests_to("/v1/images").is_empty());

    // Saved as the engine takes it (the same rows as `outbox provider list`).
    let engine = home.engine();
    let saved = engine.providers().expect("providers").remove(0);
    assert_eq!(saved.settings.size.as_deref(), Some("1536x1024"));
    assert_eq!(saved.settings.quality.as_deref(), Some("high"));
    assert_eq!(saved.settings.cost_per_image, Some(0.04));
    app.quit();
}

/// An image as the OpenAI Images API answers it: base64 PNG in `data`.
fn generated_image() -> Reply {
    use base64::Engine as _;
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 120]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("a PNG");
    let b64 = base64::engine::general_purpose::STANDARD.encode(png.into_inner());
    Reply::json(200, json!({"created": 1, "data": [{"b64_json": b64}]}))
}

#[test]
fn ai_jobs_past_the_spending_cap_wait_until_the_cap_is_raised_in_the_form() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the server");
    let server = runtime.block_on(Server::start(vec![generated_image()]));
    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("products");
    std::fs::create_dir_all(&photos).expect("folder");
    for i in 0..3u32 {
        image::RgbImage::from_fn(120, 90, |x, y| {
            image::Rgb([x as u8, (y + i * 40) as u8, 30])
        })
        .save(photos.join(format!("product-{i}.png")))
        .expect("a test PNG");
    }
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    // A provider at 0.04 an image with a cap of 0.10: room for two.
    open_provider_form(
        &app,
        &server,
        &[("#p-cost_per_image", "0.04"), ("#p-spending_cap", "0.10")],
    );
    click(&app, ".kind-editor", "Add AI provider");
    app.wait_for("the provider listed with its cap", WAIT, || {
        text(&app, "li[data-provider=studio]").contains("cap 0.10")
    });
    build_recipe(
        &app,
        "ai",
        &[
            (
                "ai_generate",
                &[("provider", "studio"), ("prompt", "A product on white")],
            ),
            ("jpeg", &[("quality", "85")]),
        ],
    );
    click(&app, "dialog.settings header", "Close");
    app.wait_for("the recipe offered for drops", WAIT, || {
        app.js("return Array.from(document.querySelectorAll('#c-recipe option')).some(o => o.value === 'ai')")
            == json!(true)
    });
    set(&app, "#c-recipe", "ai");

    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    let deadline = std::time::Instant::now() + WAIT;
    while !(app.tiles("data-state", "completed") == 2 && app.tiles("data-standing", "waiting") == 1)
    {
        if std::time::Instant::now() > deadline {
            app.screenshot("cap-00-timed-out");
            panic!(
                "not two delivered and one waiting: {}",
                app.js("return Array.from(document.querySelectorAll('.tile')).map(t => [t.dataset.state, t.dataset.standing, t.querySelector('.reason').textContent])")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let reason = text(&app, ".tile[data-standing=waiting] .reason");
    assert!(reason.contains("spending cap reached"), "{reason}");
    assert_eq!(
        server.requests_to("/v1/images/generations").len(),
        2,
        "nothing asked past the cap"
    );
    app.screenshot("cap-01-waiting");

    // The waiting tile's fix opens the form of its recipe's provider, where
    // the cap is raised: the third goes on.
    click(&app, ".tile[data-standing=waiting]", "Fix AI provider");
    app.wait_for("the provider's form, opened by the tile", WAIT, || {
        app.js("return document.querySelector('#p-spending_cap')?.value") == json!("0.1")
    });
    app.screenshot("cap-02-fix-opens-provider");
    set(&app, "#p-spending_cap", "0.20");
    click(&app, ".kind-editor", "Save changes");
    app.wait_for("the cap saved", WAIT, || {
        text(&app, "li[data-provider=studio]").contains("cap 0.20")
    });
    click(&app, "dialog.settings header", "Close");
    app.wait_for("all three delivered", WAIT, || {
        app.tiles("data-state", "completed") == 3
    });
    assert_eq!(server.requests_to("/v1/images/generations").len(), 3);
    app.screenshot("cap-03-raised");
    app.quit();
}

/// A recipe step as the form takes it: the operation and its fields' values.
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)]);

/// Opens a new recipe's form, replaces its starting steps with `steps` and
/// saves it as `name`.
fn build_recipe(app: &App<'_>, name: &str, steps: &[Step<'_>]) {
    open_recipe_form(app);
    while app.js("return document.querySelectorAll('li.step').length") != json!(0) {
        click(app, "li.step", "✕");
    }
    for &(op, fields) in steps {
        add_step(app, op, fields);
    }
    set(app, "#r-name", name);
    click(app, ".recipe-editor", "Save recipe");
    app.wait_for("the recipe saved", WAIT, || {
        text(app, "dialog.settings [role=status]") == format!("Recipe {name} saved.")
    });
}

fn open_recipe_form(app: &App<'_>) {
    click(app, "dialog.settings section", "New recipe");
    app.wait_for("the recipe form", WAIT, || {
        app.js("return !!document.querySelector('.recipe-editor li.step')") == json!(true)
    });
}

/// Adds a step at the end and sets its fields.
fn add_step(app: &App<'_>, op: &str, fields: &[(&str, &str)]) {
    set(app, "#r-add", op);
    click(app, ".recipe-editor", "Add step");
    for (field, value) in fields {
        set(
            app,
            &format!("li.step:last-child [data-field={field}] :is(input, select)"),
            value,
        );
    }
}

/// The pixel size of the sketch shown.
fn sketch_size(app: &App<'_>) -> (u64, u64) {
    let refused = text(app, ".recipe-editor > .error");
    assert!(refused.is_empty(), "the recipe form says: {refused}");
    let size = app.js(
        "const img = document.querySelector('.recipe-editor img.sketch');
         return [img.naturalWidth, img.naturalHeight];",
    );
    (size[0].as_u64().unwrap_or(0), size[1].as_u64().unwrap_or(0))
}

#[test]
fn a_recipe_built_in_its_form_shows_a_live_sketch_and_makes_what_is_queued_with_it() {
    let display = Display::start();
    let home = Home::new();
    let photos = home.root.path().join("photos");
    std::fs::create_dir_all(&photos).expect("folder");
    image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x / 5) as u8, (y / 4) as u8, 120])
    })
    .save(photos.join("poster.jpg"))
    .expect("a test JPEG");
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    open_settings(&app);
    open_recipe_form(&app);

    // A new recipe starts as the web one, tried on the shipped photo.
    let facts = || text(&app, ".recipe-editor .trial");
    app.wait_for("the output of the starting steps", WAIT, || {
        facts().starts_with("1800 × 1200 px")
    });
    assert!(facts().contains("sample.jpg"), "{}", facts());
    app.wait_for("the sketch painted", WAIT, || sketch_size(&app).0 == 640);
    app.screenshot("recipe-01-new");

    // A square banner: every change shows at once.
    click(&app, "li.step[data-op=fit_within]", "✕");
    add_step(
        &app,
        "resize",
        &[("mode", "fill"), ("width", "400"), ("height", "400")],
    );
    app.wait_for("the square sketch", WAIT, || {
        sketch_size(&app) == (400, 400)
    });
    app.wait_for("the square output", WAIT, || {
        facts().starts_with("400 × 400 px")
    });
    add_step(
        &app,
        "pad_to_aspect",
        &[("width", "16"), ("height", "9"), ("background", "#ff0000")],
    );
    app.wait_for("the padded sketch", WAIT, || {
        sketch_size(&app) == (640, 360)
    });
    app.wait_for("the padded output", WAIT, || {
        facts().starts_with("712 × 400 px")
    });
    let corner = app.js(
        "const img = document.querySelector('.recipe-editor img.sketch');
         const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
         const g = c.getContext('2d'); g.drawImage(img, 0, 0);
         return Array.from(g.getImageData(4, 4, 1, 1).data).slice(0, 3);",
    );
    let red = corner[0].as_u64().unwrap_or(0);
    let green = corner[1].as_u64().unwrap_or(255);
    assert!(red > 200 && green < 60, "the padding is red: {corner}");
    let painted: u64 = app
        .js("return Number(document.querySelector('.recipe-editor').dataset.sketchMs)")
        .as_u64()
        .unwrap_or(u64::MAX);
    eprintln!("form change → sketch painted: {painted} ms (the 1800 × 1200 sample)");

    // A bad quality is said beside its field, and nothing is saved.
    set(
        &app,
        "li.step[data-op=jpeg] [data-field=quality] input",
        "0",
    );
    app.wait_for("the quality refused beside it", WAIT, || {
        text(&app, "li.step[data-op=jpeg] [data-field=quality] .error").contains("1 to 100")
    });
    app.screenshot("recipe-02-refused");
    set(
        &app,
        "li.step[data-op=jpeg] [data-field=quality] input",
        "80",
    );
    app.wait_for("the quality taken", WAIT, || {
        app.js("return document.querySelector('li.step[data-op=jpeg] [data-field=quality] .error').hidden")
            == json!(true)
    });
    app.wait_for("the output measured again", WAIT, || {
        facts().starts_with("712 × 400 px")
    });
    app.screenshot("recipe-03-banner");
    set(&app, "#r-name", "banner");
    click(&app, ".recipe-editor", "Save recipe");
    app.wait_for("the recipe saved and listed", WAIT, || {
        app.js("return !!document.querySelector('li[data-recipe=banner]')") == json!(true)
    });
    click(&app, "dialog.settings header", "Close");

    // Queued with it, the output is what the form said.
    app.wait_for("the recipe offered for drops", WAIT, || {
        app.js("return Array.from(document.querySelectorAll('#c-recipe option')).some(o => o.value === 'banner')")
            == json!(true)
    });
    set(&app, "#c-recipe", "banner");
    app.js_with("window.outbox.drop(arguments[0])", json!([[photos]]));
    app.wait_for("delivered", WAIT, || {
        app.tiles("data-state", "completed") == 1
    });
    let out = image::open(home.delivered().join("poster.jpg")).expect("the delivered output");
    assert_eq!((out.width(), out.height()), (712, 400));
    app.quit();
}

/// Ticks or clears a checkbox as a click would.
fn tick(app: &App<'_>, selector: &str, on: bool) {
    let found = app.js_with(
        "const el = document.querySelector(arguments[0]);
         if (!el) return false;
         el.checked = arguments[1];
         el.dispatchEvent(new Event('change', { bubbles: true }));
         return true;",
        json!([selector, on]),
    );
    assert_eq!(found, json!(true), "no {selector}");
}

/// The errors the destination form shows, by field (`form` for its own).
fn shown_errors(app: &App<'_>) -> Value {
    app.js(
        "return Array.from(document.querySelectorAll('.kind-editor .error'))
           .filter(e => !e.hidden)
           .map(e => [e.closest('[data-field]')?.dataset.field ?? 'form', e.textContent]);",
    )
}

/// Adds the destination the open form describes, makes it the default and
/// closes the form; fails with the form's refusal if there is one.
fn add_as_default(app: &App<'_>, name: &str) {
    click(app, ".kind-editor", "Add destination");
    let row = format!("li[data-destination=\"{name}\"]");
    app.wait_for("the destination listed, or a refusal", WAIT, || {
        app.js_with(
            "return !!document.querySelector(arguments[0])
               || Array.from(document.querySelectorAll('.kind-editor .error')).some(e => !e.hidden)",
            json!([row]),
        ) == json!(true)
    });
    assert_eq!(shown_errors(app), json!([]), "the form was refused");
    click(app, &row, "Make default");
    app.wait_for("it is the default", WAIT, || {
        text(app, &row).contains("new items go here")
    });
}

/// Writes `n` small distinct JPEGs into `dir`.
fn photos(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).expect("folder");
    for i in 0..n {
        image::RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x + i * 70) as u8, y as u8, 140])
        })
        .save(dir.join(format!("item-{i}.jpg")))
        .expect("a test JPEG");
    }
}

#[test]
fn a_wordpress_destination_s_test_points_at_a_wrong_password_and_once_fixed_it_delivers() {
    let site = Site::start();
    let post: u64 = site.post_id.parse().expect("the post's id");
    let display = Display::start();
    let home = Home::new();
    let dropped = home.root.path().join("drop");
    photos(&dropped, 2);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    // The form (WordPress is the kind a new destination starts with), with
    // a wrong application password.
    open_settings(&app);
    click(&app, "dialog.settings", "Add destination…");
    app.wait_for("the WordPress form", WAIT, || {
        app.js("return !!document.querySelector('.kind-form[data-kind=wordpress]')") == json!(true)
    });
    set(&app, "#d-name", "blog");
    set(&app, "#d-url", &site.get("url"));
    set(&app, "#d-user", site.login());
    set(&app, "#d-post", &site.post_id);
    tick(&app, "#d-featured", true);
    set(&app, "#d-secret", "abcd efgh ijkl mnop qrst uvwx");
    add_as_default(&app, "blog");

    // Its Test opens its form with the diagnosis beside the password.
    click(&app, "li[data-destination=blog]", "Test");
    app.wait_for("the diagnosis beside the password", WAIT, || {
        !text(&app, ".kind-editor [data-field=secret] .error").is_empty()
    });
    let errors = shown_errors(&app);
    let diagnosis = errors[0][1].as_str().unwrap_or("").to_string();
    assert_eq!(errors[0][0], "secret", "{errors}");
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{errors}");
    assert!(diagnosis.contains("application password"), "{diagnosis}");
    assert!(!diagnosis.contains("abcd"), "no password in {diagnosis}");
    assert_eq!(
        app.js("return document.activeElement && document.activeElement.id"),
        json!("d-secret"),
        "the password field is focused"
    );
    app.screenshot("wordpress-01-wrong-password");

    // The right one typed into the form and saved; Test in the form says
    // it works.
    set(&app, "#d-secret", &site.app_password);
    click(&app, ".kind-editor", "Save changes");
    app.wait_for("saved", WAIT, || {
        text(&app, "dialog.settings > [role=status]").contains("blog saved")
    });
    click(&app, "li[data-destination=blog]", "Test");
    app.wait_for("the test passed", WAIT, || {
        text(&app, "dialog.settings > [role=status]").contains("may upload files")
    });
    assert_eq!(
        app.js("return !!document.querySelector('.kind-editor')"),
        json!(false),
        "a passing test opens no form"
    );
    app.screenshot("wordpress-02-test-passes");
    click(&app, "dialog.settings header", "Close");

    // Dropped images land in the site, attached to the post, one featured.
    app.js_with("window.outbox.drop(arguments[0])", json!([[dropped]]));
    app.wait_for("both delivered", WAIT, || {
        app.tiles("data-state", "completed") == 2
    });
    app.screenshot("wordpress-03-delivered");
    let media = site.media_by(site.user_id);
    assert_eq!(media.len(), 2, "{media:#?}");
    assert!(
        media.iter().all(|m| m["post"] == post),
        "attached: {media:#?}"
    );
    let the_post = site.rest("GET", &format!("/wp/v2/posts/{post}?context=edit"), None);
    let ids: Vec<&Value> = media.iter().map(|m| &m["id"]).collect();
    assert!(
        ids.contains(&&the_post["featured_media"]),
        "featured {} among {ids:?}",
        the_post["featured_media"]
    );
    app.quit();
}

/// The run's moto (`OUTBOX_TEST_S3_ENDPOINT`), or one of this test's own,
/// stopped when dropped.
struct Moto {
    own: Option<tempfile::TempDir>,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        if let Some(endpoint) = std::env::var("OUTBOX_TEST_S3_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
        {
            return Moto {
                own: None,
                endpoint,
            };
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(script("s3-server.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run s3-server.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
        let endpoint = info["endpoint"].as_str().expect("an endpoint").to_string();
        Moto {
            own: Some(dir),
            endpoint,
        }
    }

    /// A bucket of this test's own (moto takes an unsigned CreateBucket).
    fn bucket(&self) -> String {
        let name = format!("desktop-{}", std::process::id());
        let made = reqwest::blocking::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .expect("CreateBucket");
        assert!(made.status().is_success(), "{}", made.status());
        name
    }

    /// An object's bytes, read with a signed request (moto's objects are
    /// private).
    fn read(&self, bucket: &str, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .expect("an S3 client");
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let found = store
                .get(&object_store::path::Path::from(key))
                .await
                .unwrap_or_else(|e| panic!("{key} is not in {bucket}: {e}"));
            found.bytes().await.expect("the object's bytes").to_vec()
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = std::process::Command::new(script("s3-server.sh"))
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

#[test]
fn an_s3_destination_set_up_in_the_form_receives_a_dropped_image() {
    let moto = Moto::start();
    let bucket = moto.bucket();
    let display = Display::start();
    let home = Home::new();
    let dropped = home.root.path().join("drop");
    photos(&dropped, 1);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();

    open_settings(&app);
    click(&app, "dialog.settings", "Add destination…");
    set(&app, "#d-kind", "s3");
    app.wait_for("the S3 form", WAIT, || {
        app.js("return !!document.querySelector('.kind-form[data-kind=s3]')") == json!(true)
    });
    set(&app, "#d-name", "bucket");
    set(&app, "#d-bucket", &bucket);
    set(&app, "#d-access_key_id", "test");
    app.js("document.querySelector('.kind-editor details.more').open = true;");
    set(&app, "#d-endpoint", &moto.endpoint);
    set(&app, "#d-key_template", "shop/{file_name}");
    set(&app, "#d-secret", "test");
    app.js("document.querySelector('#d-endpoint').scrollIntoView({ block: 'center' });");
    app.screenshot("s3-01-form");
    add_as_default(&app, "bucket");
    click(&app, "li[data-destination=bucket]", "Test");
    app.wait_for("the test passed", WAIT, || {
        text(&app, "dialog.settings > [role=status]").contains("reachable")
    });
    click(&app, "dialog.settings header", "Close");

    app.js_with("window.outbox.drop(arguments[0])", json!([[dropped]]));
    app.wait_for("delivered", WAIT, || {
        app.tiles("data-state", "completed") == 1
    });
    app.screenshot("s3-02-delivered");
    let bytes = moto.read(&bucket, "shop/item-0.jpg");
    assert!(
        bytes.starts_with(&[0xff, 0xd8]),
        "a JPEG, {} bytes",
        bytes.len()
    );
    app.quit();
}

/// A port nothing listens on now (the OS's pick, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Puts `png` on the X clipboard as an image, as a screenshot tool does; the
/// xclip that serves it is returned (it serves until killed).
fn clipboard_image(display: &Display, png: &Path) -> std::process::Child {
    let child = std::process::Command::new("xclip")
        .args(["-selection", "clipboard", "-t", "image/png", "-i"])
        .arg(png)
        .env("DISPLAY", &display.name)
        .spawn()
        .expect("xclip");
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Applies the "Other programs" section and waits for what it then says.
fn apply_local_api(app: &App<'_>, wanted: &str) {
    click(app, "section.local-api", "Apply");
    app.wait_for(wanted, WAIT, || {
        text(app, "#s-api-listening").contains(wanted)
    });
}

#[test]
fn programs_send_images_through_the_local_api_once_the_window_turns_it_on() {
    let display = Display::start();
    let home = Home::new();
    let photos_dir = home.root.path().join("photos");
    photos(&photos_dir, 3);
    let driver = Driver::start(&display, &home);
    let app = driver.launch();
    let (api_port, picgo_port) = (free_port(), free_port());

    // Off until turned on.
    open_settings(&app);
    app.wait_for("the section says it is off", WAIT, || {
        text(&app, "#s-api-listening").contains("Off")
    });
    assert!(!listening(api_port) && !listening(picgo_port));
    tick(&app, "#s-api-enabled", true);
    set(&app, "#s-api-port", &api_port.to_string());
    tick(&app, "#s-picgo-enabled", true);
    set(&app, "#s-picgo-port", &picgo_port.to_string());
    apply_local_api(&app, &format!("API http://127.0.0.1:{api_port}/v1"));
    assert!(text(&app, "#s-api-listening")
        .contains(&format!("PicGo http://127.0.0.1:{picgo_port}/upload")));
    click(&app, "section.local-api", "Copy");
    app.wait_for("the token on the clipboard", WAIT, || {
        clipboard(&display).trim().len() == 64
    });
    let token = clipboard(&display).trim().to_string();
    click(&app, "section.local-api", "Show");
    app.wait_for("the token shown", WAIT, || {
        app.js("return document.querySelector('#s-api-token').value") == json!(token)
    });
    app.js("document.querySelector('section.local-api').scrollIntoView()");
    app.screenshot("api-01-on");
    click(&app, "dialog.settings header", "Close");

    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .expect("client");
    let api = format!("http://127.0.0.1:{api_port}");
    // A wrong token, or a web page's Origin, is refused.
    let wrong = http
        .get(format!("{api}/v1/status"))
        .bearer_auth("x".repeat(64))
        .send()
        .expect("GET");
    assert_eq!(wrong.status(), 401);
    let page = http
        .get(format!("{api}/v1/status"))
        .bearer_auth(&token)
        .header("Origin", "https://evil.example")
        .send()
        .expect("GET");
    assert_eq!(page.status(), 403);

    // By multipart and by path; each answered once delivered.
    let bytes = std::fs::read(photos_dir.join("item-0.jpg")).expect("read");
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(bytes).file_name("sent.jpg"),
    );
    let sent = http
        .post(format!("{api}/v1/items"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .expect("POST");
    assert_eq!(sent.status(), 202);
    let sent: Value = sent.json().expect("JSON");
    let by_path = http
        .post(format!("{api}/v1/items"))
        .bearer_auth(&token)
        .json(&json!({ "paths": [photos_dir.join("item-1.jpg")] }))
        .send()
        .expect("POST");
    assert_eq!(by_path.status(), 202);
    let by_path: Value = by_path.json().expect("JSON");
    for added in [&sent, &by_path] {
        let location = added["items"][0]["location"].as_str().expect("a location");
        let item: Value = http
            .get(format!("{api}{location}?wait=60"))
            .bearer_auth(&token)
            .send()
            .and_then(|r| r.json())
            .expect("GET ?wait");
        assert_eq!(item["state"], "completed", "{item:#}");
        let link = item["link"].as_str().expect("a link");
        assert!(link.starts_with("file://"), "{link}");
    }
    assert!(home.delivered().join("sent.jpg").is_file());
    assert!(home.delivered().join("item-1.jpg").is_file());
    // The window shows what other programs sent.
    app.wait_for("the API's items in the window", WAIT, || {
        app.tiles("data-state", "completed") == 2
    });

    // PicGo, with the exact body editor plugins send; then with none: the
    // clipboard's image.
    let picgo = format!("http://127.0.0.1:{picgo_port}/upload");
    let answer: Value = http
        .post(&picgo)
        .json(&json!({ "list": [photos_dir.join("item-2.jpg")] }))
        .send()
        .and_then(|r| r.json())
        .expect("PicGo");
    assert_eq!(answer["success"], json!(true), "{answer:#}");
    assert!(
        answer["result"][0]
            .as_str()
            .is_some_and(|l| l.ends_with("/item-2.jpg")),
        "{answer:#}"
    );
    let shot = home.root.path().join("shot.png");
    image::RgbImage::from_fn(200, 120, |x, _| image::Rgb([x as u8, 90, 30]))
        .save(&shot)
        .expect("a PNG");
    let mut serving = clipboard_image(&display, &shot);
    let answer: Value = http
        .post(&picgo)
        .send()
        .and_then(|r| r.json())
        .expect("PicGo");
    let _ = serving.kill();
    let _ = serving.wait();
    assert_eq!(answer["success"], json!(true), "{answer:#}");
    let pasted = answer["result"][0]
        .as_str()
        .and_then(|l| l.strip_prefix("file://"))
        .expect("a file link");
    let pasted = std::fs::read(pasted).expect("the clipboard's image delivered");
    let decoded = image::load_from_memory(&pasted).expect("an image");
    assert_eq!((decoded.width(), decoded.height()), (200, 120));
    app.screenshot("api-02-delivered");

    // A new token: the old one is refused from then on.
    open_settings(&app);
    click(&app, "section.local-api", "New token");
    app.wait_for("the new token", WAIT, || {
        text(&app, "#s-api-said").contains("old one are refused")
    });
    let old = http
        .get(format!("{api}/v1/status"))
        .bearer_auth(&token)
        .send()
        .expect("GET");
    assert_eq!(old.status(), 401);
    click(&app, "section.local-api", "Copy");
    app.wait_for("the new token copied", WAIT, || {
        let copied = clipboard(&display);
        copied.trim().len() == 64 && copied.trim() != token
    });
    let new = clipboard(&display).trim().to_string();
    let status = http
        .get(format!("{api}/v1/status"))
        .bearer_auth(&new)
        .send()
        .expect("GET");
    assert_eq!(status.status(), 200);

    // A port another program holds is refused whole, and the old one stays.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken_port = taken.local_addr().expect("addr").port();
    set(&app, "#s-api-port", &taken_port.to_string());
    click(&app, "section.local-api", "Apply");
    app.wait_for("the refusal, and where it still listens", WAIT, || {
        text(&app, "#s-api-said").contains(&format!(
            "Not changed: cannot listen on 127.0.0.1:{taken_port}"
        )) && text(&app, "#s-api-listening")
            .contains(&format!("API http://127.0.0.1:{api_port}/v1"))
    });
    app.js("document.querySelector('#s-api-said').scrollIntoView({ block: 'center' })");
    app.screenshot("api-03-port-taken");
    assert!(
        listening(api_port),
        "the API stopped after a refused change"
    );
    let saved = std::fs::read_to_string(home.data().join("settings.json")).expect("settings.json");
    assert!(!saved.contains(&taken_port.to_string()), "{saved}");

    // Turned off: nothing listens.
    open_settings(&app);
    tick(&app, "#s-api-enabled", false);
    tick(&app, "#s-picgo-enabled", false);
    apply_local_api(&app, "Off");
    assert!(!listening(api_port) && !listening(picgo_port));
    app.quit();
}
