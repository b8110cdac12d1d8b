//! Loads the demo dataset into the database idempotently (upserts keyed on CRM ids).

use anyhow::Context;
use sqlx::PgPool;

use super::dataset::{DemoDataset, DemoRep};
use crate::accounts::import::{self as account_import, LocatedColumns};
use crate::auth::Role;
use crate::auth::db as auth_db;
use crate::reps;
use crate::spatial::{H3Cell, LonLat};
use crate::territory::teams;

/// What a load changed; a second load of the same file reports only `unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub reps_inserted: u64,
    pub reps_updated: u64,
    pub accounts_inserted: u64,
    pub accounts_updated: u64,
    pub accounts_unchanged: u64,
}

/// Reads a dataset file written by `terrane seed-data build`.
pub fn read_dataset(path: &std::path::Path) -> anyhow::Result<DemoDataset> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Upserts reps and accounts in one transaction.
#[tracing::instrument(skip_all, err, fields(reps = ds.reps.len(), accounts = ds.accounts.len()))]
pub async fn load(pool: &PgPool, ds: &DemoDataset) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut tx = pool
        .begin()
        .await
        .context("starting the seed transaction")?;

    for rep in &ds.reps {
        let inserted = upsert_rep(&mut *tx, rep)
            .await
            .with_context(|| format!("upserting rep {}", rep.crm_owner_id))?;
        match inserted {
            Some(true) => report.reps_inserted += 1,
            Some(false) => report.reps_updated += 1,
            None => {}
        }
    }

    // Columns as parallel arrays: one round trip for the whole file.
    let n = ds.accounts.len();
    let mut cols = LocatedColumns::default();
    for a in &ds.accounts {
        let p = LonLat::new(a.lon, a.lat)
            .with_context(|| format!("account {} coordinates", a.crm_id))?;
        cols.crm_source.push(a.crm_source.clone());
        cols.crm_id.push(a.crm_id.clone());
        cols.name.push(a.name.clone());
        cols.industry.push(a.industry.clone());
        cols.house_number.push(a.address.house_number.clone());
        cols.street.push(a.address.street.clone());
        cols.postal_code.push(a.address.postal_code.clone());
        cols.city.push(a.address.city.clone());
        cols.country_code.push(a.address.country_code.clone());
        cols.lon.push(p.lon());
        cols.lat.push(p.lat());
        cols.h3.push(H3Cell::at(p)?);
        cols.tier.push(a.tier.clone());
        cols.annual_value.push(f64::from(a.annual_value));
        cols.visits.push(i32::from(a.visits_per_year));
        cols.priority.push(i16::from(a.priority));
        cols.owner.push(a.owner_crm_id.clone());
        cols.synthetic.push(a.synthetic);
    }
    let inserted_flags = account_import::upsert_located(&mut tx, &cols)
        .await
        .context("upserting accounts")?;

    upsert_demo_users(&mut tx, ds)
        .await
        .context("upserting demo users and teams")?;

    report.accounts_inserted = inserted_flags.iter().filter(|i| **i).count() as u64;
    report.accounts_updated = inserted_flags.len() as u64 - report.accounts_inserted;
    report.accounts_unchanged = n as u64 - inserted_flags.len() as u64;
    tx.commit()
        .await
        .context("committing the seed transaction")?;
    Ok(report)
}

/// Returns `Some(true)` when inserted, `Some(false)` when changed, `None` when unchanged.
async fn upsert_rep(db: impl sqlx::PgExecutor<'_>, rep: &DemoRep) -> anyhow::Result<Option<bool>> {
    let home = LonLat::new(rep.home_lon, rep.home_lat).context("home base coordinates")?;
    let seed_rep = reps::SeedRep {
        name: &rep.name,
        email: &rep.email,
        crm_owner_id: &rep.crm_owner_id,
        home,
        work_start: &rep.work_start,
        work_end: &rep.work_end,
    };
    Ok(reps::upsert_by_crm_owner(db, &seed_rep).await?)
}

/// What [`load_opening_hours`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoursReport {
    /// Accounts whose OSM object has an `opening_hours` tag Terrane reads.
    pub read: usize,
    /// Tags in syntax the reader does not take (left unknown: any time of the shift).
    pub unreadable: usize,
}

/// Gives demo accounts the opening hours their OSM object states (`opening_hours` tag of the
/// node or way in `osm_ref`), through `accounts::hours`. Idempotent.
pub async fn load_opening_hours(
    pool: &PgPool,
    ds: &DemoDataset,
    pbf: &std::path::Path,
) -> anyhow::Result<HoursReport> {
    let extract = crate::osm::pbf::read_pbf(pbf)?;
    let mut tags: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for n in &extract.nodes {
        if let Some(h) = n.tag("opening_hours") {
            tags.insert(format!("node/{}", n.id), h);
        }
    }
    for w in &extract.ways {
        if let Some(h) = w.tag("opening_hours") {
            tags.insert(format!("way/{}", w.id), h);
        }
    }
    let mut report = HoursReport::default();
    let mut tx = pool.begin().await?;
    for a in &ds.accounts {
        let Some(text) = tags.get(&a.osm_ref) else {
            continue;
        };
        let Ok(hours) = crate::accounts::hours::parse(text) else {
            report.unreadable += 1;
            continue;
        };
        let record = crate::accounts::CrmRef::new(a.crm_source.as_str(), a.crm_id.as_str());
        let id = crate::accounts::crm::live_id(&mut *tx, &record).await?;
        if let Some(id) = id {
            crate::accounts::hours::replace(
                &mut tx,
                id,
                &hours,
                crate::accounts::hours::HoursSource::Osm,
            )
            .await?;
            report.read += 1;
        }
    }
    tx.commit().await?;
    Ok(report)
}

/// Demo sign-in identities: an admin, two managers each with a team of half the reps, and one
/// user per rep (same email as the rep record).
pub const DEMO_ADMIN_EMAIL: &str = "admin@example.com";
pub const DEMO_MANAGER_EMAILS: [&str; 2] = ["manager.a@example.com", "manager.b@example.com"];
const DEMO_MANAGER_NAMES: [&str; 2] = ["Morgan Lefèvre", "Sasha Moreau"];
const DEMO_TEAM_NAMES: [&str; 2] = ["Team A", "Team B"];

async fn upsert_demo_users(tx: &mut sqlx::PgConnection, ds: &DemoDataset) -> anyhow::Result<()> {
    upsert_user(&mut *tx, DEMO_ADMIN_EMAIL, "Alex Admin", Role::Admin, None).await?;
    let half = ds.reps.len().div_ceil(2);
    for (i, team_reps) in ds.reps.chunks(half.max(1)).enumerate().take(2) {
        let manager_id = upsert_user(
            &mut *tx,
            DEMO_MANAGER_EMAILS[i],
            DEMO_MANAGER_NAMES[i],
            Role::Manager,
            None,
        )
        .await?;
        let team_id = teams::upsert_by_name(&mut *tx, DEMO_TEAM_NAMES[i], manager_id).await?;
        for rep in team_reps {
            let rep_id = reps::id_by_crm_owner(&mut *tx, &rep.crm_owner_id)
                .await?
                .with_context(|| format!("rep {} was not loaded", rep.crm_owner_id))?;
            upsert_user(&mut *tx, &rep.email, &rep.name, Role::Rep, Some(rep_id)).await?;
            teams::set_members(&mut *tx, team_id, &[rep_id]).await?;
        }
    }
    Ok(())
}

/// Inserts or updates a user by email without rewriting an unchanged row; returns its id.
async fn upsert_user(
    conn: &mut sqlx::PgConnection,
    email: &str,
    name: &str,
    role: Role,
    rep_id: Option<uuid::Uuid>,
) -> anyhow::Result<uuid::Uuid> {
    Ok(auth_db::upsert_by_email(conn, email, name, role, rep_id).await?)
}
