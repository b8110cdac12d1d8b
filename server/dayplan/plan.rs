//! A solved route as the rep reads it: stops with arrival, wait, service and departure
//! times, the drive before each, totals, a link per leg for the phone's navigation app, and
//! the drive the naive order (appointments by time, the rest nearest first) would take on the
//! same matrix.

use chrono::{DateTime, FixedOffset, TimeDelta};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routing::solver::{Location, Matrix, Problem, Route, Window};
use crate::spatial::LonLat;

use super::build::APPOINTMENT_PRIZE;
use super::model::{Candidate, DropReason, StopKind};
use super::travel::{FAR_FROM_ROAD_M, Travel};

/// A planned visit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlannedStop {
    pub account_id: Uuid,
    pub name: String,
    /// `appointment`, `due` or `prospect`.
    pub kind: &'static str,
    pub appointment_id: Option<Uuid>,
    /// `[lon, lat]`.
    #[schema(value_type = [f64])]
    pub location: [f64; 2],
    #[schema(value_type = String, format = DateTime)]
    pub arrival: DateTime<FixedOffset>,
    /// Service start (arrival plus any wait).
    #[schema(value_type = String, format = DateTime)]
    pub start: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub departure: DateTime<FixedOffset>,
    pub wait_s: i64,
    pub service_s: i64,
    /// The drive from the previous stop (or the day's start).
    pub drive_s: i64,
    pub drive_m: i64,
    /// Metres from the account's point to the nearest road (OSRM's snap).
    pub snap_m: f32,
    /// The point is more than 200 m from any road: its address may be misplaced.
    pub far_from_road: bool,
    pub navigate: NavigationLinks,
}

/// One destination each (map apps limit waypoints in links).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NavigationLinks {
    /// `geo:` URI: any navigation app on Android.
    pub geo: String,
    pub google: String,
    pub apple: String,
}

impl NavigationLinks {
    pub fn to(p: LonLat, name: &str) -> Self {
        let (lat, lon) = (p.lat(), p.lon());
        let label: String = name
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ')
            .take(60)
            .collect::<String>()
            .replace(' ', "+");
        Self {
            geo: format!("geo:{lat:.6},{lon:.6}?q={lat:.6},{lon:.6}({label})"),
            google: format!(
                "https://www.google.com/maps/dir/?api=1&destination={lat:.6},{lon:.6}&travelmode=driving"
            ),
            apple: format!("https://maps.apple.com/?daddr={lat:.6},{lon:.6}&dirflg=d"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlannedBreak {
    #[schema(value_type = String, format = DateTime)]
    pub start: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub end: DateTime<FixedOffset>,
    /// Taken before this stop (its index in `stops`), or before the day's end.
    pub before_stop: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Totals {
    pub stops: usize,
    pub drive_s: i64,
    pub drive_m: i64,
    pub service_s: i64,
    pub wait_s: i64,
    /// From leaving the start to reaching the end, breaks and waits included.
    pub day_s: i64,
}

/// A candidate that is not in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DroppedStop {
    pub account_id: Uuid,
    pub name: String,
    pub kind: &'static str,
    pub appointment_id: Option<Uuid>,
    pub reason: DropReason,
    pub reason_text: &'static str,
}

impl DroppedStop {
    pub fn new(c: &Candidate, reason: DropReason) -> Self {
        Self {
            account_id: c.account_id,
            name: c.name.clone(),
            kind: c.kind.name(),
            appointment_id: appointment_id(c.kind),
            reason,
            reason_text: reason.sentence(),
        }
    }
}

fn appointment_id(kind: StopKind) -> Option<Uuid> {
    match kind {
        StopKind::Appointment { appointment_id, .. } => Some(appointment_id),
        _ => None,
    }
}

/// One rep's timed day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimedRoute {
    #[schema(value_type = String, format = DateTime)]
    pub departure: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub end: DateTime<FixedOffset>,
    pub stops: Vec<PlannedStop>,
    #[serde(rename = "break")]
    pub break_: Option<PlannedBreak>,
    pub totals: Totals,
}

/// What turning seconds-since-midnight into the rep's clock needs.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub midnight: DateTime<FixedOffset>,
}

impl Clock {
    pub fn at(self, seconds: i64) -> DateTime<FixedOffset> {
        self.midnight + TimeDelta::seconds(seconds)
    }
}

/// A solved day and what its stops refer to: the problem, its travel matrix and points, and
/// the candidates behind its stops.
#[derive(Clone, Copy)]
pub struct Solved<'a> {
    pub problem: &'a Problem,
    pub travel: &'a Travel,
    pub points: &'a [LonLat],
    pub candidates: &'a [Candidate],
    /// Problem stop → candidate index.
    pub stop_candidate: &'a [usize],
}

impl Solved<'_> {
    /// Times one solved route for the page, on the rep's clock.
    pub fn timed(&self, route: &Route, clock: Clock) -> TimedRoute {
        timed_route(route, self, clock)
    }
}

fn timed_route(route: &Route, solved: &Solved<'_>, clock: Clock) -> TimedRoute {
    let Solved {
        problem,
        travel,
        points,
        candidates,
        stop_candidate,
    } = *solved;
    let vehicle = &problem.vehicles[route.vehicle];
    let mut previous = vehicle.start;
    let mut stops = Vec::with_capacity(route.visits.len());
    let mut totals = Totals::default();
    for visit in &route.visits {
        let stop = &problem.stops[visit.stop];
        let c = &candidates[stop_candidate[visit.stop]];
        let (drive_s, drive_m) = leg(&problem.matrix, previous, stop.location);
        let point = points[stop.location];
        let snap_m = travel.snap_m.get(stop.location).copied().unwrap_or(0.0);
        stops.push(PlannedStop {
            account_id: c.account_id,
            name: c.name.clone(),
            kind: c.kind.name(),
            appointment_id: appointment_id(c.kind),
            location: [point.lon(), point.lat()],
            arrival: clock.at(visit.arrival),
            start: clock.at(visit.start),
            departure: clock.at(visit.departure),
            wait_s: visit.start - visit.arrival,
            service_s: stop.service,
            drive_s,
            drive_m,
            snap_m,
            far_from_road: snap_m > FAR_FROM_ROAD_M,
            navigate: NavigationLinks::to(point, &c.name),
        });
        totals.service_s += stop.service;
        totals.wait_s += visit.start - visit.arrival;
        previous = Some(stop.location);
    }
    totals.stops = stops.len();
    totals.drive_s = route.travel_duration;
    totals.drive_m = route.travel_distance;
    totals.day_s = route.end - route.departure;
    let break_ = route.break_.and_then(|b| {
        vehicle.break_.map(|spec| PlannedBreak {
            start: clock.at(b.start),
            end: clock.at(b.start + spec.duration),
            before_stop: b.before,
        })
    });
    TimedRoute {
        departure: clock.at(route.departure),
        end: clock.at(route.end),
        stops,
        break_,
        totals,
    }
}

fn leg(matrix: &Matrix, from: Option<Location>, to: Location) -> (i64, i64) {
    from.map_or((0, 0), |f| {
        (
            matrix.duration(f, to).unwrap_or(0),
            matrix.distance(f, to).unwrap_or(0),
        )
    })
}

/// The drive (seconds, metres) of the order a rep would drive without a planner: from the
/// start, the nearest stop still open on arrival next (waiting for it to open), unless that
/// would make the next appointment late, then the end. Same stops and matrix as the plan.
pub fn naive_drive(problem: &Problem, route: &Route) -> (i64, i64) {
    let m = &problem.matrix;
    let vehicle = &problem.vehicles[route.vehicle];
    let stops: Vec<usize> = route.visits.iter().map(|v| v.stop).collect();
    let fixed = |s: usize| problem.stops[s].prize >= APPOINTMENT_PRIZE;
    let mut remaining = stops;
    let mut at = vehicle.start;
    let mut time = vehicle.shift.start;
    let (mut drive, mut metres) = (0, 0);
    while !remaining.is_empty() {
        let next_appointment = remaining
            .iter()
            .copied()
            .filter(|&s| fixed(s))
            .min_by_key(|&s| first_start(&problem.stops[s].windows));
        // The nearest stop still open when the rep would get there, else the nearest.
        let drive_to = |s: usize| {
            at.map_or(Some(0), |a| m.duration(a, problem.stops[s].location))
                .unwrap_or(i64::MAX / 4)
        };
        let open_on_arrival = |s: usize| {
            let w = &problem.stops[s].windows;
            w.is_empty() || w.iter().any(|w| w.end >= time + drive_to(s))
        };
        let others = || remaining.iter().copied().filter(|&s| !fixed(s));
        let nearest = others()
            .filter(|&s| open_on_arrival(s))
            .min_by_key(|&s| drive_to(s))
            .or_else(|| others().min_by_key(|&s| drive_to(s)));
        let go_nearest = match (nearest, next_appointment) {
            (Some(n), Some(a)) => {
                let (ns, an) = (&problem.stops[n], &problem.stops[a]);
                let there = at.map_or(0, |x| m.duration(x, ns.location).unwrap_or(0));
                let done = serve(time + there, ns.service, &ns.windows);
                let on_to = m.duration(ns.location, an.location).unwrap_or(0);
                done + on_to <= last_start(&an.windows)
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        let Some(next) = (if go_nearest {
            nearest
        } else {
            next_appointment
        }) else {
            break;
        };
        let stop = &problem.stops[next];
        let (d, dm) = leg(m, at, stop.location);
        drive += d;
        metres += dm;
        time = serve(time + d, stop.service, &stop.windows);
        at = Some(stop.location);
        remaining.retain(|&s| s != next);
    }
    if let (Some(a), Some(e)) = (at, vehicle.end) {
        drive += m.duration(a, e).unwrap_or(0);
        metres += m.distance(a, e).unwrap_or(0);
    }
    (drive, metres)
}

/// When service ends if it starts at the first window open at `arrival` (late: at arrival).
fn serve(arrival: i64, service: i64, windows: &[Window]) -> i64 {
    let start = windows
        .iter()
        .find(|w| w.end >= arrival)
        .map_or(arrival, |w| w.start.max(arrival));
    start + service
}

fn first_start(windows: &[Window]) -> i64 {
    windows.first().map_or(0, |w| w.start)
}

fn last_start(windows: &[Window]) -> i64 {
    windows.last().map_or(i64::MAX, |w| w.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_links_carry_one_destination_and_no_markup() {
        let p = LonLat::new(7.421_234_5, 43.731_234_5).expect("valid");
        let links = NavigationLinks::to(p, "Café <b>&</b> Co");
        assert_eq!(
            links.geo,
            "geo:43.731234,7.421234?q=43.731234,7.421234(Café+bb+Co)"
        );
        assert!(
            links
                .google
                .ends_with("destination=43.731234,7.421234&travelmode=driving")
        );
        assert_eq!(
            links.apple,
            "https://maps.apple.com/?daddr=43.731234,7.421234&dirflg=d"
        );
    }

    #[test]
    fn service_waits_for_the_next_window_that_is_still_open() {
        let windows = [
            Window {
                start: 100,
                end: 200,
            },
            Window {
                start: 400,
                end: 500,
            },
        ];
        assert_eq!(serve(50, 10, &windows), 110);
        assert_eq!(serve(250, 10, &windows), 410);
        assert_eq!(serve(150, 10, &[]), 160);
    }
}
