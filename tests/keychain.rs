//! Secrets go to the OS keychain (a real Secret Service: the test command
//! runs under `scripts/with-keyring.sh`) and nowhere else: not the database,
//! not the data folder, not a log line, not an error message.

mod common;

use common::*;
use std::process::Command;

/// What the Secret Service holds for a destination of this data folder,
/// read with libsecret's own tool (so the test does not trust Outbox to
/// read it back). Keys carry the database's id.
fn keychain_lookup(ob: &Outbox, destination: &str) -> Option<String> {
    let db = rusqlite::Connection::open(ob.db_path()).expect("open the database");
    let id: String = db
        .query_row(
            "SELECT value FROM meta WHERE name = 'database_id'",
            [],
            |r| r.get(0),
        )
        .expect("the database has an id");
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "app.outbox.desktop", "username"])
        .arg(format!("{id}/destination:{destination}"))
        .output()
        .expect("secret-tool (libsecret-tools) is installed by with-keyring.sh");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn add_http(ob: &Outbox, name: &str, token: &str, extra_env: &[(&str, &str)]) -> Out {
    let mut cmd = ob.command(&[
        "dest",
        "add",
        name,
        "--kind",
        "http",
        "--url",
        "http://127.0.0.1:9/upload/{file_name}",
        "--auth",
        "bearer",
        "--timeout",
        "2",
    ]);
    cmd.env("OUTBOX_SECRET", token);
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    run_command(cmd, TIMEOUT)
}

#[test]
fn a_secret_lives_in_the_keychain_and_leaves_with_its_destination() {
    // Another data folder with a destination of the same name keeps its own.
    let other = Outbox::new();
    add_http(&other, "api", "tok-of-the-other-folder", &[]).ok();
    let ob = Outbox::new();
    let token = "tok-3f9a1c77-keychain-only";
    add_http(&ob, "api", token, &[]).ok();
    assert_eq!(keychain_lookup(&ob, "api").as_deref(), Some(token));
    let listed = ob.run(&["dest", "list", "--json"]).ok();
    assert!(!listed.stdout.contains(token), "{}", listed.stdout);

    let mut replace = ob.command(&["dest", "secret", "api"]);
    replace.env("OUTBOX_SECRET", "tok-replaced");
    run_command(replace, TIMEOUT).ok();
    assert_eq!(keychain_lookup(&ob, "api").as_deref(), Some("tok-replaced"));

    ob.run(&["dest", "remove", "api"]).ok();
    assert_eq!(
        keychain_lookup(&ob, "api"),
        None,
        "removed with the destination"
    );
    assert_eq!(
        keychain_lookup(&other, "api").as_deref(),
        Some("tok-of-the-other-folder")
    );
}

#[test]
fn failing_uploads_never_write_the_secret_anywhere() {
    let ob = Outbox::new();
    let token = "tok-8d2e55aa-must-not-leak";
    add_http(&ob, "api", token, &[]).ok();
    let src = ob.dir("src");
    write_image(&src.join("a.jpg"), 200, 100, 61);
    write_image(&src.join("b.png"), 100, 200, 62);
    ob.add(&[&src], "api", &["--max-attempts", "2"]);
    // Nothing listens on port 9: every upload fails, is retried, and fails.
    let mut run = ob.command(&["-vv", "run", "--until-idle", "--retry-delay", "0.1"]);
    run.env("OUTBOX_LOG", "debug");
    let out = run_command(run, TIMEOUT).expect_code(1);
    let history = ob.run(&["history", "--json"]).ok();
    let status = ob.run(&["status", "--json"]).ok();
    let test = ob.run(&["dest", "test", "api"]).expect_code(1);
    for (what, text) in [
        ("run stdout", &out.stdout),
        ("run stderr (debug log)", &out.stderr),
        ("history", &history.stdout),
        ("status", &status.stdout),
        ("dest test", &test.stderr),
    ] {
        assert!(!text.contains(token), "the token is in the {what}: {text}");
    }
    assert!(
        out.stderr.contains("could not connect"),
        "the log shows the failures: {}",
        out.stderr
    );
    for file in files_under(&ob.data) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in {}",
            file.display()
        );
    }
}

#[test]
fn without_a_keychain_a_destination_with_a_secret_is_refused_with_the_reason() {
    let ob = Outbox::new();
    let out = add_http(
        &ob,
        "api",
        "tok-unused",
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    )
    .expect_code(1);
    assert!(
        out.stderr.contains("keychain is not available"),
        "{}",
        out.stderr
    );
    let listed = ob.json(&["dest", "list", "--json"]);
    assert_eq!(listed, serde_json::json!([]), "nothing half-saved");
}
