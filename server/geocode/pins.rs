//! Manual pins: a manager moves an account's pin by hand. The precision becomes `manual`, and
//! re-geocoding leaves it alone until the account's address changes.

use sqlx::PgPool;
use uuid::Uuid;

use super::Address;
use super::normalize::normalize;
use crate::accounts::location;
use crate::audit::{self, AuditEvent};
use crate::auth::Scope;
use crate::spatial::LonLat;

/// Places `account` at `at` if it is within `scope`; false when there is no such account (or
/// it is outside the scope). Audited (without the coordinates).
pub async fn set_manual(
    db: &PgPool,
    scope: &Scope,
    actor: Uuid,
    account: Uuid,
    at: LonLat,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    // The address this pin belongs to: only a change of it (after normalization) re-geocodes.
    let address: Option<Address> =
        sqlx::query_as(include_str!("sql/account_address_for_update.sql"))
            .bind(account)
            .fetch_optional(&mut *tx)
            .await?;
    let key = address.map(|a| normalize(&a).key());
    let moved = location::pin(&mut *tx, scope, account, at, key).await?;
    if moved {
        audit::record(
            &mut *tx,
            AuditEvent::new(Some(actor), "account.pin_moved").about("account", account.to_string()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(moved)
}
