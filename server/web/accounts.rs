//! `GET /api/accounts`: accounts as GeoJSON for the map.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use crate::accounts::{self, AccountFeatures, Limit, MapQuery};
use crate::app::AppState;
use crate::error::AppError;
use crate::spatial::BBox;
use crate::web::extract::Query;
use crate::web::guard::AccountsReader;
use crate::web::openapi::ReadErrors;

/// The accounts API.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/accounts", get(list))
}

/// `bbox=minLon,minLat,maxLon,maxLat` (optional) and `limit` (1 to 50,000, default 5,000).
/// Only accounts within the caller's scope (a rep's own, a manager's team's, everything for
/// admins and API tokens with `accounts:read`).
#[utoipa::path(
    get,
    path = "/api/accounts",
    tag = "accounts",
    summary = "Accounts the caller may see, as GeoJSON",
    params(("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 50000, description = "most features to return (default 5,000); the most valuable are kept")),
    responses((status = 200, description = "GeoJSON FeatureCollection", body = AccountFeatures), ReadErrors),
    security(("session" = []), ("api_token" = []))
)]
pub async fn list(
    AccountsReader(scope): AccountsReader,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AccountFeatures>, AppError> {
    let query = parse_map_query(&params)?;
    Ok(Json(
        accounts::map_features(&state.db, &scope, query).await?,
    ))
}

fn parse_map_query(params: &HashMap<String, String>) -> Result<MapQuery, AppError> {
    let bbox = params
        .get("bbox")
        .map(|raw| raw.parse::<BBox>())
        .transpose()
        .map_err(|e| AppError::bad_request("invalid_bbox", e.to_string()))?;
    let limit = match params.get("limit") {
        None => Limit::DEFAULT,
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(Limit::new)
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {}", Limit::MAX),
                )
            })?,
    };
    Ok(MapQuery { bbox, limit })
}
