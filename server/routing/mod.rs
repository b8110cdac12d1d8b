//! Road travel from OSRM (HTTP API): duration and distance matrices (`table`), road geometry
//! (`route`); the day-planning solver (`solver`) and its independent plan checker (`check`).

pub mod check;
mod route;
pub mod solver;
mod table;

pub use route::{MAX_ROUTE_POINTS, RoadRoute};
pub use table::{DEFAULT_MAX_TABLE_SIZE, DurationMatrix, parse_points};

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::spatial::SpatialError;

/// Failures talking to OSRM, with the endpoint that failed.
///
/// OSRM answers errors as HTTP 400 with a `code`; each code family has its own variant so
/// callers can tell our bug (`Refused`), a size limit (`TooBig`) and a data problem
/// (`NoSegment`, `NoTable`) apart.
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
    /// Refused before any request was sent.
    #[error("{role} {index} is not a valid coordinate: {source}")]
    InvalidCoordinate {
        role: CoordinateRole,
        index: usize,
        #[source]
        source: SpatialError,
    },
    /// `InvalidUrl`, `InvalidService`, `InvalidVersion`, `InvalidOptions`, `InvalidQuery`,
    /// `InvalidValue`: the request we built is wrong (a bug here, or a different OSRM API).
    #[error("OSRM {endpoint} refused the request as {code}: {message}")]
    Refused {
        endpoint: &'static str,
        code: String,
        message: String,
    },
    /// The request exceeds one of osrm-routed's size limits (`--max-table-size`, ...).
    #[error(
        "OSRM {endpoint} request is larger than osrm-routed allows ({message}); \
         the client's max table size must not exceed osrm-routed's --max-table-size"
    )]
    TooBig {
        endpoint: &'static str,
        message: String,
    },
    /// A coordinate could not be snapped to a road (only with a search radius, e.g.
    /// osrm-routed's `--default-radius`; by default OSRM snaps however far the road is).
    #[error("OSRM {endpoint} could not snap a coordinate to a road: {message}")]
    NoSegment {
        endpoint: &'static str,
        message: String,
    },
    #[error("OSRM {endpoint} found no table: {message}")]
    NoTable {
        endpoint: &'static str,
        message: String,
    },
    /// Any other code (`NotImplemented` for a table on an algorithm without it, ...).
    #[error("OSRM {endpoint} answered {code}: {message}")]
    Failed {
        endpoint: &'static str,
        code: String,
        message: String,
    },
}

impl RoutingError {
    /// Maps a non-`Ok` OSRM `code` (and its optional `message`) to a variant.
    fn from_osrm_code(endpoint: &'static str, code: String, message: Option<String>) -> Self {
        let message = match message {
            Some(m) if !m.is_empty() => m,
            _ => "no message".to_owned(),
        };
        match code.as_str() {
            "InvalidUrl" | "InvalidService" | "InvalidVersion" | "InvalidOptions"
            | "InvalidQuery" | "InvalidValue" => Self::Refused {
                endpoint,
                code,
                message,
            },
            "TooBig" => Self::TooBig { endpoint, message },
            "NoSegment" => Self::NoSegment { endpoint, message },
            "NoTable" => Self::NoTable { endpoint, message },
            _ => Self::Failed {
                endpoint,
                code,
                message,
            },
        }
    }
}

/// Which list of a many-to-many request a coordinate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinateRole {
    Source,
    Destination,
}

impl fmt::Display for CoordinateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Destination => "destination",
        })
    }
}

/// A client for one `osrm-routed` instance.
#[derive(Debug, Clone)]
pub struct OsrmClient {
    http: reqwest::Client,
    base: reqwest::Url,
    /// osrm-routed's `--max-table-size` (what chunking must respect).
    max_table_size: NonZeroUsize,
}

/// Every OSRM answer, success or error, carries a `code` ("Ok", "NoSegment", ...).
#[derive(Deserialize)]
struct OsrmEnvelope {
    code: String,
}

impl OsrmClient {
    /// A client assuming osrm-routed's default `--max-table-size` (100); see
    /// [`OsrmClient::with_max_table_size`] when the server allows more.
    pub fn new(base: reqwest::Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("terrane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base,
            max_table_size: DEFAULT_MAX_TABLE_SIZE,
        })
    }

    /// Tells the client osrm-routed's `--max-table-size`; larger values mean fewer, larger
    /// table requests. A value above the server's makes table requests fail with `TooBig`.
    #[must_use]
    pub fn with_max_table_size(mut self, max_table_size: NonZeroUsize) -> Self {
        self.max_table_size = max_table_size;
        self
    }

    /// Checks that OSRM answers with its own JSON envelope. Any `code` counts as alive: a
    /// point far from the loaded extract may legitimately answer `NoSegment`.
    #[tracing::instrument(skip_all, err)]
    pub async fn ping(&self) -> Result<(), RoutingError> {
        const ENDPOINT: &str = "nearest";
        let body: OsrmEnvelope = self.get_json(ENDPOINT, "nearest/v1/driving/0,0").await?;
        if body.code.is_empty() {
            return Err(RoutingError::UnexpectedBody { endpoint: ENDPOINT });
        }
        Ok(())
    }

    /// GETs `path_and_query` (relative to the base URL) and decodes OSRM's JSON, whatever the
    /// HTTP status: OSRM's errors are JSON bodies on 400.
    async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path_and_query: &str,
    ) -> Result<T, RoutingError> {
        let url = self
            .base
            .join(path_and_query)
            .map_err(|_| RoutingError::UnexpectedBody { endpoint })?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|source| RoutingError::Http { endpoint, source })?;
        response
            .json()
            .await
            .map_err(|_| RoutingError::UnexpectedBody { endpoint })
    }
}
