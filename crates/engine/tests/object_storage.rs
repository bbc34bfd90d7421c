//! The object-storage destination against real servers: moto (S3,
//! `scripts/s3-server.sh`) and Azurite (Azure Blob, `scripts/azurite-server.sh`),
//! started once for the run by `scripts/test.sh` (or by each test when run
//! alone); each test has its own bucket or container. Every outcome is read
//! back from the server with a separate `object_store` client.
//!
//! Google Cloud Storage has no emulator here that accepts object_store's
//! uploads; its settings and URLs are covered by the unit tests in
//! `destinations/object.rs`.

#[path = "shared/delivery.rs"]
mod delivery;
use delivery::{in_memory, on_disk};
#[path = "shared/progress.rs"]
mod progress;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStore, ObjectStoreExt};
use outbox_engine::destinations::{
    Delivery, DeliveryError, Destination, NoSteps, ObjectDestination, ObjectSettings,
};
use outbox_engine::{ErrorClass, Remote};
use progress::Progress;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AZURE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, in Microsoft's docs).
const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// An account SAS for Azurite's development account, good until 2099: lets
/// a test create containers with a plain request.
const AZURE_SAS: &str = "sv=2021-08-06&ss=b&srt=sco&sp=rwdlacup&se=2099-01-01T00%3A00%3A00Z\
                         &spr=http&sig=jbzNKNZOyq%2FXIPKofnbUh7spfZUPyQOrOUgF1ki6pHc%3D";
const MB20: usize = 20_000_000;

// ---------------------------------------------------------------- servers

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A moto server: the run's (`OUTBOX_TEST_S3_ENDPOINT`, set by
/// `scripts/test.sh`), or one for this test, stopped when dropped.
struct Moto {
    /// This test's own server's folder.
    dir: Option<tempfile::TempDir>,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        match std::env::var("OUTBOX_TEST_S3_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => Moto {
                dir: None,
                endpoint,
            },
            _ => Self::start_with(&[]),
        }
    }

    /// `env` reaches moto_server: the script starts it as its child.
    fn start_with(env: &[(&str, &str)]) -> Moto {
        let (dir, endpoint) = start_server("s3-server.sh", env);
        Moto {
            dir: Some(dir),
            endpoint,
        }
    }

    /// CreateBucket, unsigned (moto accepts that), of a bucket of this
    /// test's own; its name.
    async fn bucket(&self, name: &str) -> String {
        let name = unique(name);
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        name
    }

    fn settings(&self, bucket: &str, more: Value) -> ObjectSettings {
        let mut value = json!({
            "provider": "s3",
            "bucket": bucket,
            "endpoint": self.endpoint,
            "access_key_id": "test",
        });
        merge(&mut value, more);
        serde_json::from_value(value).unwrap()
    }

    fn destination(&self, bucket: &str, more: Value) -> ObjectDestination {
        ObjectDestination::new(self.settings(bucket, more), Some("test")).unwrap()
    }

    fn reader(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        stop_server("s3-server.sh", self.dir.as_ref());
    }
}

/// Starts a server for one test with `scripts/SCRIPT start DIR` (`env`
/// reaches the server); its folder and the endpoint the script printed.
fn start_server(script: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join("scripts").join(script))
        .arg("start")
        .arg(dir.path())
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
    assert!(out.status.success(), "{script} start failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    (dir, line["endpoint"].as_str().unwrap().to_string())
}

/// Stops the server a test started itself (none for the run's own).
fn stop_server(script: &str, dir: Option<&tempfile::TempDir>) {
    if let Some(dir) = dir {
        let _ = Command::new(repo_root().join("scripts").join(script))
            .arg("stop")
            .arg(dir.path())
            .status();
    }
}

/// `name` made unique to this test process: tests share the run's servers.
fn unique(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// An Azurite blob server: the run's (`OUTBOX_TEST_AZURITE_ENDPOINT`, set by
/// `scripts/test.sh`), or one for this test, stopped when dropped.
struct Azurite {
    /// This test's own server's folder.
    dir: Option<tempfile::TempDir>,
    /// The account's blob endpoint (path-style, account included).
    endpoint: String,
}

impl Azurite {
    fn start() -> Azurite {
        if let Ok(endpoint) = std::env::var("OUTBOX_TEST_AZURITE_ENDPOINT") {
            if !endpoint.is_empty() {
                return Azurite {
                    dir: None,
                    endpoint,
                };
            }
        }
        let (dir, endpoint) = start_server("azurite-server.sh", &[]);
        Azurite {
            dir: Some(dir),
            endpoint,
        }
    }

    /// Create Container, authorised by the account SAS, of a container of
    /// this test's own; its name.
    async fn container(&self, name: &str) -> String {
        let name = unique(name);
        let response = reqwest::Client::new()
            .put(format!(
                "{}/{name}?restype=container&{AZURE_SAS}",
                self.endpoint
            ))
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "create container {name}");
        name
    }

    fn settings(&self, container: &str) -> ObjectSettings {
        serde_json::from_value(json!({
            "provider": "azure",
            "bucket": container,
            "account": AZURE_ACCOUNT,
            "endpoint": self.endpoint,
        }))
        .unwrap()
    }

    fn destination(&self, container: &str) -> ObjectDestination {
        ObjectDestination::new(self.settings(container), Some(AZURE_KEY)).unwrap()
    }

    fn reader(&self, container: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            MicrosoftAzureBuilder::new()
                .with_endpoint(self.endpoint.clone())
                .with_allow_http(true)
                .with_account(AZURE_ACCOUNT)
                .with_access_key(AZURE_KEY)
                .with_container_name(container)
                .build()
                .unwrap(),
        )
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        stop_server("azurite-server.sh", self.dir.as_ref());
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------- helpers

fn merge(base: &mut Value, more: Value) {
    if let (Some(base), Value::Object(more)) = (base.as_object_mut(), more) {
        base.extend(more);
    }
}

/// Bytes that differ from one output to the next.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8 ^ (i >> 12) as u8)
        .collect()
}

fn with_fields(mut d: Delivery, fields: Value) -> Delivery {
    d.fields = fields.as_object().cloned();
    d
}

async fn deliver(dest: &ObjectDestination, d: &Delivery) -> Result<Remote, DeliveryError> {
    dest.deliver(d, Arc::new(NoSteps)).await
}

async fn read_back(store: &Arc<dyn ObjectStore>, key: &str) -> (Vec<u8>, Option<String>) {
    let got = store.get(&ObjectPath::parse(key).unwrap()).await.unwrap();
    let mime = got
        .attributes
        .get(&Attribute::ContentType)
        .map(|v| v.to_string());
    (got.bytes().await.unwrap().to_vec(), mime)
}

async fn keys(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    use futures_util::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

fn assert_class(result: Result<impl std::fmt::Debug, DeliveryError>, class: ErrorClass) -> String {
    match result {
        Err(e) => {
            assert_eq!(e.class, class, "{}", e.message);
            e.message
        }
        Ok(v) => panic!("expected a {class:?} error, got {v:?}"),
    }
}

/// A progress report that climbs to `size` and never goes back.
fn assert_progress(reports: &[u64], size: u64) {
    assert_eq!(reports.last(), Some(&size), "{reports:?}");
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
    assert!(reports.len() > 2, "progress along the way: {reports:?}");
}

// ---------------------------------------------------------------- S3

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_small_upload_has_its_content_type_and_url() {
    let moto = Moto::start();
    let photos = moto.bucket("photos").await;
    let dest = moto.destination(&photos, json!({}));
    let d = in_memory(1, "red shoe.jpg", content(3000, 1));

    let remote = deliver(&dest, &d).await.unwrap();

    let key = format!("{}/red shoe.jpg", d.short_hash());
    assert_eq!(remote.id.as_deref(), Some(key.as_str()));
    let url = format!(
        "{}/{photos}/{}/red%20shoe.jpg",
        moto.endpoint,
        d.short_hash()
    );
    assert_eq!(remote.url.as_deref(), Some(url.as_str()));
    let (bytes, mime) = read_back(&moto.reader(&photos), &key).await;
    assert_eq!(bytes, content(3000, 1));
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_large_file_goes_up_in_parts_from_disk_with_progress() {
    let moto = Moto::start();
    let photos = moto.bucket("photos").await;
    let dir = tempfile::tempdir().unwrap();
    let dest = moto.destination(&photos, json!({"key_template": "big/{file_name}"}));
    let d = on_disk(dir.path(), 2, "poster.jpg", content(MB20, 2));
    let progress = Arc::new(Progress::default());

    let remote = dest.deliver(&d, progress.clone()).await.unwrap();

    assert_eq!(remote.id.as_deref(), Some("big/poster.jpg"));
    let reader = moto.reader(&photos);
    let meta = reader
        .head(&ObjectPath::from("big/poster.jpg"))
        .await
        .unwrap();
    assert_eq!(meta.size, MB20 as u64);
    // S3 marks a multipart object's ETag with its part count: 4 × ≤5 MiB.
    let etag = meta.e_tag.unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with("-4"), "ETag {etag}");
    let (bytes, mime) = read_back(&reader, "big/poster.jpg").await;
    assert!(bytes == content(MB20, 2), "the bytes differ");
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
    assert_progress(&progress.reports(), MB20 as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_delivering_the_same_job_twice_keeps_one_object() {
    let moto = Moto::start();
    let photos = moto.bucket("photos").await;
    let dest = moto.destination(&photos, json!({}));
    let d = in_memory(3, "a.jpg", content(1000, 3));

    let first = deliver(&dest, &d).await.unwrap();
    let second = deliver(&dest, &d).await.unwrap();

    assert_eq!(first, second);
    let expected = format!("{}/a.jpg", d.short_hash());
    assert_eq!(keys(&moto.reader(&photos)).await, vec![expected]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_reconcile_finds_what_arrived_and_nothing_else() {
    let moto = Moto::start();
    let photos = moto.bucket("photos").await;
    let dest = moto.destination(&photos, json!({}));
    let sent = in_memory(4, "sent.jpg", content(2000, 4));
    let never = in_memory(5, "never.jpg", content(2000, 5));

    assert_eq!(dest.reconcile(&sent).await.unwrap(), None);
    let remote = deliver(&dest, &sent).await.unwrap();

    assert_eq!(dest.reconcile(&sent).await.unwrap(), Some(remote));
    assert_eq!(dest.reconcile(&never).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_key_template_takes_item_fields_and_names_a_missing_one() {
    let moto = Moto::start();
    let shop = moto.bucket("shop").await;
    let dest = moto.destination(
        &shop,
        json!({"key_template": "products/{sku}/{stem}-{hash}.{ext}"}),
    );
    let d = with_fields(
        in_memory(6, "front.jpg", content(500, 6)),
        json!({"sku": "A-17"}),
    );

    let remote = deliver(&dest, &d).await.unwrap();

    let key = format!("products/A-17/front-{}.jpg", d.short_hash());
    assert_eq!(remote.id.as_deref(), Some(key.as_str()));
    let reader = moto.reader(&shop);
    assert_eq!(read_back(&reader, &key).await.0, content(500, 6));

    let no_sku = in_memory(7, "back.jpg", content(500, 7));
    let message = assert_class(deliver(&dest, &no_sku).await, ErrorClass::Permanent);
    assert!(message.contains("{sku}"), "{message}");
    assert_eq!(keys(&reader).await, vec![key], "nothing else was uploaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_bucket_needs_the_user() {
    let moto = Moto::start();
    let dest = moto.destination("nope", json!({}));

    let small = in_memory(8, "a.jpg", content(100, 8));
    let message = assert_class(deliver(&dest, &small).await, ErrorClass::NeedsUser);
    assert!(message.contains("no bucket \"nope\""), "{message}");
    // The multipart path fails the same way.
    let large = in_memory(9, "b.jpg", content(MB20, 9));
    let message = assert_class(deliver(&dest, &large).await, ErrorClass::NeedsUser);
    assert!(message.contains("no bucket \"nope\""), "{message}");
    let error = dest.check().await.unwrap_err();
    assert_eq!(error.class, ErrorClass::NeedsUser, "{}", error.message);
    assert!(
        error.message.contains("no bucket \"nope\""),
        "{}",
        error.message
    );
    assert_eq!(error.field, Some("bucket"), "the bucket is to fix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refused_credentials_need_the_user() {
    // After its first request (the bucket's creation), moto checks every
    // signature against its IAM users, of which there are none.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]);
    let photos = moto.bucket("photos").await;
    let dest = moto.destination(&photos, json!({}));

    let d = in_memory(10, "a.jpg", content(100, 10));
    let message = assert_class(deliver(&dest, &d).await, ErrorClass::NeedsUser);
    assert!(message.contains("credentials were refused"), "{message}");
    assert!(message.contains("InvalidAccessKeyId"), "{message}");
    let message = assert_class(dest.check().await, ErrorClass::NeedsUser);
    assert!(message.contains("credentials were refused"), "{message}");
    assert!(!message.contains("test\""), "no secret in {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_check_reports_a_reachable_bucket() {
    let moto = Moto::start();
    let photos = moto.bucket("photos").await;
    let dest = moto.destination(&photos, json!({"key_template": "shop/{sku}/{file_name}"}));

    let message = dest.check().await.unwrap();

    assert!(
        message.contains(&format!("bucket \"{photos}\"")),
        "{message}"
    );
    assert!(message.contains("reachable"), "{message}");
    assert!(
        keys(&moto.reader(&photos)).await.is_empty(),
        "check wrote nothing"
    );
}

// ---------------------------------------------------------------- nobody there

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_transient_and_quick() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let s3 = ObjectDestination::new(
        serde_json::from_value(json!({
            "provider": "s3", "bucket": "b", "endpoint": endpoint, "access_key_id": "k",
        }))
        .unwrap(),
        Some("s"),
    )
    .unwrap();
    let azure = ObjectDestination::new(
        serde_json::from_value(json!({
            "provider": "azure", "bucket": "c", "account": AZURE_ACCOUNT,
            "endpoint": format!("{endpoint}/{AZURE_ACCOUNT}"),
        }))
        .unwrap(),
        Some(AZURE_KEY),
    )
    .unwrap();
    let d = in_memory(11, "a.jpg", content(100, 11));

    for dest in [&s3, &azure] {
        let started = Instant::now();
        let message = assert_class(deliver(dest, &d).await, ErrorClass::Transient);
        assert!(message.contains("could not be reached"), "{message}");
        assert_class(dest.check().await, ErrorClass::Transient);
        assert_class(dest.reconcile(&d).await, ErrorClass::Transient);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(15), "took {took:?}");
    }
}

// ---------------------------------------------------------------- Azure

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_small_upload_has_its_content_type_and_url() {
    let azurite = Azurite::start();
    let outbox = azurite.container("outbox").await;
    let dest = azurite.destination(&outbox);
    let d = in_memory(20, "été.jpg", content(4000, 20));

    let remote = deliver(&dest, &d).await.unwrap();

    let key = format!("{}/été.jpg", d.short_hash());
    assert_eq!(remote.id.as_deref(), Some(key.as_str()));
    let url = format!(
        "{}/{outbox}/{}/%C3%A9t%C3%A9.jpg",
        azurite.endpoint,
        d.short_hash()
    );
    assert_eq!(remote.url.as_deref(), Some(url.as_str()));
    let (bytes, mime) = read_back(&azurite.reader(&outbox), &key).await;
    assert_eq!(bytes, content(4000, 20));
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_large_upload_goes_in_blocks_with_progress() {
    let azurite = Azurite::start();
    let outbox = azurite.container("outbox").await;
    let dest = azurite.destination(&outbox);
    let d = in_memory(21, "poster.jpg", content(MB20, 21));
    let progress = Arc::new(Progress::default());

    let remote = dest.deliver(&d, progress.clone()).await.unwrap();

    let key = remote.id.unwrap();
    let reader = azurite.reader(&outbox);
    assert_eq!(
        reader
            .head(&ObjectPath::parse(&key).unwrap())
            .await
            .unwrap()
            .size,
        MB20 as u64
    );
    let (bytes, mime) = read_back(&reader, &key).await;
    assert!(bytes == content(MB20, 21), "the bytes differ");
    assert_eq!(mime.as_deref(), Some("image/jpeg"));
    assert_progress(&progress.reports(), MB20 as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_twice_is_one_blob_and_reconcile_finds_it() {
    let azurite = Azurite::start();
    let outbox = azurite.container("outbox").await;
    let dest = azurite.destination(&outbox);
    let d = in_memory(22, "a.jpg", content(1500, 22));
    let never = in_memory(23, "b.jpg", content(1500, 23));

    assert_eq!(dest.reconcile(&d).await.unwrap(), None);
    let first = deliver(&dest, &d).await.unwrap();
    let second = deliver(&dest, &d).await.unwrap();

    assert_eq!(first, second);
    let expected = format!("{}/a.jpg", d.short_hash());
    assert_eq!(keys(&azurite.reader(&outbox)).await, vec![expected]);
    assert_eq!(dest.reconcile(&d).await.unwrap(), Some(first));
    assert_eq!(dest.reconcile(&never).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_wrong_key_needs_the_user() {
    let azurite = Azurite::start();
    let outbox = azurite.container("outbox").await;
    let wrong_key = format!("{}==", "A".repeat(86));
    let dest = ObjectDestination::new(azurite.settings(&outbox), Some(&wrong_key)).unwrap();
    let d = in_memory(24, "a.jpg", content(100, 24));

    let message = assert_class(deliver(&dest, &d).await, ErrorClass::NeedsUser);
    assert!(message.contains("credentials were refused"), "{message}");
    let message = assert_class(dest.check().await, ErrorClass::NeedsUser);
    assert!(message.contains("credentials were refused"), "{message}");
    assert!(!message.contains(&wrong_key[..20]), "no key in {message}");
    assert!(keys(&azurite.reader(&outbox)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_missing_container_needs_the_user_and_check_passes_on_a_real_one() {
    let azurite = Azurite::start();
    let outbox = azurite.container("outbox").await;
    let missing = azurite.destination("absent");
    let d = in_memory(25, "a.jpg", content(100, 25));

    let message = assert_class(deliver(&missing, &d).await, ErrorClass::NeedsUser);
    assert!(message.contains("no container \"absent\""), "{message}");
    let message = assert_class(missing.check().await, ErrorClass::NeedsUser);
    assert!(message.contains("no container \"absent\""), "{message}");

    let message = azurite.destination(&outbox).check().await.unwrap();
    assert!(
        message.contains(&format!("container \"{outbox}\" is reachable")),
        "{message}"
    );
}
