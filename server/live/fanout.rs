//! One consistent picture across instances: each flush of pings that stored something sends
//! one PostgreSQL notification (`terrane_live`) in its own transaction, naming the alerts it
//! raised and the span of ping ids it stored; every other instance reads those rows and pushes
//! them to its own sockets. By batch, never per ping: a notifying commit takes a global lock.
//! Payloads stay far below PostgreSQL's 8,000 bytes (alerts go in chunks).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::alerts::{self, Alert};
use super::hub::{Frame, Hub};
use super::ingest::Stored;
use super::{privacy, rules};
use crate::db::Bind;
use crate::spatial::LonLat;

/// The channel every instance listens on.
pub const CHANNEL: &str = "terrane_live";
/// Alert ids per notification (each about 40 bytes of JSON).
const ALERTS_PER_NOTICE: usize = 100;
/// Geohash characters of positions on a live map without the precise permission (~153 m).
pub const MAP_GEOHASH: usize = 7;

/// One notification.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    /// The instance that stored the batch (it has pushed it already).
    origin: Uuid,
    #[serde(default)]
    alerts: Vec<Uuid>,
    /// First and last `pings.id` stored by the batch.
    #[serde(default)]
    pings: Option<(i64, i64)>,
}

/// A position as a live map shows it.
#[derive(Debug, Clone, Serialize)]
struct PositionFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    rep_id: Uuid,
    recorded_at: DateTime<Utc>,
    lon: f64,
    lat: f64,
    accuracy_m: f64,
    tier: &'static str,
    flags: &'a [&'static str],
    /// False: snapped to a geohash-7 cell (about 150 m).
    precise: bool,
}

/// A ping as the live map needs it, with the rep's team.
#[derive(Debug, Clone)]
pub struct Position {
    pub rep: Uuid,
    pub team: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
    pub position: LonLat,
    pub accuracy_m: f64,
    pub tier: &'static str,
    pub flags: Vec<&'static str>,
}

impl Position {
    /// `s` with its rep's team.
    pub fn of(s: &Stored, team: Option<Uuid>) -> Self {
        Self {
            rep: s.rep,
            team,
            recorded_at: s.recorded_at,
            position: s.position,
            accuracy_m: s.accuracy_m,
            tier: s.tier.as_str(),
            flags: s.flags.iter().map(|f| f.as_str()).collect(),
        }
    }

    /// The frame for a live map, precise or snapped.
    pub fn frame(&self, precise: bool) -> Frame {
        let p = if precise {
            self.position
        } else {
            privacy::snap(self.position, MAP_GEOHASH)
        };
        let frame = PositionFrame {
            kind: "position",
            rep_id: self.rep,
            recorded_at: self.recorded_at,
            lon: p.lon(),
            lat: p.lat(),
            accuracy_m: if precise {
                self.accuracy_m
            } else {
                self.accuracy_m.max(150.0)
            },
            tier: self.tier,
            flags: &self.flags,
            precise,
        };
        Arc::from(serde_json::to_string(&frame).unwrap_or_default())
    }
}

/// An alert's frame (the rep's socket and the team's live maps get the same).
pub fn alert_frame(alert: &Alert) -> Frame {
    Arc::from(
        serde_json::to_string(&serde_json::json!({ "type": "alert", "alert": alert }))
            .unwrap_or_default(),
    )
}

/// Pushes alerts and current positions to this instance's sockets.
pub fn deliver(hub: &Hub, alerts: &[(Alert, Option<Uuid>)], positions: &[Position]) {
    for (alert, team) in alerts {
        let frame = alert_frame(alert);
        hub.to_rep(alert.rep_id, &frame);
        if let Some(team) = team {
            hub.to_team(*team, &frame, &frame);
        }
    }
    for p in positions {
        if let Some(team) = p.team {
            hub.to_team(team, &p.frame(true), &p.frame(false));
        }
    }
}

/// Queues the notifications for a flush in its transaction (sent at commit).
pub async fn notify(
    tx: &mut PgConnection,
    origin: Uuid,
    alerts: &[Alert],
    stored: &[Stored],
) -> Result<(), sqlx::Error> {
    let pings = stored
        .iter()
        .map(|s| s.id)
        .min()
        .zip(stored.iter().map(|s| s.id).max());
    if pings.is_none() && alerts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
    let mut chunks: Vec<&[Uuid]> = ids.chunks(ALERTS_PER_NOTICE).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let payloads: Vec<String> = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::to_string(&Notice {
                origin,
                alerts: chunk.to_vec(),
                pings: if i == 0 { pings } else { None },
            })
            .unwrap_or_default()
        })
        .collect();
    sqlx::query("select pg_notify($1, p) from unnest($2::text[]) as p")
        .bind_all((CHANNEL, payloads))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PositionRow {
    rep_id: Uuid,
    team_id: Option<Uuid>,
    recorded_at: DateTime<Utc>,
    lon: f64,
    lat: f64,
    accuracy_m: f64,
    tier: String,
    flags: Vec<String>,
}

/// Listens for other instances' batches and pushes them to this instance's sockets, until
/// `stop` turns true. Reconnects after an error.
pub async fn listen(db: PgPool, hub: Hub, me: Uuid, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "live fan-out: cannot listen; retrying");
                if wait_or_stop(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "live fan-out: LISTEN failed; retrying");
            if wait_or_stop(&mut stop).await {
                return;
            }
            continue;
        }
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(n) => {
                        let Ok(notice) = serde_json::from_str::<Notice>(n.payload()) else {
                            continue;
                        };
                        if notice.origin != me
                            && let Err(e) = relay(&db, &hub, &notice).await
                        {
                            tracing::warn!(error = %e, "live fan-out: a batch was not relayed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live fan-out: connection lost; listening again");
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }
}

/// Waits a second; true when asked to stop meanwhile.
async fn wait_or_stop(stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Reads another instance's batch and pushes what this instance's sockets want.
async fn relay(db: &PgPool, hub: &Hub, notice: &Notice) -> Result<(), sqlx::Error> {
    if !notice.alerts.is_empty() {
        let found = alerts::by_ids(db, &notice.alerts).await?;
        let reps: Vec<Uuid> = found.iter().map(|a| a.rep_id).collect();
        let teams = rules::for_reps(db, &reps).await?;
        let team = |rep: Uuid| teams.get(&rep).and_then(|r| r.team);
        let with_teams: Vec<(Alert, Option<Uuid>)> = found
            .into_iter()
            .filter(|a| hub.wants(a.rep_id, team(a.rep_id)))
            .map(|a| {
                let t = team(a.rep_id);
                (a, t)
            })
            .collect();
        deliver(hub, &with_teams, &[]);
    }
    if let Some((first, last)) = notice.pings
        && hub.has_team_sockets()
    {
        let rows: Vec<PositionRow> = sqlx::query_as(include_str!("sql/fanout_positions.sql"))
            .bind_all((first, last))
            .fetch_all(db)
            .await?;
        let positions: Vec<Position> = rows
            .into_iter()
            .filter_map(|r| {
                Some(Position {
                    rep: r.rep_id,
                    team: r.team_id,
                    recorded_at: r.recorded_at,
                    position: LonLat::new(r.lon, r.lat).ok()?,
                    accuracy_m: r.accuracy_m,
                    tier: if r.tier == "precise" {
                        "precise"
                    } else {
                        "coarse"
                    },
                    flags: r
                        .flags
                        .iter()
                        .filter_map(|f| super::Flag::parse(f).map(super::Flag::as_str))
                        .collect(),
                })
            })
            .collect();
        deliver(hub, &[], &positions);
    }
    Ok(())
}
