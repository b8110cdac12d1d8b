//! From candidates and a travel matrix to the solver's problem: each candidate's start windows
//! (opening hours minus the visit's length, or the appointment's window), the reason it
//! cannot be planned at all when even alone it does not fit, and its prize (what leaving it
//! out costs: appointments most, then due visits by priority and how overdue).

use crate::routing::solver::{Break, Location, Matrix, Objective, Problem, Stop, Vehicle, Window};
use crate::spatial::LonLat;

use super::model::{Candidate, DaySettings, DropReason, Hours, StopKind};

/// Leaving out an appointment costs more than any set of other stops can earn.
pub(super) const APPOINTMENT_PRIZE: i64 = 1_000_000_000_000;
/// A due visit's prize per unit of weight: more than a day of driving, so a due visit that
/// fits is never left out to save driving.
const DUE_PRIZE_UNIT: i64 = 1_000_000;
/// Overdue ratios above this do not raise a visit's prize further.
const MAX_OVERDUE_WEIGHT: f64 = 4.0;

/// Where each point of the matrix comes from: vehicles' starts and ends first, then the
/// candidates that have a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub starts: Vec<Option<Location>>,
    pub ends: Vec<Option<Location>>,
    /// Per candidate, its point (None without a location).
    pub candidates: Vec<Option<Location>>,
}

/// The points to ask travel times for, and where each sits.
pub fn points(vehicles: &[DaySettings], candidates: &[Candidate]) -> (Vec<LonLat>, Layout) {
    let mut points = Vec::new();
    let mut push = |p: Option<LonLat>| {
        p.map(|p| {
            points.push(p);
            points.len() - 1
        })
    };
    let starts = vehicles.iter().map(|v| push(v.start)).collect();
    let ends = vehicles.iter().map(|v| push(v.end)).collect();
    let candidates = candidates.iter().map(|c| push(c.location)).collect();
    (
        points,
        Layout {
            starts,
            ends,
            candidates,
        },
    )
}

/// A candidate and the vehicles allowed to serve it (`None` = any).
#[derive(Debug, Clone, PartialEq)]
pub struct Assignable<'a> {
    pub candidate: &'a Candidate,
    pub vehicles: Option<Vec<usize>>,
}

/// The problem, with the way back from its stops to the candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub problem: Problem,
    /// Problem stop → candidate index.
    pub stop_candidate: Vec<usize>,
    /// Candidates left out before solving, with why.
    pub rejected: Vec<(usize, DropReason)>,
}

/// Builds the problem for `vehicles` over `matrix` (laid out as [`points`] says).
pub fn build(
    vehicles: &[DaySettings],
    candidates: &[Assignable<'_>],
    layout: &Layout,
    matrix: Matrix,
    objective: Objective,
) -> Built {
    let mut stops = Vec::new();
    let mut stop_candidate = Vec::new();
    let mut rejected = Vec::new();
    for (index, a) in candidates.iter().enumerate() {
        match stop_for(vehicles, a, layout.candidates[index], layout, &matrix) {
            Ok(stop) => {
                stops.push(stop);
                stop_candidate.push(index);
            }
            Err(reason) => rejected.push((index, reason)),
        }
    }
    let vehicles = vehicles
        .iter()
        .enumerate()
        .map(|(v, d)| Vehicle {
            start: layout.starts[v],
            end: layout.ends[v],
            shift: d.shift,
            capacity: None,
            break_: d
                .break_
                .map(|(window, duration)| Break { window, duration }),
        })
        .collect();
    Built {
        problem: Problem {
            matrix,
            stops,
            vehicles,
            objective,
        },
        stop_candidate,
        rejected,
    }
}

/// The solver's stop for one candidate, or why it cannot be planned even alone.
fn stop_for(
    vehicles: &[DaySettings],
    a: &Assignable<'_>,
    location: Option<Location>,
    layout: &Layout,
    matrix: &Matrix,
) -> Result<Stop, DropReason> {
    let c = a.candidate;
    let location = location.ok_or(DropReason::NoLocation)?;
    let windows = start_windows(c)?;
    let allowed: Vec<usize> = match &a.vehicles {
        Some(v) => v.iter().copied().filter(|&v| v < vehicles.len()).collect(),
        None => (0..vehicles.len()).collect(),
    };
    let mut reason = DropReason::Unreachable;
    for &v in &allowed {
        match fits_alone(
            &vehicles[v],
            layout.starts[v],
            layout.ends[v],
            location,
            c.service_s,
            &windows,
            matrix,
        ) {
            Ok(()) => {
                return Ok(Stop {
                    location,
                    service: c.service_s,
                    windows,
                    demand: 0,
                    prize: prize(c),
                    vehicles: a.vehicles.clone(),
                });
            }
            Err(r) => {
                // Keep the most telling reason: "outside the shift" beats "unreachable" when
                // some rep can reach it.
                if r == DropReason::OutsideShift {
                    reason = r;
                }
            }
        }
    }
    Err(reason)
}

/// When service may start: the appointment's window, or each opening interval shortened by
/// the visit; empty = any time.
pub fn start_windows(c: &Candidate) -> Result<Vec<Window>, DropReason> {
    if let StopKind::Appointment {
        earliest, latest, ..
    } = c.kind
    {
        return Ok(vec![Window {
            start: earliest,
            end: latest,
        }]);
    }
    match &c.hours {
        Hours::Unknown => Ok(Vec::new()),
        Hours::Closed => Err(DropReason::ClosedAllDay),
        Hours::Open(intervals) => {
            let windows: Vec<Window> = intervals
                .iter()
                .filter(|w| w.end - w.start >= c.service_s)
                .map(|w| Window {
                    start: w.start,
                    end: w.end - c.service_s,
                })
                .collect();
            if windows.is_empty() {
                Err(DropReason::WindowTooShort)
            } else {
                Ok(windows)
            }
        }
    }
}

/// Whether one visit fits a vehicle's day on its own: leave at the shift's start, wait for a
/// window, serve, and be back by the shift's end.
fn fits_alone(
    day: &DaySettings,
    start: Option<Location>,
    end: Option<Location>,
    at: Location,
    service: i64,
    windows: &[Window],
    matrix: &Matrix,
) -> Result<(), DropReason> {
    let there = match start {
        Some(s) => matrix.duration(s, at).ok_or(DropReason::Unreachable)?,
        None => 0,
    };
    let back = match end {
        Some(e) => matrix.duration(at, e).ok_or(DropReason::Unreachable)?,
        None => 0,
    };
    let arrival = day.shift.start + there;
    let begin = if windows.is_empty() {
        Some(arrival)
    } else {
        windows
            .iter()
            .find(|w| w.end >= arrival)
            .map(|w| w.start.max(arrival))
    };
    match begin {
        Some(b) if b + service + back <= day.shift.end => Ok(()),
        _ => Err(DropReason::OutsideShift),
    }
}

/// What leaving the candidate out costs the plan.
pub fn prize(c: &Candidate) -> i64 {
    match c.kind {
        StopKind::Appointment { .. } => APPOINTMENT_PRIZE,
        StopKind::Due { overdue } => {
            // Priority 1 weighs 5, priority 5 weighs 1; twice as overdue, twice the weight.
            let weight = f64::from(6 - c.priority.clamp(1, 5));
            let overdue = overdue.clamp(1.0, MAX_OVERDUE_WEIGHT);
            (DUE_PRIZE_UNIT as f64 * weight * overdue).round() as i64
        }
        // Prospects are offered only within the detour budget (see the service); a small
        // prize keeps them when they fit.
        StopKind::Prospect => 1_000 + (c.annual_value.max(0.0) / 1_000.0).min(1_000_000.0) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn candidate(kind: StopKind, hours: Hours, service_s: i64) -> Candidate {
        Candidate {
            account_id: Uuid::nil(),
            name: "Boulangerie".into(),
            location: Some(LonLat::new(7.42, 43.73).expect("valid")),
            kind,
            service_s,
            hours,
            priority: 3,
            annual_value: 10_000.0,
        }
    }

    fn day() -> DaySettings {
        DaySettings {
            shift: Window {
                start: 8 * 3600,
                end: 17 * 3600,
            },
            break_: None,
            start: Some(LonLat::new(7.41, 43.72).expect("valid")),
            end: Some(LonLat::new(7.41, 43.72).expect("valid")),
        }
    }

    /// Three points (start, end, the candidate), every drive `drive` seconds.
    fn matrix(drive: Option<i64>) -> Matrix {
        let mut d = vec![drive; 9];
        for i in 0..3 {
            d[i * 3 + i] = Some(0);
        }
        Matrix {
            size: 3,
            durations: d.clone(),
            distances: d,
        }
    }

    fn build_one(c: &Candidate, drive: Option<i64>) -> Built {
        let days = [day()];
        let (_, layout) = points(&days, std::slice::from_ref(c));
        build(
            &days,
            &[Assignable {
                candidate: c,
                vehicles: None,
            }],
            &layout,
            matrix(drive),
            Objective::TotalDuration,
        )
    }

    #[test]
    fn opening_hours_become_start_windows_shortened_by_the_visit() {
        let hours = Hours::Open(vec![
            Window {
                start: 9 * 3600,
                end: 12 * 3600,
            },
            Window {
                start: 14 * 3600,
                end: 14 * 3600 + 1200,
            },
        ]);
        let c = candidate(StopKind::Due { overdue: 1.0 }, hours, 1800);
        assert_eq!(
            start_windows(&c),
            Ok(vec![Window {
                start: 9 * 3600,
                end: 12 * 3600 - 1800
            }]),
            "the 20-minute afternoon opening is shorter than the 30-minute visit"
        );
    }

    #[test]
    fn each_reason_is_found_before_solving() {
        let due = StopKind::Due { overdue: 1.5 };
        let closed = candidate(due, Hours::Closed, 1800);
        assert_eq!(
            build_one(&closed, Some(600)).rejected,
            [(0, DropReason::ClosedAllDay)]
        );

        let short = Hours::Open(vec![Window {
            start: 9 * 3600,
            end: 9 * 3600 + 600,
        }]);
        let brief = candidate(due, short, 1800);
        assert_eq!(
            build_one(&brief, Some(600)).rejected,
            [(0, DropReason::WindowTooShort)]
        );

        let open = candidate(due, Hours::Unknown, 1800);
        assert_eq!(
            build_one(&open, None).rejected,
            [(0, DropReason::Unreachable)]
        );
        // Five hours each way do not fit a nine-hour shift with a half-hour visit.
        assert_eq!(
            build_one(&open, Some(5 * 3600)).rejected,
            [(0, DropReason::OutsideShift)]
        );

        let mut nowhere = open.clone();
        nowhere.location = None;
        assert_eq!(
            build_one(&nowhere, Some(600)).rejected,
            [(0, DropReason::NoLocation)]
        );

        let built = build_one(&open, Some(600));
        assert!(built.rejected.is_empty());
        assert_eq!(built.problem.stops.len(), 1);
        assert_eq!(built.stop_candidate, [0]);
    }

    #[test]
    fn an_appointment_is_worth_more_than_every_due_visit_of_a_long_day() {
        let appointment = candidate(
            StopKind::Appointment {
                appointment_id: Uuid::nil(),
                earliest: 10 * 3600,
                latest: 10 * 3600,
            },
            Hours::Closed,
            3600,
        );
        let mut most_due = candidate(StopKind::Due { overdue: 99.0 }, Hours::Unknown, 600);
        most_due.priority = 1;
        assert!(prize(&appointment) > 100 * prize(&most_due));
        // An appointment ignores opening hours: it was booked with the customer.
        assert_eq!(start_windows(&appointment).map(|w| w.len()), Ok(1));
        let mut less_due = most_due.clone();
        less_due.priority = 4;
        assert!(prize(&most_due) > prize(&less_due));
    }
}
