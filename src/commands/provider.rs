use super::dest::{read_secret, SECRET_ENV};
use super::print_json;
use crate::cli::{ProviderAddArgs, ProviderCommand, ProviderKindArg};
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
        ProviderCommand::Cap { name, amount } => {
            let cap = match amount.trim() {
                "none" => None,
                text => Some(text.parse::<f64>().map_err(|_| {
                    anyhow::anyhow!(
                        "the cap is an amount such as 20 or 12.50, or none; not {text:?}"
                    )
                })?),
            };
            let Some(mut provider) = engine.providers()?.into_iter().find(|p| p.name == name)
            else {
                bail!("no AI provider named {name:?}; `outbox provider list` shows them");
            };
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
