//! How long a visit takes at an account (`service_minutes`): Terrane's own planning value, not
//! a CRM field, so it is set beside the CRM's columns and never from them. Null: the default
//! of the account's workload tier in its team (`workload_tiers.service_minutes`).

use crate::db::Bind;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::CrmRef;

/// Fewest and most minutes a visit may take (the `accounts.service_minutes` check).
pub const MINUTES: std::ops::RangeInclusive<i32> = 1..=600;

/// What [`set_minutes`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinutesSet {
    /// No account has this record, or it already had these minutes.
    Unchanged,
    /// Changed; the account's owner, whose day plans used the old value.
    Changed { owner_rep_id: Option<Uuid> },
}

/// Sets the visit minutes of an account (`None`: the tier default).
pub async fn set_minutes(
    db: impl PgExecutor<'_>,
    account: &CrmRef,
    minutes: Option<i32>,
) -> Result<MinutesSet, sqlx::Error> {
    let owner: Option<Option<Uuid>> =
        sqlx::query_scalar(include_str!("sql/service_set_minutes.sql"))
            .bind_all((account.source.as_str(), account.id.as_str(), minutes))
            .fetch_optional(db)
            .await?;
    Ok(match owner {
        Some(owner_rep_id) => MinutesSet::Changed { owner_rep_id },
        None => MinutesSet::Unchanged,
    })
}
