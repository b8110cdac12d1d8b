//! The proximity engine: which accounts a rep's ping came near enough, for long enough, to be
//! worth an alert. An in-memory R-tree of accounts ([`index`]) with the cheap filters (who
//! holds the account, priority, value), each rep's dwell state ([`dwell`]); the rules that
//! need the database (visits, today's route, opening hours, cooldown, the hourly cap) are
//! checked when the alert is raised (`live::alerts::raise`).

pub mod dwell;
pub mod index;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::ingest::Stored;
use super::rules::{RepRules, Rules};
use crate::spatial::LonLat;
use dwell::RepNear;
use index::{AccountIndex, Entry};

/// How far back an incremental refresh re-reads changes: a transaction's rows carry its start
/// time, so one that ran long commits rows "older" than the last refresh (a longer one is
/// caught by the next full reload). Kept short: a bulk change of many accounts is re-read for
/// this long on every refresh.
const REFRESH_SLACK_S: i64 = 15;
/// A full reload this often (it also drops accounts deleted outright).
const FULL_RELOAD: std::time::Duration = std::time::Duration::from_secs(600);
/// An account the database refused (visited, on the route, closed, capped) is checked again
/// after this long, if the rep is still near.
const RECHECK_S: i64 = 60;
/// A rep with no ping for this long is forgotten.
const IDLE_S: i64 = 3600;
/// Accounts followed per ping: the nearest that pass the filters. Where accounts are dense
/// (hundreds within the radius), following all of them would cost memory for every rep and
/// the database a check for each; the nearest are the stops worth making.
const NEAREST: usize = 4;

/// An account that qualified for an alert on a ping, with the rules to check it against.
#[derive(Debug, Clone)]
pub struct Qualifying {
    pub rep: Uuid,
    pub account_id: Uuid,
    pub ping_event_id: Uuid,
    pub distance_m: f64,
    pub rules: Rules,
}

/// When the index was last loaded.
#[derive(Default)]
struct Loaded {
    watermark: Option<DateTime<Utc>>,
    full_at: Option<Instant>,
}

/// The engine's state on this instance.
#[derive(Default)]
pub struct Proximity {
    index: RwLock<AccountIndex>,
    loaded: tokio::sync::Mutex<Loaded>,
    reps: Mutex<HashMap<Uuid, RepNear>>,
}

#[derive(sqlx::FromRow)]
struct IndexRow {
    account_id: Uuid,
    lon: Option<f64>,
    lat: Option<f64>,
    rep_id: Option<Uuid>,
    priority: i16,
    annual_value: f64,
    changed_at: DateTime<Utc>,
}

impl Proximity {
    /// Brings the index up to date: everything on the first call and every ten minutes, else
    /// the accounts (and territories) changed since the last call. Returns the accounts read.
    pub async fn refresh(&self, db: &PgPool) -> Result<usize, sqlx::Error> {
        let mut loaded = self.loaded.lock().await;
        let full = loaded.full_at.is_none_or(|at| at.elapsed() >= FULL_RELOAD);
        let since = if full {
            None
        } else {
            loaded
                .watermark
                .map(|w| w - Duration::seconds(REFRESH_SLACK_S))
        };
        let full = full || since.is_none();
        let rows: Vec<IndexRow> = match since {
            None => {
                sqlx::query_as(include_str!("../sql/proximity_all.sql"))
                    .fetch_all(db)
                    .await?
            }
            Some(since) => {
                sqlx::query_as(include_str!("../sql/proximity_changed.sql"))
                    .bind(since)
                    .fetch_all(db)
                    .await?
            }
        };
        let read = rows.len();
        let watermark = rows.iter().map(|r| r.changed_at).max();
        let entry = |r: &IndexRow| {
            let position = LonLat::new(r.lon?, r.lat?).ok()?;
            Some(Entry {
                account_id: r.account_id,
                position,
                rep: r.rep_id,
                priority: r.priority,
                annual_value: r.annual_value,
            })
        };
        if full {
            let entries = rows.iter().filter_map(entry).collect();
            *self.write_index() = AccountIndex::new(entries);
            loaded.full_at = Some(Instant::now());
        } else {
            let mut index = self.write_index();
            for r in &rows {
                match entry(r) {
                    Some(e) => index.upsert(e),
                    None => index.remove(r.account_id),
                }
            }
        }
        loaded.watermark = watermark.max(loaded.watermark);
        Ok(read)
    }

    /// Accounts in the index.
    pub fn indexed(&self) -> usize {
        self.read_index().len()
    }

    /// The accounts that qualify on the stored pings that may alert (each rep's in time
    /// order), under each rep's rules: among the nearest few, the rep's or unassigned,
    /// priority and value high enough, dwelled, not quiet, and the rep under the hourly cap
    /// as far as this instance knows. At most one per rep (the nearest): one alert per rep per
    /// flush at most, and what the database refuses is quiet for a minute, so the next
    /// nearest gets its turn on the next ping.
    pub fn consider(&self, stored: &[Stored], rules: &HashMap<Uuid, RepRules>) -> Vec<Qualifying> {
        let mut pings: Vec<&Stored> = stored.iter().filter(|s| s.may_alert()).collect();
        if pings.is_empty() {
            return Vec::new();
        }
        pings.sort_by_key(|s| (s.rep, s.recorded_at));
        let index = self.read_index();
        let mut reps = self.lock_reps();
        let mut out: Vec<Qualifying> = Vec::new();
        for ping in pings {
            let rules = rules.get(&ping.rep).map(|r| r.rules).unwrap_or_default();
            let nearby: Vec<(Uuid, f64)> = index
                .within(ping.position, f64::from(rules.radius_m), NEAREST, |e| {
                    e.rep.is_none_or(|r| r == ping.rep)
                        && e.priority <= rules.max_priority
                        && e.annual_value >= rules.min_annual_value
                })
                .into_iter()
                .map(|(e, d)| (e.account_id, d))
                .collect();
            let state = reps.entry(ping.rep).or_default();
            let qualifying = state.observe(ping.recorded_at, &nearby, &rules);
            if state.at_cap(ping.recorded_at, rules.max_per_hour) {
                continue;
            }
            if let Some(&(account_id, distance_m)) = qualifying.first() {
                // A later ping of the same rep in this flush replaces an earlier one's.
                out.retain(|q| q.rep != ping.rep);
                out.push(Qualifying {
                    rep: ping.rep,
                    account_id,
                    ping_event_id: ping.event_id,
                    distance_m,
                    rules,
                });
            }
        }
        out
    }

    /// After the database's check: an alerted account stays quiet for its cooldown, the
    /// others (refused, or beaten by a nearer one) for a minute.
    pub fn settle(&self, considered: &[Qualifying], raised: &[(Uuid, Uuid)], now: DateTime<Utc>) {
        if considered.is_empty() {
            return;
        }
        let mut reps = self.lock_reps();
        for q in considered {
            let state = reps.entry(q.rep).or_default();
            let until = if raised.contains(&(q.rep, q.account_id)) {
                state.raised(now);
                now + Duration::minutes(i64::from(q.rules.cooldown_minutes))
            } else {
                now + Duration::seconds(RECHECK_S)
            };
            state.quiet(q.account_id, until);
        }
    }

    /// Forgets the dwell state of reps with no ping for an hour.
    pub fn forget_idle(&self, now: DateTime<Utc>) {
        self.lock_reps().retain(|_, r| {
            r.last_at
                .is_some_and(|at| now - at < Duration::seconds(IDLE_S))
        });
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, AccountIndex> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, AccountIndex> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_reps(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, RepNear>> {
        self.reps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
