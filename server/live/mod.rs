//! Live location: reps' devices send pings (`POST /api/pings`, or frames on `/live/ws`),
//! checked at the edge, privacy applied before anything is stored, spoofing signs flagged,
//! rate-limited per rep, kept for a retention period; the proximity engine raises alerts in
//! the same transaction, pushed to the rep's sockets and the team's live maps, on every
//! instance (`docs/live.md`, `docs/privacy.md`).

pub mod alerts;
pub mod envelope;
pub mod fanout;
pub mod hub;
pub mod ingest;
pub mod map;
pub mod pipeline;
pub mod plausibility;
pub mod privacy;
pub mod proximity;
mod ratelimit;
pub mod retention;
pub mod rules;
pub mod socket;
pub mod track;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use envelope::{PingDropReason, RawPing, Tier};
pub use ingest::{Batch, LiveError, PingResult, PingStatus};
pub use pipeline::accept;
pub use plausibility::Flag;

/// Most pings one `POST /api/pings` may carry.
pub const MAX_BATCH: usize = 500;

/// Live-location settings (`server/config.rs` reads them).
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// How far a ping's time may lie in the future before it is refused
    /// (`TERRANE_PING_FUTURE_S`, default 30 s): phones' clocks drift a little.
    pub future_skew: Duration,
    /// A ping recorded longer ago than this when it arrives is `late` (stored, never alerts;
    /// it does not spend the rate limit) (`TERRANE_PING_LATE_S`, default 120 s).
    pub late_after: Duration,
    /// Sustained pings per minute per rep (`TERRANE_PING_PER_MIN`, default 60: one a second).
    pub per_minute: NonZeroU32,
    /// Current (not late) pings a rep may send at once (`TERRANE_PING_BURST`, default 10).
    pub burst: NonZeroU32,
    /// Geohash characters a `coarse` ping is snapped to (`TERRANE_COARSE_GEOHASH`, 1 to 12,
    /// default 6: cells of about 1.2 km by 0.6 km).
    pub coarse_precision: usize,
    /// Days pings are kept (`TERRANE_TRACK_RETENTION_DAYS`, default 60).
    pub retention_days: u32,
    /// How often the proximity index reads account changes (`TERRANE_LIVE_REFRESH_S`,
    /// default 5 s).
    pub index_refresh: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            future_skew: Duration::from_secs(30),
            late_after: Duration::from_secs(120),
            per_minute: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            coarse_precision: 6,
            retention_days: 60,
            index_refresh: Duration::from_secs(5),
        }
    }
}

/// The live capability's state on this instance: its settings, the per-rep rate limit, the
/// proximity engine, the sockets and the flushes of socket frames.
pub struct Live {
    pub config: LiveConfig,
    /// This instance's id in fan-out notifications.
    pub instance: Uuid,
    limiter: ratelimit::PingLimiter,
    pub proximity: proximity::Proximity,
    pub hub: hub::Hub,
    pub committer: pipeline::Committer,
}

impl Live {
    pub fn new(config: LiveConfig) -> Self {
        let limiter = ratelimit::PingLimiter::new(config.per_minute, config.burst);
        Self {
            config,
            instance: Uuid::new_v4(),
            limiter,
            proximity: proximity::Proximity::default(),
            hub: hub::Hub::default(),
            committer: pipeline::Committer::default(),
        }
    }

    /// Starts what serving live sockets needs: the flushes of socket frames, the listener of
    /// other instances' batches and the refresh of the proximity index.
    pub fn start(self: &Arc<Self>, db: &PgPool) -> LiveTasks {
        let (stop, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..pipeline::FLUSHERS {
            tasks.push(tokio::spawn(pipeline::Committer::run(
                db.clone(),
                Arc::clone(self),
                rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(fanout::listen(
            db.clone(),
            self.hub.clone(),
            self.instance,
            rx.clone(),
        )));
        tasks.push(tokio::spawn(refresh_index(
            db.clone(),
            Arc::clone(self),
            rx,
        )));
        LiveTasks { stop, tasks }
    }
}

/// The live tasks of a running server; [`LiveTasks::stop`] ends them.
pub struct LiveTasks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LiveTasks {
    /// Lets each task finish what it holds (a flush commits and answers) and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Keeps the proximity index current: a refresh at once, then every `index_refresh`.
async fn refresh_index(db: PgPool, live: Arc<Live>, mut stop: watch::Receiver<bool>) {
    loop {
        match live.proximity.refresh(&db).await {
            Ok(read) => tracing::debug!(
                read,
                indexed = live.proximity.indexed(),
                "proximity index refreshed"
            ),
            Err(e) => tracing::warn!(error = %e, "proximity index: refresh failed; trying again"),
        }
        live.proximity.forget_idle(chrono::Utc::now());
        tokio::select! {
            () = tokio::time::sleep(live.config.index_refresh) => {}
            _ = stop.changed() => return,
        }
    }
}
