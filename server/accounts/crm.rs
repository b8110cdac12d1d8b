//! The CRM column group of `accounts` (name, industry, address, tier, value, visits, priority,
//! CRM owner, CRM clock, deletion and merges): the only writer of those columns. `crm::apply`
//! (webhooks, reconciliation, CSV) decides what to write; these statements write it, last write
//! wins by `crm_updated_at`.

use crate::db::Bind;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::CrmRef;

/// Column values of a batch of CRM records of one source, one entry per record, same order.
#[derive(Debug, Default)]
pub struct CrmColumns<'a> {
    pub crm_id: Vec<&'a str>,
    pub name: Vec<&'a str>,
    pub industry: Vec<Option<&'a str>>,
    pub address_line: Vec<Option<&'a str>>,
    pub house_number: Vec<Option<&'a str>>,
    pub street: Vec<Option<&'a str>>,
    pub postal_code: Vec<Option<&'a str>>,
    pub city: Vec<Option<&'a str>>,
    pub country_code: Vec<Option<&'a str>>,
    /// `account_tier` names; `None` keeps the default (C).
    pub tier: Vec<Option<&'a str>>,
    pub annual_value: Vec<Option<f64>>,
    pub visits_per_year: Vec<Option<i32>>,
    pub priority: Vec<Option<i16>>,
    pub owner_crm_id: Vec<Option<&'a str>>,
    /// The CRM's modification time, already checked against the clock skew.
    pub modified_at: Vec<DateTime<Utc>>,
}

/// What [`upsert`] did to one record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upserted {
    pub crm_id: String,
    /// `Some(true)` inserted, `Some(false)` updated, `None` not written (stale).
    pub inserted: Option<bool>,
    /// The record was known before.
    pub existed: bool,
    /// The stored content equalled the new content (before this write).
    pub same_content: Option<bool>,
    /// The record was deleted before this write.
    pub was_deleted: Option<bool>,
}

/// Upserts a batch of one source in one statement, last write wins per record; a new address
/// sends the account back to geocoding. Rows are written in `crm_id` order, so concurrent
/// callers lock accounts in the same order.
pub async fn upsert(
    db: &mut PgConnection,
    source: &str,
    c: &CrmColumns<'_>,
) -> Result<Vec<Upserted>, sqlx::Error> {
    sqlx::query_as(
        r"
        with new as (
            select $1::text as crm_source, t.crm_id, t.name, t.industry, t.address_line,
                   t.house_number, t.street, t.postal_code, t.city, t.country_code,
                   coalesce(t.tier::account_tier, 'C') as tier,
                   coalesce(t.annual_value, 0)::numeric(14, 2) as annual_value,
                   coalesce(t.visits_per_year, 4) as visits_per_year,
                   coalesce(t.priority, 3::int2) as priority,
                   t.crm_owner_id, t.crm_updated_at
            from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::text[], $9::text[], $10::text[], $11::text[], $12::numeric[],
                        $13::int4[], $14::int2[], $15::text[], $16::timestamptz[])
                 as t(crm_id, name, industry, address_line, house_number, street, postal_code,
                      city, country_code, tier, annual_value, visits_per_year, priority,
                      crm_owner_id, crm_updated_at)
        ),
        old as (
            select a.crm_id, a.deleted_at is not null as was_deleted,
                   (a.name, a.industry, a.tier, a.annual_value, a.visits_per_year, a.priority,
                    a.crm_owner_id, a.deleted_at is null,
                    terrane_address_text(a.address_line, a.house_number, a.street,
                                         a.postal_code, a.city, a.country_code))
                   is not distinct from
                   (n.name, n.industry, n.tier, n.annual_value, n.visits_per_year, n.priority,
                    n.crm_owner_id, true,
                    terrane_address_text(n.address_line, n.house_number, n.street,
                                         n.postal_code, n.city, n.country_code))
                   as same_content
            from accounts a join new n using (crm_source, crm_id)
        ),
        up as (
            insert into accounts (
                crm_source, crm_id, name, industry, address_line, house_number, street,
                postal_code, city, country_code, tier, annual_value, visits_per_year, priority,
                crm_owner_id, owner_rep_id, crm_updated_at
            )
            select n.crm_source, n.crm_id, n.name, n.industry, n.address_line, n.house_number,
                   n.street, n.postal_code, n.city, n.country_code, n.tier, n.annual_value,
                   n.visits_per_year, n.priority, n.crm_owner_id,
                   (select r.id from reps r where r.crm_owner_id = n.crm_owner_id),
                   n.crm_updated_at
            from new n
            order by n.crm_id
            on conflict on constraint accounts_crm_key do update set
                name = excluded.name,
                industry = excluded.industry,
                address_line = excluded.address_line,
                house_number = excluded.house_number,
                street = excluded.street,
                postal_code = excluded.postal_code,
                city = excluded.city,
                country_code = excluded.country_code,
                tier = excluded.tier,
                annual_value = excluded.annual_value,
                visits_per_year = excluded.visits_per_year,
                priority = excluded.priority,
                crm_owner_id = excluded.crm_owner_id,
                owner_rep_id = excluded.owner_rep_id,
                crm_updated_at = excluded.crm_updated_at,
                deleted_at = null,
                merged_into = null,
                -- A new address sends the account back to geocoding, manual pins included.
                geocode_status = case
                    when terrane_address_text(accounts.address_line, accounts.house_number,
                            accounts.street, accounts.postal_code, accounts.city,
                            accounts.country_code)
                         is distinct from
                         terrane_address_text(excluded.address_line, excluded.house_number,
                            excluded.street, excluded.postal_code, excluded.city,
                            excluded.country_code)
                    then 'pending'::geocode_status
                    else accounts.geocode_status
                end
            where accounts.crm_updated_at is null
               or accounts.crm_updated_at < excluded.crm_updated_at
            returning accounts.crm_id, (xmax = 0) as inserted
        )
        select n.crm_id, up.inserted, old.crm_id is not null as existed, old.same_content,
               old.was_deleted
        from new n left join up using (crm_id) left join old using (crm_id)
        ",
    )
    .bind_all((
        source,
        &c.crm_id,
        &c.name,
        &c.industry,
        &c.address_line,
        &c.house_number,
        &c.street,
        &c.postal_code,
        &c.city,
        &c.country_code,
        &c.tier,
        &c.annual_value,
        &c.visits_per_year,
        &c.priority,
        &c.owner_crm_id,
        &c.modified_at,
    ))
    .fetch_all(db)
    .await
}

/// Marks a record deleted at `at` (last write wins); an unknown record gets a tombstone, so a
/// creation delivered after its deletion stays deleted. True when it changed something.
pub async fn delete(
    db: impl PgExecutor<'_>,
    record: &CrmRef,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    stamp(db, include_str!("sql/crm_delete.sql"), record, at).await
}

/// Undeletes a record at `at` (last write wins). True when it changed something.
pub async fn restore(
    db: impl PgExecutor<'_>,
    record: &CrmRef,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    stamp(db, include_str!("sql/crm_restore.sql"), record, at).await
}

/// Runs a last-write-wins statement over `$1` source, `$2` record id and `$3` time that returns
/// a row when it changed something.
async fn stamp(
    db: impl PgExecutor<'_>,
    sql: &'static str,
    record: &CrmRef,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let changed: Option<bool> = sqlx::query_scalar(sql)
        .bind_all((&record.source, &record.id, at))
        .fetch_optional(db)
        .await?;
    Ok(changed.is_some())
}

/// The id of the live account `record`, if there is one.
pub async fn live_id(
    db: impl PgExecutor<'_>,
    record: &CrmRef,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from accounts where crm_source = $1 and crm_id = $2 and deleted_at is null",
    )
    .bind_all((&record.source, &record.id))
    .fetch_optional(db)
    .await
}

/// Merges the records `merged` of `source` into the account `survivor` at `at` (last write
/// wins): they are deleted and point at the survivor, and whatever pointed at them now points
/// at the survivor. Returns the ids of the accounts merged now.
pub async fn merge(
    db: &mut PgConnection,
    source: &str,
    merged: &[&str],
    survivor: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let moved: Vec<Uuid> = sqlx::query_scalar(
        r"
        update accounts set deleted_at = coalesce(deleted_at, now()), merged_into = $3,
                            crm_updated_at = greatest(crm_updated_at, $4)
        where crm_source = $1 and crm_id = any($2)
          and (merged_into is distinct from $3)
          and (crm_updated_at is null or crm_updated_at <= $4)
        returning id
        ",
    )
    .bind_all((source, merged, survivor, at))
    .fetch_all(&mut *db)
    .await?;
    // (Later capabilities that reference accounts, such as visits, re-point here too.)
    sqlx::query("update accounts set merged_into = $1 where merged_into = any($2)")
        .bind_all((survivor, &moved))
        .execute(&mut *db)
        .await?;
    Ok(moved)
}

/// Resets `source`'s stored CRM clocks later than `limit` (to none: the next state the CRM
/// gives wins); returns how many.
pub async fn reset_future_clocks(
    db: impl PgExecutor<'_>,
    source: &str,
    limit: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update accounts set crm_updated_at = null
         where crm_source = $1 and crm_updated_at > $2",
    )
    .bind_all((source, limit))
    .execute(db)
    .await?
    .rows_affected())
}

/// Soft-deletes `source`'s live accounts that a full read of the CRM did not see, unless a
/// change reached them after `started_at` (the read began before it); returns how many.
pub async fn delete_unseen(
    db: impl PgExecutor<'_>,
    source: &str,
    seen: &[String],
    started_at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        r"
        update accounts set deleted_at = now()
        where crm_source = $1 and deleted_at is null and crm_id <> all($2)
          and (crm_updated_at is null or crm_updated_at < $3)
          and updated_at < $3
        ",
    )
    .bind_all((source, seen, started_at))
    .execute(db)
    .await?
    .rows_affected())
}

/// Records the owner the CRM now holds, once Terrane wrote it there.
pub async fn set_crm_owner(
    db: impl PgExecutor<'_>,
    account: Uuid,
    crm_owner_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update accounts set crm_owner_id = $2 where id = $1")
        .bind_all((account, crm_owner_id))
        .execute(db)
        .await?;
    Ok(())
}
