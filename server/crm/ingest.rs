//! Webhook intake: verify first, then parse, then commit the raw events to the inbox. Only
//! after the commit does the caller acknowledge, so an acknowledged event is never lost.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;

use super::connection::{self, Connection, ConnectionError, CrmKind};
use super::crypto::SecretKey;
use super::inbox::{self, Accepted};
use super::wire::{self, RawEvent, VerifyError};

/// Why a delivery was refused. Mapped to HTTP statuses by the web layer; 503s make the CRM
/// retry, 4xx tell it not to.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No connection's secret verifies the request (or its organization id is unknown).
    #[error("{0}")]
    Unauthorized(String),
    /// Verified, but the body is not what the scheme promises.
    #[error("{0}")]
    BadRequest(String),
    /// No enabled connection of that kind or name.
    #[error("no enabled connection for this endpoint")]
    NoConnection,
    /// The server cannot open secrets or reach the database: the CRM should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "webhook intake could not reach the database");
        Self::Unavailable("the database is unavailable".to_owned())
    }
}

impl From<ConnectionError> for IngestError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Database(e) => e.into(),
            other => {
                tracing::error!(error = %other, "webhook intake could not open connection secrets");
                Self::Unavailable("connection secrets cannot be opened".to_owned())
            }
        }
    }
}

/// Everything intake needs; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    pub db: PgPool,
    pub key: Option<SecretKey>,
    /// Base URL the CRM calls us at (`TERRANE_PUBLIC_URL`): HubSpot signs the full URI.
    pub public_url: String,
    /// Wakes in-process workers when events land.
    pub wake: Arc<Notify>,
}

/// A request as intake sees it.
pub struct Delivery<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub header: &'a (dyn Fn(&str) -> Option<&'a str> + Sync),
    pub body: &'a [u8],
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Intake {
    fn key(&self) -> Result<&SecretKey, IngestError> {
        self.key.as_ref().ok_or_else(|| {
            IngestError::Unavailable("TERRANE_SECRET_KEY is not configured".to_owned())
        })
    }

    async fn commit(
        &self,
        conn: &Connection,
        events: &[RawEvent],
    ) -> Result<Accepted, IngestError> {
        let accepted = inbox::accept(&self.db, conn.id, events).await?;
        if accepted.new > 0 {
            self.wake.notify_waiters();
        }
        metrics::counter!("terrane_crm_webhook_events_total", "kind" => conn.kind.as_str(), "result" => "new")
            .increment(accepted.new as u64);
        metrics::counter!("terrane_crm_webhook_events_total", "kind" => conn.kind.as_str(), "result" => "duplicate")
            .increment(accepted.duplicates as u64);
        tracing::info!(connection = %conn.name, new = accepted.new, duplicates = accepted.duplicates, "webhook accepted");
        Ok(accepted)
    }

    /// `POST /webhooks/hubspot`: signature v3 under any enabled HubSpot connection's secrets.
    pub async fn hubspot(&self, d: &Delivery<'_>) -> Result<Accepted, IngestError> {
        let key = self.key()?;
        let conns = connection::enabled_of_kind(&self.db, CrmKind::HubSpot).await?;
        if conns.is_empty() {
            return Err(IngestError::NoConnection);
        }
        let uri = wire::hubspot::request_uri(&self.public_url, d.path_and_query);
        let mut last = VerifyError::BadSignature;
        let mut verified = Vec::new();
        for conn in conns {
            let secrets = connection::secrets(&self.db, Some(key), conn.id).await?;
            let candidates: Vec<Vec<u8>> = secrets
                .webhook_secrets
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
            match wire::hubspot::verify_v3(
                &candidates,
                d.method,
                &uri,
                d.body,
                (d.header)("x-hubspot-request-timestamp"),
                (d.header)("x-hubspot-signature-v3"),
                now_ms(),
            ) {
                Ok(()) => verified.push(conn),
                Err(e) => last = e,
            }
        }
        if verified.is_empty() {
            return Err(unauthorized("hubspot", &last));
        }
        let events = wire::hubspot::split_batch(d.body)
            .map_err(|e| IngestError::BadRequest(e.to_string()))?;
        let conn = route_by_portal(verified, &events).ok_or_else(|| {
            metrics::counter!("terrane_crm_webhook_refused_total", "kind" => "hubspot")
                .increment(1);
            IngestError::Unauthorized(
                "the events come from a HubSpot account no connection is set up for".to_owned(),
            )
        })?;
        self.commit(&conn, &events).await
    }

    /// `POST /webhooks/standard/{name}`: Standard Webhooks signature under that connection.
    pub async fn standard(&self, name: &str, d: &Delivery<'_>) -> Result<Accepted, IngestError> {
        let key = self.key()?;
        let conn = connection::by_name(&self.db, name)
            .await?
            .filter(|c| c.enabled && c.kind == CrmKind::Standard)
            .ok_or(IngestError::NoConnection)?;
        let secrets = connection::secrets(&self.db, Some(key), conn.id).await?;
        let candidates: Vec<Vec<u8>> = secrets
            .webhook_secrets
            .iter()
            .filter_map(|s| wire::standard::parse_secret(s).ok())
            .collect();
        wire::standard::verify(
            &candidates,
            (d.header)("webhook-id"),
            (d.header)("webhook-timestamp"),
            (d.header)("webhook-signature"),
            d.body,
            now_ms() / 1000,
        )
        .map_err(|e| unauthorized("standard", &e))?;
        let event =
            wire::standard::split(d.body).map_err(|e| IngestError::BadRequest(e.to_string()))?;
        self.commit(&conn, std::slice::from_ref(&event)).await
    }

    /// `POST /webhooks/salesforce/{token}`: an Outbound Message to an enabled Salesforce
    /// connection's secret path token, whose organization id is that connection's.
    /// Salesforce does not sign Outbound Messages, and an organization id is no secret: the
    /// token is checked first (in constant time, before the body is parsed), and even then
    /// the message is only a notice: the worker reads the records back through the REST API.
    pub async fn salesforce(
        &self,
        token: Option<&str>,
        d: &Delivery<'_>,
    ) -> Result<Accepted, IngestError> {
        let refused = |reason: &str| {
            metrics::counter!("terrane_crm_webhook_refused_total", "kind" => "salesforce")
                .increment(1);
            tracing::info!(kind = "salesforce", reason, "webhook refused");
            IngestError::Unauthorized(reason.to_owned())
        };
        let Some(token) = token else {
            return Err(refused(
                "this endpoint needs the connection's path token: /webhooks/salesforce/<token>",
            ));
        };
        let key = self.key()?;
        let conn = connection::salesforce_by_webhook_token(&self.db, key, token)
            .await?
            .ok_or_else(|| refused("unknown path token"))?;
        let msg = wire::salesforce::parse_outbound(d.body)
            .map_err(|e| IngestError::BadRequest(e.to_string()))?;
        let same = conn
            .organization_id
            .as_deref()
            .is_some_and(|org| same_org(org, &msg.organization_id));
        if !same {
            return Err(refused("unknown organization id"));
        }
        let events = wire::salesforce::split(&msg);
        self.commit(&conn, &events).await
    }
}

/// One HubSpot app's secret signs for every account (portal) that installed it: of the
/// connections whose secret verified, the one set up for the events' portal takes them; one
/// without a portal id takes any portal.
fn route_by_portal(verified: Vec<Connection>, events: &[RawEvent]) -> Option<Connection> {
    let portals: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| match e.payload.get("portalId") {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        })
        .collect();
    let (pinned, open): (Vec<Connection>, Vec<Connection>) = verified
        .into_iter()
        .partition(|c| c.organization_id.is_some());
    pinned
        .into_iter()
        .find(|c| {
            portals.len() == 1
                && c.organization_id
                    .as_ref()
                    .is_some_and(|p| portals.contains(p))
        })
        .or_else(|| open.into_iter().next())
}

/// Salesforce ids come as 15 (case-sensitive) or 18 characters; the first 15 identify.
fn same_org(a: &str, b: &str) -> bool {
    let (a, b) = (a.get(..15).unwrap_or(a), b.get(..15).unwrap_or(b));
    a == b
}

fn unauthorized(kind: &'static str, e: &VerifyError) -> IngestError {
    metrics::counter!("terrane_crm_webhook_refused_total", "kind" => kind).increment(1);
    tracing::info!(kind, reason = %e, "webhook refused");
    IngestError::Unauthorized(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_ids_match_on_their_first_15_characters() {
        assert!(same_org("00D5g000004ABCD", "00D5g000004ABCDEAA"));
        assert!(!same_org("00D5g000004ABCD", "00D5g000004ABCE"));
    }
}
