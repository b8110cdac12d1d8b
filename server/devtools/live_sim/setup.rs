//! Bench data for the simulator: reps on shift all day every day (UTC) in teams with one
//! territory each, accounts along the extract's roads, and the reps' device tokens. Every write
//! goes through the owning module of its table (`docs/architecture.md`).

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::NaiveTime;
use clap::Args;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use terrane::accounts::import::{self as account_import, SyntheticColumns};
use terrane::auth::Role;
use terrane::auth::db as auth_db;
use terrane::auth::devices;
use terrane::reps;
use terrane::spatial::{H3Cell, LonLat};
use terrane::territory::teams;

use crate::drive;
use crate::{RoadArgs, TokenFile};

/// E-mails of the simulator's reps: `sim-rep-00001@bench.terrane.test`, ...
const EMAIL_DOMAIN: &str = "bench.terrane.test";
/// Accounts are written this many at a time.
const ACCOUNT_CHUNK: usize = 20_000;

#[derive(Debug, Args)]
pub struct SetupArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Bench reps to create.
    #[arg(long, default_value_t = 100)]
    reps: usize,
    /// Reps per team (each team's reps get one territory each).
    #[arg(long, default_value_t = 50)]
    team_size: usize,
    /// Synthetic accounts to create along roads of the extract (0: none).
    #[arg(long, default_value_t = 0)]
    accounts: usize,
    /// Share of accounts in no territory (they may alert any rep who passes).
    #[arg(long, default_value_t = 0.5)]
    unassigned_share: f64,
    /// Metres between accounts along a road.
    #[arg(long, default_value_t = 15.0)]
    spacing_m: f64,
    #[command(flatten)]
    roads: RoadArgs,
    #[command(flatten)]
    out: TokenFile,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Rep users whose e-mail matches this SQL `like` pattern (default: the simulator's reps;
    /// `%@example.com` takes the demo's).
    #[arg(long, default_value = "sim-rep-%@bench.terrane.test")]
    like: String,
    /// At most this many (in e-mail order).
    #[arg(long, default_value_t = 1_000_000)]
    limit: i64,
    #[command(flatten)]
    out: TokenFile,
}

pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .context("connecting to DATABASE_URL")
}

pub async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.reps > 0, "--reps must be at least 1");
    anyhow::ensure!(args.team_size > 0, "--team-size must be at least 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.unassigned_share),
        "--unassigned-share is a share from 0 to 1"
    );
    let pool = connect(&args.database_url).await?;
    let existing: i64 = sqlx::query_scalar("select count(*) from reps where email like $1")
        .bind(format!("sim-rep-%@{EMAIL_DOMAIN}"))
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        existing == 0,
        "this database has {existing} simulator reps already: setup runs on a fresh database \
         (use `tokens` for new device tokens)"
    );

    let started = std::time::Instant::now();
    let rep_ids = create_reps(&pool, &args).await?;
    eprintln!(
        "setup: {} reps in {} teams ({:.1} s)",
        rep_ids.len(),
        rep_ids.len().div_ceil(args.team_size),
        started.elapsed().as_secs_f64()
    );
    if args.accounts > 0 {
        let territories = territories_of(&pool, &rep_ids).await?;
        create_accounts(&pool, &args, &rep_ids, &territories).await?;
        eprintln!(
            "setup: {} accounts ({:.1} s)",
            args.accounts,
            started.elapsed().as_secs_f64()
        );
    }
    let written = write_tokens(&pool, &args.out.tokens, &rep_ids).await?;
    eprintln!(
        "setup: {written} device tokens in {} ({:.1} s)",
        args.out.tokens.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reps, their users (role rep), teams of `team_size` with a territory per rep; one
/// transaction.
async fn create_reps(pool: &PgPool, args: &SetupArgs) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = (0..args.reps).map(|_| Uuid::new_v4()).collect();
    let names: Vec<String> = (1..=args.reps).map(|i| format!("Sim rep {i:05}")).collect();
    let emails: Vec<String> = (1..=args.reps)
        .map(|i| format!("sim-rep-{i:05}@{EMAIL_DOMAIN}"))
        .collect();
    let owners: Vec<String> = (1..=args.reps)
        .map(|i| format!("sim-owner-{i:05}"))
        .collect();
    let mut tx = pool.begin().await?;
    reps::insert_synthetic(&mut *tx, &ids, &names, &emails, &owners)
        .await
        .context("inserting reps")?;
    // On shift all day, every day, in UTC: a benchmark at any hour is not dropped.
    let start = NaiveTime::from_hms_opt(0, 0, 0).context("00:00")?;
    let end = NaiveTime::from_hms_opt(23, 59, 0).context("23:59")?;
    reps::set_synthetic_shift(&mut *tx, &ids, start, end, &[1, 2, 3, 4, 5, 6, 7], "UTC")
        .await
        .context("setting the reps' shift")?;
    for ((id, name), email) in ids.iter().zip(&names).zip(&emails) {
        auth_db::upsert_by_email(&mut tx, email, name, Role::Rep, Some(*id))
            .await
            .with_context(|| format!("user {email}"))?;
    }
    for (t, members) in ids.chunks(args.team_size).enumerate() {
        let team = teams::create(&mut *tx, &format!("Sim team {:03}", t + 1))
            .await
            .context("creating a team")?;
        teams::set_members(&mut *tx, team, members).await?;
        teams::ensure_territories(&mut tx, team)
            .await
            .context("giving the team's reps territories")?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Each rep's territory (same order as `reps`).
async fn territories_of(pool: &PgPool, reps: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select rep_id, id from territories where rep_id = any($1)")
            .bind(reps)
            .fetch_all(pool)
            .await?;
    let by_rep: std::collections::HashMap<Uuid, Uuid> = rows.into_iter().collect();
    reps.iter()
        .map(|r| by_rep.get(r).copied().context("a rep has no territory"))
        .collect()
}

/// Accounts along roads of the extract: tiers, values and priorities varied, a share in no
/// territory, the rest in a random rep's territory and owned by that rep.
async fn create_accounts(
    pool: &PgPool,
    args: &SetupArgs,
    reps: &[Uuid],
    territories: &[Uuid],
) -> anyhow::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.roads.seed ^ 0x5eed);
    let mut points: Vec<[f64; 2]> = Vec::with_capacity(args.accounts);
    let mut round = 0;
    while points.len() < args.accounts {
        let mut roads_args = args.roads.clone();
        roads_args.seed = roads_args.seed.wrapping_add(1000 + round);
        round += 1;
        for road in drive::fetch_roads(&roads_args, 64, 500.0).await? {
            points.extend(road.roadside(args.spacing_m, 25.0, &mut rng));
        }
    }
    // Spread over the whole area rather than the first roads only.
    for i in (1..points.len()).rev() {
        points.swap(i, rng.random_range(0..=i));
    }
    points.truncate(args.accounts);

    for (chunk_no, chunk) in points.chunks(ACCOUNT_CHUNK).enumerate() {
        let mut cols = SyntheticColumns::default();
        let mut placed_territory = Vec::with_capacity(chunk.len());
        let mut priority = Vec::with_capacity(chunk.len());
        for (k, p) in chunk.iter().enumerate() {
            let n = chunk_no * ACCOUNT_CHUNK + k + 1;
            let at = LonLat::new(p[0], p[1]).context("an account off the map")?;
            let r = rng.random_range(0..reps.len());
            cols.id.push(Uuid::new_v4());
            cols.crm_id.push(format!("sim-{n:07}"));
            cols.name.push(format!("Sim account {n:07}"));
            cols.lon.push(at.lon());
            cols.lat.push(at.lat());
            cols.h3.push(H3Cell::at(at)?);
            let u: f64 = rng.random();
            cols.tier.push(if u < 0.2 {
                "A"
            } else if u < 0.5 {
                "B"
            } else {
                "C"
            });
            cols.annual_value
                .push((rng.random_range(1_000.0..120_000.0_f64)).round());
            cols.visits.push(rng.random_range(2..=24));
            cols.owner.push(reps[r]);
            placed_territory
                .push((!rng.random_bool(args.unassigned_share)).then(|| territories[r]));
            // Priority 1 is the highest; most accounts are worth a stop (3 or better).
            priority.push(match rng.random_range(0..10) {
                0 => 1,
                1 | 2 => 2,
                3..=6 => 3,
                7 | 8 => 4,
                _ => 5,
            });
        }
        let mut tx = pool.begin().await?;
        account_import::insert_synthetic(&mut tx, &cols)
            .await
            .context("inserting accounts")?;
        account_import::place_synthetic(&mut tx, &cols.id, &placed_territory, &priority)
            .await
            .context("placing accounts in territories")?;
        tx.commit().await?;
    }
    // Fresh statistics, as a database that grew over time has: the server's planner must not
    // take 200,000 new rows for an empty table.
    sqlx::query("analyze accounts, territories, reps, team_members")
        .execute(pool)
        .await
        .context("analyze")?;
    Ok(())
}

pub async fn tokens(args: TokenArgs) -> anyhow::Result<()> {
    let pool = connect(&args.database_url).await?;
    let users = rep_users(&pool, &args.like, args.limit).await?;
    let tokens = mint(&pool, &users).await?;
    write_token_file(&args.out.tokens, &tokens)?;
    eprintln!(
        "tokens: {} device tokens in {}",
        tokens.len(),
        args.out.tokens.display()
    );
    Ok(())
}

/// Enabled rep users whose e-mail is `like` the pattern, at most `limit`, in e-mail order.
pub async fn rep_users(pool: &PgPool, like: &str, limit: i64) -> anyhow::Result<Vec<Uuid>> {
    let users: Vec<Uuid> = sqlx::query_scalar(
        "select id from users where role = 'rep' and rep_id is not null and not disabled
           and email like $1
         order by email limit $2",
    )
    .bind(like)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!users.is_empty(), "no rep user's e-mail is like {like}");
    Ok(users)
}

/// Device tokens for the users of `reps` (in that order), written to `path`.
async fn write_tokens(pool: &PgPool, path: &Path, reps: &[Uuid]) -> anyhow::Result<usize> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select rep_id, id from users where rep_id = any($1)")
            .bind(reps)
            .fetch_all(pool)
            .await?;
    let by_rep: std::collections::HashMap<Uuid, Uuid> = rows.into_iter().collect();
    let users: Vec<Uuid> = reps.iter().filter_map(|r| by_rep.get(r).copied()).collect();
    let tokens = mint(pool, &users).await?;
    write_token_file(path, &tokens)?;
    Ok(tokens.len())
}

/// A new device token (15 minutes) per user, in order.
pub async fn mint(pool: &PgPool, users: &[Uuid]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        let (token, _expires) = devices::issue(pool, *user)
            .await
            .context("issuing a device token")?;
        out.push(token);
    }
    Ok(out)
}

/// Writes tokens one a line to a file only its owner may read.
fn write_token_file(path: &Path, tokens: &[String]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    for t in tokens {
        writeln!(file, "{t}")?;
    }
    Ok(())
}
