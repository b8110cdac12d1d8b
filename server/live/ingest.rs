//! The edge of the live capability: batches of pings (one rep's `POST /api/pings`, or socket
//! frames of many reps gathered by [`super::committer`]) checked, limited, made private,
//! flagged and stored in the caller's transaction; answered per ping only after the commit.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
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
    /// The pings could not be stored now (the database failed); nothing of them is kept.
    #[error("the pings were not stored; send them again")]
    Unstored,
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

/// One rep's pings, as one device sent them.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub rep: Uuid,
    pub pings: &'a [RawPing],
}

/// A ping as stored (its position privacy-transformed), for alerts and live maps.
#[derive(Debug, Clone)]
pub struct Stored {
    /// `pings.id`.
    pub id: i64,
    pub rep: Uuid,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub position: LonLat,
    pub accuracy_m: f64,
    pub tier: super::Tier,
    pub late: bool,
    pub flags: Vec<Flag>,
}

impl Stored {
    /// Whether the ping may raise an alert: a precise, current, unflagged position.
    pub fn may_alert(&self) -> bool {
        self.tier == super::Tier::Precise && !self.late && self.flags.is_empty()
    }
}

/// What [`ingest`] did with several batches.
pub struct Ingested {
    /// Per batch, in order: each ping's result, or why the whole batch was refused.
    pub answers: Vec<Result<Vec<PingResult>, LiveError>>,
    /// The pings stored (once the caller's transaction commits).
    pub stored: Vec<Stored>,
}

/// A ping on its way to the table.
struct Candidate {
    batch: usize,
    index: usize,
    rep: Uuid,
    ping: Ping,
    late: bool,
    flags: Vec<Flag>,
}

/// Checks, limits and stores `batches` (each a rep's pings) at `now` in `tx`. A batch over a
/// limit is refused whole (its answer is the error); the others go on. The answers hold only
/// once `tx` commits.
pub async fn ingest(
    db: &PgPool,
    tx: &mut PgConnection,
    live: &Live,
    batches: &[Batch<'_>],
    now: DateTime<Utc>,
) -> Result<Ingested, sqlx::Error> {
    let cfg = &live.config;
    let mut results: Vec<Vec<Option<PingResult>>> =
        batches.iter().map(|b| vec![None; b.pings.len()]).collect();
    let mut refused: Vec<Option<LiveError>> = batches
        .iter()
        .map(|b| (b.pings.len() > MAX_BATCH).then_some(LiveError::TooManyPings))
        .collect();
    let mut candidates = Vec::new();
    let future_limit = now + cfg.future_skew;
    let late_before = now - cfg.late_after;
    let expired_before = now - chrono::Duration::days(i64::from(cfg.retention_days));
    for (batch, b) in batches.iter().enumerate() {
        if refused[batch].is_some() {
            continue;
        }
        for (index, r) in b.pings.iter().enumerate() {
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
                    batch,
                    index,
                    rep: b.rep,
                    late: ping.recorded_at < late_before,
                    ping,
                    flags: Vec::new(),
                }),
                Err(reason) => {
                    let event_id = Uuid::parse_str(&r.event_id).ok();
                    results[batch][index] = Some(PingResult::dropped(event_id, reason));
                }
            }
        }
    }

    let candidates = keep_in_shift(db, candidates, &mut results).await?;
    let candidates = spend_limits(live, batches, candidates, &mut refused);
    let mut candidates = first_of_each_event(candidates, &mut results);
    flag(db, &mut candidates).await?;
    let stored_ids = store(tx, &candidates, cfg.coarse_precision).await?;
    let mut stored = Vec::new();
    for c in candidates {
        let status = match stored_ids.get(&(c.rep, c.ping.event_id)) {
            Some(&id) => {
                stored.push(Stored {
                    id,
                    rep: c.rep,
                    event_id: c.ping.event_id,
                    recorded_at: c.ping.recorded_at,
                    position: privacy::storable(c.ping.position, c.ping.tier, cfg.coarse_precision),
                    accuracy_m: c.ping.accuracy_m,
                    tier: c.ping.tier,
                    late: c.late,
                    flags: c.flags.clone(),
                });
                PingStatus::Accepted
            }
            None => PingStatus::Duplicate,
        };
        results[c.batch][c.index] = Some(PingResult {
            event_id: Some(c.ping.event_id),
            status,
            reason: None,
            late: c.late,
            flags: c.flags,
        });
    }
    let answers = results
        .into_iter()
        .zip(refused)
        .map(|(results, refused)| match refused {
            Some(e) => Err(e),
            None => Ok(results.into_iter().flatten().collect::<Vec<_>>()),
        })
        .collect::<Vec<_>>();
    let count = |s| {
        answers
            .iter()
            .flatten()
            .flatten()
            .filter(|r: &&PingResult| r.status == s)
            .count()
    };
    // Counts only: positions never reach the logs.
    tracing::debug!(
        batches = batches.len(),
        accepted = count(PingStatus::Accepted),
        duplicate = count(PingStatus::Duplicate),
        dropped = count(PingStatus::Dropped),
        "pings ingested"
    );
    Ok(Ingested { answers, stored })
}

/// Drops the pings recorded outside their rep's shift.
async fn keep_in_shift(
    db: &PgPool,
    candidates: Vec<Candidate>,
    results: &mut [Vec<Option<PingResult>>],
) -> Result<Vec<Candidate>, sqlx::Error> {
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let reps: Vec<Uuid> = candidates.iter().map(|c| c.rep).collect();
    let instants: Vec<DateTime<Utc>> = candidates.iter().map(|c| c.ping.recorded_at).collect();
    let in_shift: Vec<bool> = sqlx::query_scalar(include_str!("sql/ingest_in_shift.sql"))
        .bind_all((reps, instants))
        .fetch_all(db)
        .await?;
    Ok(candidates
        .into_iter()
        .zip(in_shift)
        .filter_map(|(c, ok)| {
            if ok {
                Some(c)
            } else {
                results[c.batch][c.index] = Some(PingResult::dropped(
                    Some(c.ping.event_id),
                    PingDropReason::OutOfShift,
                ));
                None
            }
        })
        .collect())
}

/// Spends each batch's current (not late) pings from its rep's bucket; a batch that may not
/// spend them is refused whole and its pings go no further.
fn spend_limits(
    live: &Live,
    batches: &[Batch<'_>],
    candidates: Vec<Candidate>,
    refused: &mut [Option<LiveError>],
) -> Vec<Candidate> {
    let mut current = vec![0_u32; batches.len()];
    for c in candidates.iter().filter(|c| !c.late) {
        current[c.batch] = current[c.batch].saturating_add(1);
    }
    for (batch, b) in batches.iter().enumerate() {
        if refused[batch].is_some() {
            continue;
        }
        refused[batch] = match live.limiter.spend(b.rep, current[batch]) {
            Spend::Ok => None,
            Spend::Wait(wait) => Some(LiveError::RateLimited(wait)),
            Spend::TooMany => Some(LiveError::TooManyCurrent(live.config.burst.get())),
        };
    }
    candidates
        .into_iter()
        .filter(|c| refused[c.batch].is_none())
        .collect()
}

/// The first ping of each (rep, event id); later repeats are duplicates.
fn first_of_each_event(
    candidates: Vec<Candidate>,
    results: &mut [Vec<Option<PingResult>>],
) -> Vec<Candidate> {
    let mut seen = HashSet::new();
    candidates
        .into_iter()
        .filter(|c| {
            let first = seen.insert((c.rep, c.ping.event_id));
            if !first {
                results[c.batch][c.index] = Some(PingResult {
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

/// Flags each ping's spoofing signs, each rep's in time order, each after the one before it
/// (the first after the rep's last stored precise point).
async fn flag(db: &PgPool, candidates: &mut [Candidate]) -> Result<(), sqlx::Error> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| (candidates[i].rep, candidates[i].ping.recorded_at));
    // Each rep's earliest ping: the stored point before it starts the chain.
    let mut firsts: Vec<(Uuid, DateTime<Utc>)> = Vec::new();
    for &i in &order {
        let c = &candidates[i];
        if firsts.last().is_none_or(|(rep, _)| *rep != c.rep) {
            firsts.push((c.rep, c.ping.recorded_at));
        }
    }
    if firsts.is_empty() {
        return Ok(());
    }
    let (reps, instants): (Vec<Uuid>, Vec<DateTime<Utc>>) = firsts.into_iter().unzip();
    let rows: Vec<(Uuid, DateTime<Utc>, f64, f64)> =
        sqlx::query_as(include_str!("sql/ingest_previous.sql"))
            .bind_all((reps, instants))
            .fetch_all(db)
            .await?;
    let mut previous: HashMap<Uuid, Previous> = rows
        .into_iter()
        .filter_map(|(rep, recorded_at, lon, lat)| {
            LonLat::new(lon, lat).ok().map(|position| {
                (
                    rep,
                    Previous {
                        recorded_at,
                        position,
                    },
                )
            })
        })
        .collect();
    for i in order {
        let c = &mut candidates[i];
        c.flags = plausibility::flags(&c.ping, previous.get(&c.rep).copied());
        if c.ping.tier == super::Tier::Precise {
            previous.insert(
                c.rep,
                Previous {
                    recorded_at: c.ping.recorded_at,
                    position: c.ping.position,
                },
            );
        }
    }
    Ok(())
}

/// Stores the pings (coarse ones snapped first) in one statement; returns the `pings.id` of
/// each (rep, event id) stored (a repeat of an earlier batch's is not).
async fn store(
    tx: &mut PgConnection,
    candidates: &[Candidate],
    coarse_precision: usize,
) -> Result<HashMap<(Uuid, Uuid), i64>, sqlx::Error> {
    if candidates.is_empty() {
        return Ok(HashMap::new());
    }
    let positions: Vec<LonLat> = candidates
        .iter()
        .map(|c| privacy::storable(c.ping.position, c.ping.tier, coarse_precision))
        .collect();
    let column = |f: fn(&Candidate) -> Option<f64>| candidates.iter().map(f).collect::<Vec<_>>();
    let stored: Vec<(i64, Uuid, Uuid)> = sqlx::query_as(include_str!("sql/ingest_insert.sql"))
        .bind_all((
            candidates.iter().map(|c| c.rep).collect::<Vec<_>>(),
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
        .fetch_all(&mut *tx)
        .await?;
    Ok(stored
        .into_iter()
        .map(|(id, rep, event)| ((rep, event), id))
        .collect())
}
