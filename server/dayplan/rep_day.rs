//! A rep's day plan: read the day, ask travel times for its points once, solve the due visits
//! and appointments, offer the prospects whose detour fits the budget, solve again with them,
//! time the result, draw it on the roads and compare it with the naive order.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routing::solver::{self, Limits, Objective, Problem, Solution};
use crate::spatial::LonLat;

use super::build::{self, Assignable};
use super::inputs::{self, RepDayInputs};
use super::model::{Candidate, DaySettings, DropReason, StopKind, TravelSource};
use super::plan::{self, Clock, DroppedStop, TimedRoute};
use super::travel::Travel;
use super::{DayPlanError, Deps};

/// Prospects added to one day at most.
const MAX_PROSPECTS_ADDED: usize = 3;

/// The drive saved against the order a rep would drive without a planner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct DriveSaving {
    /// The naive order's drive on the same matrix and stops.
    pub naive_drive_s: i64,
    pub naive_drive_m: i64,
    pub saved_drive_s: i64,
    /// Saved over naive, percent (one decimal).
    pub saved_percent: f64,
}

/// A visit already logged on the day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VisitedStop {
    pub account_id: Uuid,
    pub visited_at: DateTime<Utc>,
}

/// A rep's planned day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RepDay {
    pub rep_id: Uuid,
    pub rep_name: String,
    pub day: NaiveDate,
    /// `osrm`, or `estimated` when OSRM was unavailable (straight lines × detour factor).
    pub travel_source: TravelSource,
    pub computed_at: DateTime<Utc>,
    /// False on a day the rep does not work (nothing is planned).
    pub workday: bool,
    #[schema(value_type = Option<[f64]>)]
    pub start: Option<[f64; 2]>,
    #[schema(value_type = Option<[f64]>)]
    pub end_point: Option<[f64; 2]>,
    #[serde(flatten)]
    pub route: TimedRoute,
    pub dropped: Vec<DroppedStop>,
    pub visited: Vec<VisitedStop>,
    pub comparison: DriveSaving,
    /// The road line through the day's points, `[lon, lat]` pairs (straight segments when
    /// estimated).
    #[schema(value_type = Vec<[f64]>)]
    pub geometry: Vec<[f64; 2]>,
}

/// Where a re-plan starts from: the rep's position now (`None`: the day's start point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartFrom {
    pub position: Option<LonLat>,
}

/// Plans a rep's day. Today, after the shift has begun, the plan starts now (from
/// `from.position` when given, else the last account visited, else the day's start).
pub async fn plan(
    deps: Deps<'_>,
    rep_id: Uuid,
    day: NaiveDate,
    from: StartFrom,
) -> Result<RepDay, DayPlanError> {
    let mut inputs = inputs::rep_day(deps.db, rep_id, day)
        .await?
        .ok_or(DayPlanError::NotFound)?;
    if !inputs.active {
        return Err(DayPlanError::Invalid("this rep is inactive".into()));
    }
    start_from(&mut inputs, from);
    let candidates: Vec<Candidate> = if inputs.workday {
        inputs
            .appointments
            .iter()
            .chain(&inputs.due)
            .chain(&inputs.prospects)
            .cloned()
            .collect()
    } else {
        // Appointments booked on a day off are still shown (and dropped with a reason).
        inputs.appointments.clone()
    };
    let days = [inputs.settings.clone()];
    let (points, layout) = build::points(&days, &candidates);
    let travel = deps
        .settings
        .cache
        .travel(deps.osrm, &points, deps.settings.estimate)
        .await;
    let prospect = |c: &Candidate| matches!(c.kind, StopKind::Prospect);

    // First without prospects: the day that must happen. The solver's time is shared: three
    // fifths for this run when prospects may follow, the rest for the run with them.
    let budget = deps.settings.rep_time;
    let first_time = if candidates.iter().any(prospect) {
        budget * 3 / 5
    } else {
        budget
    };
    let data = DayData {
        days: &days,
        candidates: &candidates,
        layout: &layout,
        travel: &travel,
    };
    let first = solve_day(deps, &inputs, &data, first_time, |c| !prospect(c)).await?;
    let offered =
        prospects_within_budget(&first, &candidates, &layout, deps.settings.detour_budget_s);
    let (built, solution) = if offered.is_empty() {
        first
    } else {
        let rest = budget.saturating_sub(first_time);
        solve_day(deps, &inputs, &data, rest, |c| {
            !prospect(c) || offered.contains(&c.account_id)
        })
        .await?
    };
    let route = &solution.routes[0];
    let clock = Clock {
        midnight: inputs.midnight,
    };
    let solved = plan::Solved {
        problem: &built.problem,
        travel: &travel,
        points: &points,
        candidates: &candidates,
        stop_candidate: &built.stop_candidate,
    };
    let timed = solved.timed(route, clock);
    let dropped = dropped_stops(&candidates, &built, &solution, &prospect);
    let (naive_drive_s, naive_drive_m) = plan::naive_drive(&built.problem, route);
    let saved = naive_drive_s - route.travel_duration;
    let geometry = geometry(deps, &travel, &points, &built.problem, route).await;
    Ok(RepDay {
        rep_id,
        rep_name: inputs.rep_name.clone(),
        day,
        travel_source: travel.source,
        computed_at: Utc::now(),
        workday: inputs.workday,
        start: inputs.settings.start.map(|p| [p.lon(), p.lat()]),
        end_point: inputs.settings.end.map(|p| [p.lon(), p.lat()]),
        route: timed,
        dropped,
        visited: inputs
            .visited
            .iter()
            .map(|v| VisitedStop {
                account_id: v.account_id,
                visited_at: v.visited_at,
            })
            .collect(),
        comparison: DriveSaving {
            naive_drive_s,
            naive_drive_m,
            saved_drive_s: saved,
            saved_percent: if naive_drive_s > 0 {
                (1_000.0 * saved as f64 / naive_drive_s as f64).round() / 10.0
            } else {
                0.0
            },
        },
        geometry,
    })
}

/// Today, once the shift has begun, the rest of the day starts now, from where the rep is.
fn start_from(inputs: &mut RepDayInputs, from: StartFrom) {
    let now = inputs.now_s;
    let shift = &mut inputs.settings.shift;
    if now > shift.start && now < 86_400 {
        shift.start = now.min(shift.end);
        let last_visited = inputs.visited.first().and_then(inputs::Visited::location);
        if let Some(p) = from.position.or(last_visited) {
            inputs.settings.start = Some(p);
        }
        if let Some((window, minutes)) = inputs.settings.break_ {
            // A break whose window has passed is over (taken or skipped).
            if window.end < now + minutes {
                inputs.settings.break_ = None;
            }
        }
    } else if let Some(p) = from.position {
        inputs.settings.start = Some(p);
    }
}

/// What both solver runs of a day share.
#[derive(Clone, Copy)]
struct DayData<'a> {
    days: &'a [DaySettings],
    candidates: &'a [Candidate],
    layout: &'a build::Layout,
    travel: &'a Arc<Travel>,
}

/// Builds and solves the day over the candidates `keep` accepts.
async fn solve_day(
    deps: Deps<'_>,
    inputs: &RepDayInputs,
    day: &DayData<'_>,
    time: std::time::Duration,
    keep: impl Fn(&Candidate) -> bool,
) -> Result<(build::Built, Solution), DayPlanError> {
    let DayData {
        days,
        candidates,
        layout,
        travel,
    } = *day;
    let mut kept_layout = layout.clone();
    let assignable: Vec<Assignable<'_>> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if !keep(c) {
                kept_layout.candidates[i] = None;
            }
            Assignable {
                candidate: c,
                vehicles: None,
            }
        })
        .collect();
    let mut built = build::build(
        days,
        &assignable,
        &kept_layout,
        travel.matrix.clone(),
        Objective::TotalDuration,
    );
    // Candidates left out on purpose (prospects not offered) are not "no location".
    built.rejected.retain(|&(i, _)| keep(&candidates[i]));
    if !inputs.workday {
        // Nothing is planned on a day off: every appointment is reported.
        built.problem.stops.clear();
        built.stop_candidate.clear();
    }
    let limits = Limits {
        time,
        max_iterations: deps.settings.max_iterations,
        seed: seed_of(inputs.rep_id, inputs.day),
    };
    let solution = run_solver(built.problem.clone(), limits).await?;
    Ok((built, solution))
}

/// Runs the solver on a blocking thread.
pub(super) async fn run_solver(problem: Problem, limits: Limits) -> Result<Solution, DayPlanError> {
    tokio::task::spawn_blocking(move || solver::solve(&problem, &limits))
        .await
        .map_err(|e| DayPlanError::Internal(format!("the solver stopped: {e}")))
}

/// A seed that is the same for the same rep and day (the same inputs give the same plan).
pub(super) fn seed_of(id: Uuid, day: NaiveDate) -> u64 {
    let (hi, lo) = id.as_u64_pair();
    hi ^ lo ^ u64::from(day.num_days_from_ce().unsigned_abs())
}

/// Prospects whose cheapest insertion into the first plan adds at most `budget_s` of
/// driving, the most valuable first.
fn prospects_within_budget(
    (built, solution): &(build::Built, Solution),
    candidates: &[Candidate],
    layout: &build::Layout,
    budget_s: i64,
) -> Vec<Uuid> {
    let problem = &built.problem;
    let route = &solution.routes[0];
    let vehicle = &problem.vehicles[0];
    let mut sequence: Vec<Option<usize>> = vec![vehicle.start];
    sequence.extend(
        route
            .visits
            .iter()
            .map(|v| Some(problem.stops[v.stop].location)),
    );
    sequence.push(vehicle.end);
    let m = &problem.matrix;
    let mut offered: Vec<(f64, Uuid)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        if !matches!(c.kind, StopKind::Prospect) {
            continue;
        }
        let Some(at) = layout.candidates[i] else {
            continue;
        };
        let mut best = i64::MAX;
        for pair in sequence.windows(2) {
            let detour = match (pair[0], pair[1]) {
                (Some(a), Some(b)) => m
                    .duration(a, at)
                    .zip(m.duration(at, b))
                    .zip(m.duration(a, b))
                    .map(|((x, y), z)| x + y - z),
                (Some(a), None) => m.duration(a, at),
                (None, Some(b)) => m.duration(at, b),
                (None, None) => Some(0),
            };
            if let Some(d) = detour {
                best = best.min(d);
            }
        }
        if best <= budget_s {
            offered.push((c.annual_value, c.account_id));
        }
    }
    offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    offered
        .into_iter()
        .take(MAX_PROSPECTS_ADDED)
        .map(|(_, id)| id)
        .collect()
}

/// Rejected before solving (with their reason) and left out by the solver (no time left).
fn dropped_stops(
    candidates: &[Candidate],
    built: &build::Built,
    solution: &Solution,
    prospect: &impl Fn(&Candidate) -> bool,
) -> Vec<DroppedStop> {
    let mut dropped: Vec<DroppedStop> = built
        .rejected
        .iter()
        .filter(|&&(i, _)| !prospect(&candidates[i]))
        .map(|&(i, reason)| DroppedStop::new(&candidates[i], reason))
        .collect();
    dropped.extend(
        solution
            .dropped
            .iter()
            .map(|&s| &candidates[built.stop_candidate[s]])
            .filter(|c| !prospect(c))
            .map(|c| DroppedStop::new(c, DropReason::NoTimeLeft)),
    );
    dropped
}

/// The road line through the route's points (OSRM `/route`); straight segments when travel
/// was estimated or the route service fails.
async fn geometry(
    deps: Deps<'_>,
    travel: &Travel,
    points: &[LonLat],
    problem: &Problem,
    route: &solver::Route,
) -> Vec<[f64; 2]> {
    let vehicle = &problem.vehicles[route.vehicle];
    let mut through: Vec<LonLat> = Vec::with_capacity(route.visits.len() + 2);
    through.extend(vehicle.start.map(|s| points[s]));
    through.extend(
        route
            .visits
            .iter()
            .map(|v| points[problem.stops[v.stop].location]),
    );
    through.extend(vehicle.end.map(|e| points[e]));
    let straight = || through.iter().map(|p| [p.lon(), p.lat()]).collect();
    if through.len() < 2 {
        return straight();
    }
    if travel.source == TravelSource::Osrm {
        match deps.osrm.route(&through).await {
            Ok(road) => return road.line,
            Err(e) => tracing::warn!(error = %e, "OSRM route failed; drawing straight lines"),
        }
    }
    straight()
}
