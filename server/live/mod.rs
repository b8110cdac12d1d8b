//! Live location, first slice: reps' devices send pings (`POST /api/pings`, or frames on
//! `/live/ws`), checked at the edge, privacy applied before anything is stored, spoofing signs
//! flagged, rate-limited per rep, kept for a retention period (`docs/live.md`,
//! `docs/privacy.md`).

pub mod envelope;
pub mod ingest;
pub mod plausibility;
pub mod privacy;
mod ratelimit;
pub mod retention;
pub mod socket;
pub mod track;

use std::num::NonZeroU32;
use std::time::Duration;

pub use envelope::{PingDropReason, RawPing, Tier};
pub use ingest::{LiveError, PingResult, PingStatus, ingest};
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
        }
    }
}

/// The live capability's state in the app: its settings and the per-rep rate limit.
pub struct Live {
    pub config: LiveConfig,
    limiter: ratelimit::PingLimiter,
}

impl Live {
    pub fn new(config: LiveConfig) -> Self {
        let limiter = ratelimit::PingLimiter::new(config.per_minute, config.burst);
        Self { config, limiter }
    }
}
