use super::dest::{read_secret, SECRET_ENV};
use super::print_json;
use crate::cli::{ProviderAddArgs, ProviderCommand, ProviderEditArgs, ProviderKindArg};
use anyhow::{bail, Result};
use outbox_engine::providers::{ProviderKind, ProviderSettings, ProviderView};
use outbox_engine::Engine;
use std::process::ExitCode;

pub fn run(engine: &Engine, cmd: ProviderCommand) -> Result<ExitCode> {
    match cmd {
        ProviderCommand::Add(args) => add(engine, *args)?,
        ProviderCommand::List { json } => list(engine, json)?,
        ProviderCommand::Test { name } => return test(engine, &name),
        ProviderCommand::Secret { name, secret_stdin } => {
            if !engine.providers()?.iter().any(|p| p.name == name) {
                bail!("no AI provider named {name:?}; `outbox provider list` shows the ones there are");
            }
            let Some(key) = read_secret(secret_stdin)? else {
                bail!("give the API key on standard input with --secret-stdin, or in {SECRET_ENV}");
            };
            engine.set_provider_key(&name, &key)?;
            println!("the API key of {name:?} is in the keychain");
        }
        ProviderCommand::Edit(args) => edit(engine, *args)?,
        ProviderCommand::Cap { name, amount } => {
            let cap = amount_or_none("the cap", &amount)?;
            let mut provider = named(engine, &name)?;
            provider.settings.spending_cap = cap;
            engine.update_provider(&provider, None)?;
            match cap {
                Some(cap) => println!("{name:?} may now cost {cap:.2} in all"),
                None => println!("{name:?} has no spending cap"),
            }
        }
        ProviderCommand::Remove { name } => {
            engine.remove_provider(&name)?;
            println!("removed AI provider {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn named(engine: &Engine, name: &str) -> Result<ProviderView> {
    match engine.providers()?.into_iter().find(|p| p.name == name) {
        Some(provider) => Ok(provider),
        None => bail!("no AI provider named {name:?}; `outbox provider list` shows them"),
    }
}

/// An amount such as `20` or `12.50`, or `none`.
fn amount_or_none(what: &str, text: &str) -> Result<Option<f64>> {
    match text.trim() {
        "none" => Ok(None),
        text => text.parse::<f64>().map(Some).map_err(|_| {
            anyhow::anyhow!("{what} is an amount such as 20 or 12.50, or none; not {text:?}")
        }),
    }
}

/// Text settings: empty goes back to the kind's default.
fn text_or_default(text: String) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn edit(engine: &Engine, args: ProviderEditArgs) -> Result<()> {
    let mut provider = named(engine, &args.name)?;
    let s = &mut provider.settings;
    let texts = [
        (args.base_url, &mut s.base_url),
        (args.model, &mut s.model),
        (args.size, &mut s.size),
        (args.quality, &mut s.quality),
        (args.response_format, &mut s.response_format),
    ];
    for (given, setting) in texts {
        if let Some(text) = given {
            *setting = text_or_default(text);
        }
    }
    if let Some(n) = args.count {
        s.count = n;
    }
    if let Some(seconds) = args.timeout {
        s.timeout_seconds = seconds;
    }
    if let Some(n) = args.max_concurrent {
        s.max_concurrent = n;
    }
    if let Some(n) = args.max_attempts {
        s.max_attempts = n;
    }
    if let Some(text) = args.requests_per_minute {
        s.requests_per_minute = match text.trim() {
            "none" => None,
            n => Some(n.parse().map_err(|_| {
                anyhow::anyhow!("requests per minute is a whole number, or none; not {n:?}")
            })?),
        };
    }
    if let Some(text) = args.cost_per_image {
        s.cost_per_image = amount_or_none("the cost per image", &text)?;
    }
    if let Some(text) = args.spending_cap {
        s.spending_cap = amount_or_none("the cap", &text)?;
    }
    engine.update_provider(&provider, None)?;
    println!(
        "changed AI provider {:?}; queued jobs use it from their next attempt",
        provider.name
    );
    Ok(())
}

fn add(engine: &Engine, args: ProviderAddArgs) -> Result<()> {
    let kind = match args.kind {
        ProviderKindArg::Openai => ProviderKind::Openai,
        ProviderKindArg::Gemini => ProviderKind::Gemini,
    };
    let view = ProviderView {
        name: args.name.clone(),
        kind,
        settings: ProviderSettings {
            base_url: args.base_url,
            model: args.model,
            size: args.size,
            quality: args.quality,
            response_format: args.response_format,
            count: args.count,
            timeout_seconds: args.timeout,
            max_concurrent: args.max_concurrent,
            requests_per_minute: args.requests_per_minute,
            cost_per_image: args.cost_per_image,
            spending_cap: args.spending_cap,
            max_attempts: args.max_attempts,
        },
    };
    // Settings first: a bad one is said before the key is asked for.
    if let Err(e) = view.validate() {
        bail!("invalid setting: {e}");
    }
    let Some(key) = read_secret(args.secret_stdin)? else {
        bail!("an AI provider needs its API key: give it on standard input with --secret-stdin, or in {SECRET_ENV}");
    };
    engine.add_provider(&view, &key)?;
    println!(
        "added AI provider {:?} ({}, model {}); `outbox provider test {}` checks it",
        view.name,
        kind.as_str(),
        view.model(),
        view.name
    );
    Ok(())
}

fn list(engine: &Engine, json: bool) -> Result<()> {
    let list = engine.providers()?;
    if json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!(
            "no AI providers yet (`outbox provider add NAME --kind openai|gemini --secret-stdin`)"
        );
    }
    for p in list {
        let cost = p
            .settings
            .cost_per_image
            .map(|c| format!(", {c} an image"))
            .unwrap_or_default();
        println!(
            "{:<16} {:<7} {} at {}  ({} at once{cost})",
            p.name,
            p.kind.as_str(),
            p.model(),
            p.base_url(),
            p.settings.max_concurrent
        );
    }
    Ok(())
}

fn test(engine: &Engine, name: &str) -> Result<ExitCode> {
    super::check(name, engine.test_provider(name))
}
