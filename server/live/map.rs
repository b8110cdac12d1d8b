//! The manager's live map of a team: each rep's latest position (snapped to geohash 7, about
//! 150 m, unless the viewer may see precise positions; every precise look is audited), the
//! team's recent alerts and each rep's spoofing flags today.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::alerts::{self, Alert};
use super::fanout::MAP_GEOHASH;
use super::privacy;
use crate::audit::{self, AuditEvent};
use crate::auth::{self, User};
use crate::db::Bind;
use crate::spatial::LonLat;

/// Positions older than this are not on the map.
const FRESH_MINUTES: i64 = 30;

/// A rep on the live map.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LiveMapRep)]
pub struct MapRep {
    pub rep_id: Uuid,
    pub name: String,
    /// The latest current position of the last 30 minutes, if any.
    pub position: Option<MapPosition>,
    /// Today's pings (UTC day) with each spoofing sign; a flagged ping never alerts.
    pub flags_today: Vec<FlagCount>,
    /// Today's pings in all.
    pub pings_today: i64,
}

/// A position as the viewer may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LiveMapPosition)]
pub struct MapPosition {
    pub recorded_at: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: f64,
    /// `precise` or `coarse`: what the rep shares.
    pub tier: String,
    /// False: snapped to a geohash-7 cell (about 150 m) for this viewer.
    pub precise: bool,
}

/// How many of today's pings carried one spoofing sign.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LiveFlagCount)]
pub struct FlagCount {
    pub flag: String,
    pub pings: i64,
}

/// The team's live picture.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = LiveMap)]
pub struct TeamMap {
    pub team_id: Uuid,
    /// Whether positions are precise for this viewer (then this look was audited).
    pub precise: bool,
    pub reps: Vec<MapRep>,
    /// The last 24 hours' alerts, newest first.
    pub alerts: Vec<Alert>,
}

#[derive(sqlx::FromRow)]
struct Row {
    rep_id: Uuid,
    name: String,
    recorded_at: Option<DateTime<Utc>>,
    lon: Option<f64>,
    lat: Option<f64>,
    accuracy_m: Option<f64>,
    tier: Option<String>,
    flags: sqlx::types::Json<Vec<(String, i64)>>,
    pings_today: i64,
}

/// Audits a precise look at the team's positions (`live.precise_view`).
pub async fn audit_precise_look(
    db: &PgPool,
    user: Uuid,
    team: Uuid,
    how: &str,
) -> Result<(), sqlx::Error> {
    audit::record(
        db,
        AuditEvent::new(Some(user), "live.precise_view")
            .about("team", team.to_string())
            .with(serde_json::json!({ "via": how })),
    )
    .await
}

/// The team's live map for `user` (already admitted to the team).
pub async fn team_map(db: &PgPool, user: &User, team: Uuid) -> Result<TeamMap, sqlx::Error> {
    let precise = auth::may_see_precise(db, user).await?;
    let now = Utc::now();
    let rows: Vec<Row> = sqlx::query_as(include_str!("sql/map_team.sql"))
        .bind_all((team, now - Duration::minutes(FRESH_MINUTES)))
        .fetch_all(db)
        .await?;
    let reps: Vec<Uuid> = rows.iter().map(|r| r.rep_id).collect();
    let alerts = alerts::recent(db, &reps, 24).await?;
    if precise {
        audit_precise_look(db, user.id, team, "map").await?;
    }
    let reps = rows
        .into_iter()
        .map(|r| {
            let position = match (r.recorded_at, r.lon, r.lat) {
                (Some(recorded_at), Some(lon), Some(lat)) => LonLat::new(lon, lat).ok().map(|p| {
                    let shown = if precise {
                        p
                    } else {
                        privacy::snap(p, MAP_GEOHASH)
                    };
                    let accuracy = r.accuracy_m.unwrap_or(0.0);
                    MapPosition {
                        recorded_at,
                        lon: shown.lon(),
                        lat: shown.lat(),
                        accuracy_m: if precise {
                            accuracy
                        } else {
                            accuracy.max(150.0)
                        },
                        tier: r.tier.clone().unwrap_or_default(),
                        precise,
                    }
                }),
                _ => None,
            };
            MapRep {
                rep_id: r.rep_id,
                name: r.name,
                position,
                flags_today: r
                    .flags
                    .0
                    .into_iter()
                    .map(|(flag, pings)| FlagCount { flag, pings })
                    .collect(),
                pings_today: r.pings_today,
            }
        })
        .collect();
    Ok(TeamMap {
        team_id: team,
        precise,
        reps,
        alerts,
    })
}

/// The reps of a team.
pub async fn team_reps(db: &PgPool, team: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/map_team_reps.sql"))
        .bind(team)
        .fetch_all(db)
        .await
}
