//! The reps register: the people who own accounts and drive to them (name, e-mail, CRM owner
//! id, home base, working hours). The only writer of `reps`; CSV import and the demo seed call
//! it. Daily routes add each rep's shift, break and start/end places here ([`day`]).

pub mod day;

use crate::db::Bind;
use chrono::NaiveTime;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::spatial::LonLat;

/// A rep as an import file states it; `None` fields keep what is stored (or the default).
#[derive(Debug, Clone, PartialEq)]
pub struct RepUpdate<'a> {
    /// The key: reps are matched by e-mail address.
    pub email: &'a str,
    pub name: &'a str,
    /// `Some` when the file has the column (its value may be empty: no owner id).
    pub crm_owner_id: Option<Option<&'a str>>,
    /// `Some` when the file has the columns (empty: no home base).
    pub home: Option<Option<LonLat>>,
    pub work_start: Option<NaiveTime>,
    pub work_end: Option<NaiveTime>,
    pub timezone: Option<&'a str>,
    pub active: Option<bool>,
    pub break_minutes: Option<i16>,
    pub break_earliest: Option<NaiveTime>,
    pub break_latest: Option<NaiveTime>,
    /// `Some` when the file has the columns (empty: start from the home base).
    pub day_start: Option<Option<LonLat>>,
    /// `Some` when the file has the columns (empty: end at the home base).
    pub day_end: Option<Option<LonLat>>,
}

/// What [`upsert_by_email`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
}

/// Creates or updates the rep with `rep.email`, without rewriting an unchanged row.
pub async fn upsert_by_email(
    db: &mut PgConnection,
    rep: &RepUpdate<'_>,
) -> Result<Written, sqlx::Error> {
    // Inserting the key alone first lets the table's defaults fill what the file leaves out;
    // the update below then sets what the file says.
    let created: Option<Uuid> = sqlx::query_scalar(
        r"
        insert into reps (email, name) values ($1, $2)
        on conflict on constraint reps_email_key do nothing
        returning id
        ",
    )
    .bind_all((rep.email, rep.name))
    .fetch_optional(&mut *db)
    .await?;
    let home = rep.home.flatten();
    let day_start = rep.day_start.flatten();
    let day_end = rep.day_end.flatten();
    let changed: Option<bool> = sqlx::query_scalar(include_str!("sql/upsert_by_email_update.sql"))
        .bind_all((
            rep.email,
            rep.name,
            rep.crm_owner_id.is_some(),
            rep.crm_owner_id.flatten(),
            rep.home.is_some(),
            home.map(LonLat::lon),
            home.map(LonLat::lat),
            rep.work_start,
            rep.work_end,
            rep.timezone,
            rep.active,
            rep.break_minutes,
            rep.break_earliest,
            rep.break_latest,
            rep.day_start.is_some(),
            day_start.map(LonLat::lon),
            day_start.map(LonLat::lat),
            rep.day_end.is_some(),
            day_end.map(LonLat::lon),
            day_end.map(LonLat::lat),
        ))
        .fetch_optional(&mut *db)
        .await?;
    Ok(match (created, changed) {
        (Some(_), _) => Written::Created,
        (None, Some(_)) => Written::Updated,
        (None, None) => Written::Unchanged,
    })
}

/// The rep with this e-mail address (case does not matter).
pub async fn id_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from reps where lower(email) = lower($1)")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// A rep's name.
pub async fn name(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select name from reps where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The rep whose CRM owner id is `crm_owner_id`.
pub async fn id_by_crm_owner(
    db: impl PgExecutor<'_>,
    crm_owner_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from reps where crm_owner_id = $1")
        .bind(crm_owner_id)
        .fetch_optional(db)
        .await
}

/// A rep as the demo data set states it, keyed by CRM owner id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedRep<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub crm_owner_id: &'a str,
    pub home: LonLat,
    /// `HH:MM`.
    pub work_start: &'a str,
    pub work_end: &'a str,
}

/// Creates or updates the rep with `rep.crm_owner_id`: `Some(true)` inserted, `Some(false)`
/// changed, `None` unchanged.
pub async fn upsert_by_crm_owner(
    db: impl PgExecutor<'_>,
    rep: &SeedRep<'_>,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        r"
        insert into reps (name, email, crm_owner_id, home_base, work_start, work_end)
        values ($1, $2, $3, st_setsrid(st_makepoint($4, $5), 4326), $6::time, $7::time)
        on conflict on constraint reps_crm_owner_id_key do update set
            name = excluded.name, email = excluded.email, home_base = excluded.home_base,
            work_start = excluded.work_start, work_end = excluded.work_end
        where (reps.name, reps.email, st_equals(reps.home_base, excluded.home_base),
               reps.work_start, reps.work_end)
              is distinct from (excluded.name, excluded.email, true, excluded.work_start,
                                excluded.work_end)
        returning (xmax = 0)
        ",
    )
    .bind_all((
        rep.name,
        rep.email,
        rep.crm_owner_id,
        rep.home.lon(),
        rep.home.lat(),
        rep.work_start,
        rep.work_end,
    ))
    .fetch_optional(db)
    .await
}

/// Gives `ids` (synthetic reps: benchmarks, the live simulator) one shift: `work_start` to
/// `work_end` on ISO `workdays` (1 = Monday) in `timezone`.
pub async fn set_synthetic_shift(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    work_start: NaiveTime,
    work_end: NaiveTime,
    workdays: &[i16],
    timezone: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update reps set work_start = $2, work_end = $3, workdays = $4, timezone = $5
         where id = any($1)",
    )
    .bind_all((ids, work_start, work_end, workdays, timezone))
    .execute(db)
    .await?
    .rows_affected())
}

/// Inserts synthetic reps (benchmarks) with the given ids, names, e-mails and CRM owner ids.
pub async fn insert_synthetic(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    names: &[String],
    emails: &[String],
    crm_owner_ids: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into reps (id, name, email, crm_owner_id)
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[])",
    )
    .bind_all((ids, names, emails, crm_owner_ids))
    .execute(db)
    .await?;
    Ok(())
}
