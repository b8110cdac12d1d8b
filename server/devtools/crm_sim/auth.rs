//! OAuth access tokens: issued by each vendor's token endpoint, required as a Bearer token
//! on every API call, expiring after the configured lifetime. The check on each call is in
//! `middleware`.

use std::collections::HashMap;

use rand::Rng;

use crate::ids;
use crate::vendor::Vendor;

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
