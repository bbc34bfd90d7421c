//! Shared pieces of the end-to-end tests: run the real `outbox` binary against
//! a temporary data folder, make real images on disk, read `--json` output.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_outbox");

/// How long any single command may take before the test gives up on it.
/// Generous: the machine may have two slow cores and fsync on every job.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The state keys `status --json` documents, in no particular order.
pub const COUNT_KEYS: [&str; 7] = [
    "pending",
    "processing",
    "completed",
    "failed",
    "paused",
    "cancelled",
    "total",
];

/// What one finished command did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect_code(0)
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// One test's world: a temporary folder holding the data folder, source
/// images and destination folders. Dropped (and deleted) with the test.
pub struct Outbox {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        Outbox { tmp, data }
    }

    /// A path inside the test's temporary folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// A folder inside the test's temporary folder, created.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).expect("create folder");
        p
    }

    pub fn db_path(&self) -> PathBuf {
        self.data.join("outbox.sqlite3")
    }

    pub fn outputs_dir(&self) -> PathBuf {
        self.data.join("outputs")
    }

    /// The binary with an environment that cannot reach the user's own
    /// queue or Pictures folder, and no log filter from the caller's shell.
    pub fn bare_command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("OUTBOX_LOG")
            .env_remove("OUTBOX_DATA_DIR")
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .stdin(Stdio::null());
        cmd
    }

    /// `outbox --data-dir DATA args…`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare_command();
        cmd.arg("--data-dir").arg(&self.data).args(args);
        cmd
    }

    /// Runs `outbox args…` to the end (or panics after [`TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Out {
        run_command(self.command(args), TIMEOUT)
    }

    /// Runs a command that must succeed and print JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        self.run(args).ok().json()
    }

    /// `dest add NAME --kind folder --path DIR`, which must succeed.
    #[track_caller]
    pub fn add_folder_destination(&self, name: &str, dir: &Path) {
        let out = self
            .run(&["dest", "add", name, "--kind", "folder", "--path", &s(dir)])
            .ok();
        assert!(out.stdout.contains(name), "{}", out.stdout);
    }

    /// `add PATHS --to DEST --json EXTRA…`, which must succeed; the report.
    #[track_caller]
    pub fn add(&self, paths: &[&Path], dest: &str, extra: &[&str]) -> Value {
        let mut args: Vec<String> = vec!["add".into()];
        args.extend(paths.iter().map(|p| s(p)));
        args.extend(["--to".into(), dest.into(), "--json".into()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.json(&args)
    }

    /// The job ids an add report says were queued.
    pub fn added_ids(report: &Value) -> Vec<i64> {
        report["added"]
            .as_array()
            .expect("added is a list")
            .iter()
            .map(|v| v.as_i64().expect("job id"))
            .collect()
    }

    /// `run --until-idle` plus extra arguments; the exit code is the caller's to check.
    pub fn run_until_idle(&self, extra: &[&str]) -> Out {
        let mut args = vec!["run", "--until-idle"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `status --json` counts, checked to have exactly the documented keys.
    #[track_caller]
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let status = self.json(&["status", "--json"]);
        let counts = status["counts"]
            .as_object()
            .unwrap_or_else(|| panic!("status --json has no counts object: {status}"));
        let mut keys: Vec<&str> = counts.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = COUNT_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "status --json count keys");
        counts
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("count is a number")))
            .collect()
    }

    /// Every job, newest first (`history --json` with a large page).
    #[track_caller]
    pub fn history(&self) -> Vec<Value> {
        self.history_with(&[])
    }

    #[track_caller]
    pub fn history_with(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["history", "--json", "--limit", "1000000"];
        args.extend_from_slice(extra);
        match self.json(&args) {
            Value::Array(jobs) => jobs,
            other => panic!("history --json is not a list: {other}"),
        }
    }

    /// One job by id, from the history.
    #[track_caller]
    pub fn job(&self, id: i64) -> Value {
        self.history()
            .into_iter()
            .find(|j| j["id"].as_i64() == Some(id))
            .unwrap_or_else(|| panic!("job {id} is not in the history"))
    }

    /// The job whose source file is named `name`.
    #[track_caller]
    pub fn job_by_source(&self, name: &str) -> Value {
        let jobs: Vec<Value> = self
            .history()
            .into_iter()
            .filter(|j| file_name_of(j["source"].as_str().unwrap_or("")) == name)
            .collect();
        assert_eq!(jobs.len(), 1, "one job for {name}: {jobs:#?}");
        jobs.into_iter().next().unwrap()
    }
}

/// Runs `cmd` with stdout and stderr captured, killing it after `timeout`.
pub fn run_command(mut cmd: Command, timeout: Duration) -> Out {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn outbox");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_with_timeout(&mut child, timeout);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    match status {
        Some(status) => Out {
            code: status.code(),
            stdout,
            stderr,
            elapsed: start.elapsed(),
        },
        None => panic!(
            "{cmd:?} did not finish within {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child`; after `timeout` kills it and returns `None`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for outbox") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> String {
    path.to_str().expect("test paths are UTF-8").to_string()
}

pub fn file_name_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The names of the entries of `dir`, sorted (empty when it does not exist).
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// An RGB image whose pixels are a cheap pattern, with `seed` stamped into the
/// first pixels so no two seeds ever give the same bytes.
pub fn pattern_image(width: u32, height: u32, seed: u64) -> image::RgbImage {
    let stamp = seed.to_le_bytes();
    let mut img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x.wrapping_mul(3) ^ y) as u8,
            (y.wrapping_mul(5) ^ (x >> 2)) as u8,
            ((x + y) as u8).wrapping_add(stamp[0]),
        ])
    });
    for (i, chunk) in stamp.chunks(3).enumerate() {
        let x = i as u32 % width;
        let y = i as u32 / width;
        if y < height {
            let mut px = [0u8; 3];
            px[..chunk.len()].copy_from_slice(chunk);
            img.put_pixel(x, y, image::Rgb(px));
        }
    }
    img
}

/// An RGB image of seeded random noise: compresses badly, so its outputs are big.
pub fn noise_image(width: u32, height: u32, seed: u64) -> image::RgbImage {
    let mut rng = fastrand::Rng::with_seed(seed);
    image::RgbImage::from_fn(width, height, |_, _| {
        image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
    })
}

/// Writes a patterned image; the format follows the extension (.png, .jpg…).
pub fn write_image(path: &Path, width: u32, height: u32, seed: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    pattern_image(width, height, seed)
        .save(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn write_noise_image(path: &Path, width: u32, height: u32, seed: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    noise_image(width, height, seed)
        .save(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes `n` distinct small PNGs `dir/{prefix}{i:04}.png`; returns their paths.
pub fn write_small_pngs(dir: &Path, prefix: &str, n: usize, seed_base: u64) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{prefix}{i:04}.png"));
            write_image(&path, 32, 32, seed_base + i as u64);
            path
        })
        .collect()
}

/// Decodes `path` by its content; returns the format and the dimensions.
#[track_caller]
pub fn decode(path: &Path) -> (image::ImageFormat, u32, u32) {
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let format = reader
        .format()
        .unwrap_or_else(|| panic!("{} is not an image format", path.display()));
    let img = reader
        .decode()
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()));
    (format, img.width(), img.height())
}

/// `file://` URL of a path as the folder destination writes it. Test paths
/// (temporary folders, ASCII names) need no escaping; the escaping itself has
/// its unit test in the engine's folder destination.
pub fn file_url(path: &Path) -> String {
    let text = path.to_str().expect("a UTF-8 test path");
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b)),
        "{text} would need escaping"
    );
    format!("file://{text}")
}

/// Whether the tests run as root (who ignores file permissions).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A file system mounted by a test; unmounted when dropped.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    /// `mount -t tmpfs -o OPTIONS tmpfs DIR`, or why it could not be done.
    pub fn tmpfs(dir: &Path, options: &str) -> Result<Mount, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Mount {
                dir: dir.to_path_buf(),
            })
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// `mount -o remount,OPTIONS DIR`
    #[track_caller]
    pub fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// All `.part` leftovers under `dir` (recursively).
pub fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".part"))
            {
                found.push(p);
            }
        }
    }
    found
}

/// A failed job's error class and message.
pub fn error_of(job: &Value) -> (String, String) {
    let e = &job["error"];
    assert!(e.is_object(), "job {} has no error: {job:#}", job["id"]);
    (
        str_of(e, "class").to_string(),
        str_of(e, "message").to_string(),
    )
}

/// A string field of a JSON object, or a panic naming it.
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:#}"))
}

/// Every file under `dir`, in any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// ------------------------------------------------ delivered exactly once

/// The delivered names expected for these sources: `stem.jpg`.
pub fn expected_names(sources: &[PathBuf]) -> BTreeSet<String> {
    sources
        .iter()
        .map(|p| format!("{}.jpg", p.file_stem().unwrap().to_string_lossy()))
        .collect()
}

/// What a folder destination holds, by file name, once no partial file is
/// left in it.
pub fn folder_contents(out: &Path) -> Vec<(String, Vec<u8>)> {
    let names = file_names(out);
    let partial: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(".outbox-") || n.ends_with(".part"))
        .collect();
    assert!(
        partial.is_empty(),
        "partial files in the destination: {partial:?}"
    );
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(out.join(&name)).expect("read a delivered file");
            (name, bytes)
        })
        .collect()
}

/// Everything that must hold once every item has been delivered, whatever
/// the destination: `delivered` is each copy it holds (file name, bytes), so
/// a duplicate shows as a second copy or as an unexpected name. Returns the
/// jobs' result URLs (one per job, all distinct).
pub fn check_delivered_exactly_once(
    ob: &Outbox,
    delivered: &[(String, Vec<u8>)],
    sources: &[PathBuf],
) -> BTreeSet<String> {
    let n = sources.len() as u64;
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, _) in delivered {
        *copies.entry(name).or_default() += 1;
    }
    let expected = expected_names(sources);
    let extra: Vec<&str> = copies
        .keys()
        .copied()
        .filter(|name| !expected.contains(*name))
        .collect();
    let twice: Vec<(&str, usize)> = copies
        .iter()
        .filter(|(_, &count)| count > 1)
        .map(|(name, &count)| (*name, count))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|name| !copies.contains_key(name.as_str()))
        .collect();
    if !(extra.is_empty() && twice.is_empty() && missing.is_empty()) {
        // Say what became of the jobs of the missing items.
        let jobs: Vec<Value> = ob
            .history()
            .into_iter()
            .filter(|j| {
                let stem = Path::new(j["source"].as_str().unwrap_or(""))
                    .file_stem()
                    .map(|s| format!("{}.jpg", s.to_string_lossy()))
                    .unwrap_or_default();
                missing.contains(&&stem)
            })
            .collect();
        panic!(
            "destination holds {} copies for {n} items; extra (duplicates?) {extra:?}; delivered more than once {twice:?}; missing {missing:?}\njobs of the missing items: {jobs:#?}\ncounts: {:?}",
            delivered.len(),
            ob.counts()
        );
    }
    for (name, bytes) in delivered {
        // Whole: a cut-off JPEG has no end marker and does not decode.
        assert_eq!(
            image::guess_format(bytes).ok(),
            Some(image::ImageFormat::Jpeg),
            "{name}"
        );
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        assert_eq!((img.width(), img.height()), (32, 32), "{name}");
    }
    let leftovers = part_files(&ob.data);
    assert!(leftovers.is_empty(), "partial outputs: {leftovers:?}");

    let counts = ob.counts();
    assert_eq!(counts["completed"], n, "{counts:?}");
    assert_eq!(counts["failed"], 0, "{counts:?}");
    assert_eq!(counts["total"], n, "{counts:?}");

    let jobs = ob.history();
    assert_eq!(jobs.len() as u64, n);
    let mut urls = BTreeSet::new();
    for job in &jobs {
        assert_eq!(job["state"], "completed", "{job:#}");
        let attempts = job["attempts"].as_u64().unwrap();
        let max = job["max_attempts"].as_u64().unwrap();
        assert!(
            (1..=max).contains(&attempts),
            "attempts {attempts}/{max}: {job:#}"
        );
        let url = job["remote"]["url"]
            .as_str()
            .expect("a delivered job has a url");
        assert!(urls.insert(url.to_string()), "two jobs delivered to {url}");
    }

    assert_sound(ob);
    let db = rusqlite::Connection::open(ob.db_path()).unwrap();
    // The counters kept by triggers agree with the rows.
    let (rows, counted): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM jobs WHERE state = 'completed'),
                    (SELECT n FROM state_counts WHERE state = 'completed')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, counted, "state_counts drifted from the jobs table");
    urls
}

/// `PRAGMA integrity_check` of the queue's database says `ok`.
#[track_caller]
pub fn assert_sound(ob: &Outbox) {
    let db = rusqlite::Connection::open(ob.db_path()).expect("open the database");
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
}
