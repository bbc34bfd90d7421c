//! Ctrl-C (SIGINT) and SIGTERM stop `outbox run` cleanly: running jobs finish,
//! the run is closed (nothing is left for recovery), the exit code is 0, and
//! the next `run` finishes what was waiting.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn outbox(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_outbox"));
    cmd.arg("--data-dir").arg(data);
    cmd
}

fn write_images(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = image::RgbImage::from_fn(600, 400, |x, y| {
            image::Rgb([(x + i * 7) as u8, (y * 3 + i) as u8, (x ^ y ^ i) as u8])
        });
        img.save(dir.join(format!("s{i}.png"))).unwrap();
    }
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stop_with(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_images(&dir.path().join("in"), 40);
    let ok = outbox(&data)
        .args(["dest", "add", "out", "--kind", "folder", "--path"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let added = json(
        outbox(&data)
            .args(["add", "--to", "out", "--json"])
            .arg(dir.path().join("in")),
    );
    assert_eq!(added["added"].as_array().unwrap().len(), 40);

    let child = outbox(&data)
        .args(["run", "--generate-concurrency", "1", "--concurrency", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it deliver a few, then ask it to stop.
    let started = Instant::now();
    while std::fs::read_dir(&out).unwrap().count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "exit {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("stopping after the running jobs"),
        "{stderr}"
    );

    let status = json(outbox(&data).args(["status", "--json"]));
    assert_eq!(status["counts"]["processing"], 0, "{status}");
    let delivered = status["counts"]["completed"].as_u64().unwrap();
    assert!(delivered < 40, "it should have stopped early");
    assert_eq!(std::fs::read_dir(&out).unwrap().count() as u64, delivered);

    // The next run has nothing to recover and finishes the rest.
    let summary = json(outbox(&data).args(["run", "--until-idle", "--json"]));
    assert_eq!(summary["dead_runs_found"], 0);
    assert_eq!(summary["completed"].as_u64().unwrap(), 40 - delivered);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 40);
}

#[test]
fn ctrl_c_stops_the_worker_cleanly() {
    stop_with("INT");
}

#[test]
fn sigterm_stops_the_worker_cleanly() {
    stop_with("TERM");
}
