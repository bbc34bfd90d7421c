//! A real WordPress site for the tests that need one (`tests/wordpress.rs`
//! through the command line, `tests/desktop/settings.rs` through the window):
//! the run's shared site (`OUTBOX_TEST_WORDPRESS_DIR`, started once by
//! `scripts/test.sh`) or one of the test's own, and each test's own
//! administrator, application password and post on it.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One site per run: `scripts/test.sh` starts it and names its folder in
/// `OUTBOX_TEST_WORDPRESS_DIR`. A test run alone (no such variable) starts
/// its own site, one at a time: with six sites (MariaDB and PHP each) at
/// once on two cores, a signed-in request was answered 401 in one run of
/// three, and a site once failed to start.
static ONE_OWN_SITE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The site's servers: the run's, or this test's own (stopped when dropped).
pub enum Servers {
    Shared(PathBuf),
    Own {
        dir: tempfile::TempDir,
        _turn: MutexGuard<'static, ()>,
    },
}

impl Servers {
    pub fn dir(&self) -> &Path {
        match self {
            Servers::Shared(dir) => dir,
            Servers::Own { dir, .. } => dir.path(),
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Servers::Own { dir, .. } = self {
            let _ = Command::new(script("wordpress-server.sh"))
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

/// A test's share of a running site: its own administrator, application
/// password and post, so tests sharing one site never see each other's
/// media, users, must-use plugins or options.
pub struct Site {
    pub servers: Servers,
    pub info: Value,
    /// Unique to this test: the prefix of its logins, plugin files, options.
    pub tag: String,
    /// The test's administrator (login = `tag`).
    pub user_id: u64,
    pub app_password: String,
    pub post_id: String,
}

impl Site {
    pub fn start() -> Site {
        let servers = match std::env::var_os("OUTBOX_TEST_WORDPRESS_DIR") {
            Some(dir) => Servers::Shared(PathBuf::from(dir)),
            None => Servers::Own {
                _turn: ONE_OWN_SITE_AT_A_TIME
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                dir: tempfile::tempdir().expect("tempdir"),
            },
        };
        // A running site's `start` prints its JSON again at once.
        let out = Command::new(script("wordpress-server.sh"))
            .arg("start")
            .arg(servers.dir())
            .output()
            .expect("run wordpress-server.sh");
        assert!(
            out.status.success(),
            "wordpress-server.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "t{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut site = Site {
            servers,
            info,
            tag,
            user_id: 0,
            app_password: String::new(),
            post_id: String::new(),
        };
        let made = site.php(&format!(
            "$id = wp_create_user('{tag}', wp_generate_password(), '{tag}@example.com'); \
             (new WP_User($id))->set_role('administrator'); \
             $post = wp_insert_post(['post_title' => 'Post of {tag}', 'post_status' => 'publish', \
               'post_author' => $id, 'post_content' => 'A post for Outbox to attach images to.']); \
             echo $id, ' ', $post, ' ', \
               WP_Application_Passwords::create_new_application_password($id, ['name' => 't'])[0];",
            tag = site.tag
        ));
        let mut parts = made.splitn(3, ' ');
        site.user_id = parts
            .next()
            .and_then(|id| id.parse().ok())
            .expect("user id");
        site.post_id = parts.next().expect("post id").to_string();
        site.app_password = parts.next().expect("application password").to_string();
        site
    }

    pub fn get(&self, key: &str) -> String {
        match &self.info[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The test's administrator's login.
    pub fn login(&self) -> &str {
        &self.tag
    }

    /// A REST call as the test's administrator, with curl; the answer as JSON.
    pub fn rest(&self, method: &str, route: &str, body: Option<&Value>) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-X", method, "-u"])
            .arg(format!("{}:{}", self.tag, self.app_password))
            .arg(format!("{}/wp-json{route}", self.get("url")));
        if let Some(body) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data"])
                .arg(body.to_string());
        }
        let out = cmd.output().expect("curl");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{route}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs PHP inside the site (users, roles, a must-use plugin).
    pub fn php(&self, code: &str) -> String {
        let load = self.servers.dir().join("site/wp-load.php");
        let out = Command::new("php")
            .arg("-r")
            .arg(format!(
                "$_SERVER['HTTP_HOST']='127.0.0.1'; require '{}'; {code}",
                load.display()
            ))
            .output()
            .expect("php");
        assert!(
            out.status.success(),
            "php: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A user of this test with the Author role (may upload, may not edit
    /// others' posts): its login, id and application password.
    pub fn new_author(&self, name: &str) -> (String, u64, String) {
        let login = format!("{}_{name}", self.tag);
        let made = self.php(&format!(
            "$id = wp_create_user('{login}', wp_generate_password(), '{login}@example.com'); \
             (new WP_User($id))->set_role('author'); \
             echo $id, ' ', WP_Application_Passwords::create_new_application_password($id, ['name' => 't'])[0];"
        ));
        let (id, password) = made.split_once(' ').expect("id and password");
        (login, id.parse().expect("user id"), password.to_string())
    }

    pub fn set_role(&self, login: &str, role: &str) {
        self.php(&format!(
            "(get_user_by('login', '{login}'))->set_role('{role}');"
        ));
    }

    /// A must-use plugin whose `body` runs only in requests made by this
    /// test's administrator (`$mine` is true there), so it never touches
    /// another test sharing the site.
    pub fn mu_plugin(&self, name: &str, body: &str) -> PathBuf {
        let dir = self.servers.dir().join("site/wp-content/mu-plugins");
        std::fs::create_dir_all(&dir).expect("mu-plugins folder");
        let path = dir.join(format!("{}-{name}", self.tag));
        let code = format!(
            "<?php\n$outbox_test_user = {id};\n{body}\n",
            id = self.user_id
        );
        std::fs::write(&path, code).expect("write mu-plugin");
        path
    }

    /// Makes thumbnails take 6 s for this test's administrator, so a worker
    /// can be killed after WordPress has the attachment but before it
    /// answers; the plugin's file, to remove.
    pub fn slow_thumbnails(&self) -> PathBuf {
        self.mu_plugin(
            "slow.php",
            "add_filter('wp_generate_attachment_metadata', function ($m) use ($outbox_test_user) { \
               if (get_current_user_id() === $outbox_test_user) sleep(6); return $m; });",
        )
    }

    /// Every attachment uploaded by the user `author`, from the REST API.
    pub fn media_by(&self, author: u64) -> Vec<Value> {
        self.rest(
            "GET",
            &format!("/wp/v2/media?author={author}&context=edit&per_page=100"),
            None,
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    pub fn media_matching(&self, token: &str) -> Vec<Value> {
        self.rest(
            "GET",
            &format!("/wp/v2/media?search={token}&context=edit"),
            None,
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
    }
}

/// One of the repository's scripts, from the root package's tests or the
/// desktop package's (whose manifest is in `src-tauri/`).
pub fn script(name: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = if here.join("scripts").is_dir() {
        here.to_path_buf()
    } else {
        here.join("..")
    };
    root.join("scripts").join(name)
}
