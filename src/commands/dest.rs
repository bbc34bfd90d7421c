use super::print_json;
use crate::cli::{DestAddArgs, DestCommand, DestKind, HttpMethodArg};
use anyhow::{bail, Context, Result};
use outbox_engine::destinations::{
    HttpAuth, HttpMethod, HttpSettings, ObjectProvider, ResultUrl, WordPressSettings,
};
use outbox_engine::{DestinationView, Engine};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

/// Where a secret can come from besides standard input.
pub(super) const SECRET_ENV: &str = "OUTBOX_SECRET";

pub fn run(engine: &Engine, cmd: DestCommand) -> Result<ExitCode> {
    match cmd {
        DestCommand::Add(args) => add(engine, *args)?,
        DestCommand::List { json } => list(engine, json)?,
        DestCommand::Test { name } => return test(engine, &name),
        DestCommand::Secret { name, secret_stdin } => {
            if !engine.destinations()?.iter().any(|d| d.name == name) {
                bail!("no destination named {name:?}; `outbox dest list` shows the ones there are");
            }
            let Some(secret) = read_secret(secret_stdin)? else {
                bail!("give the secret on standard input with --secret-stdin, or in {SECRET_ENV}");
            };
            engine.set_destination_secret(&name, &secret)?;
            println!("the secret of {name:?} is in the keychain");
        }
        DestCommand::Remove { name } => {
            engine.remove_destination(&name)?;
            println!("removed destination {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add(engine: &Engine, args: DestAddArgs) -> Result<()> {
    let (kind, settings, needs_secret) = match args.kind {
        DestKind::Folder => ("folder", folder_settings(&args)?, false),
        DestKind::Wordpress => ("wordpress", wordpress_settings(&args)?, true),
        DestKind::Http => {
            let settings = http_settings(&args)?;
            let needs_secret = settings.auth != HttpAuth::None;
            ("http", serde_json::to_value(settings)?, needs_secret)
        }
        DestKind::S3 => ("s3", object_settings(&args, ObjectProvider::S3)?, true),
        DestKind::Gcs => ("gcs", object_settings(&args, ObjectProvider::Gcs)?, true),
        DestKind::Azure => (
            "azure",
            object_settings(&args, ObjectProvider::Azure)?,
            true,
        ),
    };
    let secret = read_secret(args.secret_stdin)?;
    if needs_secret && secret.is_none() {
        bail!(
            "this {kind} destination needs a secret: give it on standard input with \
             --secret-stdin, or in {SECRET_ENV}"
        );
    }
    engine.add_destination(
        DestinationView {
            name: args.name.clone(),
            kind: kind.into(),
            settings,
            max_concurrent: args.max_concurrent,
        },
        secret.as_deref().filter(|_| needs_secret),
    )?;
    println!(
        "added destination {:?} ({kind}); `outbox dest test {}` checks it",
        args.name, args.name
    );
    Ok(())
}

fn folder_settings(args: &DestAddArgs) -> Result<Value> {
    let Some(path) = &args.path else {
        bail!("a folder destination needs --path DIR");
    };
    let path = std::path::absolute(path)?;
    if !path.is_dir() {
        bail!("{} is not a folder (create it first)", path.display());
    }
    Ok(serde_json::json!({ "path": path }))
}

fn wordpress_settings(args: &DestAddArgs) -> Result<Value> {
    let (Some(url), Some(user)) = (&args.url, &args.user) else {
        bail!("a wordpress destination needs --url SITE and --user USER");
    };
    let settings = WordPressSettings {
        url: url.clone(),
        user: user.clone(),
        plain_permalinks: args.plain_permalinks,
        post: args.post,
        featured: args.featured,
        acf_field: args.acf_field.clone(),
        timeout_seconds: args.timeout.unwrap_or(300),
        settle_seconds: args.settle_seconds.unwrap_or(120),
    };
    if (settings.featured || settings.acf_field.is_some()) && settings.post.is_none() {
        eprintln!(
            "note: --featured and --acf-field apply to items with a `post` field (no --post given)"
        );
    }
    Ok(serde_json::to_value(settings)?)
}

fn object_settings(args: &DestAddArgs, provider: ObjectProvider) -> Result<Value> {
    let Some(bucket) = &args.bucket else {
        bail!("a {} destination needs --bucket NAME", provider.as_str());
    };
    let mut settings = serde_json::json!({ "provider": provider, "bucket": bucket });
    for (key, value) in [
        ("region", &args.region),
        ("endpoint", &args.endpoint),
        ("account", &args.account),
        ("access_key_id", &args.access_key_id),
        ("key_template", &args.key_template),
        ("public_url_base", &args.public_url_base),
    ] {
        if let Some(value) = value {
            settings[key] = value.clone().into();
        }
    }
    if let Some(timeout) = args.timeout {
        settings["timeout_seconds"] = timeout.into();
    }
    Ok(settings)
}

fn http_settings(args: &DestAddArgs) -> Result<HttpSettings> {
    let Some(url) = &args.url else {
        bail!("an http destination needs --url TEMPLATE");
    };
    let mut headers = BTreeMap::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("--header {header:?} is not `Name: value`");
        };
        headers.insert(name.trim().to_string(), value.trim().to_string());
    }
    let auth = match args.auth.as_deref() {
        None | Some("none") => HttpAuth::None,
        Some("bearer") => HttpAuth::Bearer,
        Some(other) => match other.strip_prefix("header:") {
            Some(name) if !name.is_empty() => HttpAuth::Header(name.to_string()),
            _ => bail!("--auth is `bearer` or `header:NAME`, not {other:?}"),
        },
    };
    let result = match (&args.result_json_pointer, &args.result_header) {
        (Some(_), Some(_)) => bail!("give --result-json-pointer or --result-header, not both"),
        (Some(pointer), None) => ResultUrl::JsonPointer(pointer.clone()),
        (None, Some(header)) => ResultUrl::Header(header.clone()),
        (None, None) => ResultUrl::None,
    };
    Ok(HttpSettings {
        url: url.clone(),
        method: match args.method {
            HttpMethodArg::Post => HttpMethod::Post,
            HttpMethodArg::Put => HttpMethod::Put,
        },
        field: args.field.clone(),
        headers,
        auth,
        result,
        idempotency_header: args.idempotency_header.clone(),
        timeout_seconds: args.timeout.unwrap_or(120),
    })
}

/// The secret from standard input (when asked) or the environment; never
/// from an argument, which other users can read in the process list.
pub(super) fn read_secret(from_stdin: bool) -> Result<Option<String>> {
    if from_stdin {
        if std::io::stdin().is_terminal() {
            eprintln!("secret (then Ctrl-D):");
        }
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .context("cannot read the secret from standard input")?;
        let secret = text.trim_end_matches(['\r', '\n']).to_string();
        return Ok(Some(secret).filter(|s| !s.is_empty()));
    }
    Ok(std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty()))
}

fn list(engine: &Engine, json: bool) -> Result<()> {
    let list = engine.destinations()?;
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("no destinations yet (the default folder is made on the first add)");
    }
    for d in list {
        let text = |key: &str| d.settings.get(key).and_then(Value::as_str).unwrap_or("");
        let place = match d.kind.as_str() {
            "folder" => text("path").to_string(),
            "wordpress" => format!("{} as {}", text("url"), text("user")),
            "s3" | "gcs" | "azure" => format!("bucket {}", text("bucket")),
            _ => text("url").to_string(),
        };
        let limit = d
            .max_concurrent
            .map(|n| format!("  (at most {n} at once)"))
            .unwrap_or_default();
        println!("{:<16} {:<10} {place}{limit}", d.name, d.kind);
    }
    Ok(())
}

fn test(engine: &Engine, name: &str) -> Result<ExitCode> {
    super::check(name, engine.test_destination(name))
}
