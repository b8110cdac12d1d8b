//! Command-line flags of the simulator and the settings derived from them.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;

use crate::ids;

/// A development CRM simulator: HubSpot and Salesforce API subsets in the vendors' wire
/// formats, plus signed webhooks for random edits. Not part of the product.
#[derive(Debug, Clone, Parser)]
#[command(name = "terrane-crm-sim", version, about)]
pub struct Args {
    /// Address to serve on; port 0 picks a free port. The first line on stdout is
    /// `listening on http://ADDR`.
    #[arg(long, env = "CRM_SIM_LISTEN", default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,

    /// Base URL clients reach the simulator at (Salesforce `instance_url`, HubSpot paging
    /// links). Default: `http://` + the bound address.
    #[arg(long, env = "CRM_SIM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Demo dataset to load (accounts with `crm_source` `demo-hubspot` or `demo-salesforce`).
    #[arg(
        long,
        env = "CRM_SIM_DATASET",
        default_value = "seed-data/demo-crm.json"
    )]
    pub dataset: PathBuf,

    /// Start with no records instead of loading the dataset.
    #[arg(long)]
    pub empty: bool,

    /// Extra generated records for load tests, split evenly between the two CRMs.
    #[arg(long, default_value_t = 0)]
    pub synthetic: usize,

    /// Seed for generated records and for background edits.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Lifetime of issued access tokens, seconds.
    #[arg(long, env = "CRM_SIM_TOKEN_TTL_S", default_value_t = 1800)]
    pub token_ttl_s: u64,

    #[arg(
        long,
        env = "CRM_SIM_HUBSPOT_CLIENT_ID",
        default_value = "terrane-dev-hubspot-client"
    )]
    pub hubspot_client_id: String,
    #[arg(
        long,
        env = "CRM_SIM_HUBSPOT_CLIENT_SECRET",
        default_value = "terrane-dev-hubspot-client-secret"
    )]
    pub hubspot_client_secret: String,
    #[arg(
        long,
        env = "CRM_SIM_HUBSPOT_REFRESH_TOKEN",
        default_value = "terrane-dev-hubspot-refresh-token"
    )]
    pub hubspot_refresh_token: String,

    /// Secret that signs HubSpot webhooks. HubSpot signs with the app's client secret, so
    /// this defaults to --hubspot-client-secret.
    #[arg(long, env = "CRM_SIM_HUBSPOT_SECRET")]
    pub hubspot_secret: Option<String>,
    /// `appId` in HubSpot webhook events.
    #[arg(long, env = "CRM_SIM_HUBSPOT_APP_ID", default_value_t = 1_000_001)]
    pub hubspot_app_id: u64,
    /// `portalId` in HubSpot webhook events (the HubSpot account id).
    #[arg(long, env = "CRM_SIM_HUBSPOT_PORTAL_ID", default_value_t = 4_410_001)]
    pub hubspot_portal_id: u64,

    #[arg(
        long,
        env = "CRM_SIM_SALESFORCE_CLIENT_ID",
        default_value = "terrane-dev-salesforce-client"
    )]
    pub salesforce_client_id: String,
    #[arg(
        long,
        env = "CRM_SIM_SALESFORCE_CLIENT_SECRET",
        default_value = "terrane-dev-salesforce-client-secret"
    )]
    pub salesforce_client_secret: String,
    #[arg(
        long,
        env = "CRM_SIM_SALESFORCE_REFRESH_TOKEN",
        default_value = "terrane-dev-salesforce-refresh-token"
    )]
    pub salesforce_refresh_token: String,
    /// Salesforce organization id (15 or 18 characters), sent in Outbound Messages.
    #[arg(
        long,
        env = "CRM_SIM_SALESFORCE_ORG_ID",
        default_value = "00DSm00000TeRRA"
    )]
    pub salesforce_org_id: String,
    /// The secret path token of Terrane's Salesforce endpoint: Outbound Messages go to
    /// `/webhooks/salesforce/<token>` (give the same one to `terrane connection add
    /// --path-token`).
    #[arg(
        long,
        env = "CRM_SIM_SALESFORCE_PATH_TOKEN",
        default_value = "terrane-dev-salesforce-path-token",
        hide_env_values = true
    )]
    pub salesforce_path_token: String,

    /// Terrane's public base URL; webhooks go to `/webhooks/hubspot` and
    /// `/webhooks/salesforce` under it.
    #[arg(
        long,
        env = "CRM_SIM_TERRANE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub terrane_url: String,

    /// Random edits per second in the background (0 = only on demand via POST /_sim/edits).
    #[arg(long, default_value_t = 0.0)]
    pub edits_per_second: f64,

    /// Fraction of background edits whose webhooks are withheld, as if lost.
    #[arg(long, default_value_t = 0.0)]
    pub drop_ratio: f64,

    /// Whether writes through the API (batch update, collections update) also send webhooks,
    /// as the vendors do.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub api_write_webhooks: bool,

    /// Delivery attempts per webhook request before giving up.
    #[arg(long, default_value_t = 5)]
    pub retry_attempts: u32,
    /// Wait before the first retry, milliseconds; doubles after each failed attempt.
    #[arg(long, default_value_t = 1000)]
    pub retry_base_ms: u64,
    /// Timeout of one delivery attempt, milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub delivery_timeout_ms: u64,

    /// Fraction of API calls answered with 500 or 503.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// API calls allowed per second and vendor before 429 (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub rate_limit: u32,
    /// Added delay before every API call is answered, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

/// Settings the running simulator uses, checked and normalized.
#[derive(Debug, Clone)]
pub struct Config {
    pub public_url: String,
    pub token_ttl_ms: i64,
    pub hubspot: HubSpotConfig,
    pub salesforce: SalesforceConfig,
    pub terrane_url: String,
    pub api_write_webhooks: bool,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub struct HubSpotConfig {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub webhook_secret: String,
    pub app_id: u64,
    pub portal_id: u64,
}

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Always the 18-character form.
    pub org_id: String,
    pub path_token: String,
}

/// How failed webhook deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_ms: u64,
    pub timeout_ms: u64,
}

impl RetryPolicy {
    /// Wait after failed attempt `attempt` (1-based): base, 2 × base, 4 × base, …
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(16);
        self.base_ms.saturating_mul(1 << doublings)
    }
}

impl Args {
    /// Checks the flags and derives the settings; `bound` is the address actually bound.
    pub fn config(&self, bound: SocketAddr) -> anyhow::Result<Config> {
        for (name, value) in [
            ("--fail-rate", self.fail_rate),
            ("--drop-ratio", self.drop_ratio),
        ] {
            if !(0.0..=1.0).contains(&value) {
                bail!("{name} must be between 0 and 1");
            }
        }
        if !self.edits_per_second.is_finite() || self.edits_per_second < 0.0 {
            bail!("--edits-per-second must be a non-negative number");
        }
        if self.retry_attempts == 0 {
            bail!("--retry-attempts must be at least 1");
        }
        let org_id = ids::salesforce_id18(&self.salesforce_org_id)
            .context("--salesforce-org-id must be 15 or 18 letters and digits")?;
        let public_url = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
            None => format!("http://{bound}"),
        };
        Ok(Config {
            public_url,
            token_ttl_ms: i64::try_from(self.token_ttl_s.saturating_mul(1000))
                .context("--token-ttl-s is too large")?,
            hubspot: HubSpotConfig {
                client_id: self.hubspot_client_id.clone(),
                client_secret: self.hubspot_client_secret.clone(),
                refresh_token: self.hubspot_refresh_token.clone(),
                webhook_secret: self
                    .hubspot_secret
                    .clone()
                    .unwrap_or_else(|| self.hubspot_client_secret.clone()),
                app_id: self.hubspot_app_id,
                portal_id: self.hubspot_portal_id,
            },
            salesforce: SalesforceConfig {
                client_id: self.salesforce_client_id.clone(),
                client_secret: self.salesforce_client_secret.clone(),
                refresh_token: self.salesforce_refresh_token.clone(),
                org_id,
                path_token: self.salesforce_path_token.clone(),
            },
            terrane_url: self.terrane_url.trim_end_matches('/').to_owned(),
            api_write_webhooks: self.api_write_webhooks,
            retry: RetryPolicy {
                attempts: self.retry_attempts,
                base_ms: self.retry_base_ms,
                timeout_ms: self.delivery_timeout_ms,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        let policy = RetryPolicy {
            attempts: 5,
            base_ms: 1000,
            timeout_ms: 5000,
        };
        let waits: Vec<u64> = (1..5).map(|a| policy.backoff_ms(a)).collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000]);
    }

    #[test]
    fn defaults_parse_and_normalize_the_org_id() {
        let args = Args::parse_from(["terrane-crm-sim"]);
        let config = args
            .config("127.0.0.1:4000".parse().expect("address"))
            .expect("default flags are valid");
        assert_eq!(config.salesforce.org_id.len(), 18);
        assert_eq!(config.public_url, "http://127.0.0.1:4000");
        assert_eq!(config.hubspot.webhook_secret, config.hubspot.client_secret);
    }
}
