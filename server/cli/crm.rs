//! `terrane connection|reconcile|import|export` (the workers of `serve` start in
//! `server/workers.rs`).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use terrane::config::{self, Config};
use terrane::crm::clients::CrmClients;
use terrane::crm::connection::{self, ConnectionInput, CrmKind};
use terrane::crm::csv;
use terrane::crm::reconcile::{self, Trigger};
use terrane::db;

use crate::{ConnectionArgs, ConnectionCommand, ExportCommand, ImportCommand};

fn input(args: ConnectionArgs, kind: Option<CrmKind>, enabled: bool) -> ConnectionInput {
    ConnectionInput {
        name: args.name,
        kind,
        api_base_url: args.api_base_url,
        organization_id: args.org_id,
        enabled,
        add_webhook_secret: args.webhook_secret,
        retire_fingerprints: vec![],
        client_id: args.client_id,
        client_secret: args.client_secret,
        refresh_token: args.refresh_token,
        webhook_token: args.path_token,
        new_webhook_token: false,
    }
}

/// The path a connection's CRM posts webhooks to (Salesforce: with its secret token).
async fn endpoint_path(
    pool: &sqlx::PgPool,
    key: Option<&terrane::crm::crypto::SecretKey>,
    c: &connection::Connection,
) -> anyhow::Result<String> {
    Ok(match c.kind {
        CrmKind::HubSpot => "/webhooks/hubspot".to_owned(),
        CrmKind::Standard => format!("/webhooks/standard/{}", c.name),
        CrmKind::Salesforce => match connection::webhook_token(pool, key, c.id).await? {
            Some(t) => format!("/webhooks/salesforce/{t}"),
            None => "(no path token yet: `terrane connection edit --name NAME --new-path-token`)"
                .to_owned(),
        },
    })
}

pub async fn connection(command: ConnectionCommand) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let pool = db::connect(&config.database_url, 2).await?;
    let key = config.crm.secret_key.as_ref();
    match command {
        ConnectionCommand::List => {
            let all = connection::list(&pool).await?;
            if all.is_empty() {
                println!("no connections");
            }
            for c in all {
                let s = &c.secrets_summary.0;
                println!(
                    "{}\t{}\t{}\t{}\twebhook secrets: {}\toauth: {}",
                    c.name,
                    c.kind.as_str(),
                    if c.enabled { "enabled" } else { "disabled" },
                    c.api_base_url.as_deref().unwrap_or("-"),
                    if s.webhook_secret_fingerprints.is_empty() {
                        "none".to_owned()
                    } else {
                        s.webhook_secret_fingerprints.join(", ")
                    },
                    if s.oauth_client && s.refresh_token {
                        "set"
                    } else {
                        "not set"
                    },
                );
                for w in c.warnings() {
                    println!("  warning: {w}");
                }
            }
        }
        ConnectionCommand::Add {
            kind,
            args,
            disabled,
        } => {
            let kind = CrmKind::parse(&kind).with_context(|| {
                format!("--kind {kind:?}: expected hubspot, salesforce or standard")
            })?;
            let c = connection::create(&pool, key, &input(args, Some(kind), !disabled)).await?;
            println!("added connection {} ({})", c.name, c.kind.as_str());
            println!("webhook endpoint: {}", endpoint_path(&pool, key, &c).await?);
        }
        ConnectionCommand::Edit {
            args,
            retire_secret,
            new_path_token,
            enable,
            disable,
        } => {
            let current = connection::by_name(&pool, &args.name)
                .await?
                .with_context(|| format!("no connection named {:?}", args.name))?;
            let enabled = if enable {
                true
            } else if disable {
                false
            } else {
                current.enabled
            };
            let mut inp = input(args, None, enabled);
            inp.retire_fingerprints = retire_secret;
            inp.new_webhook_token = new_path_token;
            let rotated = new_path_token || inp.webhook_token.is_some();
            let c = connection::update(&pool, key, &inp).await?;
            println!("updated connection {}", c.name);
            if rotated && c.kind == CrmKind::Salesforce {
                println!("webhook endpoint: {}", endpoint_path(&pool, key, &c).await?);
            }
        }
        ConnectionCommand::Disable { name } => {
            let current = connection::by_name(&pool, &name)
                .await?
                .with_context(|| format!("no connection named {name:?}"))?;
            let inp = ConnectionInput {
                name: current.name,
                enabled: false,
                ..ConnectionInput::default()
            };
            connection::update(&pool, key, &inp).await?;
            println!("disabled connection {name}");
        }
        ConnectionCommand::Endpoint { name } => {
            let c = connection::by_name(&pool, &name)
                .await?
                .with_context(|| format!("no connection named {name:?}"))?;
            println!("{}", endpoint_path(&pool, key, &c).await?);
        }
    }
    Ok(())
}

pub async fn reconcile(only: Option<String>) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let pool = db::connect(&config.database_url, 4).await?;
    let clients = CrmClients::new(
        pool.clone(),
        config.crm.secret_key.clone(),
        config.crm.api_timeout,
    )?;
    let mut targets = Vec::new();
    for c in connection::list(&pool).await? {
        match &only {
            Some(name) if &c.name == name => targets.push(c),
            Some(_) => {}
            None if c.enabled && c.kind.has_api() => targets.push(c),
            None => {}
        }
    }
    if let Some(name) = &only {
        anyhow::ensure!(!targets.is_empty(), "no connection named {name:?}");
    }
    if targets.is_empty() {
        println!("no enabled connection with an API to reconcile");
    }
    let mut failed = 0;
    for c in targets {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} records {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> "),
        );
        bar.set_prefix(c.name.clone());
        let progress = |done: u64, total: Option<u64>| {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        };
        let guard = config.crm.clock_guard();
        match reconcile::run(&pool, &clients, &c, Trigger::Command, guard, &progress).await {
            Ok(r) => {
                bar.finish_and_clear();
                println!(
                    "{}: {} remote records; {} created, {} updated, {} deleted, {} unchanged, {} errors, {} future clocks repaired in {:.1} s",
                    c.name,
                    r.remote_records,
                    r.created,
                    r.updated,
                    r.deleted,
                    r.unchanged,
                    r.errors,
                    r.clocks_repaired,
                    r.duration_s().unwrap_or_default()
                );
                for s in &r.error_samples.0 {
                    println!("  {}: {}", s.crm_id, s.reason);
                }
            }
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("{}: reconciliation failed: {e}", c.name);
                failed += 1;
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} reconciliation(s) failed");
    Ok(())
}

pub async fn import(what: ImportCommand) -> anyhow::Result<()> {
    let pool = db::connect(&config::database_url_from_env()?, 2).await?;
    let (file, result) = match what {
        ImportCommand::Accounts {
            file,
            source,
            dry_run,
        } => {
            let reader = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let guard = config::crm_clock_guard_from_env()?;
            let r = csv::import_accounts(&pool, reader, &source, dry_run, guard).await;
            (file, r)
        }
        ImportCommand::Reps { file, dry_run } => {
            let reader = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let r = csv::import_reps(&pool, reader, dry_run).await;
            (file, r)
        }
    };
    match result {
        Ok(r) => {
            println!(
                "{}{}: {} rows; {} created, {} updated, {} restored, {} unchanged, {} stale",
                if r.dry_run { "(dry run) " } else { "" },
                file.display(),
                r.rows,
                r.created,
                r.updated,
                r.restored,
                r.unchanged,
                r.stale
            );
            Ok(())
        }
        Err(csv::CsvError::Invalid(r)) => {
            for e in &r.errors {
                eprintln!(
                    "row {}{}: {}",
                    e.row,
                    e.column
                        .as_deref()
                        .map(|c| format!(", column {c}"))
                        .unwrap_or_default(),
                    e.message
                );
            }
            if r.more_errors > 0 {
                eprintln!("... and {} more", r.more_errors);
            }
            anyhow::bail!(
                "{}: {} problem(s); nothing was imported",
                file.display(),
                r.errors.len() + r.more_errors
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn export(what: ExportCommand) -> anyhow::Result<()> {
    let pool = db::connect(&config::database_url_from_env()?, 2).await?;
    let (out, accounts) = match what {
        ExportCommand::Accounts { out } => (out, true),
        ExportCommand::Reps { out } => (out, false),
    };
    let writer: Box<dyn std::io::Write + Send> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let n = if accounts {
        csv::export_accounts(&pool, writer).await?
    } else {
        csv::export_reps(&pool, writer).await?
    };
    if let Some(path) = out {
        eprintln!("wrote {n} rows to {}", path.display());
    }
    Ok(())
}
