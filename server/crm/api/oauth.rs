//! OAuth2 refresh-token grant for HubSpot and Salesforce, and a token cache that refreshes
//! before expiry and once more when the CRM answers 401.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest,
    HttpResponse, RefreshToken, RequestTokenError, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{ApiError, VendorError};
use crate::auth::oidc::forward;

/// A token counts as expired this long before its stated expiry.
const EXPIRY_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// Longest wait for the token endpoint.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// What a token endpoint granted; stored (encrypted) with the connection.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// `None` when the vendor does not say (Salesforce): valid until the API answers 401.
    pub expires_at: Option<DateTime<Utc>>,
    /// Salesforce's API host for this org; `None` for HubSpot.
    pub instance_url: Option<String>,
}

impl TokenSet {
    /// Whether the access token is missing its expiry or still has more than a minute left.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at - EXPIRY_MARGIN > now)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("instance_url", &self.instance_url)
            .finish()
    }
}

/// HubSpot's token endpoint under its API base (`https://api.hubapi.com`).
pub fn hubspot_token_url(base: &str) -> String {
    format!("{}/oauth/v1/token", base.trim_end_matches('/'))
}

/// Salesforce's token endpoint under a login host (`https://login.salesforce.com`, a
/// My Domain, or `https://test.salesforce.com` for sandboxes).
pub fn salesforce_token_url(login_base: &str) -> String {
    format!("{}/services/oauth2/token", login_base.trim_end_matches('/'))
}

/// Salesforce adds the org's API host to its token answers; HubSpot adds nothing we use.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VendorFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance_url: Option<String>,
}
impl ExtraTokenFields for VendorFields {}

type RefreshClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<VendorFields, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why sending to the token endpoint failed (the oauth2 crate wants an `Error` type).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("request failed")]
    Http(#[from] reqwest::Error),
    #[error("timed out")]
    TimedOut,
}

/// Exchanges `refresh_token` for a new access token (client id and secret in the form body).
/// The answer's refresh token replaces ours when the vendor rotates it; otherwise ours is kept.
#[tracing::instrument(level = "debug", skip_all, err(level = "debug"))]
pub async fn refresh(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
) -> Result<TokenSet, ApiError> {
    let token_url = TokenUrl::new(token_url.to_owned()).map_err(|_| ApiError::BadUrl {
        what: "the OAuth2 token endpoint",
    })?;
    let client: RefreshClient = oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_client_secret(ClientSecret::new(client_secret.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url);
    // oauth2 keeps only the body of a failed answer; remember status and headers ourselves so
    // a 429 or 5xx from the token endpoint stays retryable.
    let seen: Arc<SyncMutex<Option<(StatusCode, HeaderMap)>>> = Arc::default();
    // The closure and its future own what they use: with borrowed captures the future's
    // `Send` bound becomes higher-ranked, which rustc cannot prove for callers' tasks.
    let send = {
        let (http, seen) = (http.clone(), seen.clone());
        move |req: HttpRequest| {
            let (http, seen) = (http.clone(), seen.clone());
            async move {
                let resp: HttpResponse = tokio::time::timeout(REFRESH_TIMEOUT, forward(&http, req))
                    .await
                    .map_err(|_| SendError::TimedOut)??;
                if let Ok(mut slot) = seen.lock() {
                    *slot = Some((resp.status(), resp.headers().clone()));
                }
                Ok::<_, SendError>(resp)
            }
        }
    };
    let refresh = RefreshToken::new(refresh_token.to_owned());
    let result = client
        .exchange_refresh_token(&refresh)
        .request_async(&send)
        .await;
    let seen = seen.lock().ok().and_then(|mut slot| slot.take());
    match result {
        Ok(answer) => Ok(TokenSet {
            access_token: answer.access_token().secret().clone(),
            refresh_token: Some(
                answer
                    .refresh_token()
                    .map_or_else(|| refresh_token.to_owned(), |t| t.secret().clone()),
            ),
            expires_at: answer
                .expires_in()
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| Utc::now() + d),
            instance_url: answer
                .extra_fields()
                .instance_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        }),
        Err(err) => Err(refresh_error(err, seen, refresh_token)),
    }
}

fn refresh_error(
    err: RequestTokenError<SendError, BasicErrorResponse>,
    seen: Option<(StatusCode, HeaderMap)>,
    refresh_token: &str,
) -> ApiError {
    const WHAT: &str = "an OAuth2 token refresh";
    match err {
        RequestTokenError::Request(SendError::TimedOut) => ApiError::Transport {
            what: WHAT,
            detail: "timed out".to_owned(),
        },
        RequestTokenError::Request(SendError::Http(e)) => ApiError::transport(WHAT, &e),
        RequestTokenError::ServerResponse(answer)
            if matches!(
                answer.error(),
                BasicErrorResponseType::InvalidGrant
                    | BasicErrorResponseType::InvalidClient
                    | BasicErrorResponseType::UnauthorizedClient
            ) =>
        {
            ApiError::Unauthorized
        }
        RequestTokenError::ServerResponse(answer) => match seen {
            // Rate limits, outages and 401s keep their usual meaning.
            Some((status, headers)) if !is_plain_rejection(status) => {
                super::error_from_response(status, &headers, &[], refresh_token)
            }
            _ => {
                let vendor = VendorError {
                    code: Some(answer.error().as_ref().to_owned()),
                    message: answer.error_description().cloned(),
                    ..VendorError::default()
                };
                let status = seen.map_or(StatusCode::BAD_REQUEST, |(s, _)| s);
                ApiError::Client(status, vendor.summary(refresh_token))
            }
        },
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) => match seen {
            Some((status, _)) if status.is_success() => ApiError::Decode {
                what: WHAT,
                detail: "not an OAuth2 token answer".to_owned(),
            },
            // A token endpoint answering 400/401 in its own format (HubSpot sends
            // `{"status":"BAD_REFRESH_TOKEN",...}`) refused our client or refresh token.
            Some((status, _))
                if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED =>
            {
                ApiError::Unauthorized
            }
            Some((status, headers)) => {
                super::error_from_response(status, &headers, &[], refresh_token)
            }
            None => ApiError::Transport {
                what: WHAT,
                detail: "no answer".to_owned(),
            },
        },
    }
}

/// A 4xx other than 401 and 429: the token endpoint said no for a reason worth showing.
fn is_plain_rejection(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::TOO_MANY_REQUESTS
}

/// What [`refresh`] needs; the secrets never show in `Debug`.
#[derive(Clone)]
pub struct Credentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct CacheState {
    tokens: Option<TokenSet>,
    /// Set by every refresh, cleared by [`TokenCache::take_refreshed`].
    unsaved: bool,
}

/// Hands out a valid access token for one connection: refreshes when there is none or it
/// expires within a minute, and [`TokenCache::call`] refreshes once more on a 401. Share one
/// cache (in an `Arc`) between the tasks that use a connection so they refresh once, not each.
pub struct TokenCache {
    http: reqwest::Client,
    credentials: Option<Credentials>,
    state: Mutex<CacheState>,
}

impl TokenCache {
    /// A cache for an OAuth2 connection; `tokens` is the last saved [`TokenSet`], if any.
    pub fn new(http: reqwest::Client, credentials: Credentials, tokens: Option<TokenSet>) -> Self {
        Self {
            http,
            credentials: Some(credentials),
            state: Mutex::new(CacheState {
                tokens,
                unsaved: false,
            }),
        }
    }

    /// A cache for a token that cannot be refreshed (a HubSpot private app's access token):
    /// a 401 is reported as [`ApiError::Unauthorized`] straight away.
    pub fn fixed(access_token: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            credentials: None,
            state: Mutex::new(CacheState {
                tokens: Some(TokenSet {
                    access_token,
                    refresh_token: None,
                    expires_at: None,
                    instance_url: None,
                }),
                unsaved: false,
            }),
        }
    }

    /// A valid access token, refreshing first when there is none or it expires within 60 s.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        let mut state = self.state.lock().await;
        if let Some(tokens) = &state.tokens
            && (tokens.is_fresh(Utc::now()) || self.credentials.is_none())
        {
            return Ok(tokens.access_token.clone());
        }
        self.refresh_locked(&mut state).await
    }

    /// Runs `call` with a valid access token; if it fails with [`ApiError::Unauthorized`],
    /// refreshes once and runs it again, whose result (a second 401 included) is final.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.access_token().await?;
        match call(token.clone()).await {
            Err(ApiError::Unauthorized) if self.credentials.is_some() => {
                tracing::debug!("CRM answered 401; refreshing the access token once");
                let fresh = self.replace_rejected(&token).await?;
                call(fresh).await
            }
            other => other,
        }
    }

    /// The current token set (for Salesforce's `instance_url`), if any.
    pub async fn current(&self) -> Option<TokenSet> {
        self.state.lock().await.tokens.clone()
    }

    /// The token set if a refresh happened since the last call, so the caller can save it.
    /// Save it promptly: a vendor that rotates refresh tokens has already retired the old one.
    pub async fn take_refreshed(&self) -> Option<TokenSet> {
        let mut state = self.state.lock().await;
        if std::mem::take(&mut state.unsaved) {
            state.tokens.clone()
        } else {
            None
        }
    }

    /// Refreshes unless another task already replaced the rejected token.
    pub async fn replace_rejected(&self, rejected: &str) -> Result<String, ApiError> {
        let mut state = self.state.lock().await;
        match &state.tokens {
            Some(tokens) if tokens.access_token != rejected => Ok(tokens.access_token.clone()),
            _ => self.refresh_locked(&mut state).await,
        }
    }

    async fn refresh_locked(&self, state: &mut CacheState) -> Result<String, ApiError> {
        let Some(credentials) = &self.credentials else {
            return Err(ApiError::Unauthorized);
        };
        // A rotated refresh token from an earlier refresh wins over the configured one.
        let refresh_token = state
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
            .unwrap_or_else(|| credentials.refresh_token.clone());
        let mut fresh = refresh(
            &self.http,
            &credentials.token_url,
            &credentials.client_id,
            &credentials.client_secret,
            &refresh_token,
        )
        .await?;
        // Salesforce names the instance on every refresh, but keep the old one if it does not.
        if fresh.instance_url.is_none() {
            fresh.instance_url = state.tokens.as_ref().and_then(|t| t.instance_url.clone());
        }
        let access_token = fresh.access_token.clone();
        state.tokens = Some(fresh);
        state.unsaved = true;
        Ok(access_token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode as AxStatus;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use serde_json::json;

    use super::*;
    use crate::crm::api::testing::serve;

    /// Reads the form body the oauth2 crate sent.
    fn form(body: &str) -> std::collections::HashMap<String, String> {
        body.split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| {
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (decode(k), decode(v))
            })
            .collect()
    }

    #[tokio::test]
    async fn salesforce_refresh_reads_instance_url_and_has_no_expiry() {
        let router = Router::new().route(
            "/services/oauth2/token",
            post(|body: String| async move {
                let f = form(&body);
                assert_eq!(f["grant_type"], "refresh_token");
                assert_eq!(f["refresh_token"], "rt-1");
                assert_eq!(f["client_id"], "cid");
                assert_eq!(f["client_secret"], "csecret");
                axum::Json(json!({
                    "access_token": "00Dxx!AQ4AQ",
                    "signature": "c2lnbmF0dXJl",
                    "scope": "api refresh_token",
                    "instance_url": "https://acme.my.salesforce.com/",
                    "id": "https://login.salesforce.com/id/00Dxx/005xx",
                    "token_type": "Bearer",
                    "issued_at": "1767225600000"
                }))
            }),
        );
        let base = serve(router).await;
        let tokens = refresh(
            &reqwest::Client::new(),
            &salesforce_token_url(&base),
            "cid",
            "csecret",
            "rt-1",
        )
        .await
        .expect("refresh");
        assert_eq!(tokens.access_token, "00Dxx!AQ4AQ");
        assert_eq!(tokens.refresh_token.as_deref(), Some("rt-1"));
        assert_eq!(tokens.expires_at, None);
        assert_eq!(
            tokens.instance_url.as_deref(),
            Some("https://acme.my.salesforce.com")
        );
        assert!(!format!("{tokens:?}").contains("00Dxx!AQ4AQ"));
    }

    #[tokio::test]
    async fn hubspot_refresh_reads_expiry_and_rotated_refresh_token() {
        let router = Router::new().route(
            "/oauth/v1/token",
            post(|| async {
                axum::Json(json!({
                    "token_type": "bearer",
                    "refresh_token": "rt-2",
                    "access_token": "CJSP5qf1",
                    "expires_in": 1800
                }))
            }),
        );
        let base = serve(router).await;
        let before = Utc::now();
        let tokens = refresh(
            &reqwest::Client::new(),
            &hubspot_token_url(&base),
            "cid",
            "cs",
            "rt-1",
        )
        .await
        .expect("refresh");
        assert_eq!(tokens.refresh_token.as_deref(), Some("rt-2"));
        assert_eq!(tokens.instance_url, None);
        let expires_at = tokens.expires_at.expect("expiry");
        assert!(expires_at >= before + chrono::Duration::seconds(1800));
        assert!(expires_at <= Utc::now() + chrono::Duration::seconds(1800));
    }

    #[tokio::test]
    async fn a_revoked_refresh_token_is_unauthorized_and_not_echoed() {
        let router = Router::new().route(
            "/oauth/v1/token",
            post(|| async {
                (
                    AxStatus::BAD_REQUEST,
                    axum::Json(json!({
                        "error": "invalid_grant",
                        "error_description": "expired access/refresh token"
                    })),
                )
            }),
        );
        let base = serve(router).await;
        let err = refresh(
            &reqwest::Client::new(),
            &hubspot_token_url(&base),
            "cid",
            "cs",
            "rt-secret",
        )
        .await
        .expect_err("refused");
        assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("rt-secret"));
    }

    #[tokio::test]
    async fn a_token_endpoint_outage_is_retryable() {
        let router = Router::new().route(
            "/oauth/v1/token",
            post(|| async { (AxStatus::SERVICE_UNAVAILABLE, "<html>down</html>") }),
        );
        let base = serve(router).await;
        let err = refresh(
            &reqwest::Client::new(),
            &hubspot_token_url(&base),
            "cid",
            "cs",
            "rt",
        )
        .await
        .expect_err("down");
        assert!(
            matches!(err, ApiError::Server(s) if s == StatusCode::SERVICE_UNAVAILABLE),
            "{err:?}"
        );
        assert!(err.is_retryable());
    }

    /// A token endpoint that numbers its tokens, and an API that accepts only the listed ones.
    #[derive(Clone, Default)]
    struct Fake {
        refreshes: Arc<AtomicUsize>,
        api_calls: Arc<AtomicUsize>,
        accept_refreshed: bool,
    }

    async fn token(State(fake): State<Fake>) -> Response {
        let n = fake.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        axum::Json(json!({
            "token_type": "bearer",
            "access_token": format!("access-{n}"),
            "refresh_token": "rt",
            "expires_in": 1800
        }))
        .into_response()
    }

    async fn api(State(fake): State<Fake>, headers: axum::http::HeaderMap) -> Response {
        fake.api_calls.fetch_add(1, Ordering::SeqCst);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if fake.accept_refreshed && auth == "Bearer access-1" {
            axum::Json(json!({"ok": true})).into_response()
        } else {
            (
                AxStatus::UNAUTHORIZED,
                axum::Json(json!({
                    "status": "error",
                    "message": "The OAuth token used to make this call expired.",
                    "category": "EXPIRED_AUTHENTICATION"
                })),
            )
                .into_response()
        }
    }

    async fn cache_against(fake: Fake) -> (TokenCache, String) {
        let router = Router::new()
            .route("/oauth/v1/token", post(token))
            .route("/thing", get(api))
            .with_state(fake);
        let base = serve(router).await;
        let credentials = Credentials {
            token_url: hubspot_token_url(&base),
            client_id: "cid".into(),
            client_secret: "cs".into(),
            refresh_token: "rt".into(),
        };
        // A stored token the CRM has since revoked, with a stated expiry far away.
        let stale = TokenSet {
            access_token: "stale-token".into(),
            refresh_token: Some("rt".into()),
            expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            instance_url: None,
        };
        let cache = TokenCache::new(reqwest::Client::new(), credentials, Some(stale));
        (cache, format!("{base}/thing"))
    }

    async fn get_thing(url: &str, token: String) -> Result<serde_json::Value, ApiError> {
        super::super::send_json(reqwest::Client::new().get(url), &token, "a test thing").await
    }

    #[tokio::test]
    async fn a_401_refreshes_once_then_succeeds() {
        let fake = Fake {
            accept_refreshed: true,
            ..Fake::default()
        };
        let (cache, url) = cache_against(fake.clone()).await;
        let value = cache
            .call(|token| get_thing(&url, token))
            .await
            .expect("second try succeeds");
        assert_eq!(value, json!({"ok": true}));
        assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(fake.api_calls.load(Ordering::SeqCst), 2);
        let saved = cache.take_refreshed().await.expect("refreshed tokens");
        assert_eq!(saved.access_token, "access-1");
        assert!(cache.take_refreshed().await.is_none());
    }

    #[tokio::test]
    async fn a_second_401_is_unauthorized_without_another_refresh() {
        let fake = Fake::default();
        let (cache, url) = cache_against(fake.clone()).await;
        let err = cache
            .call(|token| get_thing(&url, token))
            .await
            .expect_err("still refused");
        assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
        assert!(!err.is_retryable());
        assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
        assert_eq!(fake.api_calls.load(Ordering::SeqCst), 2);
        let text = format!("{err} {err:?}");
        assert!(!text.contains("stale-token") && !text.contains("access-1"));
    }

    #[tokio::test]
    async fn a_missing_or_expiring_token_is_refreshed_before_use() {
        let fake = Fake {
            accept_refreshed: true,
            ..Fake::default()
        };
        let (cache, _url) = cache_against(fake.clone()).await;
        {
            let mut state = cache.state.lock().await;
            if let Some(t) = state.tokens.as_mut() {
                t.expires_at = Some(Utc::now() + chrono::Duration::seconds(30));
            }
        }
        assert_eq!(cache.access_token().await.expect("token"), "access-1");
        // Fresh for 30 minutes now: no second refresh.
        assert_eq!(cache.access_token().await.expect("token"), "access-1");
        assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_fixed_token_reports_401_without_refreshing() {
        let fake = Fake::default();
        let (_cache, url) = cache_against(fake.clone()).await;
        let cache = TokenCache::fixed("pat-123".into());
        let err = cache
            .call(|token| get_thing(&url, token))
            .await
            .expect_err("refused");
        assert!(matches!(err, ApiError::Unauthorized));
        assert_eq!(fake.api_calls.load(Ordering::SeqCst), 1);
        assert_eq!(fake.refreshes.load(Ordering::SeqCst), 0);
    }

    /// The worker and reconciliation run these on tokio tasks.
    #[test]
    fn futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        let http = reqwest::Client::new();
        let cache = TokenCache::fixed("t".into());
        is_send(&refresh(&http, "u", "a", "b", "c"));
        is_send(&cache.access_token());
        is_send(&cache.call(|token| async move { Ok::<_, ApiError>(token) }));
    }
}
