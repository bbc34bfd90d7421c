//! The webview is locked down, checked on the real files without running the
//! app: the capabilities grant exactly the commands and plugin APIs the UI
//! uses, the shell's three command lists agree, the CSP allows no remote
//! content and no inline or evaluated script, and the page has no inline
//! script.
//!
//! Each rule is a function from the files' text to a list of problems; the
//! `*_is_caught` tests run them on doctored copies, so a rule that could never
//! fail would fail here.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The app's own URI schemes: the IPC, the asset protocol and the previews.
const APP_SCHEMES: [&str; 3] = ["ipc", "asset", "outbox-preview"];

/// Every Tauri API the UI may import, with the permissions it needs. An
/// import missing here is a problem: whoever adds one says what it needs.
/// (`invoke` needs the permission of each command it calls, counted apart.)
const TAURI_APIS: [(&str, &str, &[&str]); 5] = [
    ("@tauri-apps/api/core", "invoke", &[]),
    ("@tauri-apps/api/core", "Channel", &[]),
    // `onDragDropEvent` listens; the UI never stops listening (no unlisten).
    (
        "@tauri-apps/api/webview",
        "getCurrentWebview",
        &["core:event:allow-listen"],
    ),
    ("@tauri-apps/plugin-dialog", "open", &["dialog:allow-open"]),
    // Paths a second launch hands over (`open-paths`).
    (
        "@tauri-apps/api/event",
        "listen",
        &["core:event:allow-listen"],
    ),
];

/// The text of every file the rules read.
#[derive(Clone)]
struct Project {
    conf: String,
    /// src-tauri/capabilities/*: (file name, text).
    capabilities: Vec<(String, String)>,
    build_rs: String,
    lib_rs: String,
    /// Every src-tauri/src/*.rs, one after the other.
    commands_rs: String,
    /// ui/src/**/*.ts (tests are elsewhere): (path under ui/, text).
    ui: Vec<(String, String)>,
    /// The page as written (ui/index.html) and as built (ui/dist/index.html).
    pages: Vec<(String, String)>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The files in `dir` (recursively) whose names end in `ext`, sorted.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
    out.sort();
}

impl Project {
    fn read() -> Project {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("src-tauri has a parent")
            .to_path_buf();
        let shell = root.join("src-tauri");
        let ui = root.join("ui");
        let named = |paths: Vec<PathBuf>, base: &Path| -> Vec<(String, String)> {
            paths
                .iter()
                .map(|p| {
                    let name = p.strip_prefix(base).expect("under base");
                    (name.to_string_lossy().into_owned(), read(p))
                })
                .collect()
        };
        let (mut caps, mut ts) = (Vec::new(), Vec::new());
        files(&shell.join("capabilities"), ".json", &mut caps);
        files(&ui.join("src"), ".ts", &mut ts);
        let built = ui.join("dist").join("index.html");
        assert!(
            built.is_file(),
            "{} is missing: run `npm --prefix ui run build`",
            built.display()
        );
        Project {
            conf: read(&root.join("tauri.conf.json")),
            capabilities: named(caps, &shell),
            build_rs: read(&shell.join("build.rs")),
            lib_rs: read(&shell.join("src/lib.rs")),
            commands_rs: {
                let mut sources = Vec::new();
                files(&shell.join("src"), ".rs", &mut sources);
                sources
                    .iter()
                    .map(|p| read(p))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
            ui: named(ts, &ui),
            pages: named(vec![ui.join("index.html"), built], &root),
        }
    }
}

/// `text` with `from` replaced by `to`, which must be there: a doctored copy
/// that silently equals the original would prove nothing.
#[track_caller]
fn doctor(text: &mut String, from: &str, to: &str) {
    assert!(text.contains(from), "{from:?} is not in the text to doctor");
    *text = text.replacen(from, to, 1);
}

/// `text` without `//` line comments and `/* */` block comments (a string
/// holding `//`, such as a URL, ends its line's scan early, which only
/// hides text from the rules that look for calls, never adds any).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        rest = rest[at..]
            .find("*/")
            .map_or("", |end| &rest[at + end + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The quoted words in `text`, in order.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Commands and permissions
// ---------------------------------------------------------------------------

/// The commands the UI invokes: `invoke("name"` or `invoke<T>("name"`.
fn invoked_commands(ui: &[(String, String)]) -> BTreeSet<String> {
    let mut commands = BTreeSet::new();
    for (_, text) in ui {
        let code = without_comments(text);
        for (at, _) in code.match_indices("invoke") {
            let mut rest = &code[at + "invoke".len()..];
            if let Some(generic) = rest.strip_prefix('<') {
                // The type argument may nest (`invoke<Map<A, B>>`).
                let mut depth = 1;
                let end = generic.char_indices().find_map(|(i, c)| {
                    depth += match c {
                        '<' => 1,
                        '>' => -1,
                        _ => 0,
                    };
                    (depth == 0).then_some(i)
                });
                rest = end.map_or("", |i| &generic[i + 1..]);
            }
            if let Some(name) = rest.strip_prefix("(\"").and_then(|r| r.split('"').next()) {
                commands.insert(name.to_string());
            }
        }
    }
    commands
}

/// Every value imported from Tauri, `import { a, b as c } from
/// "@tauri-apps/…"`: (file, module, name). Types need no permission.
fn tauri_imports(ui: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut imports = Vec::new();
    for (file, text) in ui {
        let code = without_comments(text);
        for statement in code.split(';') {
            let statement = statement.trim();
            let Some((names, module)) = statement.split_once(" from ") else {
                continue;
            };
            let module = module.trim().trim_matches(['"', '\'']);
            if !statement.starts_with("import") || !module.starts_with("@tauri-apps/") {
                continue;
            }
            let names = names.trim_start_matches("import").trim();
            if names.starts_with("type ") {
                continue;
            }
            let list = names.strip_prefix('{').and_then(|n| n.strip_suffix('}'));
            // A namespace or default import is read as one name the table
            // cannot know, so it is reported.
            let list = list.map_or(vec![names], |l| l.split(',').collect());
            for name in list {
                let name = name.trim().split(" as ").next().unwrap_or("").trim();
                if !name.is_empty() && !name.starts_with("type ") {
                    imports.push((file.clone(), module.to_string(), name.to_string()));
                }
            }
        }
    }
    imports
}

/// The permission a command gets from build.rs's app manifest.
fn command_permission(command: &str) -> String {
    format!("allow-{}", command.replace('_', "-"))
}

/// Granted = needed: every permission in a capability is one the UI's
/// commands or Tauri APIs need, and every one they need is granted; the
/// capabilities apply to the app's own window only, never to remote pages.
fn permission_problems(p: &Project) -> Vec<String> {
    let mut problems = Vec::new();
    let mut needed = BTreeSet::new();
    for command in invoked_commands(&p.ui) {
        needed.insert(command_permission(&command));
    }
    for (file, module, name) in tauri_imports(&p.ui) {
        match TAURI_APIS
            .iter()
            .find(|(m, n, _)| *m == module && *n == name)
        {
            Some((_, _, permissions)) => needed.extend(permissions.iter().map(|s| s.to_string())),
            None => problems.push(format!(
                "ui/{file} imports {name} from {module}, which this test's table does not know: \
                 add it with the permissions it needs"
            )),
        }
    }
    let mut granted = BTreeSet::new();
    for (file, text) in &p.capabilities {
        let capability: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{file} is not JSON: {e}"));
                continue;
            }
        };
        if capability["windows"] != serde_json::json!(["main"]) {
            problems.push(format!(
                "{file} applies to windows {}, not the main window alone",
                capability["windows"]
            ));
        }
        if !capability["remote"].is_null() {
            problems.push(format!("{file} grants to remote origins"));
        }
        for permission in capability["permissions"].as_array().into_iter().flatten() {
            match permission.as_str() {
                Some(name) => {
                    granted.insert(name.to_string());
                }
                // An object carries a scope: none is needed, so none is allowed.
                None => problems.push(format!("{file} grants a scoped permission {permission}")),
            }
        }
    }
    for extra in granted.difference(&needed) {
        problems.push(format!(
            "a capability grants {extra}, which the UI does not use"
        ));
    }
    for missing in needed.difference(&granted) {
        problems.push(format!(
            "the UI needs {missing}, which no capability grants"
        ));
    }
    problems
}

/// The three lists of the shell's commands agree: the functions marked
/// `#[tauri::command]`, the invoke handler, and build.rs's app manifest
/// (which makes their permissions); and the UI invokes only those.
fn command_problems(p: &Project) -> Vec<String> {
    let marked: BTreeSet<String> = without_comments(&p.commands_rs)
        .split("#[tauri::command]")
        .skip(1)
        .filter_map(|after| {
            let name = after.split("fn ").nth(1)?;
            Some(name.split(['(', '<']).next()?.trim().to_string())
        })
        .collect();
    let lib = without_comments(&p.lib_rs);
    let handled: BTreeSet<String> = lib
        .split_once("generate_handler![")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(',')
                .map(|c| c.trim().rsplit("::").next().unwrap_or("").to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let build = without_comments(&p.build_rs);
    let declared: BTreeSet<String> = build
        .split_once("&[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| quoted(list).into_iter().collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for (name, list) in [("the invoke handler", &handled), ("build.rs", &declared)] {
        for c in marked.difference(list) {
            problems.push(format!("{c} is a command, but {name} does not list it"));
        }
        for c in list.difference(&marked) {
            problems.push(format!(
                "{name} lists {c}, which is not a #[tauri::command]"
            ));
        }
    }
    for c in invoked_commands(&p.ui).difference(&marked) {
        problems.push(format!("the UI invokes {c}, which the shell does not have"));
    }
    if marked.is_empty() {
        problems.push("no #[tauri::command] found in src-tauri/src/".into());
    }
    problems
}

// ---------------------------------------------------------------------------
// The content security policy and the page
// ---------------------------------------------------------------------------

const DIRECTIVES: [&str; 20] = [
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "upgrade-insecure-requests",
];
const SCRIPT_DIRECTIVES: [&str; 6] = [
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "worker-src",
    "child-src",
];

/// A policy as directive → sources, from Tauri's string or object form.
fn parse_csp(csp: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    match csp {
        Value::String(text) => Ok(text
            .split(';')
            .filter(|d| !d.trim().is_empty())
            .map(|d| {
                let mut w = words(d);
                let name = w.remove(0).to_ascii_lowercase();
                (name, w)
            })
            .collect()),
        Value::Object(map) => map
            .iter()
            .map(|(name, v)| match v {
                Value::String(s) => Ok((name.to_ascii_lowercase(), words(s))),
                Value::Array(list) => Ok((
                    name.to_ascii_lowercase(),
                    list.iter()
                        .map(|s| s.as_str().map(str::to_string).ok_or(format!("{name}: {s}")))
                        .collect::<Result<_, _>>()?,
                )),
                other => Err(format!("{name} has sources of an unknown shape: {other}")),
            })
            .collect(),
        Value::Null => Err("there is none (null)".into()),
        other => Err(format!("it has an unknown shape: {other}")),
    }
}

/// What is wrong with one source in one directive, if anything.
fn source_problem(directive: &str, source: &str) -> Option<String> {
    let lower = source.to_ascii_lowercase();
    let scripts = SCRIPT_DIRECTIVES.contains(&directive);
    if lower == "'self'" || lower == "'none'" {
        return None;
    }
    if lower.contains('*') {
        return Some(format!("{directive} allows the wildcard {source}"));
    }
    if matches!(
        lower.as_str(),
        "'unsafe-inline'" | "'unsafe-eval'" | "'unsafe-hashes'" | "'wasm-unsafe-eval'"
    ) {
        return if scripts {
            Some(format!("{directive} allows {source} script"))
        } else if directive.starts_with("style-src") && lower == "'unsafe-inline'" {
            None // inline styles run no script
        } else {
            Some(format!("{directive} allows {source}"))
        };
    }
    if lower.starts_with('\'') {
        return Some(format!(
            "{directive} has {source}, a keyword this test does not accept"
        ));
    }
    if scripts {
        return Some(format!(
            "{directive} allows {source}: scripts come from the app itself ('self') only"
        ));
    }
    if let Some(scheme) = lower.strip_suffix(':').filter(|s| !s.contains('/')) {
        return match scheme {
            s if APP_SCHEMES.contains(&s) => None,
            "data" | "blob" if matches!(directive, "img-src" | "media-src" | "font-src") => None,
            _ => Some(format!(
                "{directive} allows every {source} address (remote content)"
            )),
        };
    }
    // A host source: only the app's schemes as Windows and Android spell
    // them, http(s)://SCHEME.localhost, no port, no path.
    let host = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .map(|h| h.trim_end_matches('/'));
    match host {
        Some(h) if APP_SCHEMES.iter().any(|s| h == format!("{s}.localhost")) => None,
        _ => Some(format!("{directive} allows {source} (remote content)")),
    }
}

/// The policy in force (`csp`, and `devCsp` when set): present, restricting
/// default-src and script-src to the app, nothing remote, no inline or
/// evaluated script; and the global Tauri object not handed to every script.
fn csp_problems(conf: &str) -> Vec<String> {
    let conf: Value = match serde_json::from_str(conf) {
        Ok(v) => v,
        Err(e) => return vec![format!("tauri.conf.json is not JSON: {e}")],
    };
    let security = &conf["app"]["security"];
    let mut problems = Vec::new();
    if conf["app"]["withGlobalTauri"] == Value::Bool(true) {
        problems
            .push("app.withGlobalTauri is true: window.__TAURI__ is open to every script".into());
    }
    let mut policies = vec![("csp", &security["csp"])];
    if !security["devCsp"].is_null() {
        policies.push(("devCsp", &security["devCsp"]));
    }
    for (key, csp) in policies {
        let directives = match parse_csp(csp) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("app.security.{key} is missing or unreadable: {e}"));
                continue;
            }
        };
        let mut seen = BTreeSet::new();
        for (name, sources) in &directives {
            if !seen.insert(name.as_str()) {
                problems.push(format!(
                    "{key}: {name} is given twice (browsers keep the first)"
                ));
            }
            if !DIRECTIVES.contains(&name.as_str()) {
                problems.push(format!("{key}: unknown directive {name}"));
                continue;
            }
            if name == "upgrade-insecure-requests" {
                continue;
            }
            if sources.is_empty() {
                problems.push(format!("{key}: {name} has no sources"));
            }
            for source in sources {
                if let Some(p) = source_problem(name, source) {
                    problems.push(format!("{key}: {p}"));
                }
            }
        }
        for required in ["default-src", "script-src"] {
            if !seen.contains(required) {
                problems.push(format!("{key} has no {required} restriction"));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------

/// No inline script in the page: every <script> is an empty element with a
/// local `src`; no `on…=` handler attributes; no `javascript:` URLs.
fn page_problems(name: &str, html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut problems = Vec::new();
    if lower.contains("javascript:") {
        problems.push(format!("{name} has a javascript: URL"));
    }
    let mut at = 0;
    while let Some(n) = lower[at..].find('<') {
        let start = at + n;
        // The end of the tag, quotes respected.
        let mut end = start + 1;
        let mut quote = None;
        while end < lower.len() {
            let c = lower.as_bytes()[end];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c == b'>' => break,
                None => {}
            }
            end += 1;
        }
        let tag = &lower[start + 1..end.min(lower.len())];
        at = end;
        let tag_name = tag
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        // Attributes outside quoted values.
        let mut unquoted = String::new();
        let mut quote = None;
        for c in tag.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => unquoted.push(' '),
                None if c == '"' || c == '\'' => quote = Some(c),
                None => unquoted.push(c),
            }
        }
        for attribute in unquoted
            .split(|c: char| c.is_whitespace() || c == '/')
            .skip(1)
        {
            let attr_name = attribute.split('=').next().unwrap_or("");
            if attr_name.starts_with("on") && attr_name.len() > 2 {
                problems.push(format!(
                    "{name}: <{tag_name}> has an inline handler {attr_name}="
                ));
            }
        }
        if tag_name != "script" {
            continue;
        }
        let close = lower[at..].find("</script").map_or(lower.len(), |n| at + n);
        let content = &html[(at + 1).min(close)..close];
        if !content.trim().is_empty() {
            problems.push(format!(
                "{name} has an inline <script> with content: {}",
                content.trim().chars().take(60).collect::<String>()
            ));
        }
        let src = tag
            .split_once("src=")
            .map(|(_, v)| v.trim_start_matches(['"', '\'']))
            .map(|v| v.split(['"', '\'', ' ']).next().unwrap_or(""));
        match src {
            None => problems.push(format!("{name} has a <script> without src")),
            Some(s) if s.contains("//") || s.contains(':') => {
                problems.push(format!("{name} loads a script from elsewhere: {s}"))
            }
            Some(_) => {}
        }
        at = close;
    }
    problems
}

fn all_page_problems(p: &Project) -> Vec<String> {
    p.pages
        .iter()
        .flat_map(|(name, html)| page_problems(name, html))
        .collect()
}

// ---------------------------------------------------------------------------
// The real files
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_none(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_capabilities_grant_exactly_what_the_ui_uses() {
    let project = Project::read();
    // The reading itself found the calls (an empty result would pass).
    let invoked = invoked_commands(&project.ui);
    assert!(invoked.len() >= 20, "{invoked:?}");
    assert!(invoked.contains("add_paths"), "{invoked:?}");
    let imports = tauri_imports(&project.ui);
    assert!(imports.iter().any(|(_, _, n)| n == "open"), "{imports:?}");
    assert_none("capability problems", &permission_problems(&project));
}

#[test]
fn the_shell_declares_and_registers_the_same_commands() {
    assert_none("command problems", &command_problems(&Project::read()));
}

#[test]
fn the_csp_allows_no_remote_content_and_no_inline_or_evaluated_script() {
    assert_none("CSP problems", &csp_problems(&Project::read().conf));
}

#[test]
fn the_page_has_no_inline_script() {
    let project = Project::read();
    assert_eq!(project.pages.len(), 2);
    assert_none("page problems", &all_page_problems(&project));
}

// ---------------------------------------------------------------------------
// The rules can fail
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_reports(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn an_unused_missing_or_too_wide_grant_is_caught() {
    let real = Project::read();
    let cases = [
        (
            "\"allow-clean\",",
            "\"allow-clean\", \"allow-frobnicate\",",
            "grants allow-frobnicate, which the UI does not use",
        ),
        (
            "\"dialog:allow-open\",",
            "\"dialog:allow-open\", \"core:event:allow-unlisten\",",
            "grants core:event:allow-unlisten, which the UI does not use",
        ),
        (
            "\"dialog:allow-open\",",
            "\"dialog:allow-open\", \"core:default\",",
            "grants core:default",
        ),
        (
            "\"allow-status\",",
            "",
            "the UI needs allow-status, which no capability grants",
        ),
        (
            "\"dialog:allow-open\",",
            "",
            "the UI needs dialog:allow-open",
        ),
        (
            "\"windows\": [\"main\"]",
            "\"windows\": [\"*\"]",
            "applies to windows [\"*\"]",
        ),
        (
            "\"windows\": [\"main\"]",
            "\"windows\": [\"main\"], \"remote\": {\"urls\": [\"https://example.com\"]}",
            "grants to remote origins",
        ),
        (
            "\"allow-clean\",",
            "\"allow-clean\", {\"identifier\": \"fs:allow-read-file\", \"allow\": [{\"path\": \"**\"}]},",
            "grants a scoped permission",
        ),
    ];
    for (from, to, expected) in cases {
        let mut p = real.clone();
        doctor(&mut p.capabilities[0].1, from, to);
        assert_reports(&permission_problems(&p), expected);
    }
}

#[test]
fn a_change_in_what_the_ui_calls_is_caught() {
    let real = Project::read();
    let file = |p: &mut Project, name: &str| -> usize {
        p.ui.iter()
            .position(|(f, _)| f.ends_with(name))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // A new command call, a new plugin API, a call commented out.
    let cases = [
        (
            "lib/api.ts",
            "status: () => invoke<Status>(\"status\"),",
            "status: () => invoke<Status>(\"status\"),\n  gone: () => invoke<Map<string, number>>(\"frobnicate\"),",
            "the UI needs allow-frobnicate",
        ),
        (
            "main.ts",
            "import { open } from \"@tauri-apps/plugin-dialog\";",
            "import { open, save } from \"@tauri-apps/plugin-dialog\";",
            "imports save from @tauri-apps/plugin-dialog, which this test's table does not know",
        ),
        (
            "main.ts",
            "import { open } from \"@tauri-apps/plugin-dialog\";",
            "import { open } from \"@tauri-apps/plugin-dialog\";\nimport * as fs from \"@tauri-apps/plugin-fs\";",
            "imports * from @tauri-apps/plugin-fs",
        ),
        (
            "lib/api.ts",
            "status: () => invoke<Status>(\"status\"),",
            "// status: () => invoke<Status>(\"status\"),\n  status: () => Promise.reject(),",
            "grants allow-status, which the UI does not use",
        ),
    ];
    for (name, from, to, expected) in cases {
        let mut p = real.clone();
        let i = file(&mut p, name);
        doctor(&mut p.ui[i].1, from, to);
        assert_reports(&permission_problems(&p), expected);
    }
}

#[test]
fn disagreeing_command_lists_are_caught() {
    let real = Project::read();
    let mut p = real.clone();
    doctor(&mut p.build_rs, "\"status\",", "");
    assert_reports(
        &command_problems(&p),
        "status is a command, but build.rs does not list it",
    );
    let mut p = real.clone();
    doctor(
        &mut p.lib_rs,
        "commands::status,",
        "commands::status, commands::frobnicate,",
    );
    assert_reports(
        &command_problems(&p),
        "the invoke handler lists frobnicate, which is not a #[tauri::command]",
    );
    let mut p = real.clone();
    doctor(
        &mut p.ui[0].1,
        "",
        "const x = () => invoke(\"frobnicate\");\n",
    );
    assert_reports(
        &command_problems(&p),
        "the UI invokes frobnicate, which the shell does not have",
    );
}

#[test]
fn a_loose_csp_is_caught() {
    let real = Project::read();
    let cases = [
        (
            "\"script-src\": \"'self'\"",
            "\"script-src\": \"'self' 'unsafe-inline'\"",
            "script-src allows 'unsafe-inline' script",
        ),
        (
            "\"script-src\": \"'self'\"",
            "\"script-src\": \"'self' 'unsafe-eval'\"",
            "script-src allows 'unsafe-eval' script",
        ),
        (
            "\"script-src\": \"'self'\"",
            "\"script-src\": \"'self' https://cdn.example.com\"",
            "script-src allows https://cdn.example.com",
        ),
        (
            "\"script-src\": \"'self'\",",
            "",
            "csp has no script-src restriction",
        ),
        (
            "\"default-src\": \"'self'\"",
            "\"default-src\": \"*\"",
            "default-src allows the wildcard *",
        ),
        (
            "\"img-src\": \"'self' ",
            "\"img-src\": \"'self' https://images.example.com ",
            "img-src allows https://images.example.com (remote content)",
        ),
        (
            "\"img-src\": \"'self' ",
            "\"img-src\": \"'self' https: ",
            "img-src allows every https: address",
        ),
        (
            "http://ipc.localhost",
            "http://ipc.localhost:8080",
            "connect-src allows http://ipc.localhost:8080",
        ),
    ];
    for (from, to, expected) in cases {
        let mut conf = real.conf.clone();
        doctor(&mut conf, from, to);
        assert_reports(&csp_problems(&conf), expected);
    }
    let mut value: Value = serde_json::from_str(&real.conf).expect("tauri.conf.json is JSON");
    value["app"]["security"]["csp"] = Value::Null;
    assert_reports(
        &csp_problems(&value.to_string()),
        "app.security.csp is missing",
    );
    value["app"]["security"]["csp"] = Value::from("default-src 'self'; script-src 'self'");
    value["app"]["security"]["devCsp"] =
        Value::from("default-src 'self' http://localhost:1420; script-src 'self'");
    assert_reports(
        &csp_problems(&value.to_string()),
        "devCsp: default-src allows http://localhost:1420",
    );
    value["app"]["withGlobalTauri"] = Value::Bool(true);
    assert_reports(&csp_problems(&value.to_string()), "withGlobalTauri is true");
}

#[test]
fn an_inline_script_in_the_page_is_caught() {
    let real = Project::read();
    for (name, html) in &real.pages {
        let cases = [
            (
                "<script>alert(1)</script>",
                "has an inline <script> with content: alert(1)",
            ),
            (
                "<SCRIPT type=\"module\">\n  import('/x.js')\n</SCRIPT >",
                "has an inline <script> with content: import('/x.js')",
            ),
            (
                "<script src=\"https://cdn.example.com/x.js\"></script>",
                "loads a script from elsewhere",
            ),
            (
                "<button onclick=\"go()\">Go</button>",
                "<button> has an inline handler onclick=",
            ),
        ];
        for (insert, expected) in cases {
            let mut doctored = html.clone();
            doctor(&mut doctored, "</head>", &format!("{insert}</head>"));
            assert_reports(&page_problems(name, &doctored), expected);
        }
    }
}
