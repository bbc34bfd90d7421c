//! Importing CSV and JSON manifests: rows become items with their fields;
//! every row not queued is listed with its line and reason (no image, a
//! missing file, a malformed row, bytes that are not UTF-8, a duplicate, a
//! download that failed, was too large or too slow); images named by URL are
//! downloaded from a loopback server into the data folder.

#[path = "shared/loopback.rs"]
mod loopback;
mod support;

use loopback::{Reply, Server};
use outbox_engine::import::{DownloadLimits, ImportReport};
use outbox_engine::{AddOptions, Error, JobState};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

fn to_out() -> AddOptions {
    AddOptions {
        destination: Some("out".into()),
        ..AddOptions::default()
    }
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn png_bytes(seed: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    write_png(&path, 10, 8, seed);
    std::fs::read(path).unwrap()
}

fn reasons(report: &ImportReport) -> Vec<(u64, String)> {
    report
        .skipped
        .iter()
        .map(|s| (s.row, s.reason.clone()))
        .collect()
}

#[track_caller]
fn skipped_for(report: &ImportReport, row: u64, expected: &str) {
    let found = report.skipped.iter().find(|s| s.row == row);
    let reason = found.map(|s| s.reason.as_str()).unwrap_or("<not skipped>");
    assert!(
        reason.contains(expected),
        "row {row}: {reason:?} lacks {expected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_rows_become_items_with_their_fields_and_the_rest_is_listed_with_reasons() {
    let bed = TestBed::new();
    for (name, seed) in [("a.png", 1), ("b.png", 2), ("c.png", 3)] {
        write_png(&bed.path(name), 10, 8, seed);
    }
    write(&bed.path("notes.txt"), b"not an image");
    let mut csv = Vec::new();
    csv.extend_from_slice(b"image,title,unit,note\n");
    csv.extend_from_slice(b"a.png,\"Shoe, red\",pair,\"He said \"\"hi\"\"\non two lines\"\n"); // lines 2-3
    csv.extend_from_slice(b"b.png,Hat,piece,\n"); // 4
    csv.extend_from_slice(b",No image,piece,\n"); // 5
    csv.extend_from_slice(b"missing.png,Ghost,piece,\n"); // 6
    csv.extend_from_slice(b"c.png,Glove,pair,x,extra\n"); // 7: five fields
    csv.extend_from_slice(b"notes.txt,Text,piece,\n"); // 8
    csv.extend_from_slice(b"c.png,Caf\xe9,pair,\n"); // 9: Latin-1, not UTF-8
    csv.extend_from_slice(b"a.png,\"Shoe, red\",pair,\"He said \"\"hi\"\"\non two lines\"\n"); // 10-11
    let manifest = write(&bed.path("items.csv"), &csv);
    bed.engine
        .save_recipe(
            &serde_json::from_value(serde_json::json!({"name": "named", "operations": [
                {"op": "rename", "pattern": "{title}-{unit}"}, {"op": "png"}]}))
            .unwrap(),
        )
        .unwrap();

    let report = bed
        .engine
        .import(
            &manifest,
            &AddOptions {
                recipe: Some("named".into()),
                ..to_out()
            },
        )
        .await
        .unwrap();

    let added: Vec<u64> = report.added.iter().map(|a| a.row).collect();
    assert_eq!(added, vec![2, 4], "{:?}", reasons(&report));
    skipped_for(&report, 5, "no image");
    skipped_for(&report, 6, "not found");
    skipped_for(&report, 7, "5 field(s); the header has 4");
    skipped_for(&report, 8, "not an image");
    skipped_for(&report, 9, "\"title\" field is not valid UTF-8");
    skipped_for(&report, 10, "duplicate");
    assert_eq!(report.skipped.len(), 6);
    let batch = bed.engine.batch(report.batch_id.unwrap()).unwrap().unwrap();
    assert_eq!(batch.name, "items.csv");

    // The fields went with the items: the recipe names outputs from them.
    bed.run_until_idle().await;
    assert!(bed.path("out/Shoe, red-pair.png").is_file());
    assert!(bed.path("out/Hat-piece.png").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_manifests_take_an_array_or_an_items_object() {
    let bed = TestBed::new();
    write_png(&bed.path("a.png"), 10, 8, 1);
    write_png(&bed.path("b.png"), 10, 8, 2);
    let array = write(
        &bed.path("list.json"),
        br#"[{"image": "a.png", "title": "A", "sku": 17}, {"title": "no image"}, 5, {"path": "b.png"}]"#,
    );
    let report = bed.engine.import(&array, &to_out()).await.unwrap();
    assert_eq!(
        report.added.iter().map(|a| a.row).collect::<Vec<_>>(),
        vec![1, 4]
    );
    skipped_for(&report, 2, "no image");
    skipped_for(&report, 3, "must be an object, not a number");

    let object = write(
        &bed.path("object.json"),
        br#"{"items": [{"image": "a.png", "title": "again"}]}"#,
    );
    let report = bed.engine.import(&object, &to_out()).await.unwrap();
    assert_eq!(report.added.len(), 1, "other fields: another item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_manifests_are_refused_whole_with_the_reason() {
    let bed = TestBed::new();
    let e = bed
        .engine
        .import(&bed.path("nope.csv"), &to_out())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("nope.csv"), "{e}");

    let bad_json = write(&bed.path("bad.json"), b"[{\"image\": \"a.png\",");
    let e = bed.engine.import(&bad_json, &to_out()).await.unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");

    let bad_header = write(&bed.path("bad.csv"), b"image,ti\xfftle\na.png,x\n");
    let e = bed.engine.import(&bad_header, &to_out()).await.unwrap_err();
    assert!(
        e.to_string().contains("header row is not valid UTF-8"),
        "{e}"
    );

    // No image column at all: every row says so, nothing is queued.
    let no_column = write(&bed.path("titles.csv"), b"title\nA\nB\n");
    let report = bed.engine.import(&no_column, &to_out()).await.unwrap();
    assert!(report.added.is_empty() && report.batch_id.is_none());
    assert_eq!(report.skipped.len(), 2);
    skipped_for(&report, 3, "no image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_are_downloaded_within_limits_and_failures_named() {
    let bed = TestBed::new();
    let server = Server::start(vec![]).await;
    server.route(
        "/img/shoe.png",
        Reply::bytes(200, "image/png", png_bytes(5)),
    );
    server.route("/img/photo", Reply::bytes(200, "image/png", png_bytes(6)));
    server.route(
        "/img/gone.png",
        Reply::bytes(404, "text/plain", b"Not Found".to_vec()),
    );
    server.route(
        "/img/page.png",
        Reply::bytes(200, "text/html", b"<html>login</html>".to_vec()),
    );
    server.route("/img/huge.png", Reply::Endless { length: 8 << 20 });
    server.route(
        "/img/slow.png",
        Reply::After(
            Duration::from_secs(5),
            Box::new(Reply::bytes(200, "image/png", png_bytes(7))),
        ),
    );
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = &server.url;
    let csv = format!(
        "title,image_url\nshoe,{url}/img/shoe.png\nphoto,{url}/img/photo\ngone,{url}/img/gone.png\n\
         page,{url}/img/page.png\nhuge,{url}/img/huge.png\nslow,{url}/img/slow.png\n\
         nobody,http://{closed}/x.png\n"
    );
    let manifest = write(&bed.path("urls.csv"), csv.as_bytes());
    let limits = DownloadLimits {
        max_bytes: 1 << 20,
        timeout: Duration::from_secs(1),
        // The test's server is on this computer.
        private_addresses: true,
    };

    let started = std::time::Instant::now();
    let report = bed
        .engine
        .import_with_limits(&manifest, &to_out(), &limits)
        .await
        .unwrap();

    assert_eq!(
        report.added.iter().map(|a| a.row).collect::<Vec<_>>(),
        vec![2, 3],
        "{:?}",
        reasons(&report)
    );
    skipped_for(&report, 4, "404");
    skipped_for(&report, 5, "not an image");
    skipped_for(&report, 6, "larger than the limit of 1 MB");
    skipped_for(&report, 7, "took longer than 1 s");
    skipped_for(&report, 8, "could not connect");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Saved in the data folder under their content; an extension is added when missing.
    let job = bed.job(report.added[1].job);
    assert!(job
        .source
        .starts_with(bed.engine.data_dir().join("imports")));
    assert_eq!(job.source.file_name().unwrap(), "photo.png");
    assert_eq!(std::fs::read(&job.source).unwrap(), png_bytes(6));
    // Nothing half-downloaded is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(bed.engine.data_dir().join("imports"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The same manifest again: the same files, so duplicates.
    let again = bed
        .engine
        .import_with_limits(&manifest, &to_out(), &limits)
        .await
        .unwrap();
    assert!(again.added.is_empty());
    skipped_for(&again, 2, "duplicate");
    skipped_for(&again, 3, "duplicate");

    bed.run_until_idle().await;
    assert_eq!(bed.job(report.added[0].job).state, JobState::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_on_this_computer_or_a_private_network_are_refused_unless_allowed() {
    let bed = TestBed::new();
    let server = Server::start(vec![]).await;
    server.route(
        "/img/shoe.png",
        Reply::bytes(200, "image/png", png_bytes(5)),
    );
    let port = server.port();
    std::fs::write(bed.path("local.png"), png_bytes(9)).unwrap();
    // The same server by its address, by a name of this computer, a cloud
    // metadata address and an IPv6 loopback; beside them a local file.
    let csv = format!(
        "title,image\nshoe,{}/img/shoe.png\nnamed,http://localhost:{port}/img/shoe.png\n\
         metadata,http://169.254.169.254/latest/meta-data/x.png\nsix,http://[::1]:{port}/img/shoe.png\n\
         file,local.png\n",
        server.url
    );
    let manifest = write(&bed.path("urls.csv"), csv.as_bytes());
    let report = bed
        .engine
        .import_with_limits(&manifest, &to_out(), &DownloadLimits::default())
        .await
        .unwrap();
    assert_eq!(
        report.added.iter().map(|a| a.row).collect::<Vec<_>>(),
        vec![6],
        "{:?}",
        reasons(&report)
    );
    skipped_for(
        &report,
        2,
        "127.0.0.1, an address on this computer or a private network",
    );
    skipped_for(&report, 3, "localhost is");
    skipped_for(&report, 4, "169.254.169.254");
    skipped_for(&report, 5, "::1");
    assert!(
        server.requests_to("/img/shoe.png").is_empty(),
        "nothing was fetched"
    );

    // Allowed, the same server is read.
    let allowed = DownloadLimits {
        private_addresses: true,
        ..DownloadLimits::default()
    };
    let again = bed
        .engine
        .import_with_limits(&manifest, &to_out(), &allowed)
        .await
        .unwrap();
    assert!(
        again.added.iter().any(|a| a.row == 2),
        "{:?}",
        reasons(&again)
    );
}
