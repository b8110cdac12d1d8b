//! Geocoding: address normalization (the cache key), a PostgreSQL cache, a chain of providers
//! (HTTP services such as Nominatim and Google, then the built-in geocoder over the region's
//! OpenStreetMap addresses), and the worker that locates pending accounts.
//!
//! Every provider implements [`Geocoder`]; results carry an honest [`Precision`] and a
//! confidence. Coordinates are validated as [`LonLat`] at the edge, so NaN or out-of-range
//! answers never reach the database.

use std::future::Future;
use std::pin::Pin;

use crate::spatial::LonLat;

/// A structured address to geocode, as the account holds it (the one address type).
pub use crate::accounts::Address;

pub mod cache;
pub mod cache_bench;
pub mod normalize;
pub mod osm;
pub mod pins;
pub mod provider;
pub mod service;
pub mod stats;
pub mod worker;

/// How exactly a result locates the address (the column it describes lives in `accounts`).
pub use crate::accounts::location::Precision;

/// One provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GeocodeResult {
    pub location: LonLat,
    pub precision: Precision,
    /// 0 to 1: how sure the provider is that this is the address asked for.
    pub confidence: f32,
    /// The provider's name (`nominatim`, `google`, `osm`).
    pub provider: String,
}

/// Why a provider could not answer. A provider that answered "no such address" returns
/// `Ok(None)`, not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} timed out")]
    Timeout { provider: String },
    #[error("{provider} is rate limiting (HTTP 429)")]
    RateLimited { provider: String },
    #[error("{provider} failed: {detail}")]
    Failed { provider: String, detail: String },
    /// The provider's circuit is open after repeated failures; it is not called.
    #[error("{provider} is paused after repeated failures")]
    CircuitOpen { provider: String },
    /// The answer was unusable (bad JSON, NaN or out-of-range coordinates).
    #[error("{provider} sent an unusable answer: {detail}")]
    BadAnswer { provider: String, detail: String },
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A geocoding provider. Implementations hold their own HTTP client or database pool.
pub trait Geocoder: Send + Sync {
    /// Stable name used in configuration, the cache and metrics.
    fn name(&self) -> &str;

    /// Locates `query`; `Ok(None)` when the provider knows no such address.
    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>>;
}
