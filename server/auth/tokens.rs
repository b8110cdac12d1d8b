//! API tokens for machine clients: created by admins, shown once, stored hashed, scoped, revocable.

use crate::db::Bind;
use sqlx::PgPool;
use uuid::Uuid;

use super::secret;
use crate::audit::{self, AuditEvent};

/// Every token starts with this, so leaked tokens are easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "trn_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Read every account (`GET /api/accounts`).
    AccountsRead,
    /// Read territories and plans (used by the territory issue).
    TerritoriesRead,
}

impl TokenScope {
    pub const ALL: [TokenScope; 2] = [TokenScope::AccountsRead, TokenScope::TerritoriesRead];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::AccountsRead => "accounts:read",
            TokenScope::TerritoriesRead => "territories:read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// A token's listing row (never the token itself).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was revoked when not by hand (`creator demoted`, `creator disabled`).
    pub revoked_reason: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TokenRow {
    /// Past its expiry (it no longer opens anything).
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= chrono::Utc::now())
    }
}

/// How long a new token lives, as offered on the tokens page (days; `None`: until revoked).
pub const LIFETIMES_DAYS: [Option<u32>; 4] = [Some(30), Some(90), Some(365), None];

/// A verified, unrevoked token presented by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub token_id: Uuid,
    pub scopes: Vec<TokenScope>,
}

impl ApiClient {
    pub fn may(&self, scope: TokenScope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Creates a token and returns it in full: the only time it is ever visible.
pub async fn create(
    pool: &PgPool,
    actor: Uuid,
    name: &str,
    scopes: &[TokenScope],
    lifetime_days: Option<u32>,
) -> Result<(Uuid, String), sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", secret::random_hex());
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let mut tx = pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(include_str!("sql/tokens_insert.sql"))
        .bind_all((
            name,
            secret::sha256(&token),
            &token[..TOKEN_PREFIX.len() + 6],
            &scope_names,
            actor,
            lifetime_days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
        ))
        .fetch_one(&mut *tx)
        .await?;
    audit::commit_with(
        tx,
        AuditEvent::new(Some(actor), "api_token.created")
            .about("api_token", id.to_string())
            .with(serde_json::json!({
                "name": name, "scopes": scope_names, "lifetime_days": lifetime_days,
            })),
    )
    .await?;
    Ok((id, token))
}

/// Revokes a token (idempotent); `false` when there is no such token.
pub async fn revoke(pool: &PgPool, actor: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query(include_str!("sql/tokens_revoke.sql"))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if found {
        audit_revoked(&mut tx, actor, id, None).await?;
    }
    tx.commit().await?;
    Ok(found)
}

async fn audit_revoked(
    tx: &mut sqlx::PgConnection,
    actor: Uuid,
    id: Uuid,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    let details = match reason {
        Some(r) => serde_json::json!({ "reason": r }),
        None => serde_json::json!({}),
    };
    audit::record(
        &mut *tx,
        AuditEvent::new(Some(actor), "api_token.revoked")
            .about("api_token", id.to_string())
            .with(details),
    )
    .await
}

/// Revokes every live token `creator` made, because they are no longer an enabled admin
/// (`reason`: `creator demoted` or `creator disabled`); audited, in the caller's transaction.
pub async fn revoke_created_by(
    tx: &mut sqlx::PgConnection,
    actor: Uuid,
    creator: Uuid,
    reason: &'static str,
) -> Result<u64, sqlx::Error> {
    let ids: Vec<Uuid> = sqlx::query_scalar(include_str!("sql/tokens_revoke_created_by.sql"))
        .bind_all((creator, reason))
        .fetch_all(&mut *tx)
        .await?;
    for id in &ids {
        audit_revoked(tx, actor, *id, Some(reason)).await?;
    }
    Ok(ids.len() as u64)
}

/// The client behind a presented token, if it is known, not revoked and not expired.
pub async fn verify(pool: &PgPool, presented: &str) -> Result<Option<ApiClient>, sqlx::Error> {
    if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    let row: Option<(Uuid, Vec<String>, bool)> =
        sqlx::query_as(include_str!("sql/tokens_find_live.sql"))
            .bind(secret::sha256(presented))
            .fetch_optional(pool)
            .await?;
    let Some((token_id, scopes, stale)) = row else {
        return Ok(None);
    };
    // Record use at most once a minute per token, not one write per API call.
    if stale {
        sqlx::query(include_str!("sql/tokens_touch.sql"))
            .bind(token_id)
            .execute(pool)
            .await?;
    }
    Ok(Some(ApiClient {
        token_id,
        scopes: scopes.iter().filter_map(|s| TokenScope::parse(s)).collect(),
    }))
}

pub async fn list(pool: &PgPool) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as::<_, TokenRow>(include_str!("sql/tokens_list.sql"))
        .fetch_all(pool)
        .await
}
