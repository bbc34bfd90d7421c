//! Drives the real Outbox app: a private X server (Xvfb), tauri-driver in front
//! of WebKitWebDriver, and a small W3C WebDriver client. Each [`App`] is one
//! launch of the binary with its own data folder and home.

#![allow(dead_code)] // the test and the bench use different parts

use base64::Engine as _;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const APP: &str = env!("CARGO_BIN_EXE_outbox-desktop");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn require(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{program} is missing: run ./scripts/test.sh, which installs it (xvfb, webkit2gtk-driver, cargo install tauri-driver)")
    })
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private X server for the app's window.
pub struct Display {
    pub name: String,
    _xvfb: Guard,
}

impl Display {
    pub fn start() -> Display {
        let xvfb = require("Xvfb");
        // -displayfd: Xvfb picks a free display number and writes it to us.
        let mut child = Command::new(xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1400x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut out = child.stdout.take().expect("Xvfb stdout");
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while std::io::Read::read(&mut out, &mut byte)
            .map(|n| n == 1)
            .unwrap_or(false)
        {
            if byte[0] == b'\n' {
                break;
            }
            number.push(byte[0] as char);
        }
        assert!(
            !number.trim().is_empty(),
            "Xvfb did not say which display it took"
        );
        Display {
            name: format!(":{}", number.trim()),
            _xvfb: Guard(child),
        }
    }
}

/// The folders one app instance lives in: its home (the default delivery
/// folder is ~/Pictures/Outbox) and its data folder.
pub struct Home {
    pub root: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            root: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    /// The app's queue, opened from this (the test's) process: another
    /// process, as the command line would be.
    pub fn engine(&self) -> outbox_engine::Engine {
        outbox_engine::Engine::open(outbox_engine::EngineOptions {
            data_dir: Some(self.data()),
            ..outbox_engine::EngineOptions::default()
        })
        .expect("open the app's queue from another process")
    }

    pub fn delivered(&self) -> PathBuf {
        self.home().join("Pictures").join("Outbox")
    }
}

/// tauri-driver, which starts the app for each WebDriver session.
pub struct Driver {
    port: u16,
    /// The data folder its apps get: it tells this test's app from others.
    data: PathBuf,
    _process: Guard,
    http: reqwest::blocking::Client,
}

impl Drop for Driver {
    /// SIGTERM first: tauri-driver then stops the WebKitWebDriver it started,
    /// which a SIGKILL would leave running.
    fn drop(&mut self) {
        let child = &mut self._process.0;
        let asked = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while asked && Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The environment an app of this home runs in (tauri-driver passes it on).
fn app_env<'c>(command: &'c mut Command, display: &Display, home: &Home) -> &'c mut Command {
    command
        .env("DISPLAY", &display.name)
        .env("HOME", home.home())
        .env("XDG_CONFIG_HOME", home.home().join(".config"))
        .env("XDG_DATA_HOME", home.home().join(".local/share"))
        .env("XDG_CACHE_HOME", home.home().join(".cache"))
        .env("OUTBOX_DATA_DIR", home.data())
        .env(
            "OUTBOX_LOG",
            std::env::var("OUTBOX_LOG").unwrap_or_else(|_| "info".into()),
        )
        // Software rendering: no GPU under Xvfb.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
}

/// Starts the app binary directly, as a file manager's "Open with" would,
/// with `args`, in this home; returns its exit status (waits at most `limit`).
pub fn launch_directly(
    display: &Display,
    home: &Home,
    args: &[&Path],
    limit: Duration,
) -> std::process::ExitStatus {
    let mut command = Command::new(APP);
    let mut child = app_env(command.args(args), display, home)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the app binary");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the app") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second launch still runs after {limit:?}: it did not hand over");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Driver {
    pub fn start(display: &Display, home: &Home) -> Driver {
        let tauri_driver = require("tauri-driver");
        let native = require("WebKitWebDriver");
        let (port, native_port) = (free_port(), free_port());
        std::fs::create_dir_all(home.home()).expect("home");
        let mut command = Command::new(tauri_driver);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .arg("--native-driver")
            .arg(native);
        let process = app_env(&mut command, display, home)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tauri-driver");
        let driver = Driver {
            port,
            data: home.data(),
            _process: Guard(process),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while driver.http.get(driver.url("/status")).send().is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Launches the app and waits for its window to be ready.
    pub fn launch(&self) -> App<'_> {
        self.launch_until(
            "the window is ready",
            "return document.body.dataset.ready === 'true'",
        )
    }

    /// Launches the app and waits until `script` returns true in its page.
    pub fn launch_until(&self, what: &str, script: &str) -> App<'_> {
        let answer: Value = self
            .http
            .post(self.url("/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "wry",
                "tauri:options": {"application": APP}
            }}}))
            .send()
            .and_then(|r| r.json())
            .expect("new WebDriver session");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        let app = App { driver: self, id };
        app.wait_for(what, Duration::from_secs(60), || {
            app.poll_js(script) == json!(true)
        });
        app
    }
}

/// A key held during a click.
#[derive(Clone, Copy, Debug)]
pub enum Modifier {
    None,
    Control,
    Shift,
}

impl Modifier {
    /// WebDriver's code for the key.
    fn key(self) -> Option<&'static str> {
        match self {
            Modifier::None => None,
            Modifier::Control => Some("\u{E009}"),
            Modifier::Shift => Some("\u{E008}"),
        }
    }
}

/// One running app, driven over WebDriver.
pub struct App<'d> {
    driver: &'d Driver,
    id: String,
}

impl App<'_> {
    fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let url = self.driver.url(&format!("/session/{}{}", self.id, path));
        let answer: Value = self
            .driver
            .http
            .post(url)
            .json(&body)
            .send()
            .and_then(|r| r.json())
            .map_err(|e| format!("WebDriver {path}: {e}"))?;
        if let Some(error) = answer["value"].get("error") {
            return Err(format!(
                "WebDriver {path}: {error}: {}",
                answer["value"]["message"]
            ));
        }
        Ok(answer["value"].clone())
    }

    /// A WebDriver GET of this session's `path`: its answer's value.
    fn get(&self, path: &str) -> Value {
        let url = self.driver.url(&format!("/session/{}{}", self.id, path));
        let answer: Value = self
            .driver
            .http
            .get(url)
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        answer["value"].clone()
    }

    /// A real click on the element `selector` finds, with a modifier key
    /// held (WebDriver's input actions: WebKit gets the events a mouse and
    /// a keyboard make, not a script's `click()`).
    pub fn click_holding(&self, selector: &str, modifier: Modifier) {
        let found = self
            .post(
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        let key = modifier.key();
        let keys = match key {
            Some(key) => json!([
                {"type": "keyDown", "value": key},
                {"type": "pause"}, {"type": "pause"}, {"type": "pause"},
                {"type": "keyUp", "value": key},
            ]),
            None => Value::Array(vec![json!({"type": "pause"}); 5]),
        };
        self.post(
            "/actions",
            json!({"actions": [
                {"type": "key", "id": "keyboard", "actions": keys},
                {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                    {"type": "pause"},
                    {"type": "pointerMove", "origin": found, "x": 0, "y": 0},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0},
                    {"type": "pause"},
                ]},
            ]}),
        )
        .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    /// A real key press into the focused element, with a modifier held
    /// (`key`: a character, or WebDriver's code for a special key, e.g.
    /// `\u{E00C}` Escape).
    pub fn press(&self, modifier: Modifier, key: &str) {
        let mut actions = vec![
            json!({"type": "keyDown", "value": key}),
            json!({"type": "keyUp", "value": key}),
        ];
        if let Some(held) = modifier.key() {
            actions.insert(0, json!({"type": "keyDown", "value": held}));
            actions.push(json!({"type": "keyUp", "value": held}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .unwrap_or_else(|e| panic!("pressing {key:?}: {e}"));
    }

    /// How many tiles in view have `attribute` = `value`.
    pub fn tiles(&self, attribute: &str, value: &str) -> u64 {
        self.js_with(
            "return document.querySelectorAll(`.tile[${arguments[0]}=\"${arguments[1]}\"]`).length",
            json!([attribute, value]),
        )
        .as_u64()
        .unwrap_or(0)
    }

    /// The window's size, as WebDriver reads it.
    pub fn window_size(&self) -> (u64, u64) {
        let v = &self.get("/window/rect");
        (
            v["width"].as_u64().unwrap_or(0),
            v["height"].as_u64().unwrap_or(0),
        )
    }

    /// Resizes the window, as a user dragging its corner would.
    pub fn resize(&self, width: u64, height: u64) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs a script while the page may be loading: an error is `null`.
    pub fn poll_js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .unwrap_or(Value::Null)
    }

    /// Runs a script in the page (a function body; `arguments` are `args`).
    pub fn js_with(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn js(&self, script: &str) -> Value {
        self.js_with(script, json!([]))
    }

    /// Runs an asynchronous script in the page: its last argument is the
    /// callback that answers. One request for the whole wait, so no polling
    /// takes the page's or the app's time meanwhile.
    pub fn js_async(&self, script: &str, args: Value, limit: Duration) -> Value {
        self.post("/timeouts", json!({"script": limit.as_millis() as u64}))
            .unwrap_or_else(|e| panic!("{e}"));
        self.post("/execute/async", json!({"script": script, "args": args}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for `done`, polling; fails naming what did not happen, with a
    /// screenshot of the window as it was (`timed-out.png`).
    pub fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            if Instant::now() >= deadline {
                let shot = self.screenshot("timed-out");
                panic!(
                    "timed out waiting until {what} (the window: {})",
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a screenshot as `target/e2e/NAME.png` for a person to look at.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        // WebKit takes it at the page's next presentation update, which a
        // page with nothing changing never has: a near-invisible dot, put in
        // and taken out again, gives it one.
        self.js(
            "const dot = document.createElement('div');
             dot.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;opacity:0.01;pointer-events:none';
             document.body.append(dot);
             setTimeout(() => dot.remove(), 500);",
        );
        let shot = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("screenshot data"))
            .expect("a base64 PNG");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The app's process id. tauri-driver starts it through WebKitWebDriver,
    /// so it is found in /proc: this binary, with this driver's data folder
    /// (other tests may run the same binary at the same time).
    pub fn pid(&self) -> u32 {
        let exe = std::fs::canonicalize(APP).expect("the app binary");
        let wanted = format!("OUTBOX_DATA_DIR={}", self.driver.data.display());
        let found: Vec<u32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(link) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
                    return false;
                };
                // A rebuild while the app runs leaves the old file "(deleted)".
                let link = link.to_string_lossy();
                let link = link.strip_suffix(" (deleted)").unwrap_or(&link);
                Path::new(link) == exe
                    && std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
                    && !process_gone(*pid)
            })
            .collect();
        match found[..] {
            [pid] => pid,
            _ => panic!("expected one app process for {wanted}, found {found:?}"),
        }
    }

    /// Kills the app with SIGKILL, as a crash or a power cut would: no
    /// shutdown at all. Returns once the process is gone; the session is over.
    pub fn kill(self) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid}: {status}");
        wait_gone(pid, Duration::from_secs(10));
        // The browser is gone; this only lets the drivers forget the session.
        let url = self.driver.url(&format!("/session/{}", self.id));
        let _ = self.driver.http.delete(url).send();
    }

    /// Like [`App::quit`], then waits until the process has exited, so that
    /// its files can be looked at.
    pub fn quit_and_wait(self, limit: Duration) {
        let pid = self.pid();
        self.quit();
        wait_gone(pid, limit);
    }

    /// Closes the window and ends the session (the app exits when idle).
    pub fn quit(self) {
        let url = self.driver.url(&format!("/session/{}", self.id));
        let _ = self.driver.http.delete(url).send();
        // Give the app its shutdown before the next launch opens the database.
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The process has exited (a zombie waiting for its parent counts: it holds
/// no files and no locks any more).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

fn wait_gone(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !process_gone(pid) {
        assert!(
            Instant::now() < deadline,
            "the app (pid {pid}) did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("e2e")
}

/// `n` small PNGs in `dir`, each its own image to the queue (a byte after
/// its end).
pub fn tiny_pngs(dir: &Path, n: u32) -> PathBuf {
    std::fs::create_dir_all(dir).expect("folder");
    let mut png = Vec::new();
    image::RgbImage::from_pixel(16, 16, image::Rgb([200, 40, 40]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    for i in 0..n {
        let mut b = png.clone();
        b.extend_from_slice(&i.to_le_bytes());
        std::fs::write(dir.join(format!("{i:05}.png")), b).expect("write");
    }
    dir.to_path_buf()
}
