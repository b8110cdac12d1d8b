//! Device tokens for reps' location streams: 15 minutes long, renewed from the signed-in
//! session, revocable; revocation is broadcast so open sockets close at once.

use crate::db::Bind;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::secret;
use crate::audit::{self, AuditEvent};

pub const DEVICE_TOKEN_PREFIX: &str = "trd_";
/// How long a device token lives; the device renews it from the session before then.
pub const DEVICE_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A valid device token's owner and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub token_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Tells open sockets that a user's device tokens were revoked.
#[derive(Clone)]
pub struct Revocations(broadcast::Sender<Uuid>);

impl Default for Revocations {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Revocations {
    /// User ids whose device tokens were revoked from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.0.subscribe()
    }

    /// Closes `user_id`'s open sockets, after their tokens were revoked in a committed
    /// transaction ([`revoke_all_in`]).
    pub fn announce(&self, user_id: Uuid) {
        // No receivers (no open sockets) is fine.
        let _ = self.0.send(user_id);
    }
}

/// Issues a new device token for `user_id`; returns it and its expiry.
pub async fn issue(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<(String, chrono::DateTime<chrono::Utc>), sqlx::Error> {
    let token = format!("{DEVICE_TOKEN_PREFIX}{}", secret::random_hex());
    let expires_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar(include_str!("sql/devices_insert.sql"))
            .bind_all((
                user_id,
                secret::sha256(&token),
                DEVICE_TOKEN_TTL.as_secs_f64(),
            ))
            .fetch_one(pool)
            .await?;
    Ok((token, expires_at))
}

/// The device behind a presented token, if it is unexpired and unrevoked.
pub async fn verify(pool: &PgPool, presented: &str) -> Result<Option<Device>, sqlx::Error> {
    if !presented.starts_with(DEVICE_TOKEN_PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    let row: Option<(Uuid, Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as(include_str!("sql/devices_find_live.sql"))
            .bind(secret::sha256(presented))
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(token_id, user_id, expires_at)| Device {
        token_id,
        user_id,
        expires_at,
    }))
}

/// Revokes all of `user_id`'s device tokens, audits it, and closes their open sockets.
pub async fn revoke_all(
    pool: &PgPool,
    revocations: &Revocations,
    actor: Uuid,
    user_id: Uuid,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let n = revoke_all_in(&mut tx, actor, user_id).await?;
    tx.commit().await?;
    revocations.announce(user_id);
    Ok(n)
}

/// [`revoke_all`] inside the caller's transaction; the caller announces the revocation to
/// open sockets ([`Revocations::announce`]) once it has committed.
pub async fn revoke_all_in(
    tx: &mut sqlx::PgConnection,
    actor: Uuid,
    user_id: Uuid,
) -> Result<u64, sqlx::Error> {
    let n = sqlx::query(include_str!("sql/devices_revoke_all_in.sql"))
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    audit::record(
        &mut *tx,
        AuditEvent::new(Some(actor), "device_tokens.revoked")
            .about("user", user_id.to_string())
            .with(serde_json::json!({ "tokens": n })),
    )
    .await?;
    Ok(n)
}
