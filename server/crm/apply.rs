//! The one place that decides how CRM changes reach the accounts table (the statements are
//! `accounts::crm`'s, the table's owner): last write wins by the CRM's own
//! modification time, soft deletes with tombstones, merges that re-point, and address changes
//! that send the account back to geocoding.
//!
//! Every function is idempotent: applying the same change twice leaves the same state and
//! reports [`Outcome::Stale`] (or `Unchanged`) the second time.
//!
//! Every change passes [`ClockGuard`] first: a modification time further in the future than the
//! allowed skew is applied as "now" and counted, so no event (forged, or from a CRM with a
//! wrong clock) can make every later real edit look stale.

use crate::db::Bind;
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::canonical::{CanonicalAccount, Change};
use crate::accounts::CrmRef;
use crate::accounts::crm as account_crm;

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
    sqlx::query(include_str!("sql/apply_clock_clamped.sql"))
        .bind_all((source, i64::try_from(n).unwrap_or(i64::MAX)))
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
        Change::Delete { crm_id, at } => delete(db, &CrmRef::new(source, crm_id), *at).await,
        Change::Restore { crm_id, at } => restore(db, &CrmRef::new(source, crm_id), *at).await,
        Change::Merge {
            survivor,
            merged,
            at,
        } => merge(db, source, survivor, merged, *at).await,
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
    let fitted: Vec<Cow<'_, str>> = accounts.iter().map(|a| fit_name(&a.name)).collect();
    let text = |f: &dyn Fn(&CanonicalAccount) -> Option<&str>| -> Vec<Option<&str>> {
        accounts.iter().map(|a| f(a)).collect()
    };
    let columns = account_crm::CrmColumns {
        crm_id: accounts.iter().map(|a| a.crm_id.as_str()).collect(),
        name: fitted.iter().map(AsRef::as_ref).collect(),
        industry: text(&|a| a.industry.as_deref()),
        address_line: text(&|a| a.address.line.as_deref()),
        house_number: text(&|a| a.address.house_number.as_deref()),
        street: text(&|a| a.address.street.as_deref()),
        postal_code: text(&|a| a.address.postal_code.as_deref()),
        city: text(&|a| a.address.city.as_deref()),
        country_code: text(&|a| a.address.country_code.as_deref()),
        tier: accounts
            .iter()
            .map(|a| a.tier.map(super::canonical::Tier::as_str))
            .collect(),
        annual_value: accounts.iter().map(|a| a.annual_value).collect(),
        visits_per_year: accounts.iter().map(|a| a.visits_per_year).collect(),
        priority: accounts.iter().map(|a| a.priority).collect(),
        owner_crm_id: text(&|a| a.owner_crm_id.as_deref()),
        modified_at: at,
    };
    let rows = account_crm::upsert(db, source, &columns).await?;
    let by_id: std::collections::HashMap<&str, Outcome> = rows
        .iter()
        .map(|r| (r.crm_id.as_str(), outcome(r)))
        .collect();
    Ok(columns
        .crm_id
        .iter()
        .map(|id| by_id.get(id).copied().unwrap_or(Outcome::Stale))
        .collect())
}

/// What an upsert did, from what the statement saw.
fn outcome(row: &account_crm::Upserted) -> Outcome {
    match (row.inserted, row.existed) {
        (Some(true), _) => Outcome::Created,
        (Some(false), _) if row.was_deleted == Some(true) => Outcome::Restored,
        (Some(false), _) if row.same_content == Some(true) => Outcome::Unchanged,
        (Some(false), _) => Outcome::Updated,
        (None, true) if row.same_content == Some(true) => Outcome::Unchanged,
        (None, _) => Outcome::Stale,
    }
}

/// `done` when the last-write-wins statement changed something, else [`Outcome::Stale`].
fn changed_or_stale(changed: bool, done: Outcome) -> Outcome {
    if changed { done } else { Outcome::Stale }
}

async fn delete(
    db: &mut PgConnection,
    record: &CrmRef,
    at: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let changed = account_crm::delete(db, record, at).await?;
    Ok(changed_or_stale(changed, Outcome::Deleted))
}

async fn restore(
    db: &mut PgConnection,
    record: &CrmRef,
    at: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let changed = account_crm::restore(db, record, at).await?;
    Ok(changed_or_stale(changed, Outcome::Restored))
}

async fn merge(
    db: &mut PgConnection,
    source: &str,
    survivor: &str,
    merged: &[String],
    at: DateTime<Utc>,
) -> Result<Outcome, ApplyError> {
    let Some(survivor_id) = account_crm::live_id(&mut *db, &CrmRef::new(source, survivor)).await?
    else {
        return Err(ApplyError::NotYet(
            "the merge's surviving record is not known yet".to_owned(),
        ));
    };
    let merged: Vec<&str> = merged
        .iter()
        .map(String::as_str)
        .filter(|id| *id != survivor)
        .collect();
    let moved = account_crm::merge(db, source, &merged, survivor_id, at).await?;
    Ok(changed_or_stale(!moved.is_empty(), Outcome::Merged))
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
