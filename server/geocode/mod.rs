//! Geocoding: address normalization (the cache key), a PostgreSQL cache, a chain of providers
//! (HTTP services such as Nominatim and Google, then the built-in geocoder over the region's
//! OpenStreetMap addresses), and the worker that locates pending accounts.
//!
//! Every provider implements [`Geocoder`]; results carry an honest [`Precision`] and a
//! confidence. Coordinates are validated as [`LonLat`] at the edge, so NaN or out-of-range
//! answers never reach the database.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

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

/// How exactly a result locates the address, best first. Matches the database enum
/// `geocode_precision` (plus `manual`, which only people set).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(type_name = "geocode_precision", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// A manager placed the pin by hand.
    Manual,
    /// The address point itself (a building or entrance).
    Rooftop,
    /// Between known house numbers along the street.
    Interpolated,
    /// Somewhere on the named street.
    Street,
    /// The postal code's area.
    PostalCode,
    /// The town or city.
    Locality,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Rooftop => "rooftop",
            Self::Interpolated => "interpolated",
            Self::Street => "street",
            Self::PostalCode => "postal_code",
            Self::Locality => "locality",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manual" => Self::Manual,
            "rooftop" => Self::Rooftop,
            "interpolated" => Self::Interpolated,
            "street" => Self::Street,
            "postal_code" => Self::PostalCode,
            "locality" => Self::Locality,
            _ => return None,
        })
    }

    /// Whether `self` is at least as precise as `other` (`Rooftop` is at least as precise as
    /// everything but `Manual`).
    pub fn at_least(self, other: Self) -> bool {
        self <= other
    }
}

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
