//! `POST /api/pings`'s service: a batch of one rep's pings checked, limited, made private,
//! flagged and stored in one transaction; answered per ping only after the commit.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

use super::envelope::{Ping, PingDropReason, RawPing};
use super::plausibility::{self, Flag, Previous};
use super::ratelimit::Spend;
use super::{Live, MAX_BATCH, privacy};
use crate::db::Bind;
use crate::spatial::LonLat;

/// Why a whole batch was refused (nothing of it is stored).
#[derive(Debug, Error)]
pub enum LiveError {
    #[error("a batch holds at most {MAX_BATCH} pings")]
    TooManyPings,
    /// More current pings than the rate limit's burst: send them over time.
    #[error("a batch holds at most {0} current pings (older ones are a backlog and do not count)")]
    TooManyCurrent(u32),
    /// The rep's bucket is empty; try again after this long.
    #[error("too many pings; try again later")]
    RateLimited(Duration),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What became of one ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PingStatus {
    /// Stored (committed before this answer).
    Accepted,
    /// This event id was stored before (or earlier in this batch); nothing stored again.
    Duplicate,
    /// Not stored; `reason` says why.
    Dropped,
}

/// The answer for one ping, in the order they were sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PingResult {
    /// The ping's event id, when it was one.
    pub event_id: Option<Uuid>,
    pub status: PingStatus,
    /// Why it was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<PingDropReason>,
    /// Recorded long before it arrived: stored, never alerts.
    pub late: bool,
    /// Spoofing signs: stored, never alerts.
    pub flags: Vec<Flag>,
}

impl PingResult {
    fn dropped(event_id: Option<Uuid>, reason: PingDropReason) -> Self {
        Self {
            event_id,
            status: PingStatus::Dropped,
            reason: Some(reason),
            late: false,
            flags: Vec::new(),
        }
    }
}

/// A ping on its way to the table.
struct Candidate {
    index: usize,
    ping: Ping,
    late: bool,
    flags: Vec<Flag>,
}

/// Checks, limits and stores `raw`, a batch from `rep`'s device, at `now`.
pub async fn ingest(
    db: &PgPool,
    live: &Live,
    rep: Uuid,
    raw: &[RawPing],
    now: DateTime<Utc>,
) -> Result<Vec<PingResult>, LiveError> {
    if raw.len() > MAX_BATCH {
        return Err(LiveError::TooManyPings);
    }
    let cfg = &live.config;
    let mut results: Vec<Option<PingResult>> = vec![None; raw.len()];
    let mut candidates = Vec::new();
    let future_limit = now + cfg.future_skew;
    let late_before = now - cfg.late_after;
    let expired_before = now - chrono::Duration::days(i64::from(cfg.retention_days));
    for (index, r) in raw.iter().enumerate() {
        let checked = r.parse().and_then(|ping| {
            if ping.recorded_at > future_limit {
                Err(PingDropReason::FutureTimestamp)
            } else if ping.recorded_at < expired_before {
                Err(PingDropReason::Expired)
            } else {
                Ok(ping)
            }
        });
        match checked {
            Ok(ping) => candidates.push(Candidate {
                index,
                late: ping.recorded_at < late_before,
                ping,
                flags: Vec::new(),
            }),
            Err(reason) => {
                let event_id = Uuid::parse_str(&r.event_id).ok();
                results[index] = Some(PingResult::dropped(event_id, reason));
            }
        }
    }

    let candidates = keep_in_shift(db, rep, candidates, &mut results).await?;
    let current = candidates.iter().filter(|c| !c.late).count();
    match live
        .limiter
        .spend(rep, u32::try_from(current).unwrap_or(u32::MAX))
    {
        Spend::Ok => {}
        Spend::Wait(wait) => return Err(LiveError::RateLimited(wait)),
        Spend::TooMany => return Err(LiveError::TooManyCurrent(cfg.burst.get())),
    }

    let mut candidates = first_of_each_event(candidates, &mut results);
    flag(db, rep, &mut candidates).await?;
    let stored = store(db, rep, &candidates, cfg.coarse_precision).await?;
    for c in candidates {
        let status = if stored.contains(&c.ping.event_id) {
            PingStatus::Accepted
        } else {
            PingStatus::Duplicate
        };
        results[c.index] = Some(PingResult {
            event_id: Some(c.ping.event_id),
            status,
            reason: None,
            late: c.late,
            flags: c.flags,
        });
    }
    let results: Vec<PingResult> = results.into_iter().flatten().collect();
    let count = |s| results.iter().filter(|r| r.status == s).count();
    // Counts only: positions never reach the logs.
    tracing::info!(
        rep_id = %rep,
        accepted = count(PingStatus::Accepted),
        duplicate = count(PingStatus::Duplicate),
        dropped = count(PingStatus::Dropped),
        "pings ingested"
    );
    Ok(results)
}

/// Drops the pings recorded outside the rep's shift.
async fn keep_in_shift(
    db: &PgPool,
    rep: Uuid,
    candidates: Vec<Candidate>,
    results: &mut [Option<PingResult>],
) -> Result<Vec<Candidate>, sqlx::Error> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let instants: Vec<DateTime<Utc>> = candidates.iter().map(|c| c.ping.recorded_at).collect();
    let in_shift: Vec<bool> = sqlx::query_scalar(include_str!("sql/ingest_in_shift.sql"))
        .bind_all((rep, instants))
        .fetch_all(db)
        .await?;
    Ok(candidates
        .into_iter()
        .zip(in_shift)
        .filter_map(|(c, ok)| {
            if ok {
                Some(c)
            } else {
                results[c.index] = Some(PingResult::dropped(
                    Some(c.ping.event_id),
                    PingDropReason::OutOfShift,
                ));
                None
            }
        })
        .collect())
}

/// The first ping of each event id; later repeats in the batch are duplicates.
fn first_of_each_event(
    candidates: Vec<Candidate>,
    results: &mut [Option<PingResult>],
) -> Vec<Candidate> {
    let mut seen = HashSet::new();
    candidates
        .into_iter()
        .filter(|c| {
            let first = seen.insert(c.ping.event_id);
            if !first {
                results[c.index] = Some(PingResult {
                    event_id: Some(c.ping.event_id),
                    status: PingStatus::Duplicate,
                    reason: None,
                    late: c.late,
                    flags: Vec::new(),
                });
            }
            first
        })
        .collect()
}

/// Flags each ping's spoofing signs, in time order, each after the one before it (the first
/// after the rep's last stored precise point).
async fn flag(db: &PgPool, rep: Uuid, candidates: &mut [Candidate]) -> Result<(), sqlx::Error> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| candidates[i].ping.recorded_at);
    let Some(&first) = order.first() else {
        return Ok(());
    };
    let row: Option<(DateTime<Utc>, f64, f64)> =
        sqlx::query_as(include_str!("sql/ingest_previous.sql"))
            .bind_all((rep, candidates[first].ping.recorded_at))
            .fetch_optional(db)
            .await?;
    let mut previous = row.and_then(|(recorded_at, lon, lat)| {
        LonLat::new(lon, lat).ok().map(|position| Previous {
            recorded_at,
            position,
        })
    });
    for i in order {
        let c = &mut candidates[i];
        c.flags = plausibility::flags(&c.ping, previous);
        if c.ping.tier == super::Tier::Precise {
            previous = Some(Previous {
                recorded_at: c.ping.recorded_at,
                position: c.ping.position,
            });
        }
    }
    Ok(())
}

/// Stores the pings (coarse ones snapped first) in one statement; returns the event ids
/// stored (a repeat of an earlier batch's is not).
async fn store(
    db: &PgPool,
    rep: Uuid,
    candidates: &[Candidate],
    coarse_precision: usize,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if candidates.is_empty() {
        return Ok(HashSet::new());
    }
    let positions: Vec<LonLat> = candidates
        .iter()
        .map(|c| privacy::storable(c.ping.position, c.ping.tier, coarse_precision))
        .collect();
    let column = |f: fn(&Candidate) -> Option<f64>| candidates.iter().map(f).collect::<Vec<_>>();
    // One statement: atomic without a transaction of its own.
    let stored: Vec<Uuid> = sqlx::query_scalar(include_str!("sql/ingest_insert.sql"))
        .bind_all((
            rep,
            candidates
                .iter()
                .map(|c| c.ping.device_id.clone())
                .collect::<Vec<_>>(),
            candidates
                .iter()
                .map(|c| c.ping.event_id)
                .collect::<Vec<_>>(),
            candidates
                .iter()
                .map(|c| c.ping.recorded_at)
                .collect::<Vec<_>>(),
            positions.iter().map(|p| p.lon()).collect::<Vec<_>>(),
            positions.iter().map(|p| p.lat()).collect::<Vec<_>>(),
            column(|c| Some(c.ping.accuracy_m)),
            column(|c| c.ping.speed_mps),
            column(|c| c.ping.heading_deg),
            candidates
                .iter()
                .map(|c| c.ping.tier.as_str())
                .collect::<Vec<_>>(),
            candidates
                .iter()
                .map(|c| {
                    c.flags
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect::<Vec<_>>(),
            candidates.iter().map(|c| c.late).collect::<Vec<_>>(),
        ))
        .fetch_all(db)
        .await?;
    Ok(stored.into_iter().collect())
}
