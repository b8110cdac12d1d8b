//! Reading records from the CRMs' APIs for one connection: OAuth2 tokens (sealed in the
//! database, refreshed and re-saved as needed), the read-back of records named by webhook
//! notices (HubSpot companies, Salesforce Accounts), and the pages reconciliation walks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::api::ApiError;
use super::api::hubspot::HubSpotApi;
use super::api::oauth::{self, Credentials, TokenCache, TokenSet};
use super::api::salesforce::SalesforceApi;
use super::canonical::CanonicalAccount;
use super::connection::{self, Connection, CrmKind};
use super::crypto::SecretKey;
use super::wire;
use super::worker::{BoxFuture, FetchError, ReadBack, RecordReader};

/// HubSpot's largest page and batch.
const HUBSPOT_PAGE: u32 = 100;
/// Salesforce Ids per read-back query (keeps the SOQL well under its length limit).
const SALESFORCE_READ: usize = 200;

/// One page of remote records, each mapped or with the reason it could not be.
pub struct RemotePage {
    pub records: Vec<Result<CanonicalAccount, (String, String)>>,
    /// Cursor for the next page (HubSpot `after`, Salesforce `nextRecordsUrl`).
    pub next: Option<String>,
    /// Total records, when the CRM says (Salesforce `totalSize`).
    pub total: Option<u64>,
}

impl From<ApiError> for FetchError {
    fn from(e: ApiError) -> Self {
        FetchError(e.to_string())
    }
}

/// A connection's token cache and the connection version (`updated_at`) it was built from.
type VersionedCache = (DateTime<Utc>, Arc<TokenCache>);

/// API access for every connection; token caches are kept per connection version.
pub struct CrmClients {
    db: PgPool,
    key: Option<SecretKey>,
    http: reqwest::Client,
    timeout: Duration,
    caches: Mutex<HashMap<Uuid, VersionedCache>>,
}

impl CrmClients {
    pub fn new(
        db: PgPool,
        key: Option<SecretKey>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("terrane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            db,
            key,
            http,
            timeout,
            caches: Mutex::new(HashMap::new()),
        })
    }

    fn key(&self) -> Result<&SecretKey, FetchError> {
        self.key
            .as_ref()
            .ok_or_else(|| FetchError("TERRANE_SECRET_KEY is not configured".to_owned()))
    }

    fn base_url(conn: &Connection) -> Result<&str, FetchError> {
        conn.api_base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .ok_or_else(|| FetchError(format!("connection {} has no API base URL", conn.name)))
    }

    /// The token cache of `conn`, built from its sealed secrets and last saved token.
    async fn tokens(&self, conn: &Connection) -> Result<Arc<TokenCache>, FetchError> {
        let mut caches = self.caches.lock().await;
        if let Some((version, cache)) = caches.get(&conn.id)
            && *version == conn.updated_at
        {
            return Ok(cache.clone());
        }
        let key = self.key()?;
        let secrets = connection::secrets(&self.db, Some(key), conn.id)
            .await
            .map_err(|e| FetchError(e.to_string()))?;
        let base = Self::base_url(conn)?;
        let token_url = match conn.kind {
            CrmKind::HubSpot => oauth::hubspot_token_url(base),
            CrmKind::Salesforce => oauth::salesforce_token_url(base),
            CrmKind::Standard => {
                return Err(FetchError(format!("{} has no API", conn.name)));
            }
        };
        let (Some(client_id), Some(client_secret), Some(refresh_token)) = (
            secrets.client_id,
            secrets.client_secret,
            secrets.refresh_token,
        ) else {
            return Err(FetchError(format!(
                "connection {} has no OAuth2 client and refresh token",
                conn.name
            )));
        };
        let saved: Option<TokenSet> = connection::oauth_token(&self.db, key, conn.id)
            .await
            .map_err(|e| FetchError(e.to_string()))?;
        let cache = Arc::new(TokenCache::new(
            self.http.clone(),
            Credentials {
                token_url,
                client_id,
                client_secret,
                refresh_token,
            },
            saved,
        ));
        caches.insert(conn.id, (conn.updated_at, cache.clone()));
        Ok(cache)
    }

    /// Saves a refreshed token set (and a rotated refresh token) sealed.
    async fn save_refreshed(&self, conn: &Connection, cache: &TokenCache) {
        let Some(tokens) = cache.take_refreshed().await else {
            return;
        };
        let Ok(key) = self.key() else { return };
        if let Err(e) = connection::store_oauth_token(
            &self.db,
            key,
            conn.id,
            &tokens,
            tokens.refresh_token.as_deref(),
        )
        .await
        {
            tracing::warn!(connection = %conn.name, error = %e, "could not save a refreshed CRM token");
        }
        // The row's version changed; keep using this cache under the new version.
        if let Ok(Some(fresh)) = connection::by_id(&self.db, conn.id).await {
            let mut caches = self.caches.lock().await;
            if let Some(entry) = caches.get_mut(&conn.id) {
                entry.0 = fresh.updated_at;
            }
        }
    }

    /// Calls `f` with a current access token; when the API rejects it, once more with a
    /// freshly refreshed one. A refreshed token set is saved either way.
    async fn with_token<T, F, Fut>(
        &self,
        conn: &Connection,
        cache: &TokenCache,
        f: F,
    ) -> Result<T, FetchError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = cache.access_token().await?;
        let mut answer = f(token.clone()).await;
        if matches!(answer, Err(ApiError::Unauthorized)) {
            answer = f(cache.replace_rejected(&token).await?).await;
        }
        self.save_refreshed(conn, cache).await;
        Ok(answer?)
    }

    async fn hubspot(
        &self,
        conn: &Connection,
    ) -> Result<(HubSpotApi, Arc<TokenCache>), FetchError> {
        let api = HubSpotApi::new(self.http.clone(), Self::base_url(conn)?, self.timeout)?;
        Ok((api, self.tokens(conn).await?))
    }

    async fn salesforce(
        &self,
        conn: &Connection,
    ) -> Result<(SalesforceApi, Arc<TokenCache>), FetchError> {
        let cache = self.tokens(conn).await?;
        // The instance URL comes with the token.
        cache.access_token().await?;
        self.save_refreshed(conn, &cache).await;
        let instance = cache
            .current()
            .await
            .and_then(|t| t.instance_url)
            .ok_or_else(|| FetchError("Salesforce did not say its instance URL".to_owned()))?;
        Ok((
            SalesforceApi::new(self.http.clone(), &instance, self.timeout)?,
            cache,
        ))
    }

    /// Reads HubSpot companies in full, 100 per call.
    pub async fn read_hubspot_companies(
        &self,
        conn: &Connection,
        ids: &[String],
    ) -> Result<ReadBack, FetchError> {
        let (api, cache) = self.hubspot(conn).await?;
        let mut out = HashMap::new();
        for chunk in ids.chunks(HUBSPOT_PAGE as usize) {
            let read = self
                .with_token(conn, &cache, |token| {
                    let api = api.clone();
                    async move {
                        api.batch_read_companies(&token, wire::hubspot::COMPANY_PROPERTIES, chunk)
                            .await
                    }
                })
                .await?;
            for company in read.results.into_iter().filter(|c| !c.archived) {
                let a = wire::hubspot::company_to_account(
                    &company.id,
                    &company.properties,
                    company.updated_at,
                )
                .map_err(|e| format!("company {} cannot be mapped: {e}", company.id));
                out.insert(company.id.clone(), a);
            }
        }
        Ok(out)
    }

    /// Reads Salesforce Accounts by Id with SOQL (`WHERE Id IN (...)`, 200 per query). A query
    /// never returns deleted records, so a deleted Account is absent. Found accounts are keyed
    /// by their 18-character Id and by its 15-character form.
    pub async fn read_salesforce_accounts(
        &self,
        conn: &Connection,
        ids: &[String],
    ) -> Result<ReadBack, FetchError> {
        if let Some(bad) = ids.iter().find(|id| !wire::salesforce::is_record_id(id)) {
            return Err(FetchError(format!("{bad:?} is not a Salesforce record id")));
        }
        let (api, cache) = self.salesforce(conn).await?;
        let mut out = HashMap::new();
        for chunk in ids.chunks(SALESFORCE_READ) {
            let soql = format!(
                "SELECT {} FROM Account WHERE Id IN ({})",
                wire::salesforce::ACCOUNT_FIELDS.join(", "),
                chunk
                    .iter()
                    .map(|id| format!("'{id}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .with_token(conn, &cache, |token| {
                        let (api, soql, cursor) = (api.clone(), soql.clone(), cursor.clone());
                        async move {
                            match cursor {
                                None => api.query(&token, &soql).await,
                                Some(next) => api.query_more(&token, &next).await,
                            }
                        }
                    })
                    .await?;
                for fields in &page.records {
                    let Some(id) = fields.get("Id").cloned().flatten() else {
                        continue;
                    };
                    let a = wire::salesforce::account_from_fields(fields)
                        .map_err(|e| format!("Account {id} cannot be mapped: {e}"));
                    if let Some(short) = id.get(..15) {
                        out.insert(short.to_owned(), a.clone());
                    }
                    out.insert(id, a);
                }
                match page.next_records_url {
                    Some(next) if !page.done => cursor = Some(next),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    /// One page of the CRM's accounts for reconciliation; `cursor` from the previous page.
    pub async fn remote_page(
        &self,
        conn: &Connection,
        cursor: Option<&str>,
    ) -> Result<RemotePage, FetchError> {
        match conn.kind {
            CrmKind::HubSpot => {
                let (api, cache) = self.hubspot(conn).await?;
                let page = self
                    .with_token(conn, &cache, |token| {
                        let api = api.clone();
                        async move {
                            api.list_companies(
                                &token,
                                wire::hubspot::COMPANY_PROPERTIES,
                                cursor,
                                HUBSPOT_PAGE,
                            )
                            .await
                        }
                    })
                    .await?;
                Ok(RemotePage {
                    records: page
                        .results
                        .into_iter()
                        .filter(|c| !c.archived)
                        .map(|c| {
                            wire::hubspot::company_to_account(&c.id, &c.properties, c.updated_at)
                                .map_err(|e| (c.id.clone(), e.to_string()))
                        })
                        .collect(),
                    next: page.next_after,
                    total: None,
                })
            }
            CrmKind::Salesforce => {
                let (api, cache) = self.salesforce(conn).await?;
                let soql = format!(
                    "SELECT {} FROM Account",
                    wire::salesforce::ACCOUNT_FIELDS.join(", ")
                );
                let page = self
                    .with_token(conn, &cache, |token| {
                        let (api, soql) = (api.clone(), soql.clone());
                        async move {
                            match cursor {
                                None => api.query(&token, &soql).await,
                                Some(next) => api.query_more(&token, next).await,
                            }
                        }
                    })
                    .await?;
                Ok(RemotePage {
                    records: page
                        .records
                        .into_iter()
                        .map(|fields| {
                            let id = fields
                                .get("Id")
                                .cloned()
                                .flatten()
                                .unwrap_or_else(|| "(no Id)".to_owned());
                            wire::salesforce::account_from_fields(&fields)
                                .map_err(|e| (id, e.to_string()))
                        })
                        .collect(),
                    next: page.next_records_url,
                    total: Some(page.total_size),
                })
            }
            CrmKind::Standard => Err(FetchError(format!("{} has no API", conn.name))),
        }
    }
}

/// An authenticated handle on one connection's API, for callers that need the vendor's own
/// error (rate limits, 401) rather than a [`FetchError`] text: the owner write-back.
pub enum ApiSession {
    HubSpot(HubSpotApi, Arc<TokenCache>),
    Salesforce(SalesforceApi, Arc<TokenCache>),
}

/// Why an [`ApiSession`] could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection cannot call its API as configured (no API, no key, no credentials).
    #[error("{0}")]
    Setup(FetchError),
    /// The token endpoint refused or failed (Salesforce needs a token for its instance URL).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl CrmClients {
    /// Opens `conn`'s API. Salesforce may refresh a token here to learn its instance URL.
    pub async fn session(&self, conn: &Connection) -> Result<ApiSession, SessionError> {
        match conn.kind {
            CrmKind::HubSpot => {
                let api = HubSpotApi::new(
                    self.http.clone(),
                    Self::base_url(conn).map_err(SessionError::Setup)?,
                    self.timeout,
                )?;
                Ok(ApiSession::HubSpot(
                    api,
                    self.tokens(conn).await.map_err(SessionError::Setup)?,
                ))
            }
            CrmKind::Salesforce => {
                let cache = self.tokens(conn).await.map_err(SessionError::Setup)?;
                let token = cache.access_token().await;
                self.save_refreshed(conn, &cache).await;
                token?;
                let instance = cache
                    .current()
                    .await
                    .and_then(|t| t.instance_url)
                    .ok_or_else(|| {
                        SessionError::Setup(FetchError(
                            "Salesforce did not say its instance URL".to_owned(),
                        ))
                    })?;
                Ok(ApiSession::Salesforce(
                    SalesforceApi::new(self.http.clone(), &instance, self.timeout)?,
                    cache,
                ))
            }
            CrmKind::Standard => Err(SessionError::Setup(FetchError(format!(
                "{} has no API",
                conn.name
            )))),
        }
    }

    /// Saves a token the session's cache refreshed (call after each API call).
    pub async fn save_session_tokens(&self, conn: &Connection, session: &ApiSession) {
        let (ApiSession::HubSpot(_, cache) | ApiSession::Salesforce(_, cache)) = session;
        self.save_refreshed(conn, cache).await;
    }

    /// The Salesforce instance URL from the cached or saved token, without calling anything.
    pub async fn known_instance_url(&self, conn: &Connection) -> Option<String> {
        self.tokens(conn).await.ok()?.current().await?.instance_url
    }
}

impl RecordReader for CrmClients {
    fn read_records<'a>(
        &'a self,
        connection: &'a Connection,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<ReadBack, FetchError>> {
        Box::pin(async move {
            match connection.kind {
                CrmKind::HubSpot => self.read_hubspot_companies(connection, ids).await,
                CrmKind::Salesforce => self.read_salesforce_accounts(connection, ids).await,
                CrmKind::Standard => Err(FetchError(format!(
                    "{} has no API to read records back from",
                    connection.name
                ))),
            }
        })
    }
}
