//! The one place CRM changes reach the accounts table: last write wins by the CRM's own
//! modification time, soft deletes with tombstones, merges that re-point, and address changes
//! that send the account back to geocoding.
//!
//! Every function is idempotent: applying the same change twice leaves the same state and
//! reports [`Outcome::Stale`] (or `Unchanged`) the second time.
//!
//! Every change passes [`ClockGuard`] first: a modification time further in the future than the
//! allowed skew is applied as "now" and counted, so no event (forged, or from a CRM with a
//! wrong clock) can make every later real edit look stale.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::canonical::{CanonicalAccount, Change};

/// How far in the future a CRM's modification time may lie before it is clamped to now
/// (`TERRANE_CRM_CLOCK_SKEW_S`). Passed to every writer explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockGuard {
    skew: chrono::Duration,
}

impl Default for ClockGuard {
    /// Five minutes, the default of `TERRANE_CRM_CLOCK_SKEW_S`.
    fn default() -> Self {
        Self::new(std::time::Duration::from_secs(300))
    }
}

impl ClockGuard {
    pub fn new(skew: std::time::Duration) -> Self {
        Self {
            skew: chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// The latest modification time accepted as it is, given the current time.
    pub fn limit(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self.skew).unwrap_or(now)
    }

    /// `at`, or `now` when `at` lies beyond the allowed skew (and whether it was clamped).
    pub fn check(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> (DateTime<Utc>, bool) {
        if at > self.limit(now) {
            (now, true)
        } else {
            (at, false)
        }
    }

    /// `change` with its modification time checked; `Cow::Owned` when it was clamped.
    fn clamp_change<'c>(&self, change: &'c Change, now: DateTime<Utc>) -> Cow<'c, Change> {
        let (at, clamped) = self.check(change.at(), now);
        if !clamped {
            return Cow::Borrowed(change);
        }
        let mut owned = change.clone();
        match &mut owned {
            Change::Upsert(a) => a.modified_at = at,
            Change::Delete { at: t, .. }
            | Change::Restore { at: t, .. }
            | Change::Merge { at: t, .. } => *t = at,
        }
        Cow::Owned(owned)
    }
}

/// Counts changes of `source` whose clocks were clamped: a Prometheus counter, and the
/// source's own count (`crm_clock_clamps`), shown per connection on the sync page.
async fn count_clamped(db: &mut PgConnection, source: &str, n: usize) -> Result<(), ApplyError> {
    if n == 0 {
        return Ok(());
    }
    metrics::counter!("terrane_crm_future_clocks_clamped_total").increment(n as u64);
    tracing::warn!(
        source,
        changes = n,
        "CRM modification times in the future were applied as of now"
    );
    sqlx::query(
        "insert into crm_clock_clamps (source, clamped) values ($1, $2)
         on conflict (source) do update
         set clamped = crm_clock_clamps.clamped + excluded.clamped, last_at = now()",
    )
    .bind(source)
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// What applying one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Created,
    Updated,
    /// Newer clock, same content (the clock still advances).
    Unchanged,
    /// Older than (or as old as) what we hold: nothing changed.
    Stale,
    Deleted,
    Restored,
    Merged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Stale => "stale",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Merged => "merged",
        }
    }

    /// Whether the account table changed in a way users see.
    pub fn is_effect(self) -> bool {
        matches!(
            self,
            Self::Created | Self::Updated | Self::Deleted | Self::Restored | Self::Merged
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The change refers to a record we have not seen yet (merge survivor); retry later.
    #[error("{0}")]
    NotYet(String),
    /// The database refused the values (a check constraint): permanent for this event.
    #[error("the account was refused by the database: {0}")]
    Invalid(String),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23514") => {
                // check_violation: the constraint name says which field, never the value.
                Self::Invalid(db.constraint().unwrap_or("a check constraint").to_owned())
            }
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22001") => {
                Self::Invalid("a value is too long".to_owned())
            }
            _ => Self::Database(e),
        }
    }
}

impl ApplyError {
    /// Whether retrying the same event later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Invalid(_))
    }
}

/// Applies one change for the connection named `source` (`accounts.crm_source`), its clock
/// checked by `guard`.
pub async fn apply(
    db: &mut PgConnection,
    source: &str,
    change: &Change,
    guard: ClockGuard,
) -> Result<Outcome, ApplyError> {
    let change = guard.clamp_change(change, Utc::now());
    if matches!(change, Cow::Owned(_)) {
        count_clamped(db, source, 1).await?;
    }
    match change.as_ref() {
        Change::Upsert(account) => upsert(db, source, account).await,
        Change::Delete { crm_id, at } => delete(db, source, crm_id, *at).await,
        Change::Restore { crm_id, at } => restore(db, source, crm_id, *at).await,
        Change::Merge {
            survivor,
            merged,
            at,
        } => merge(db, source, survivor, merged, *at).await,
    }
}

#[derive(sqlx::FromRow)]
struct UpsertRow {
    crm_id: String,
    inserted: Option<bool>,
    existed: bool,
    same_content: Option<bool>,
    was_deleted: Option<bool>,
}

impl UpsertRow {
    fn outcome(&self) -> Outcome {
        match (self.inserted, self.existed) {
            (Some(true), _) => Outcome::Created,
            (Some(false), _) if self.was_deleted == Some(true) => Outcome::Restored,
            (Some(false), _) if self.same_content == Some(true) => Outcome::Unchanged,
            (Some(false), _) => Outcome::Updated,
            (None, true) if self.same_content == Some(true) => Outcome::Unchanged,
            (None, _) => Outcome::Stale,
        }
    }
}

async fn upsert(
    db: &mut PgConnection,
    source: &str,
    a: &CanonicalAccount,
) -> Result<Outcome, ApplyError> {
    let outcomes = write_many(db, source, &[a], vec![a.modified_at]).await?;
    Ok(outcomes.first().copied().unwrap_or(Outcome::Stale))
}

/// Upserts many accounts of one source in one statement (last write wins per account, clocks
/// checked by `guard`), and returns each one's outcome in input order. `accounts` must not name
/// a `crm_id` twice (reduce to the newest first); rows are written in `crm_id` order, so
/// concurrent callers lock accounts in the same order.
pub async fn upsert_many(
    db: &mut PgConnection,
    source: &str,
    accounts: &[&CanonicalAccount],
    guard: ClockGuard,
) -> Result<Vec<Outcome>, ApplyError> {
    if accounts.is_empty() {
        return Ok(vec![]);
    }
    let now = Utc::now();
    let checked: Vec<(DateTime<Utc>, bool)> = accounts
        .iter()
        .map(|a| guard.check(a.modified_at, now))
        .collect();
    count_clamped(db, source, checked.iter().filter(|(_, c)| *c).count()).await?;
    write_many(
        db,
        source,
        accounts,
        checked.iter().map(|(at, _)| *at).collect(),
    )
    .await
}

/// The longest account name stored (`accounts.name`'s check).
pub const MAX_NAME_CHARS: usize = 500;

/// A CRM may hold longer names than Terrane stores (HubSpot's name is unbounded): the first
/// 499 characters and an ellipsis, so the record still syncs and the page shows it was cut.
pub fn fit_name(name: &str) -> Cow<'_, str> {
    if name.chars().count() <= MAX_NAME_CHARS {
        return Cow::Borrowed(name);
    }
    let mut cut: String = name.chars().take(MAX_NAME_CHARS - 1).collect();
    cut.push('…');
    Cow::Owned(cut)
}

/// [`upsert_many`] once the clocks are checked: `at[i]` is `accounts[i]`'s modification time.
async fn write_many(
    db: &mut PgConnection,
    source: &str,
    accounts: &[&CanonicalAccount],
    at: Vec<DateTime<Utc>>,
) -> Result<Vec<Outcome>, ApplyError> {
    let col = |f: &dyn Fn(&CanonicalAccount) -> Option<String>| -> Vec<Option<String>> {
        accounts.iter().map(|a| f(a)).collect()
    };
    let crm_id: Vec<&str> = accounts.iter().map(|a| a.crm_id.as_str()).collect();
    let fitted: Vec<Cow<'_, str>> = accounts.iter().map(|a| fit_name(&a.name)).collect();
    let name: Vec<&str> = fitted.iter().map(AsRef::as_ref).collect();
    let tier: Vec<Option<&str>> = accounts
        .iter()
        .map(|a| a.tier.map(|t| t.as_str()))
        .collect();
    let value: Vec<Option<f64>> = accounts.iter().map(|a| a.annual_value).collect();
    let visits: Vec<Option<i32>> = accounts.iter().map(|a| a.visits_per_year).collect();
    let priority: Vec<Option<i16>> = accounts.iter().map(|a| a.priority).collect();
    let rows: Vec<UpsertRow> = sqlx::query_as(
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
    .bind(source)
    .bind(&crm_id)
    .bind(&name)
    .bind(col(&|a| a.industry.clone()))
    .bind(col(&|a| a.address.line.clone()))
    .bind(col(&|a| a.address.house_number.clone()))
    .bind(col(&|a| a.address.street.clone()))
    .bind(col(&|a| a.address.postal_code.clone()))
    .bind(col(&|a| a.address.city.clone()))
    .bind(col(&|a| a.address.country_code.clone()))
    .bind(&tier)
    .bind(&value)
    .bind(&visits)
    .bind(&priority)
    .bind(col(&|a| a.owner_crm_id.clone()))
    .bind(&at)
    .fetch_all(&mut *db)
    .await?;
    let by_id: std::collections::HashMap<&str, Outcome> = rows
        .iter()
        .map(|r| (r.crm_id.as_str(), r.outcome()))
        .collect();
    Ok(crm_id
        .iter()
        .map(|id| by_id.get(id).copied().unwrap_or(Outcome::Stale))
        .collect())
}

/// An unknown record gets a tombstone, so a creation delivered after its deletion stays
/// deleted.
const DELETE_SQL: &str = r"
    insert into accounts (crm_source, crm_id, name, crm_updated_at, deleted_at)
    values ($1, $2, '(deleted before it was seen)', $3, now())
    on conflict on constraint accounts_crm_key do update set
        deleted_at = coalesce(accounts.deleted_at, now()),
        crm_updated_at = excluded.crm_updated_at
    where accounts.crm_updated_at is null or accounts.crm_updated_at < excluded.crm_updated_at
    returning true";

const RESTORE_SQL: &str = r"
    update accounts set deleted_at = null, merged_into = null, crm_updated_at = $3
    where crm_source = $1 and crm_id = $2 and deleted_at is not null
      and (crm_updated_at is null or crm_updated_at < $3)
    returning true";

async fn delete(
    db: &mut PgConnection,
    source: &str,
    crm_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, ApplyError> {
    stamp(db, DELETE_SQL, source, crm_id, at, Outcome::Deleted).await
}

async fn restore(
    db: &mut PgConnection,
    source: &str,
    crm_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, ApplyError> {
    stamp(db, RESTORE_SQL, source, crm_id, at, Outcome::Restored).await
}

/// Runs a last-write-wins statement over (source, crm_id, at) that returns a row when it
/// changed something: `done`, else [`Outcome::Stale`].
async fn stamp(
    db: &mut PgConnection,
    sql: &'static str,
    source: &str,
    crm_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    done: Outcome,
) -> Result<Outcome, ApplyError> {
    let changed: Option<bool> = sqlx::query_scalar(sql)
        .bind(source)
        .bind(crm_id)
        .bind(at)
        .fetch_optional(&mut *db)
        .await?;
    Ok(if changed.is_some() {
        done
    } else {
        Outcome::Stale
    })
}

async fn merge(
    db: &mut PgConnection,
    source: &str,
    survivor: &str,
    merged: &[String],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, ApplyError> {
    let survivor_id: Option<uuid::Uuid> = sqlx::query_scalar(
        "select id from accounts where crm_source = $1 and crm_id = $2 and deleted_at is null",
    )
    .bind(source)
    .bind(survivor)
    .fetch_optional(&mut *db)
    .await?;
    let Some(survivor_id) = survivor_id else {
        return Err(ApplyError::NotYet(
            "the merge's surviving record is not known yet".to_owned(),
        ));
    };
    let merged: Vec<&str> = merged
        .iter()
        .map(String::as_str)
        .filter(|id| *id != survivor)
        .collect();
    let moved: Vec<uuid::Uuid> = sqlx::query_scalar(
        r"
        update accounts set deleted_at = coalesce(deleted_at, now()), merged_into = $3,
                            crm_updated_at = greatest(crm_updated_at, $4)
        where crm_source = $1 and crm_id = any($2)
          and (merged_into is distinct from $3)
          and (crm_updated_at is null or crm_updated_at <= $4)
        returning id
        ",
    )
    .bind(source)
    .bind(&merged)
    .bind(survivor_id)
    .bind(at)
    .fetch_all(&mut *db)
    .await?;
    // Whatever pointed at a merged record now points at the survivor. (Later capabilities
    // that reference accounts, such as visits, re-point here too.)
    sqlx::query("update accounts set merged_into = $1 where merged_into = any($2)")
        .bind(survivor_id)
        .bind(&moved)
        .execute(&mut *db)
        .await?;
    Ok(if moved.is_empty() {
        Outcome::Stale
    } else {
        Outcome::Merged
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_longer_than_stored_are_cut_with_an_ellipsis_on_a_character_boundary() {
        let ten_kb = "é".repeat(10_000);
        let fitted = fit_name(&ten_kb);
        assert_eq!(fitted.chars().count(), MAX_NAME_CHARS);
        assert!(fitted.ends_with('…') && fitted.starts_with("éé"));
        let exact = "x".repeat(MAX_NAME_CHARS);
        assert!(matches!(fit_name(&exact), Cow::Borrowed(_)));
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("valid").to_utc()
    }

    #[test]
    fn a_clock_beyond_the_skew_is_clamped_to_now_and_one_within_it_is_kept() {
        let guard = ClockGuard::new(std::time::Duration::from_secs(300));
        let now = t("2026-12-07T10:00:00Z");
        assert_eq!(
            guard.check(t("2026-12-07T10:05:00Z"), now),
            (t("2026-12-07T10:05:00Z"), false)
        );
        assert_eq!(guard.check(t("2026-12-07T10:05:01Z"), now), (now, true));
        assert_eq!(guard.check(t("9999-01-01T00:00:00Z"), now), (now, true));
        assert_eq!(
            guard.check(t("2020-01-01T00:00:00Z"), now),
            (t("2020-01-01T00:00:00Z"), false)
        );
        let merge = Change::Merge {
            survivor: "1".into(),
            merged: vec!["2".into()],
            at: t("2100-01-01T00:00:00Z"),
        };
        assert_eq!(guard.clamp_change(&merge, now).at(), now);
        assert!(matches!(
            guard.clamp_change(
                &Change::Delete {
                    crm_id: "1".into(),
                    at: now
                },
                now
            ),
            Cow::Borrowed(_)
        ));
    }
}
