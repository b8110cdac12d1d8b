//! CRM connections: which CRM, where its API is, and its secrets (sealed with [`SecretKey`]).
//!
//! Secrets are write-only: they are saved sealed and only a summary (how many webhook secrets,
//! whether OAuth2 credentials are set, short fingerprints) is ever read back for display. The
//! one exception is a Salesforce connection's webhook path token, part of the endpoint URL an
//! admin pastes into Salesforce: sealed too, and shown to admins like the other endpoint URLs.

use crate::db::Bind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::crypto::{CryptoError, SecretKey};
use crate::audit::{self, AuditEvent};

/// Which wire format and API a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "crm_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CrmKind {
    #[sqlx(rename = "hubspot")]
    #[serde(rename = "hubspot")]
    HubSpot,
    Salesforce,
    Standard,
}

impl CrmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HubSpot => "hubspot",
            Self::Salesforce => "salesforce",
            Self::Standard => "standard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hubspot" => Some(Self::HubSpot),
            "salesforce" => Some(Self::Salesforce),
            "standard" => Some(Self::Standard),
            _ => None,
        }
    }

    /// Whether nightly reconciliation can read this CRM's API.
    pub fn has_api(self) -> bool {
        !matches!(self, Self::Standard)
    }
}

/// A connection as stored, without its secrets.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Connection {
    pub id: Uuid,
    pub name: String,
    pub kind: CrmKind,
    pub api_base_url: Option<String>,
    /// Salesforce organization id, or HubSpot account (portal) id.
    pub organization_id: Option<String>,
    pub enabled: bool,
    pub secrets_summary: sqlx::types::Json<SecretsSummary>,
    /// Whether a Salesforce webhook path token is set (the token itself: [`webhook_token`]).
    pub has_webhook_token: bool,
    /// Changes whose modification time lay too far in the future and were applied as of now.
    pub clocks_clamped: i64,
    pub last_clock_clamped_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// What an admin must fix before this connection is trustworthy, for the sync page.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kind == CrmKind::HubSpot && self.organization_id.is_none() {
            out.push(
                "no HubSpot account (portal) id: webhooks signed by the app's secret for any \
                 HubSpot account are taken; set the portal id",
            );
        }
        if self.kind == CrmKind::Salesforce && !self.has_webhook_token {
            out.push(
                "no webhook path token: Outbound Messages are refused until one is issued \
                 (edit the connection)",
            );
        }
        if let Some(u) = self.api_base_url.as_deref()
            && check_url(Some(u)).is_err()
        {
            out.push("the API base URL is not https: set an https URL");
        }
        out
    }
}

/// The secrets of one connection, as sealed in `crm_connections.secrets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// Active webhook signing secrets, oldest first; any of them verifies (rotation).
    /// HubSpot: the app's client secret; Standard Webhooks: `whsec_...`.
    #[serde(default)]
    pub webhook_secrets: Vec<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// What may be shown about [`Secrets`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsSummary {
    /// A short SHA-256 fingerprint per webhook secret, so an admin can tell which to retire.
    #[serde(default)]
    pub webhook_secret_fingerprints: Vec<String>,
    #[serde(default)]
    pub oauth_client: bool,
    #[serde(default)]
    pub refresh_token: bool,
}

/// At most this many webhook secrets are active at once.
pub const MAX_WEBHOOK_SECRETS: usize = 3;

impl Secrets {
    pub fn summary(&self) -> SecretsSummary {
        SecretsSummary {
            webhook_secret_fingerprints: self
                .webhook_secrets
                .iter()
                .map(|s| fingerprint(s))
                .collect(),
            oauth_client: self.client_id.is_some() && self.client_secret.is_some(),
            refresh_token: self.refresh_token.is_some(),
        }
    }
}

/// First 8 hex digits of the secret's SHA-256.
pub fn fingerprint(secret: &str) -> String {
    crate::auth::secret::sha256(secret)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{0}")]
    Invalid(String),
    #[error("no connection named {0:?}")]
    NotFound(String),
    #[error("a connection named {0:?} already exists")]
    Duplicate(String),
    #[error("TERRANE_SECRET_KEY is not set: connection secrets cannot be sealed or opened")]
    NoKey,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A connection to create or the full new state of one to edit. `None` secrets keep the
/// stored value on edit.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    pub name: String,
    pub kind: Option<CrmKind>,
    pub api_base_url: Option<String>,
    pub organization_id: Option<String>,
    pub enabled: bool,
    /// Appended to the active webhook secrets (oldest dropped beyond the maximum).
    pub add_webhook_secret: Option<String>,
    /// Fingerprints of webhook secrets to retire.
    pub retire_fingerprints: Vec<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    /// Salesforce: the webhook path token to set. On create, `None` generates one (a fixed
    /// one is for development set-ups such as the CRM simulator's); on edit, `None` keeps it.
    pub webhook_token: Option<String>,
    /// Salesforce, on edit: replace the webhook path token with a newly generated one.
    pub new_webhook_token: bool,
}

impl ConnectionInput {
    /// Which settings an edit touched, for the audit log (never the values of secrets).
    pub fn changed_fields(&self) -> serde_json::Value {
        json!({
            "enabled": self.enabled,
            "api_base_url": self.api_base_url.is_some(),
            "webhook_secret_added": self.add_webhook_secret.is_some(),
            "webhook_secrets_retired": self.retire_fingerprints,
            "oauth_client": self.client_id.is_some() || self.client_secret.is_some(),
            "refresh_token": self.refresh_token.is_some(),
            "new_webhook_token": self.new_webhook_token,
        })
    }
}

fn seal_context(id: Uuid) -> Vec<u8> {
    format!("crm_connections.secrets:{id}").into_bytes()
}

fn token_context(id: Uuid) -> Vec<u8> {
    format!("crm_connections.oauth_token:{id}").into_bytes()
}

fn webhook_token_context(id: Uuid) -> Vec<u8> {
    format!("crm_connections.webhook_token:{id}").into_bytes()
}

/// A path token as given, or a new random one (256 bits, hex).
fn path_token(given: Option<&str>) -> Result<String, ConnectionError> {
    match given.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(crate::auth::secret::random_hex()),
        Some(t)
            if (32..=128).contains(&t.len())
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(t.to_owned())
        }
        Some(_) => Err(ConnectionError::Invalid(
            "webhook path token: 32-128 letters, digits, '-' or '_' (leave empty to generate one)"
                .to_owned(),
        )),
    }
}

fn check_name(name: &str) -> Result<(), ConnectionError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConnectionError::Invalid(
            "name: 1-63 characters, lower-case letters, digits and '-', not starting with '-'"
                .to_owned(),
        ))
    }
}

/// CRM API base URLs are https: tokens and account data cross it. Plain http is allowed only
/// to this machine's loopback (tests, the CRM simulator).
fn check_url(url: Option<&str>) -> Result<(), ConnectionError> {
    let Some(u) = url else { return Ok(()) };
    let parsed = reqwest::Url::parse(u).map_err(|_| {
        ConnectionError::Invalid("API base URL: not a URL (expected https://...)".to_owned())
    })?;
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => Ok(()),
        "http" if crate::net::is_loopback_http(&parsed) => Ok(()),
        "http" => Err(ConnectionError::Invalid(
            "API base URL: must be https (plain http only to a loopback address such as \
             127.0.0.1 or localhost)"
                .to_owned(),
        )),
        _ => Err(ConnectionError::Invalid(
            "API base URL: expected an https:// URL".to_owned(),
        )),
    }
}

fn check_org(kind: CrmKind, org: Option<&str>) -> Result<(), ConnectionError> {
    let Some(o) = org else { return Ok(()) };
    let ok = match kind {
        CrmKind::Salesforce => {
            (o.len() == 15 || o.len() == 18) && o.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        CrmKind::HubSpot => (1..=18).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_digit()),
        CrmKind::Standard => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ConnectionError::Invalid(match kind {
            CrmKind::Salesforce => "organization id: 15 or 18 letters and digits".to_owned(),
            CrmKind::HubSpot => "HubSpot account (portal) id: digits".to_owned(),
            CrmKind::Standard => "Standard Webhooks connections have no organization id".to_owned(),
        }))
    }
}

fn check_secret(kind: CrmKind, secret: &str) -> Result<(), ConnectionError> {
    if kind == CrmKind::Standard && super::wire::standard::parse_secret(secret).is_err() {
        return Err(ConnectionError::Invalid(
            "webhook secret: Standard Webhooks secrets look like whsec_<base64>".to_owned(),
        ));
    }
    if secret.trim().len() < 8 {
        return Err(ConnectionError::Invalid(
            "webhook secret: at least 8 characters".to_owned(),
        ));
    }
    Ok(())
}

/// Secrets after applying an edit's additions and retirements.
fn merged_secrets(
    kind: CrmKind,
    mut s: Secrets,
    input: &ConnectionInput,
) -> Result<Secrets, ConnectionError> {
    s.webhook_secrets
        .retain(|w| !input.retire_fingerprints.contains(&fingerprint(w)));
    if let Some(new) = input
        .add_webhook_secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        check_secret(kind, new)?;
        if !s.webhook_secrets.iter().any(|w| w == new) {
            s.webhook_secrets.push(new.to_owned());
        }
        while s.webhook_secrets.len() > MAX_WEBHOOK_SECRETS {
            s.webhook_secrets.remove(0);
        }
    }
    let keep = |new: &Option<String>, old: Option<String>| {
        new.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .or(old)
    };
    s.client_id = keep(&input.client_id, s.client_id);
    s.client_secret = keep(&input.client_secret, s.client_secret);
    s.refresh_token = keep(&input.refresh_token, s.refresh_token);
    Ok(s)
}

const COLUMNS: &str = "id, name, kind, api_base_url, organization_id, enabled, secrets_summary,
    webhook_token is not null as has_webhook_token,
    coalesce((select k.clamped from crm_clock_clamps k where k.source = crm_connections.name), 0)
        as clocks_clamped,
    (select k.last_at from crm_clock_clamps k where k.source = crm_connections.name)
        as last_clock_clamped_at,
    created_at, updated_at";

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Connection>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from crm_connections order by name"
    ))
    .fetch_all(db)
    .await
}

pub async fn by_name(
    db: impl PgExecutor<'_>,
    name: &str,
) -> Result<Option<Connection>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from crm_connections where name = $1"
    ))
    .bind(name)
    .fetch_optional(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Connection>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from crm_connections where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Enabled connections of one kind (a vendor endpoint serves all of them).
pub async fn enabled_of_kind(
    db: impl PgExecutor<'_>,
    kind: CrmKind,
) -> Result<Vec<Connection>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from crm_connections where kind = $1 and enabled order by name"
    ))
    .bind(kind)
    .fetch_all(db)
    .await
}

/// Opens a connection's secrets.
pub async fn secrets(
    db: impl PgExecutor<'_>,
    key: Option<&SecretKey>,
    id: Uuid,
) -> Result<Secrets, ConnectionError> {
    let sealed: Option<Option<Vec<u8>>> =
        sqlx::query_scalar(include_str!("sql/connection_secrets.sql"))
            .bind(id)
            .fetch_optional(db)
            .await?;
    match sealed.flatten() {
        None => Ok(Secrets::default()),
        Some(sealed) => {
            let key = key.ok_or(ConnectionError::NoKey)?;
            let plain = key.open(&sealed, &seal_context(id))?;
            serde_json::from_slice(&plain).map_err(|_| ConnectionError::Crypto(CryptoError::Format))
        }
    }
}

/// Creates a connection; returns it without secrets.
pub async fn create(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
) -> Result<Connection, ConnectionError> {
    create_by(db, key, input, None).await
}

/// [`create`] by an admin: the connection and its audit row (`crm.connection_created`) in one
/// transaction.
pub async fn create_audited(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
    admin_id: Uuid,
) -> Result<Connection, ConnectionError> {
    create_by(db, key, input, Some(admin_id)).await
}

async fn create_by(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
    admin: Option<Uuid>,
) -> Result<Connection, ConnectionError> {
    let mut tx = db.begin().await?;
    let created = create_in(&mut tx, key, input).await?;
    if let Some(admin) = admin {
        let details = json!({"kind": created.kind.as_str(), "settings": input.changed_fields()});
        record(&mut tx, admin, "crm.connection_created", &created, details).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// Audits an admin's change to `conn` in the change's transaction.
async fn record(
    tx: &mut sqlx::PgConnection,
    admin: Uuid,
    action: &'static str,
    conn: &Connection,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *tx,
        AuditEvent::new(Some(admin), action)
            .about("crm_connection", conn.name.clone())
            .with(details),
    )
    .await
}

async fn create_in(
    tx: &mut sqlx::PgConnection,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
) -> Result<Connection, ConnectionError> {
    check_name(&input.name)?;
    let kind = input.kind.ok_or_else(|| {
        ConnectionError::Invalid("kind: hubspot, salesforce or standard".to_owned())
    })?;
    check_url(input.api_base_url.as_deref())?;
    check_org(kind, input.organization_id.as_deref())?;
    if kind == CrmKind::Salesforce && input.organization_id.is_none() {
        return Err(ConnectionError::Invalid(
            "organization id: required for Salesforce connections".to_owned(),
        ));
    }
    if kind == CrmKind::HubSpot && input.organization_id.is_none() {
        return Err(ConnectionError::Invalid(
            "HubSpot account (portal) id: required, so webhooks from other HubSpot accounts \
             signed by the same app are refused"
                .to_owned(),
        ));
    }
    let secrets = merged_secrets(kind, Secrets::default(), input)?;
    let key = key.ok_or(ConnectionError::NoKey)?;
    let id = Uuid::new_v4();
    let sealed = key.seal(
        &serde_json::to_vec(&secrets).unwrap_or_default(),
        &seal_context(id),
    );
    let webhook_token = match kind {
        CrmKind::Salesforce => {
            let token = path_token(input.webhook_token.as_deref())?;
            Some(key.seal(token.as_bytes(), &webhook_token_context(id)))
        }
        _ => None,
    };
    let created = sqlx::query_as(&format!(
        "insert into crm_connections (id, name, kind, api_base_url, organization_id, enabled,
                                      secrets, secrets_summary, webhook_token)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning {COLUMNS}"
    ))
    .bind_all((
        id,
        &input.name,
        kind,
        &input.api_base_url,
        &input.organization_id,
        input.enabled,
        sealed,
        sqlx::types::Json(secrets.summary()),
        webhook_token,
    ))
    .fetch_one(tx)
    .await;
    created.map_err(|e| taken_name(e, &input.name))
}

/// The connection error a failed insert stands for: [`ConnectionError::Duplicate`] when
/// `name` is taken (`crm_connections_name_key`).
fn taken_name(e: sqlx::Error, name: &str) -> ConnectionError {
    match crate::db::violated_constraint(&e) {
        Some("crm_connections_name_key") => ConnectionError::Duplicate(name.to_owned()),
        _ => ConnectionError::Database(e),
    }
}

/// Edits the connection named `input.name` (kind cannot change).
pub async fn update(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
) -> Result<Connection, ConnectionError> {
    update_by(db, key, input, None).await
}

/// [`update`] by an admin: the edit and its audit row (`crm.connection_updated`, which
/// settings changed, never secrets) in one transaction.
pub async fn update_audited(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
    admin_id: Uuid,
) -> Result<Connection, ConnectionError> {
    update_by(db, key, input, Some(admin_id)).await
}

async fn update_by(
    db: &sqlx::PgPool,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
    admin: Option<Uuid>,
) -> Result<Connection, ConnectionError> {
    let mut tx = db.begin().await?;
    let updated = update_in(&mut tx, key, input).await?;
    if let Some(admin) = admin {
        let details = input.changed_fields();
        record(&mut tx, admin, "crm.connection_updated", &updated, details).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

async fn update_in(
    tx: &mut sqlx::PgConnection,
    key: Option<&SecretKey>,
    input: &ConnectionInput,
) -> Result<Connection, ConnectionError> {
    let current: Option<Connection> = sqlx::query_as(&format!(
        "select {COLUMNS} from crm_connections where name = $1 for update"
    ))
    .bind(&input.name)
    .fetch_optional(&mut *tx)
    .await?;
    let current = current.ok_or_else(|| ConnectionError::NotFound(input.name.clone()))?;
    if input.kind.is_some_and(|k| k != current.kind) {
        return Err(ConnectionError::Invalid(
            "kind cannot change; create a new connection".to_owned(),
        ));
    }
    check_url(input.api_base_url.as_deref())?;
    check_org(current.kind, input.organization_id.as_deref())?;
    let key = key.ok_or(ConnectionError::NoKey)?;
    let old = secrets(&mut *tx, Some(key), current.id).await?;
    let new = merged_secrets(current.kind, old, input)?;
    let sealed = key.seal(
        &serde_json::to_vec(&new).unwrap_or_default(),
        &seal_context(current.id),
    );
    let webhook_token = match current.kind {
        CrmKind::Salesforce if input.new_webhook_token || input.webhook_token.is_some() => {
            let token = path_token(input.webhook_token.as_deref())?;
            Some(key.seal(token.as_bytes(), &webhook_token_context(current.id)))
        }
        _ => None,
    };
    let refresh_changed = input
        .refresh_token
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty())
        || input
            .client_id
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
    let updated = sqlx::query_as(&format!(
        "update crm_connections set api_base_url = $2, organization_id = coalesce($3, organization_id),
                enabled = $4, secrets = $5, secrets_summary = $6,
                oauth_token = case when $7 then null else oauth_token end,
                webhook_token = coalesce($8, webhook_token)
         where id = $1 returning {COLUMNS}"
    ))
    .bind_all((current.id, input.api_base_url.as_ref().or(current.api_base_url.as_ref()), &input.organization_id, input.enabled, sealed, sqlx::types::Json(new.summary()), refresh_changed, webhook_token))
    .fetch_one(&mut *tx)
    .await?;
    Ok(updated)
}

/// A Salesforce connection's webhook path token (`POST /webhooks/salesforce/{token}`).
pub async fn webhook_token(
    db: impl PgExecutor<'_>,
    key: Option<&SecretKey>,
    id: Uuid,
) -> Result<Option<String>, ConnectionError> {
    let sealed: Option<Option<Vec<u8>>> =
        sqlx::query_scalar(include_str!("sql/connection_webhook_token.sql"))
            .bind(id)
            .fetch_optional(db)
            .await?;
    match sealed.flatten() {
        None => Ok(None),
        Some(sealed) => {
            open_webhook_token(key.ok_or(ConnectionError::NoKey)?, id, &sealed).map(Some)
        }
    }
}

fn open_webhook_token(key: &SecretKey, id: Uuid, sealed: &[u8]) -> Result<String, ConnectionError> {
    let plain = key.open(sealed, &webhook_token_context(id))?;
    String::from_utf8(plain).map_err(|_| ConnectionError::Crypto(CryptoError::Format))
}

/// A connection with its sealed webhook path token, as the endpoint reads them.
#[derive(sqlx::FromRow)]
struct WithToken {
    #[sqlx(flatten)]
    connection: Connection,
    webhook_token: Vec<u8>,
}

/// The enabled Salesforce connection whose webhook path token is `presented` (one query).
/// Every connection's token is opened and compared in constant time (digests of equal
/// length), so the answer's timing says nothing about how much of a token matched.
pub async fn salesforce_by_webhook_token(
    db: impl PgExecutor<'_>,
    key: &SecretKey,
    presented: &str,
) -> Result<Option<Connection>, ConnectionError> {
    let candidates: Vec<WithToken> = sqlx::query_as(&format!(
        "select {COLUMNS}, webhook_token from crm_connections
         where kind = 'salesforce' and enabled and webhook_token is not null"
    ))
    .fetch_all(db)
    .await?;
    let presented = crate::auth::secret::sha256(presented);
    let mut found = None;
    for c in candidates {
        let token = open_webhook_token(key, c.connection.id, &c.webhook_token)?;
        let expected = crate::auth::secret::sha256(&token);
        if crate::auth::csrf::constant_time_eq(&expected, &presented) && found.is_none() {
            found = Some(c.connection);
        }
    }
    Ok(found)
}

/// The cached OAuth2 token set of a connection, if any.
pub async fn oauth_token<T: serde::de::DeserializeOwned>(
    db: impl PgExecutor<'_>,
    key: &SecretKey,
    id: Uuid,
) -> Result<Option<T>, ConnectionError> {
    let sealed: Option<Option<Vec<u8>>> =
        sqlx::query_scalar(include_str!("sql/connection_oauth_token.sql"))
            .bind(id)
            .fetch_optional(db)
            .await?;
    match sealed.flatten() {
        None => Ok(None),
        Some(sealed) => {
            let plain = key.open(&sealed, &token_context(id))?;
            Ok(serde_json::from_slice(&plain).ok())
        }
    }
}

/// Stores a connection's OAuth2 token set sealed; a rotated refresh token replaces the stored
/// one too.
pub async fn store_oauth_token<T: Serialize>(
    db: &sqlx::PgPool,
    key: &SecretKey,
    id: Uuid,
    token: &T,
    rotated_refresh_token: Option<&str>,
) -> Result<(), ConnectionError> {
    let mut tx = db.begin().await?;
    let sealed_token = key.seal(
        &serde_json::to_vec(token).unwrap_or_default(),
        &token_context(id),
    );
    sqlx::query(include_str!("sql/connection_set_oauth_token.sql"))
        .bind_all((id, sealed_token))
        .execute(&mut *tx)
        .await?;
    if let Some(refresh) = rotated_refresh_token {
        let mut s = secrets(&mut *tx, Some(key), id).await?;
        if s.refresh_token.as_deref() != Some(refresh) {
            s.refresh_token = Some(refresh.to_owned());
            let sealed = key.seal(
                &serde_json::to_vec(&s).unwrap_or_default(),
                &seal_context(id),
            );
            sqlx::query(include_str!("sql/connection_set_secrets.sql"))
                .bind_all((id, sealed, sqlx::types::Json(s.summary())))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
