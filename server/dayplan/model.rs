//! What a day plan is made of and what it returns: candidates (appointments, due accounts,
//! prospects) with their hours in seconds since the day's local midnight, and the plan the
//! API and the pages show. No database and no HTTP here.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routing::solver::Window;
use crate::spatial::LonLat;

/// A rep's day as the planner sees it, times in seconds since local midnight.
#[derive(Debug, Clone, PartialEq)]
pub struct DaySettings {
    pub shift: Window,
    /// `(window, minutes)`; `None` when the rep takes no break (0 minutes) or the window is
    /// outside the shift.
    pub break_: Option<(Window, i64)>,
    pub start: Option<LonLat>,
    pub end: Option<LonLat>,
}

/// When an account is open on the planned day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    /// No opening hours are known: any time of the shift.
    Unknown,
    /// Hours are known and the account is closed all day.
    Closed,
    /// Opening intervals (open, close), sorted.
    Open(Vec<Window>),
}

/// Why a stop is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopKind {
    /// A booked appointment: kept unless it cannot fit at all.
    Appointment {
        appointment_id: Uuid,
        /// Service may start from `earliest` to `latest` (seconds since local midnight).
        #[serde(skip)]
        earliest: i64,
        #[serde(skip)]
        latest: i64,
    },
    /// Due a visit: `overdue` is the time since the last visit over the visit interval
    /// (1.0 = due today; never visited counts as 2.0).
    Due { overdue: f64 },
    /// Not due, but valuable and close to the route: added when the detour is small.
    Prospect,
}

impl StopKind {
    pub fn name(self) -> &'static str {
        match self {
            StopKind::Appointment { .. } => "appointment",
            StopKind::Due { .. } => "due",
            StopKind::Prospect => "prospect",
        }
    }
}

/// An account that could be visited on the day.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub account_id: Uuid,
    pub name: String,
    pub location: Option<LonLat>,
    pub kind: StopKind,
    /// Minutes the visit takes, in seconds.
    pub service_s: i64,
    pub hours: Hours,
    /// 1 (highest) to 5.
    pub priority: i16,
    pub annual_value: f64,
}

/// Why a candidate is not in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The account has no location yet (not geocoded).
    NoLocation,
    /// Its opening hours say it is closed on this day.
    ClosedAllDay,
    /// No opening interval on this day is as long as the visit.
    WindowTooShort,
    /// No road joins it to the day's start or end.
    Unreachable,
    /// Even alone, the visit does not fit between the shift's start and end.
    OutsideShift,
    /// It fits alone, but not beside the stops that matter more: the shift is full.
    NoTimeLeft,
}

impl DropReason {
    /// The sentence a rep reads.
    pub fn sentence(self) -> &'static str {
        match self {
            DropReason::NoLocation => "The account has no location on the map yet.",
            DropReason::ClosedAllDay => "Closed all day according to its opening hours.",
            DropReason::WindowTooShort => "Its opening hours leave less time than the visit takes.",
            DropReason::Unreachable => "No road route reaches it from your start or end.",
            DropReason::OutsideShift => "Even alone it does not fit in your shift.",
            DropReason::NoTimeLeft => "No time left in the shift after the stops that matter more.",
        }
    }
}

/// Where the travel times came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TravelSource {
    /// OSRM on the road network.
    Osrm,
    /// OSRM was unavailable: straight-line distance times a detour factor at a set speed.
    Estimated,
}
