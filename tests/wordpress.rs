//! The WordPress destination against a real WordPress (Debian's package, a
//! private MariaDB, PHP's built-in server on 127.0.0.1), started by
//! `scripts/wordpress-server.sh`, driven through the real `outbox` binary,
//! with the password in a real Secret Service (the test command runs under
//! `scripts/with-keyring.sh`). What WordPress stored is read back over REST.

mod common;
#[path = "common/wordpress_site.rs"]
mod wordpress_site;

use common::*;
use std::process::Command;
use wordpress_site::Site;

/// `outbox dest add` with the secret in the environment (never an argument).
fn add_destination(ob: &Outbox, secret: &str, args: &[&str]) -> Out {
    let mut cmd = ob.command(&[&["dest", "add"], args].concat());
    cmd.env("OUTBOX_SECRET", secret);
    run_command(cmd, TIMEOUT)
}

/// A WordPress destination for the site's admin, with `extra` options.
fn add_admin_destination(ob: &Outbox, site: &Site, name: &str, url_key: &str, extra: &[&str]) {
    let url = site.get(url_key);
    let mut args = vec![
        name,
        "--kind",
        "wordpress",
        "--url",
        &url,
        "--user",
        site.login(),
    ];
    args.extend_from_slice(extra);
    add_destination(ob, &site.app_password, &args).ok();
}

/// Runs `ob`'s worker and SIGKILLs it once the test's administrator has
/// `uploads` attachments on the site.
fn kill_once_uploaded(ob: &Outbox, site: &Site, uploads: usize) {
    let mut worker = ob
        .command(&["run", "--until-idle"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the worker");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while site.media_by(site.user_id).len() < uploads {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached WordPress"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    worker.kill().expect("SIGKILL the worker");
    let _ = worker.wait();
}

fn token_of(url: &str) -> String {
    let name = url.rsplit('/').next().unwrap_or("");
    let at = name.find("-ob").expect("the file name carries the token");
    name[at + 1..at + 13].to_string()
}

#[test]
fn uploads_with_fields_attach_feature_and_fill_the_acf_field() {
    let site = Site::start();
    let ob = Outbox::new();
    let post = site.post_id.clone();
    add_admin_destination(
        &ob,
        &site,
        "wp",
        "url",
        &["--post", &post, "--featured", "--acf-field", "hero_image"],
    );
    let checked = ob.run(&["dest", "test", "wp"]).ok();
    assert!(
        checked.stdout.contains("may upload files"),
        "{}",
        checked.stdout
    );

    let src = ob.dir("src");
    write_image(&src.join("Été à Paris.jpg"), 1200, 800, 51);
    ob.add(
        &[&src],
        "wp",
        &[
            "--field",
            "title=Summer in Paris",
            "--field",
            "alt_text=The river at dusk",
            "--field",
            "caption=Taken in July",
            "--field",
            "description=From the catalogue",
        ],
    );
    ob.run_until_idle(&[]).ok();
    let job = &ob.history()[0];
    assert_eq!(job["state"], "completed", "{job:#}");
    let id: u64 = job["remote"]["id"].as_str().unwrap().parse().unwrap();
    let url = job["remote"]["url"].as_str().unwrap();
    assert!(
        url.contains("/wp-content/uploads/") && url.contains("Ete-a-Paris-ob"),
        "{url}"
    );

    let media = site.rest("GET", &format!("/wp/v2/media/{id}?context=edit"), None);
    assert_eq!(media["title"]["raw"], "Summer in Paris");
    assert_eq!(media["alt_text"], "The river at dusk");
    assert_eq!(media["caption"]["raw"], "Taken in July");
    assert_eq!(media["description"]["raw"], "From the catalogue");
    assert_eq!(media["post"].to_string(), post, "attached to the post");
    assert_eq!(media["media_details"]["width"], 1200);
    let the_post = site.rest("GET", &format!("/wp/v2/posts/{post}?context=edit"), None);
    assert_eq!(the_post["featured_media"], id, "featured image");
    assert_eq!(the_post["acf"]["hero_image"], id, "ACF field");
    // The delivered bytes are the output's: the same size as generated.
    let served = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{size_download}", url])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&served.stdout),
        job["bytes_total"].to_string()
    );

    // The password is in the keychain, not in the database or the data folder.
    let password = site.app_password.clone();
    for entry in files_under(&ob.data) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "the password is in {}",
            entry.display()
        );
    }
}

#[test]
fn plain_permalinks_and_a_sub_path_work_and_each_job_has_its_own_token() {
    let site = Site::start();
    let ob = Outbox::new();
    add_admin_destination(&ob, &site, "plain", "url", &["--plain-permalinks"]);
    add_admin_destination(&ob, &site, "sub", "url_subpath", &[]);
    let src = ob.dir("src");
    write_image(&src.join("one.png"), 300, 200, 52);
    ob.add(&[&src], "plain", &[]);
    ob.add(&[&src], "sub", &[]);
    // Both go at once; WordPress may refuse one while the other makes this
    // month's uploads folder (a transient 500), so retries come quickly.
    ob.run_until_idle(&["--retry-delay", "0.2"]).ok();
    let urls: Vec<String> = ob
        .history()
        .iter()
        .map(|j| {
            assert_eq!(j["state"], "completed", "{j:#}");
            j["remote"]["url"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        urls.iter().any(|u| u.contains("/blog/wp-content/uploads/")),
        "{urls:?}"
    );
    // The same image sent by two jobs: two uploads, each with its own token,
    // and a search for one finds only it.
    let (first, second) = (token_of(&urls[0]), token_of(&urls[1]));
    assert_ne!(first, second);
    assert_eq!(site.media_matching(&first).len(), 1);
    assert_eq!(site.media_matching(&second).len(), 1);
}

#[test]
fn a_failed_step_is_retried_alone_and_bad_credentials_need_the_user() {
    let site = Site::start();
    let ob = Outbox::new();
    // An author may upload but not edit the admin's post: the featured-image
    // step fails with 403 after the upload succeeded.
    let (writer, writer_id, author_password) = site.new_author("writer");
    let post = site.post_id.clone();
    add_destination(
        &ob,
        &author_password,
        &[
            "wp",
            "--kind",
            "wordpress",
            "--url",
            &site.get("url"),
            "--user",
            &writer,
            "--post",
            &post,
            "--featured",
        ],
    )
    .ok();
    let src = ob.dir("src");
    write_image(&src.join("cover.jpg"), 640, 480, 53);
    ob.add(&[&src], "wp", &[]);
    ob.run_until_idle(&[]).expect_code(1);
    let job = &ob.history()[0];
    assert_eq!(job["state"], "failed", "{job:#}");
    assert_eq!(job["error"]["class"], "needs_user", "{job:#}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("403") && !message.contains("uploading"),
        "{message}"
    );
    let uploaded = site.media_by(writer_id);
    assert_eq!(uploaded.len(), 1, "the upload itself happened");

    // The user fixes the role; the retry resumes at the featured step.
    site.set_role(&writer, "editor");
    let id = job["id"].to_string();
    ob.run(&["retry", &id]).ok();
    ob.run_until_idle(&[]).ok();
    let job = &ob.history()[0];
    assert_eq!(job["state"], "completed", "{job:#}");
    let media_id: u64 = job["remote"]["id"].as_str().unwrap().parse().unwrap();
    let uploaded = site.media_by(writer_id);
    assert_eq!(uploaded.len(), 1, "not uploaded a second time");
    assert_eq!(
        site.rest("GET", &format!("/wp/v2/posts/{post}"), None)["featured_media"],
        media_id
    );

    // A wrong password fails at once as the user's to fix; a new secret and
    // a retry deliver.
    add_destination(
        &ob,
        "wrong password",
        &[
            "bad",
            "--kind",
            "wordpress",
            "--url",
            &site.get("url"),
            "--user",
            site.login(),
        ],
    )
    .ok();
    let tested = ob.run(&["dest", "test", "bad"]).expect_code(1);
    assert!(
        tested.stderr.contains(&format!(
            "refused the user name \"{}\" or its application password",
            site.login()
        )),
        "{}",
        tested.stderr
    );
    let other = ob.dir("other");
    write_image(&other.join("later.jpg"), 320, 240, 54);
    ob.add(&[&other], "bad", &[]);
    let run = ob.run_until_idle(&[]).expect_code(1);
    assert!(run.stdout.contains("1 failed"), "{}", run.stdout);
    let failed = ob.history_with(&["--state", "failed"]);
    assert_eq!(failed[0]["attempts"], 1, "not retried: {:#}", failed[0]);
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{:#}",
        failed[0]
    );
    let mut fix = ob.command(&["dest", "secret", "bad"]);
    fix.env("OUTBOX_SECRET", &site.app_password);
    run_command(fix, TIMEOUT).ok();
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    assert_eq!(ob.counts()["completed"], 2);
}

#[test]
fn media_deleted_between_attempts_is_uploaded_again() {
    let site = Site::start();
    let ob = Outbox::new();
    // The featured step fails for an author (403) after the upload...
    let (writer, writer_id, author_password) = site.new_author("writer");
    let post = site.post_id.clone();
    let url = site.get("url");
    let args = [
        "wp",
        "--kind",
        "wordpress",
        "--url",
        &url,
        "--user",
        &writer,
        "--post",
        &post,
        "--featured",
    ];
    add_destination(&ob, &author_password, &args).ok();
    let src = ob.dir("src");
    write_image(&src.join("gone.jpg"), 400, 300, 58);
    ob.add(&[&src], "wp", &[]);
    ob.run_until_idle(&[]).expect_code(1);
    let first = site.media_by(writer_id);
    let first_id = first[0]["id"].as_u64().expect("the upload happened");
    // ...then someone deletes the media from the library before the retry.
    site.rest(
        "DELETE",
        &format!("/wp/v2/media/{first_id}?force=true"),
        None,
    );
    site.set_role(&writer, "editor");
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    let job = &ob.history()[0];
    assert_eq!(job["state"], "completed", "{job:#}");
    let now = site.media_by(writer_id);
    assert_eq!(now.len(), 1, "uploaded again, once: {now:#?}");
    let new_id = now[0]["id"].as_u64().unwrap();
    assert_ne!(new_id, first_id);
    assert_eq!(job["remote"]["id"].as_str().unwrap(), new_id.to_string());
    assert_eq!(
        site.rest("GET", &format!("/wp/v2/posts/{post}"), None)["featured_media"],
        new_id
    );
}

#[test]
fn dest_test_tells_a_stripped_header_from_a_wrong_password_and_refused_types_fail_once() {
    let site = Site::start();
    let ob = Outbox::new();
    let password = site.app_password.clone();
    add_admin_destination(&ob, &site, "stripped", "url_stripping_auth", &[]);
    let out = ob.run(&["dest", "test", "stripped"]).expect_code(1);
    assert!(
        out.stderr.contains("strips the Authorization header"),
        "{}",
        out.stderr
    );
    add_destination(
        &ob,
        &password,
        &[
            "nowp",
            "--kind",
            "wordpress",
            "--url",
            &format!("{}/nothing-here", site.get("url")),
            "--user",
            site.login(),
        ],
    )
    .ok();
    let out = ob.run(&["dest", "test", "nowp"]).expect_code(1);
    assert!(
        out.stderr.contains("has no WordPress REST API"),
        "{}",
        out.stderr
    );

    // A site that refuses PNG: WordPress answers 500 rest_upload_sideload_error,
    // which is permanent (one attempt, the server's reason).
    site.mu_plugin(
        "refuse-png.php",
        "add_filter('upload_mimes', function ($m) use ($outbox_test_user) { \
           if (get_current_user_id() === $outbox_test_user) unset($m['png']); return $m; });",
    );
    add_admin_destination(&ob, &site, "wp", "url", &[]);
    let src = ob.dir("src");
    write_image(&src.join("flat.png"), 64, 64, 55);
    ob.add(&[&src], "wp", &["--recipe", "original"]);
    ob.run_until_idle(&[]).expect_code(1);
    let job = &ob.history()[0];
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{job:#}"
    );
    assert_eq!(job["error"]["class"], "permanent");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rest_upload_sideload_error"),
        "{job:#}"
    );
}

#[test]
fn thumbnails_that_failed_are_finished_without_uploading_again() {
    let site = Site::start();
    // The first upload dies while WordPress makes the thumbnails (after it
    // sent X-WP-Upload-Attachment-ID); later ones work.
    site.mu_plugin(
        "crash-once.php",
        "add_filter('wp_generate_attachment_metadata', function ($meta) use ($outbox_test_user) { \
           if (get_current_user_id() === $outbox_test_user && !get_option(\"crashed_$outbox_test_user\")) { \
             update_option(\"crashed_$outbox_test_user\", 1); \
             http_response_code(500); header('Content-Type: application/json'); \
             die('{\"code\":\"internal_server_error\",\"message\":\"resize crashed\"}'); } \
           return $meta; });",
    );
    let ob = Outbox::new();
    add_admin_destination(&ob, &site, "wp", "url", &[]);
    let src = ob.dir("src");
    write_image(&src.join("big.jpg"), 1600, 1200, 56);
    ob.add(&[&src], "wp", &[]);
    ob.run_until_idle(&["--retry-delay", "0.2"]).ok();
    let job = &ob.history()[0];
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_u64()),
        (Some("completed"), Some(2)),
        "{job:#}"
    );
    let all = site.media_by(site.user_id);
    assert_eq!(all.len(), 1, "one attachment: {all:#?}");
    assert!(
        all[0]["media_details"]["sizes"]["thumbnail"].is_object(),
        "thumbnails were made: {:#}",
        all[0]["media_details"]
    );
}

#[test]
fn an_upload_interrupted_by_a_crash_is_found_by_its_token_not_sent_twice() {
    let site = Site::start();
    // Thumbnails take long, so the worker can be killed after WordPress
    // has the attachment but before the answer comes.
    let slow = site.slow_thumbnails();
    let ob = Outbox::new();
    // The steps after the upload must still run on the upload found.
    let post = site.post_id.clone();
    add_admin_destination(&ob, &site, "wp", "url", &["--post", &post, "--featured"]);
    let src = ob.dir("src");
    write_image(&src.join("slow.jpg"), 800, 600, 57);
    ob.add(&[&src], "wp", &[]);
    kill_once_uploaded(&ob, &site, 1);
    assert_ne!(
        ob.history()[0]["state"],
        "completed",
        "the kill landed before WordPress answered"
    );
    std::fs::remove_file(slow).expect("remove the slow plugin");

    ob.run_until_idle(&[]).ok();
    let job = &ob.history()[0];
    assert_eq!(job["state"], "completed", "{job:#}");
    let all = site.media_by(site.user_id);
    assert_eq!(
        all.len(),
        1,
        "the interrupted upload was found, not repeated: {all:#?}"
    );
    assert_eq!(
        job["remote"]["id"].as_str().unwrap(),
        all[0]["id"].to_string()
    );
    let featured = &site.rest("GET", &format!("/wp/v2/posts/{post}"), None)["featured_media"];
    assert_eq!(
        featured, &all[0]["id"],
        "the featured step ran after the search"
    );
}

/// The case found outside the suite: WordPress goes on making a large
/// image's sub-sizes after the worker that sent it was killed, so the
/// upload shows up only seconds later. With 12 MP files in the mix and the
/// worker killed 30 times at random moments, every delivered job has
/// exactly one attachment, attached to the post, with its title.
#[test]
fn killed_thirty_times_during_large_uploads_each_job_has_exactly_one_attachment() {
    let site = Site::start();
    let ob = Outbox::new();
    let post = site.post_id.clone();
    add_admin_destination(
        &ob,
        &site,
        "wp",
        "url",
        &[
            "--post",
            &post,
            "--featured",
            "--plain-permalinks",
            "--settle-seconds",
            "20",
        ],
    );
    let src = ob.dir("src");
    // `original`: the 12 MP files reach WordPress as they are.
    write_noise_image(&src.join("big.jpg"), 4240, 2832, 58);
    write_noise_image(&src.join("big-2.jpg"), 4240, 2832, 59);
    for i in 0..8 {
        write_image(&src.join(format!("img_{i}.jpg")), 640, 480, 60 + i);
    }
    let added = ob.add(
        &[&src],
        "wp",
        &["--recipe", "original", "--field", "title=Kill loop"],
    );
    let jobs = Outbox::added_ids(&added);
    assert_eq!(
        jobs.len(),
        10,
        "the byte-identical copy is a duplicate: {added:#}"
    );

    let mut rng = fastrand::Rng::with_seed(17);
    for _ in 0..30 {
        let mut worker = ob
            .command(&["run", "--retry-delay", "0.5"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the worker");
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(200..3000)));
        worker.kill().expect("SIGKILL the worker");
        let _ = worker.wait();
    }
    ob.run_until_idle(&["--retry-delay", "0.5"]).ok();

    let history = ob.history();
    assert!(
        history.iter().all(|j| j["state"] == "completed"),
        "{history:#?}"
    );
    // What WordPress stored, from its database: every attachment of this
    // test's user.
    let rows = site.php(&format!(
        "foreach (get_posts(['post_type' => 'attachment', 'post_status' => 'any', \
           'author' => {}, 'numberposts' => -1]) as $a) \
           echo $a->ID, '|', $a->post_parent, '|', $a->post_title, '|', \
             basename(get_attached_file($a->ID)), \"\\n\";",
        site.user_id
    ));
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.splitn(4, '|').collect()).collect();
    let mut kept: Vec<String> = history
        .iter()
        .map(|j| j["remote"]["id"].as_str().unwrap().to_string())
        .collect();
    kept.sort();
    let mut stored: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    stored.sort();
    assert_eq!(
        stored, kept,
        "one attachment per delivered job, and no other: {rows:#?}"
    );
    for row in &rows {
        assert_eq!(row[1], post, "attached to the post: {row:?}");
        assert_eq!(row[2], "Kill loop", "with its title: {row:?}");
    }
}

/// Found when the WordPress tests began sharing one site: job ids start at
/// 1 in every data folder, and the token that marks an upload was made of
/// the job id and the bytes only. Two Outboxes sending the same image to
/// one site (two people, or one reinstall) made the same token, so the
/// second one's search after an interrupted upload found the first one's
/// attachment, took it for its own, rewrote its title and deleted its own
/// copy or the other. Now each queue's token is its own.
#[test]
fn two_outboxes_sending_the_same_image_to_one_site_never_take_each_others_upload() {
    let site = Site::start();
    let post = site.post_id.clone();
    let first = Outbox::new();
    add_admin_destination(&first, &site, "wp", "url", &["--post", &post]);
    let src = first.dir("src");
    write_image(&src.join("logo.jpg"), 800, 600, 61);
    first.add(&[&src], "wp", &["--field", "title=From the first"]);
    first.run_until_idle(&[]).ok();
    let first_job = &first.history()[0];
    assert_eq!(first_job["state"], "completed", "{first_job:#}");
    let first_media = first_job["remote"]["id"].as_str().unwrap().to_string();

    // The second Outbox sends the same bytes as its job 1, and is killed
    // while WordPress makes the thumbnails: its retry must search for its
    // own upload, not the first one's.
    let slow = site.slow_thumbnails();
    let second = Outbox::new();
    add_admin_destination(&second, &site, "wp", "url", &["--post", &post]);
    let src = second.dir("src");
    write_image(&src.join("logo.jpg"), 800, 600, 61);
    second.add(&[&src], "wp", &["--field", "title=From the second"]);
    kill_once_uploaded(&second, &site, 2);
    std::fs::remove_file(slow).expect("remove the slow plugin");
    second.run_until_idle(&[]).ok();

    let second_job = &second.history()[0];
    assert_eq!(second_job["state"], "completed", "{second_job:#}");
    let second_media = second_job["remote"]["id"].as_str().unwrap().to_string();
    assert_ne!(second_media, first_media, "each Outbox has its own upload");
    let all = site.media_by(site.user_id);
    let title_of = |id: &str| {
        all.iter()
            .find(|m| m["id"].as_u64() == id.parse().ok())
            .map(|m| m["title"]["raw"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(title_of(&first_media).as_deref(), Some("From the first"));
    assert_eq!(title_of(&second_media).as_deref(), Some("From the second"));
}
