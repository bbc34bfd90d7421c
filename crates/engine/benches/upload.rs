//! Upload benchmark: 1,000 outputs of 1 MB to a loopback HTTP server, 4 at
//! a time, by the HTTP destination (bodies streamed from the files) and by
//! one `curl --parallel --parallel-max 4` process sending the same files to
//! the same server in the same run. Prints figures; asserts nothing about
//! time.
//!
//! Run: `cargo bench -p outbox-engine --bench upload`
//! (`OUTBOX_BENCH_FILES=N` changes the count).

mod report;

use outbox_engine::destinations::{
    Delivery, Destination, HttpAuth, HttpDestination, HttpMethod, HttpSettings, NoSteps, ResultUrl,
};
use report::{machine_line, median, print_table, progress, Figure};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const FILE_BYTES: usize = 1_000_000;
const CONCURRENCY: usize = 4;
const ROUNDS: usize = 3;

fn main() {
    let files: usize = std::env::var("OUTBOX_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    println!("upload benchmark: {files} files of {FILE_BYTES} bytes, {CONCURRENCY} at a time");
    println!("{}", machine_line());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let paths = make_files(scratch.path(), files);
    let (url, received) = runtime.block_on(start_server());

    // Rounds alternate between the two, so a busy moment of the machine
    // falls on both; medians are compared.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut rss_early, mut rss_after, mut curl_ok) = (0, 0, true);
    for round in 1..=ROUNDS {
        progress(&format!(
            "round {round}/{ROUNDS}: outbox, HttpDestination::deliver, PUT streamed from each file"
        ));
        let start = Instant::now();
        let early = runtime.block_on(upload_all(&url, &paths));
        ours.push(start.elapsed());
        if round == 1 {
            (rss_early, rss_after) = (early, rss_kb("VmRSS"));
        }
        let bytes = received.swap(0, Ordering::SeqCst);
        assert_eq!(bytes, (files * FILE_BYTES) as u64, "every byte arrived");
        progress(&format!(
            "round {round}/{ROUNDS}: curl, one process, --parallel-max 4, -T each file"
        ));
        match curl_all(&url, &paths, scratch.path()) {
            Some(time) if received.swap(0, Ordering::SeqCst) == bytes => theirs.push(time),
            _ => curl_ok = false,
        }
    }
    let peak = rss_kb("VmHWM");
    let ours = median(ours);
    let theirs = curl_ok.then(|| median(theirs));

    let mb = (files * FILE_BYTES) as f64 / 1e6;
    let mut figures = Vec::new();
    match theirs {
        Some(theirs) => {
            // Throughput ratio: outbox's MB/s over curl's (1 = as fast).
            let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
            figures.push(Figure {
                name: format!(
                    "{files} × 1 MB to loopback, {CONCURRENCY} at a time (throughput, outbox / curl; median of {ROUNDS})"
                ),
                outbox: format!("{:.0} MB/s ({:.2} s)", mb / ours.as_secs_f64(), ours.as_secs_f64()),
                reference: format!("{:.0} MB/s ({:.2} s, curl)", mb / theirs.as_secs_f64(), theirs.as_secs_f64()),
                ratio: Some(ratio),
                target: ">= 0.9x",
                met: Some(ratio >= 0.9),
            });
        }
        None => println!("  * curl missing or incomplete: reference skipped"),
    }
    figures.push(Figure {
        name: "resident memory from the 10th to the 100th percent of the uploads (VmRSS; peak)"
            .into(),
        outbox: format!(
            "{:.1} → {:.1} MB (peak {:.1} MB)",
            rss_early as f64 / 1024.0,
            rss_after as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
        reference: "flat".into(),
        ratio: None,
        target: "flat",
        // Flat: 90 % of the bytes went through without the process growing
        // by more than a few buffers.
        met: Some(rss_after.saturating_sub(rss_early) < 8 * 1024),
    });
    println!();
    print_table(&figures);
    println!("  (peak includes the benchmark's own server and the tokio runtime)");
}

/// Files of pseudo-random bytes (compression cannot flatter anyone).
fn make_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    progress(&format!("writing {n} files of {FILE_BYTES} bytes"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|i| {
            let bytes: Vec<u8> = (0..FILE_BYTES)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let path = dir.join(format!("out-{i:04}.jpg"));
            std::fs::write(&path, bytes).expect("write a file");
            path
        })
        .collect()
}

/// Uploads every file; returns VmRSS (kB) when a tenth of them were done.
async fn upload_all(url: &str, paths: &[PathBuf]) -> u64 {
    let destination = Arc::new(
        HttpDestination::new(
            HttpSettings {
                url: format!("{url}/upload/{{file_name}}"),
                method: HttpMethod::Put,
                field: "file".into(),
                headers: BTreeMap::new(),
                auth: HttpAuth::None,
                result: ResultUrl::None,
                idempotency_header: None,
                timeout_seconds: 60,
            },
            None,
        )
        .expect("the HTTP destination"),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let rss_early = Arc::new(AtomicU64::new(0));
    let tenth = (paths.len() / 10).max(1);
    let paths = Arc::new(paths.to_vec());
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (destination, next, paths) = (destination.clone(), next.clone(), paths.clone());
            let (done, rss_early) = (done.clone(), rss_early.clone());
            tokio::spawn(async move {
                while let Some(path) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let delivery = Delivery {
                        queue_id: "0123456789abcdef".into(),
                        job_id: 1,
                        file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
                        mime: "image/jpeg".into(),
                        size: FILE_BYTES as u64,
                        hash: [0; 32],
                        path: path.clone(),
                        bytes: None,
                        fields: None,
                    };
                    destination
                        .deliver(&delivery, Arc::new(NoSteps))
                        .await
                        .expect("upload");
                    if done.fetch_add(1, Ordering::Relaxed) + 1 == tenth {
                        rss_early.store(rss_kb("VmRSS"), Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("an upload task");
    }
    rss_early.load(Ordering::Relaxed)
}

/// The same uploads by one curl process, 4 transfers at a time.
fn curl_all(url: &str, paths: &[PathBuf], scratch: &Path) -> Option<Duration> {
    let config = scratch.join("curl.cfg");
    let mut cfg = std::fs::File::create(&config).ok()?;
    for path in paths {
        let name = path.file_name()?.to_string_lossy();
        writeln!(cfg, "upload-file = \"{}\"", path.display()).ok()?;
        writeln!(cfg, "url = \"{url}/upload/{name}\"").ok()?;
        writeln!(cfg, "output = \"/dev/null\"").ok()?;
    }
    drop(cfg);
    let start = Instant::now();
    let status = Command::new("curl")
        .args([
            "-s",
            "--parallel",
            "--parallel-max",
            &CONCURRENCY.to_string(),
            "-K",
        ])
        .arg(&config)
        .status()
        .ok()?;
    status.success().then(|| start.elapsed())
}

/// A loopback server that reads each request's body whole (counting the
/// bytes), answers 201, and keeps connections alive.
async fn start_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let _ = serve(stream, counter).await;
            });
        }
    });
    (url, received)
}

async fn serve(stream: tokio::net::TcpStream, received: Arc<AtomicU64>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(256 << 10, read);
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let mut length = 0usize;
        let mut expect_continue = false;
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            read.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "expect" => expect_continue = value.trim().eq_ignore_ascii_case("100-continue"),
                _ => {}
            }
        }
        if expect_continue {
            write.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let mut left = length;
        while left > 0 {
            let n = read.read(&mut buffer[..left.min(256 << 10)]).await?;
            if n == 0 {
                return Ok(());
            }
            left -= n;
        }
        received.fetch_add(length as u64, Ordering::Relaxed);
        write
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            .await?;
    }
}

/// A line of /proc/self/status, in kB.
fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
