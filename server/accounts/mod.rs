//! The account registry: CRM accounts with their location, value and ownership, and map queries over them.
//!
//! `accounts` has one owner, this module, split by column group: [`crm`] (what the CRM says),
//! [`location`] (where the geocoder or a pin put it), [`territory`] (which territory and rep a
//! plan gave it), [`service`] (how long a visit takes). Other capabilities call these; none
//! writes the table itself. Opening hours (`account_opening_hours`) are [`hours`].

mod address;
pub mod crm;
mod crm_ref;
pub mod db;
pub mod hours;
pub mod import;
pub mod location;
pub mod service;
pub mod territory;

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

pub use address::Address;
pub use crm_ref::CrmRef;

use crate::auth::Scope;
use crate::spatial::BBox;

/// How many features one map query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: Limit = Limit(5_000);
    pub const MAX: u32 = 50_000;

    /// Accepts 1 to [`Limit::MAX`].
    pub fn new(n: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&n).then_some(Self(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A map query: accounts with a location, optionally inside a box.
#[derive(Debug, Clone, Copy)]
pub struct MapQuery {
    pub bbox: Option<BBox>,
    pub limit: Limit,
}

/// One account as drawn on the map (no street address: the map doesn't need it).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MapAccount {
    #[sqlx(flatten)]
    pub properties: AccountProperties,
    pub lon: f64,
    pub lat: f64,
}

/// A GeoJSON FeatureCollection of accounts, with how the query was cut.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountFeatures {
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^FeatureCollection$")]
    kind: &'static str,
    pub features: Vec<AccountFeature>,
    /// True when more accounts matched than `limit`; the most valuable ones are returned.
    pub truncated: bool,
    pub limit: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountFeature {
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^Feature$")]
    kind: &'static str,
    pub id: Uuid,
    pub geometry: PointGeometry,
    pub properties: AccountProperties,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointGeometry {
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^Point$")]
    kind: &'static str,
    /// `[longitude, latitude]`, as GeoJSON requires.
    pub coordinates: [f64; 2],
}

/// What the map shows of an account (GeoJSON `properties`).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, ToSchema)]
pub struct AccountProperties {
    pub id: Uuid,
    pub name: String,
    pub tier: String,
    pub annual_value: f64,
    pub visits_per_year: i32,
    pub priority: i16,
    pub industry: Option<String>,
    pub synthetic: bool,
    pub city: Option<String>,
    pub owner_rep_id: Option<Uuid>,
    pub territory_id: Option<Uuid>,
    pub geocode_precision: Option<location::Precision>,
}

impl From<MapAccount> for AccountFeature {
    fn from(a: MapAccount) -> Self {
        Self {
            kind: "Feature",
            id: a.properties.id,
            geometry: PointGeometry {
                kind: "Point",
                coordinates: [a.lon, a.lat],
            },
            properties: a.properties,
        }
    }
}

/// Accounts for the map that `scope` may see, most valuable first when the limit cuts the result.
#[tracing::instrument(skip_all, err, fields(limit = query.limit.get(), has_bbox = query.bbox.is_some()))]
pub async fn map_features(
    pool: &PgPool,
    scope: &Scope,
    query: MapQuery,
) -> Result<AccountFeatures, sqlx::Error> {
    let limit = query.limit.get();
    let mut rows =
        db::map_accounts(pool, scope.rep_filter(), query.bbox, i64::from(limit) + 1).await?;
    let truncated = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(AccountFeatures {
        kind: "FeatureCollection",
        features: rows.into_iter().map(AccountFeature::from).collect(),
        truncated,
        limit,
    })
}
