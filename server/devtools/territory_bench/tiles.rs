//! `tiles`: the vector-tile benchmark of a plan (`territory::tiles::plan_tile`, the query
//! behind `GET /api/plans/{id}/tiles/{z}/{x}/{y}`). Makes a scratch database with the app's
//! migrations, loads synthetic accounts (fixed seed) as one team's book, makes a real balanced
//! plan with the library (`plans::create` + `plans::generate`, so cells and shapes are the
//! production ones), then times the tiles over the accounts' bounding box at zooms 8, 10, 12
//! and 14 and prints one markdown table. Used by `scripts/bench/tiles.sh`.

use std::collections::BTreeSet;
use std::f64::consts::PI;
use std::time::{Duration, Instant};
use terrane::db::Bind;

use anyhow::{Context, bail};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use terrane::accounts::import as account_import;
use terrane::reps;
use terrane::spatial::{H3Cell, LonLat};
use terrane::territory::balance::Unit;
use terrane::territory::balance::synthetic::{self, Region};
use terrane::territory::plans::{self, Method, NewPlan, Travel};
use terrane::territory::teams;
use terrane::territory::tiles::{TileId, plan_tile};

/// Zooms timed: every tile of the box at the first two, a sample at the others.
const ZOOMS: [(u8, bool); 4] = [(8, true), (10, true), (12, false), (14, false)];
/// Accounts inserted per statement.
const BATCH: usize = 20_000;

#[derive(Debug, clap::Args)]
pub struct TilesArgs {
    /// Any database of the server; the scratch database is made beside it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value_t = 200_000)]
    accounts: usize,
    /// Reps of the team, so territories of the plan.
    #[arg(long, default_value_t = 50)]
    territories: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Tiles timed at zooms 12 and 14: a sample (fixed seed) of those holding accounts.
    #[arg(long, default_value_t = 100)]
    sample: usize,
    /// The scratch database, dropped and recreated at each run.
    #[arg(long, default_value = "terrane_tiles_bench")]
    scratch_db: String,
    /// Keep the scratch database after the run (to EXPLAIN a tile); dropped by default.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: TilesArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(bench(args))
}

/// Prints a step's duration to stderr.
fn step(what: &str, started: Instant) {
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
}

async fn bench(args: TilesArgs) -> anyhow::Result<()> {
    if args.territories == 0 || args.accounts == 0 {
        bail!("--accounts and --territories must be positive");
    }
    if args.scratch_db.is_empty()
        || !args
            .scratch_db
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("--scratch-db must be lower-case letters, digits and underscores");
    }
    let server: PgConnectOptions = args
        .database_url
        .parse()
        .context("parsing --database-url")?;

    let t = Instant::now();
    let mut admin = PgConnection::connect_with(&server.clone().database("postgres"))
        .await
        .context("connecting to the server's postgres database")?;
    drop_database(&mut admin, &args.scratch_db).await?;
    // `scratch_db` is checked to be [a-z0-9_]+, so quoting it is enough.
    sqlx::query(&format!("create database \"{}\"", args.scratch_db))
        .execute(&mut admin)
        .await
        .context("creating the scratch database")?;
    step("scratch database recreated", t);

    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(server.database(&args.scratch_db))
        .await
        .context("connecting to the scratch database")?;
    let t = Instant::now();
    terrane::db::migrate(&pool).await?;
    step("migrations", t);

    let region = Region {
        clusters: 12,
        spread_km: (1.5, 5.0),
        workload_sigma: 1.0,
        ..Region::default()
    };
    let t = Instant::now();
    let units = synthetic::accounts(args.accounts, &region, args.seed);
    step(&format!("{} synthetic accounts generated", units.len()), t);

    let t = Instant::now();
    let team_id = insert_book(&pool, &units, args.territories, args.seed).await?;
    step("team, reps and accounts inserted", t);
    let t = Instant::now();
    sqlx::query("vacuum analyze").execute(&pool).await?;
    step("vacuum analyze", t);

    let t = Instant::now();
    let plan_id = plans::create(
        &pool,
        team_id,
        None,
        &NewPlan {
            name: "Tiles benchmark".into(),
            method: Method::Balanced,
            from_plan_id: None,
            tolerance: None,
            use_home_bases: false,
            travel: Travel::StraightLine,
        },
    )
    .await?;
    step("plan created", t);
    let t = Instant::now();
    plans::generate(&pool, plan_id).await?;
    step("plan generated (balanced)", t);
    let t = Instant::now();
    sqlx::query("vacuum analyze").execute(&pool).await?;
    step("vacuum analyze", t);
    describe_plan(&pool, plan_id).await?;

    let mut conn = pool.acquire().await?;
    // `plan_tile` turns JIT off for its own query, as the server does.
    let mut rows = Vec::new();
    for (zoom, every) in ZOOMS {
        let t = Instant::now();
        let (in_box, with_accounts, tiles) =
            tiles_to_time(&units, zoom, every, args.sample, args.seed);
        let mut timed = Vec::with_capacity(tiles.len());
        for tile in &tiles {
            let warm = plan_tile(&mut conn, plan_id, *tile).await?;
            let started = Instant::now();
            let bytes = plan_tile(&mut conn, plan_id, *tile).await?;
            let took = started.elapsed();
            if bytes.len() != warm.len() {
                bail!("tile {tile}: {} then {} bytes", warm.len(), bytes.len());
            }
            timed.push((took, bytes.len()));
        }
        let slowest = tiles
            .iter()
            .zip(&timed)
            .max_by_key(|(_, (took, _))| *took)
            .map(|(tile, (took, bytes))| {
                format!("slowest {tile}, {} and {}", ms(*took), kib(*bytes as f64))
            })
            .unwrap_or_default();
        step(
            &format!("zoom {zoom}: {} tiles ({slowest})", tiles.len()),
            t,
        );
        rows.push(ZoomRow {
            zoom,
            in_box,
            with_accounts,
            every,
            timed,
        });
    }
    drop(conn);

    // A manager's hand move in a plan this size: ten accounts of one territory to another
    // (the assignments, the cells that follow them, every shape and the metrics).
    let (from, to): (Uuid, Uuid) = sqlx::query_as(
        "select a.territory_id, b.territory_id from plan_territories a, plan_territories b
         where a.plan_id = $1 and b.plan_id = $1 and a.territory_id <> b.territory_id
         order by a.territory_id, b.territory_id limit 1",
    )
    .bind(plan_id)
    .fetch_one(&pool)
    .await?;
    let moving: Vec<Uuid> = sqlx::query_scalar(
        "select account_id from plan_assignments where plan_id = $1 and territory_id = $2
         order by account_id limit 10",
    )
    .bind_all((plan_id, from))
    .fetch_all(&pool)
    .await?;
    let t = Instant::now();
    let moved = plans::move_accounts(&pool, plan_id, &moving, to, None, "benchmark").await?;
    step(&format!("hand move of {moved} accounts"), t);
    pool.close().await;

    println!();
    println!(
        "| zoom | tiles in the box (with accounts) | timed | p50 | p95 | max | mean size | max size | empty (204) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }

    if !args.keep {
        drop_database(&mut admin, &args.scratch_db).await?;
    }
    Ok(())
}

/// Drops a database of the server, closing its connections; `db` is [a-z0-9_]+.
async fn drop_database(admin: &mut PgConnection, db: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("drop database if exists \"{db}\" with (force)"))
        .execute(admin)
        .await
        .with_context(|| format!("dropping {db}"))?;
    Ok(())
}

/// A version-4 UUID from the seeded generator, so ids (and the book's order, which is by
/// id) are the same at every run.
fn seeded_uuid(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// One team with `k` reps owning the accounts at random (today's owners; a balanced plan
/// ignores them). Each account's visits per year carry its synthetic workload (one visit per
/// hour of it, 1 to 366), so the team's workload model (visits × (service + travel minutes))
/// keeps its heavy tail; annual values are lognormal (median 20,000), tiers follow them.
async fn insert_book(pool: &PgPool, units: &[Unit], k: usize, seed: u64) -> anyhow::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let team_id = teams::create(&mut *tx, "Tiles benchmark").await?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7113_5bec);
    let names: Vec<String> = (1..=k).map(|i| format!("Bench rep {i:03}")).collect();
    let emails: Vec<String> = (1..=k)
        .map(|i| format!("rep{i:03}@bench.invalid"))
        .collect();
    let owners: Vec<String> = (1..=k).map(|i| format!("bench-rep-{i:03}")).collect();
    let reps: Vec<Uuid> = (0..k).map(|_| seeded_uuid(&mut rng)).collect();
    reps::insert_synthetic(&mut *tx, &reps, &names, &emails, &owners).await?;
    teams::set_members(&mut *tx, team_id, &reps).await?;

    for (b, chunk) in units.chunks(BATCH).enumerate() {
        let n = chunk.len();
        let (mut id, mut crm_id, mut name) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut lon, mut lat, mut h3) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut tier, mut value, mut visits, mut owner) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (i, u) in chunk.iter().enumerate() {
            let number = b * BATCH + i + 1;
            id.push(seeded_uuid(&mut rng));
            crm_id.push(format!("bench-{number:07}"));
            name.push(format!("Synthetic account {number:07}"));
            lon.push(u.lon);
            lat.push(u.lat);
            h3.push(H3Cell::at(LonLat::new(u.lon, u.lat)?)?);
            let v = ((20_000f64.ln() + 1.2 * synthetic::normal(&mut rng)).exp() * 100.0).round()
                / 100.0;
            tier.push(if v >= 60_000.0 {
                "A"
            } else if v >= 15_000.0 {
                "B"
            } else {
                "C"
            });
            value.push(v.min(1e11));
            visits.push(((u.workload / 60.0).round() as i32).clamp(1, 366));
            owner.push(reps[rng.random_range(0..k)]);
        }
        let columns = account_import::SyntheticColumns {
            id,
            crm_id,
            name,
            lon,
            lat,
            h3,
            tier,
            annual_value: value,
            visits,
            owner,
        };
        account_import::insert_synthetic(&mut tx, &columns).await?;
    }
    tx.commit().await?;
    Ok(team_id)
}

/// What the plan came out as: its job state, balance, and the size of its shapes.
async fn describe_plan(pool: &PgPool, plan_id: Uuid) -> anyhow::Result<()> {
    let plan = plans::get(pool, plan_id)
        .await?
        .context("the plan disappeared")?;
    if plan.job_state != plans::PlanJobState::Idle {
        bail!(
            "the plan's generation ended {}: {:?}",
            plan.job_state,
            plan.job_message
        );
    }
    if let Some(message) = &plan.job_message {
        eprintln!("plan warnings: {message}");
    }
    let m = plan.metrics.map(|m| m.0).unwrap_or_default();
    let (assignments, cells, shapes, vertices): (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from plan_assignments where plan_id = $1),
                (select count(*) from plan_cells where plan_id = $1),
                (select count(*) from plan_territories where plan_id = $1 and shape is not null),
                (select coalesce(sum(st_npoints(shape)), 0)::int8 from plan_territories
                 where plan_id = $1)",
    )
    .bind(plan_id)
    .fetch_one(pool)
    .await?;
    eprintln!(
        "plan: {assignments} accounts, {shapes} territory shapes ({vertices} vertices) from \
         {cells} H3 cells; max workload deviation {:.1}%, pieces {}",
        m["max_deviation"].as_f64().unwrap_or(f64::NAN) * 100.0,
        m["pieces"]
    );
    Ok(())
}

/// The XYZ tile column holding a longitude at zoom `z`.
fn tile_x(z: u8, lon: f64) -> u32 {
    let n = f64::from(1u32 << z);
    ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0) as u32
}

/// The XYZ tile row (growing southwards) holding a latitude at zoom `z`.
fn tile_y(z: u8, lat: f64) -> u32 {
    let n = f64::from(1u32 << z);
    ((1.0 - lat.to_radians().tan().asinh() / PI) / 2.0 * n)
        .floor()
        .clamp(0.0, n - 1.0) as u32
}

/// The tiles of zoom `z` covering the accounts' bounding box: how many there are, how many hold
/// accounts, and those to time (all of the box, or a sample of those holding accounts).
fn tiles_to_time(
    units: &[Unit],
    z: u8,
    every: bool,
    sample: usize,
    seed: u64,
) -> (usize, usize, Vec<TileId>) {
    let (mut west, mut south, mut east, mut north) = (180.0f64, 90.0f64, -180.0f64, -90.0f64);
    for u in units {
        west = west.min(u.lon);
        east = east.max(u.lon);
        south = south.min(u.lat);
        north = north.max(u.lat);
    }
    let (x0, x1) = (tile_x(z, west), tile_x(z, east));
    let (y0, y1) = (tile_y(z, north), tile_y(z, south));
    let in_box = ((x1 - x0 + 1) * (y1 - y0 + 1)) as usize;
    let occupied: BTreeSet<(u32, u32)> = units
        .iter()
        .map(|u| (tile_x(z, u.lon), tile_y(z, u.lat)))
        .collect();
    let picked: Vec<(u32, u32)> = if every {
        (x0..=x1)
            .flat_map(|x| (y0..=y1).map(move |y| (x, y)))
            .collect()
    } else {
        let mut all: Vec<(u32, u32)> = occupied.iter().copied().collect();
        all.shuffle(&mut ChaCha8Rng::seed_from_u64(
            seed.wrapping_add(u64::from(z)),
        ));
        all.truncate(sample);
        all.sort_unstable();
        all
    };
    let tiles = picked
        .into_iter()
        .filter_map(|(x, y)| TileId::new(u32::from(z), x, y).ok())
        .collect();
    (in_box, occupied.len(), tiles)
}

struct ZoomRow {
    zoom: u8,
    in_box: usize,
    with_accounts: usize,
    every: bool,
    /// Time of the second fetch and bytes, per tile.
    timed: Vec<(Duration, usize)>,
}

impl ZoomRow {
    fn markdown(&self) -> String {
        let mut times: Vec<Duration> = self.timed.iter().map(|t| t.0).collect();
        times.sort_unstable();
        let sizes: Vec<usize> = self.timed.iter().map(|t| t.1).filter(|&b| b > 0).collect();
        let empty = self.timed.len() - sizes.len();
        let mean = if sizes.is_empty() {
            0.0
        } else {
            sizes.iter().sum::<usize>() as f64 / sizes.len() as f64
        };
        format!(
            "| {} | {} ({}) | {} ({}) | {} | {} | {} | {} | {} | {} ({:.0}%) |",
            self.zoom,
            self.in_box,
            self.with_accounts,
            self.timed.len(),
            if self.every {
                "all of the box"
            } else {
                "sample with accounts"
            },
            ms(percentile(&times, 0.50)),
            ms(percentile(&times, 0.95)),
            ms(times.last().copied().unwrap_or_default()),
            kib(mean),
            kib(sizes.iter().max().copied().unwrap_or(0) as f64),
            empty,
            empty as f64 * 100.0 / self.timed.len().max(1) as f64,
        )
    }
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}
