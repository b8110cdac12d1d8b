//! The built-in geocoder over the region's OpenStreetMap addresses: [`build_index`] turns an
//! `.osm.pbf` extract into PostGIS tables, [`OsmGeocoder`] answers forward and reverse queries.
//!
//! Names are normalized with the same functions on both sides (OSM tags when indexing, the
//! account's address when asking), so "Bd", "boulevard" and "BOULEVARD" meet in the middle.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use sqlx::PgPool;

use crate::geocode::{Address, BoxFuture, GeocodeResult, Geocoder, Precision, ProviderError};
use crate::spatial::LonLat;

pub mod bench;
pub mod build;
pub mod load;
mod reverse;
mod search;

use crate::geocode::normalize as norm;

pub use load::{BuildSummary, Progress, Source};
pub use reverse::{ADDRESS_RADIUS_M, ReverseResult, STREET_RADIUS_M};
pub use search::search;

/// The provider name in configuration, the cache and metrics.
pub const PROVIDER: &str = "osm";

/// Why the index could not answer.
#[derive(Debug, thiserror::Error)]
pub enum OsmGeocoderError {
    #[error("querying the geocoder index for {what}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the geocoder index returned an unusable {what}: {detail}")]
    BadRow { what: &'static str, detail: String },
}

impl OsmGeocoderError {
    /// The precision and location of an index row, checked.
    fn checked_row(precision: &str, lon: f64, lat: f64) -> Result<(Precision, LonLat), Self> {
        let parsed = Precision::parse(precision).ok_or_else(|| Self::BadRow {
            what: "precision",
            detail: precision.to_owned(),
        })?;
        let location = LonLat::new(lon, lat).map_err(|e| Self::BadRow {
            what: "location",
            detail: e.to_string(),
        })?;
        Ok((parsed, location))
    }
}

/// The built-in geocoder, reading the index in the database.
#[derive(Debug, Clone)]
pub struct OsmGeocoder {
    db: PgPool,
}

impl OsmGeocoder {
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }

    /// Locates an address; `Ok(None)` when neither it nor its street, postcode or locality is
    /// in the index.
    pub async fn locate(&self, query: &Address) -> Result<Option<GeocodeResult>, OsmGeocoderError> {
        let address = norm::normalize(query);
        if address.is_empty() {
            return Ok(None);
        }
        search(&self.db, &address).await
    }

    /// The nearest address point within [`ADDRESS_RADIUS_M`] of `at`, else the nearest street
    /// within [`STREET_RADIUS_M`].
    pub async fn reverse(&self, at: LonLat) -> Result<Option<ReverseResult>, OsmGeocoderError> {
        reverse::reverse(&self.db, at).await
    }
}

impl Geocoder for OsmGeocoder {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn geocode<'a>(
        &'a self,
        query: &'a Address,
    ) -> BoxFuture<'a, Result<Option<GeocodeResult>, ProviderError>> {
        Box::pin(async move {
            self.locate(query).await.map_err(|e| ProviderError::Failed {
                provider: PROVIDER.to_owned(),
                detail: with_causes(&e),
            })
        })
    }
}

/// An error and its causes on one line ("querying ...: error returned from database: ...").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// Builds the index from an extract, replacing the previous one in one transaction. The
/// extract is read on a blocking thread; `progress` hears about the load.
#[tracing::instrument(name = "geocoder_build", skip_all, err)]
pub async fn build_index(
    pool: &PgPool,
    pbf: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> anyhow::Result<BuildSummary> {
    let started = Instant::now();
    progress(Progress::Stage("reading the extract"));
    let path = pbf.to_path_buf();
    let (source, features) = tokio::task::spawn_blocking(move || {
        let source = Source::of_file(&path)?;
        let features = build::read(&path)?;
        anyhow::Ok((source, features))
    })
    .await
    .context("reading the extract on a blocking thread")??;
    load::load(pool, &source, &features, started, progress).await
}

/// The most recent build, if any: `(source file, built at, addresses)`.
pub async fn latest_build(
    pool: &PgPool,
) -> Result<Option<(String, chrono::DateTime<chrono::Utc>, i32)>, OsmGeocoderError> {
    sqlx::query_as(include_str!("sql/latest_build.sql"))
        .fetch_optional(pool)
        .await
        .map_err(|source| OsmGeocoderError::Query {
            what: "the latest build",
            source,
        })
}
