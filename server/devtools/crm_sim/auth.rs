//! OAuth access tokens: issued by each vendor's token endpoint, required as a Bearer token
//! on every API call, expiring after the configured lifetime.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::app::{SimState, lock};
use crate::clock::now_ms;
use crate::webhooks::Vendor;
use crate::{hubspot, ids, salesforce};

#[derive(Debug, Clone, Copy)]
struct Issued {
    vendor: Vendor,
    expires_at_ms: i64,
}

/// The outcome of presenting a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    /// Issued by this vendor but past its lifetime by `ago_ms`.
    Expired {
        ago_ms: i64,
    },
    /// Never issued, or issued by the other vendor.
    Unknown,
}

/// Every access token issued since start.
#[derive(Debug, Default)]
pub struct TokenBook {
    tokens: HashMap<String, Issued>,
}

/// Expired tokens are forgotten (and then read as unknown) after this long.
const FORGET_AFTER_MS: i64 = 86_400_000;

impl TokenBook {
    /// A new access token for `vendor`, valid for `ttl_ms` from `now_ms`.
    pub fn issue(
        &mut self,
        vendor: Vendor,
        rng: &mut impl Rng,
        org_id: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> String {
        self.tokens
            .retain(|_, t| now_ms - t.expires_at_ms < FORGET_AFTER_MS);
        let token = match vendor {
            // HubSpot access tokens are opaque base64-looking strings.
            Vendor::HubSpot => format!("CNsim{}", ids::random_alphanumeric(rng, 60)),
            // Salesforce session ids start with the 15-character org id and `!`.
            Vendor::Salesforce => format!(
                "{}!AQsim{}",
                org_id.get(..15).unwrap_or(org_id),
                ids::random_alphanumeric(rng, 90)
            ),
        };
        self.tokens.insert(
            token.clone(),
            Issued {
                vendor,
                expires_at_ms: now_ms.saturating_add(ttl_ms),
            },
        );
        token
    }

    pub fn check(&self, vendor: Vendor, token: &str, now_ms: i64) -> TokenCheck {
        match self.tokens.get(token) {
            Some(t) if t.vendor != vendor => TokenCheck::Unknown,
            Some(t) if now_ms < t.expires_at_ms => TokenCheck::Valid,
            Some(t) => TokenCheck::Expired {
                ago_ms: now_ms - t.expires_at_ms,
            },
            None => TokenCheck::Unknown,
        }
    }

    /// Makes every issued token expired as of `now_ms` (for tests of refresh).
    pub fn expire_all(&mut self, now_ms: i64) -> usize {
        for t in self.tokens.values_mut() {
            t.expires_at_ms = t.expires_at_ms.min(now_ms);
        }
        self.tokens.len()
    }
}

/// The token of an `Authorization: Bearer …` header (Salesforce also takes `OAuth …`).
fn presented_token(request: &Request, vendor: Vendor) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer")
        || (vendor == Vendor::Salesforce && scheme.eq_ignore_ascii_case("oauth"));
    let token = token.trim();
    (scheme_ok && !token.is_empty()).then(|| token.to_owned())
}

fn check_request(sim: &SimState, request: &Request, vendor: Vendor) -> TokenCheck {
    if lock(&sim.faults).settings.unauthorized {
        return TokenCheck::Unknown;
    }
    match presented_token(request, vendor) {
        Some(token) => lock(&sim.tokens).check(vendor, &token, now_ms()),
        None => TokenCheck::Unknown,
    }
}

/// Refuses HubSpot API calls without a valid access token.
pub async fn require_hubspot(
    State(sim): State<SimState>,
    request: Request,
    next: Next,
) -> Response {
    match check_request(&sim, &request, Vendor::HubSpot) {
        TokenCheck::Valid => next.run(request).await,
        TokenCheck::Expired { ago_ms } => hubspot::unauthorized(Some(ago_ms)).into_response(),
        TokenCheck::Unknown => hubspot::unauthorized(None).into_response(),
    }
}

/// Refuses Salesforce API calls without a valid session.
pub async fn require_salesforce(
    State(sim): State<SimState>,
    request: Request,
    next: Next,
) -> Response {
    match check_request(&sim, &request, Vendor::Salesforce) {
        TokenCheck::Valid => next.run(request).await,
        TokenCheck::Expired { .. } | TokenCheck::Unknown => {
            salesforce::unauthorized().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn tokens_expire_after_their_lifetime_and_belong_to_one_vendor() {
        let mut book = TokenBook::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let org = "00DSm00000TeRRAIAA";
        let hs = book.issue(Vendor::HubSpot, &mut rng, org, 1_000, 1_800_000);
        let sf = book.issue(Vendor::Salesforce, &mut rng, org, 1_000, 1_800_000);
        assert!(sf.starts_with("00DSm00000TeRRA!"));

        assert_eq!(
            book.check(Vendor::HubSpot, &hs, 1_800_999),
            TokenCheck::Valid
        );
        assert_eq!(
            book.check(Vendor::HubSpot, &hs, 1_801_000),
            TokenCheck::Expired { ago_ms: 0 }
        );
        assert_eq!(
            book.check(Vendor::Salesforce, &hs, 2_000),
            TokenCheck::Unknown
        );
        assert_eq!(
            book.check(Vendor::HubSpot, "made-up", 2_000),
            TokenCheck::Unknown
        );

        book.expire_all(5_000);
        assert_eq!(
            book.check(Vendor::Salesforce, &sf, 5_000),
            TokenCheck::Expired { ago_ms: 0 }
        );
    }
}
