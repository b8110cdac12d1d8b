//! Road travel times from OSRM (HTTP API). Today: reachability; matrices and routes build on this client.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// Failures talking to OSRM, with the endpoint that failed.
#[derive(Debug, Error)]
pub enum RoutingError {
    #[error("OSRM {endpoint} request failed: {source}")]
    Http {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("OSRM {endpoint} answered with an unexpected body")]
    UnexpectedBody { endpoint: &'static str },
}

/// A client for one `osrm-routed` instance.
#[derive(Debug, Clone)]
pub struct OsrmClient {
    http: reqwest::Client,
    base: reqwest::Url,
}

/// Every OSRM answer, success or error, carries a `code` ("Ok", "NoSegment", ...).
#[derive(Deserialize)]
struct OsrmEnvelope {
    code: String,
}

impl OsrmClient {
    pub fn new(base: reqwest::Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("terrane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base })
    }

    pub fn base_url(&self) -> &reqwest::Url {
        &self.base
    }

    /// Checks that OSRM answers with its own JSON envelope. Any `code` counts as alive: a
    /// point far from the loaded extract legitimately answers `NoSegment`.
    #[tracing::instrument(skip_all, err)]
    pub async fn ping(&self) -> Result<(), RoutingError> {
        const ENDPOINT: &str = "nearest";
        let url = self
            .base
            .join("nearest/v1/driving/0,0")
            .map_err(|_| RoutingError::UnexpectedBody { endpoint: ENDPOINT })?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|source| RoutingError::Http {
                endpoint: ENDPOINT,
                source,
            })?;
        let body: OsrmEnvelope = response
            .json()
            .await
            .map_err(|_| RoutingError::UnexpectedBody { endpoint: ENDPOINT })?;
        if body.code.is_empty() {
            return Err(RoutingError::UnexpectedBody { endpoint: ENDPOINT });
        }
        Ok(())
    }
}
