//! Day plans (issue 16): a rep's day — appointments, accounts due a visit and prospects near
//! the route, ordered over road times around opening hours, the break and the shift — and a
//! team's day, balanced so the longest day is as short as it can be. Owns `appointments`,
//! `visits` and `route_days`; opening hours belong to `accounts::hours`.
//!
//! Handlers call [`rep_day::plan`], [`team_day::plan`], [`appointments`] and [`visits`] with
//! [`Deps`], and [`settings`] when a person changes a rep's day settings; the solver is
//! `routing::solver`, travel times come from OSRM (`travel`).

pub mod appointments;
mod build;
mod inputs;
pub mod model;
pub mod plan;
pub mod rep_day;
pub mod settings;
pub mod store;
pub mod team_day;
pub mod travel;
pub mod visits;

use std::time::Duration;

use sqlx::PgPool;
use thiserror::Error;

use crate::routing::OsrmClient;

pub use model::{DropReason, StopKind, TravelSource};
pub use rep_day::RepDay;
pub use team_day::TeamDay;
use travel::{Estimate, TravelCache};

/// Day-plan settings from the environment (`server/config.rs` reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// `TERRANE_ROUTE_REP_MS` (default 120).
    pub rep_time_ms: u64,
    /// `TERRANE_ROUTE_TEAM_S` (default 5).
    pub team_time_s: u64,
    /// `TERRANE_ROUTE_ITERATIONS`: stop each search after this many iterations, the same plan
    /// on any machine (0 = by time only; tests set it).
    pub max_iterations: u64,
    /// `TERRANE_ROUTE_DETOUR_MIN` (default 15).
    pub detour_minutes: i64,
    /// `TERRANE_VISIT_FAR_M` (default 300).
    pub visit_far_m: u32,
    /// `TERRANE_ROUTE_ESTIMATE_KMH` (default 30).
    pub estimate_kmh: u32,
}

impl DayPlanSettings {
    pub fn new(c: &RouteConfig) -> Self {
        Self {
            rep_time: Duration::from_millis(c.rep_time_ms),
            team_time: Duration::from_secs(c.team_time_s),
            max_iterations: (c.max_iterations > 0).then_some(c.max_iterations),
            detour_budget_s: c.detour_minutes * 60,
            visit_far_m: f64::from(c.visit_far_m),
            estimate: Estimate {
                kmh: f64::from(c.estimate_kmh),
                ..Estimate::DEFAULT
            },
            ..Self::default()
        }
    }
}

/// How day plans are computed (`TERRANE_ROUTE_*`).
#[derive(Debug)]
pub struct DayPlanSettings {
    /// The solver's time for a rep's day, both runs (`TERRANE_ROUTE_REP_MS`, default 120 ms).
    pub rep_time: Duration,
    /// The solver's time for a team's day (`TERRANE_ROUTE_TEAM_S`, default 5 s).
    pub team_time: Duration,
    /// Stop the search after this many iterations (tests: the same plan on any machine).
    pub max_iterations: Option<u64>,
    /// Most extra driving a prospect may add to the day (`TERRANE_ROUTE_DETOUR_MIN`, 15).
    pub detour_budget_s: i64,
    /// A visit logged farther than this from its account is flagged (`TERRANE_VISIT_FAR_M`).
    pub visit_far_m: f64,
    pub estimate: Estimate,
    pub cache: TravelCache,
}

impl Default for DayPlanSettings {
    fn default() -> Self {
        Self {
            rep_time: Duration::from_millis(120),
            team_time: Duration::from_secs(5),
            max_iterations: None,
            detour_budget_s: 15 * 60,
            visit_far_m: 300.0,
            estimate: Estimate::DEFAULT,
            cache: TravelCache::new(Duration::from_secs(600), 64),
        }
    }
}

/// What the day-plan services need.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub db: &'a PgPool,
    pub osrm: &'a OsrmClient,
    pub settings: &'a DayPlanSettings,
}

#[derive(Debug, Error)]
pub enum DayPlanError {
    #[error("not found")]
    NotFound,
    /// Bad input, in a sentence for the user (400).
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with what is stored (409).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
