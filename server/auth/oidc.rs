//! OpenID Connect sign-in (authorization code + PKCE S256): discovery, the authorization
//! redirect, and the callback's checks (state, iss, code exchange, ID token signature,
//! iss/aud/exp, algorithm allow-list, nonce).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::RwLock;
use tower_sessions::Session;

/// OpenID Connect client settings; the redirect URI is `TERRANE_PUBLIC_URL` + `/auth/callback`.
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: reqwest::Url,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Algorithms we accept for ID tokens; anything else (including `none`) is refused.
const ALLOWED_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::PS256];
/// Session key of the pending sign-in (state, nonce, PKCE verifier).
const PENDING_KEY: &str = "oidc_pending";
/// A pending sign-in older than this is refused.
const PENDING_MAX_AGE: Duration = Duration::from_secs(600);
/// Clock skew tolerated on `exp`/`iat`.
const LEEWAY_S: u64 = 60;

#[derive(Debug, Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached ({0})")]
    Unreachable(String),
    #[error("the identity provider's discovery document is invalid: {0}")]
    Discovery(&'static str),
    #[error("no sign-in is in progress in this browser (or it expired)")]
    NoPendingSignIn,
    #[error("the sign-in response does not belong to this browser's sign-in (state mismatch)")]
    StateMismatch,
    #[error("the sign-in response came from another issuer")]
    IssuerMismatch,
    #[error("the identity provider refused the sign-in: {0}")]
    ProviderError(String),
    #[error("the authorization code was refused by the identity provider")]
    CodeRefused,
    #[error("the ID token is invalid: {0}")]
    BadIdToken(String),
    #[error("session store failed")]
    Session(#[from] tower_sessions::session::Error),
}

/// The provider's endpoints, from `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: reqwest::Url,
    token_endpoint: reqwest::Url,
    jwks_uri: reqwest::Url,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    started_ms: i64,
}

/// The token endpoint's answer carries the ID token beside the access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type CodeClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Who the provider says signed in, after every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
}

/// One configured provider. Discovery is lazy, so the server starts while the provider is down.
pub struct OidcProvider {
    config: OidcConfig,
    redirect_uri: reqwest::Url,
    http: reqwest::Client,
    discovery: RwLock<Option<Discovery>>,
}

impl OidcProvider {
    pub fn new(config: OidcConfig, public_url: &reqwest::Url) -> Result<Self, reqwest::Error> {
        let mut redirect_uri = public_url.clone();
        redirect_uri.set_path("/auth/callback");
        redirect_uri.set_query(None);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // Never follow redirects from the provider's back channel (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            config,
            redirect_uri,
            http,
            discovery: RwLock::new(None),
        })
    }

    pub fn redirect_uri(&self) -> &reqwest::Url {
        &self.redirect_uri
    }

    async fn discovery(&self) -> Result<Discovery, OidcError> {
        if let Some(d) = self.discovery.read().await.clone() {
            return Ok(d);
        }
        let mut url = self.config.issuer.clone();
        let path = format!(
            "{}/.well-known/openid-configuration",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let d: Discovery = self.get_json(url).await?;
        // The document must name exactly the configured issuer (OpenID Discovery 4.3).
        if d.issuer.trim_end_matches('/') != self.config.issuer.as_str().trim_end_matches('/') {
            return Err(OidcError::Discovery(
                "issuer differs from TERRANE_OIDC_ISSUER",
            ));
        }
        *self.discovery.write().await = Some(d.clone());
        Ok(d)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: reqwest::Url,
    ) -> Result<T, OidcError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(OidcError::Unreachable(format!("HTTP {}", resp.status())));
        }
        resp.json()
            .await
            .map_err(|_| OidcError::Discovery("not the expected JSON"))
    }

    fn client(&self, d: &Discovery) -> CodeClient {
        oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
            .set_auth_uri(AuthUrl::from_url(d.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(d.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_uri.clone()))
    }

    /// Starts a sign-in: remembers state, nonce and the PKCE verifier in this browser's
    /// session and returns the provider URL to send the browser to.
    pub async fn begin(
        &self,
        session: &Session,
        login_hint: Option<&str>,
    ) -> Result<reqwest::Url, OidcError> {
        let d = self.discovery().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();
        let client = self.client(&d);
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.secret().clone());
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state) = request.url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            started_ms: chrono::Utc::now().timestamp_millis(),
        };
        session.insert(PENDING_KEY, pending).await?;
        Ok(url)
    }

    /// Finishes a sign-in from the callback's query. The pending sign-in is consumed first,
    /// so a response can be used at most once.
    pub async fn finish(
        &self,
        session: &Session,
        callback: &Callback,
    ) -> Result<VerifiedIdentity, OidcError> {
        let pending: Pending = session
            .remove(PENDING_KEY)
            .await?
            .ok_or(OidcError::NoPendingSignIn)?;
        let age_ms = chrono::Utc::now().timestamp_millis() - pending.started_ms;
        if age_ms < 0 || u128::try_from(age_ms).unwrap_or(u128::MAX) > PENDING_MAX_AGE.as_millis() {
            return Err(OidcError::NoPendingSignIn);
        }
        let presented = callback.state.as_deref().unwrap_or_default();
        if !super::csrf::constant_time_eq(pending.state.as_bytes(), presented.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        let d = self.discovery().await?;
        // RFC 9207: when the provider names itself in the response, it must be ours.
        if let Some(iss) = &callback.iss
            && iss.trim_end_matches('/') != d.issuer.trim_end_matches('/')
        {
            return Err(OidcError::IssuerMismatch);
        }
        if let Some(error) = &callback.error {
            return Err(OidcError::ProviderError(error.chars().take(100).collect()));
        }
        let code = callback.code.clone().ok_or(OidcError::CodeRefused)?;
        let http = self.http.clone();
        let send = move |req: HttpRequest| {
            let http = http.clone();
            async move { forward(&http, req).await }
        };
        let token = self
            .client(&d)
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&send)
            .await
            .map_err(|_| OidcError::CodeRefused)?;
        let id_token = &token.extra_fields().id_token;
        self.verify_id_token(&d, id_token, &pending.nonce).await
    }

    async fn verify_id_token(
        &self,
        d: &Discovery,
        token: &str,
        nonce: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        let bad = |why: &str| OidcError::BadIdToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| bad("unreadable header or unsupported algorithm"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(bad("algorithm not allowed"));
        }
        let jwks: JwkSet = self.get_json(d.jwks_uri.clone()).await?;
        let jwk = match &header.kid {
            Some(kid) => jwks.find(kid),
            None if jwks.keys.len() == 1 => jwks.keys.first(),
            None => None,
        }
        .ok_or_else(|| bad("signed by a key the provider does not publish"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("unusable key"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[d.issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_S;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| OidcError::BadIdToken(e.kind_name()))?
            .claims;
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| super::csrf::constant_time_eq(n.as_bytes(), nonce.as_bytes()));
        if !nonce_ok {
            return Err(bad("nonce mismatch"));
        }
        Ok(VerifiedIdentity {
            issuer: d.issuer.clone(),
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified,
            name: claims.name,
        })
    }
}

/// The callback's query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// Sends an oauth2 request with our reqwest client (oauth2's built-in one is an older reqwest).
pub(crate) async fn forward(
    http: &reqwest::Client,
    req: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = HttpResponse::new(Vec::new());
    *out.status_mut() = resp.status();
    *out.headers_mut() = resp.headers().clone();
    *out.body_mut() = resp.bytes().await?.to_vec();
    Ok(out)
}

/// jsonwebtoken's error kinds as short, non-secret reasons.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::InvalidSignature => "bad signature",
            K::ExpiredSignature => "expired",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::ImmatureSignature => "not valid yet",
            K::MissingRequiredClaim(_) => "missing a required claim",
            K::InvalidAlgorithm => "algorithm mismatch",
            _ => "malformed",
        }
        .to_owned()
    }
}
