//! PostgreSQL/PostGIS access: the connection pool and the embedded migrations.

pub mod bind;
pub mod poll;

pub use bind::Bind;

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The schema migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens a pool. Connections are made lazily so the server can start (and report
/// `/readyz` as 503) while the database is still coming up.
pub fn connect_lazy(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = database_url.parse().context("parsing DATABASE_URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options.application_name("terrane")))
}

/// Opens a pool and checks that the database answers.
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = connect_lazy(database_url, max_connections)?;
    ping(&pool)
        .await
        .context("connecting to the database at DATABASE_URL")?;
    Ok(pool)
}

/// Applies pending migrations (idempotent).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("running database migrations")
}

/// A round trip to the database, for readiness checks.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

/// The name of the constraint `e` violated, when it is a constraint violation. The one way
/// code asks: user-facing answers are listed in `error::CONSTRAINTS`, capability errors in a
/// named function beside their enum (`jobs::busy_error`, `crm::connection`'s
/// `taken_name`, the CSV reps import's `refused_rep_column`).
pub fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
