//! A team's day: every rep's appointments stay theirs, the accounts due a visit form a shared
//! pool (each kept with its owner unless the manager lifts that rule), and the solver looks for
//! the fewest dropped visits, then the shortest longest day, then the least driving. A manager
//! moves a stop to another rep by pinning it there and planning again.

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routing::solver::{Limits, Objective};
use crate::spatial::LonLat;

use super::build::{self, Assignable};
use super::inputs::{self, RepDayInputs};
use super::model::{Candidate, DaySettings, DropReason, TravelSource};
use super::plan::{self, Clock, DroppedStop, TimedRoute};
use super::rep_day::{run_solver, seed_of};
use super::{DayPlanError, Deps};

/// Most reps in one team plan.
pub const MAX_REPS: usize = 50;
/// Most stops (appointments and due visits) in one team plan.
pub const MAX_STOPS: usize = 1_000;

/// What the manager asks for.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamDayRequest {
    /// Let any rep take any due account, not only its owner (default false: stops stay
    /// within their owner's territory).
    #[serde(default)]
    pub ignore_territories: bool,
    /// Stops the manager moved: this account goes to this rep.
    #[serde(default)]
    pub pins: Vec<Pin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct Pin {
    pub account_id: Uuid,
    pub rep_id: Uuid,
}

/// One rep's part of the team's day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TeamRepDay {
    pub rep_id: Uuid,
    pub rep_name: String,
    #[serde(flatten)]
    pub route: TimedRoute,
    /// Straight segments through the stops (the rep's own Today page draws the roads).
    #[schema(value_type = Vec<[f64]>)]
    pub line: Vec<[f64; 2]>,
}

/// A dropped stop with the rep who owns the account.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TeamDropped {
    #[serde(flatten)]
    pub stop: DroppedStop,
    pub owner_rep_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TeamDay {
    pub team_id: Uuid,
    pub day: NaiveDate,
    pub travel_source: TravelSource,
    pub computed_at: chrono::DateTime<Utc>,
    pub ignore_territories: bool,
    pub pins: Vec<Pin>,
    pub reps: Vec<TeamRepDay>,
    pub dropped: Vec<TeamDropped>,
    /// The longest and the mean day (seconds, leaving the start to reaching the end) among
    /// reps with stops, and the team's total drive.
    pub longest_day_s: i64,
    pub mean_day_s: i64,
    pub total_drive_s: i64,
}

/// Plans the day of every active rep of `rep_ids` (a team's members).
pub async fn plan(
    deps: Deps<'_>,
    team_id: Uuid,
    rep_ids: &[Uuid],
    day: NaiveDate,
    request: &TeamDayRequest,
) -> Result<TeamDay, DayPlanError> {
    if rep_ids.len() > MAX_REPS {
        return Err(DayPlanError::Invalid(format!(
            "a team plan takes at most {MAX_REPS} reps"
        )));
    }
    let mut reps: Vec<RepDayInputs> = Vec::new();
    for &id in rep_ids {
        if let Some(r) = inputs::rep_day(deps.db, id, day).await?
            && r.active
            && r.workday
        {
            reps.push(r);
        }
    }
    for pin in &request.pins {
        if !reps.iter().any(|r| r.rep_id == pin.rep_id) {
            return Err(DayPlanError::Invalid(
                "a pin names a rep who is not working in this team that day".into(),
            ));
        }
    }
    // The pool: (candidate, owner's vehicle index, fixed to the owner?).
    let mut pool: Vec<(Candidate, usize, bool)> = Vec::new();
    for (v, r) in reps.iter().enumerate() {
        pool.extend(r.appointments.iter().cloned().map(|c| (c, v, true)));
        pool.extend(r.due.iter().cloned().map(|c| (c, v, false)));
    }
    if pool.len() > MAX_STOPS {
        return Err(DayPlanError::Invalid(format!(
            "a team plan takes at most {MAX_STOPS} stops, not {}",
            pool.len()
        )));
    }
    for pin in &request.pins {
        if !pool.iter().any(|(c, _, _)| c.account_id == pin.account_id) {
            return Err(DayPlanError::Invalid(
                "a pin names an account that is not on this day's list".into(),
            ));
        }
    }
    let days: Vec<DaySettings> = reps.iter().map(|r| r.settings.clone()).collect();
    let candidates: Vec<Candidate> = pool.iter().map(|(c, _, _)| c.clone()).collect();
    let vehicle_of = |id: Uuid| reps.iter().position(|r| r.rep_id == id);
    let assignable: Vec<Assignable<'_>> = pool
        .iter()
        .enumerate()
        .map(|(i, (c, owner, fixed))| {
            let pinned = request
                .pins
                .iter()
                .find(|p| p.account_id == c.account_id)
                .and_then(|p| vehicle_of(p.rep_id));
            let vehicles = match (pinned, fixed, request.ignore_territories) {
                (Some(v), false, _) => Some(vec![v]),
                (_, true, _) | (None, false, false) => Some(vec![*owner]),
                (None, false, true) => None,
            };
            Assignable {
                candidate: &candidates[i],
                vehicles,
            }
        })
        .collect();
    let (points, layout) = build::points(&days, &candidates);
    let travel = deps
        .settings
        .cache
        .travel(deps.osrm, &points, deps.settings.estimate)
        .await;
    let built = build::build(
        &days,
        &assignable,
        &layout,
        travel.matrix.clone(),
        Objective::MinMaxDuration,
    );
    let limits = Limits {
        time: deps.settings.team_time,
        max_iterations: deps.settings.max_iterations,
        seed: seed_of(team_id, day),
    };
    let solution = run_solver(built.problem.clone(), limits).await?;

    let solved = plan::Solved {
        problem: &built.problem,
        travel: &travel,
        points: &points,
        candidates: &candidates,
        stop_candidate: &built.stop_candidate,
    };
    let mut out = Vec::with_capacity(reps.len());
    for (route, r) in solution.routes.iter().zip(&reps) {
        let clock = Clock {
            midnight: r.midnight,
        };
        let timed = solved.timed(route, clock);
        let line = line_of(&r.settings, &timed);
        out.push(TeamRepDay {
            rep_id: r.rep_id,
            rep_name: r.rep_name.clone(),
            route: timed,
            line,
        });
    }
    let owner = |i: usize| reps[pool[i].1].rep_id;
    let mut dropped: Vec<TeamDropped> = built
        .rejected
        .iter()
        .map(|&(i, reason)| TeamDropped {
            stop: DroppedStop::new(&candidates[i], reason),
            owner_rep_id: owner(i),
        })
        .collect();
    dropped.extend(solution.dropped.iter().map(|&s| {
        let i = built.stop_candidate[s];
        TeamDropped {
            stop: DroppedStop::new(&candidates[i], DropReason::NoTimeLeft),
            owner_rep_id: owner(i),
        }
    }));
    let used: Vec<i64> = out
        .iter()
        .filter(|r| r.route.totals.stops > 0)
        .map(|r| r.route.totals.day_s)
        .collect();
    Ok(TeamDay {
        team_id,
        day,
        travel_source: travel.source,
        computed_at: Utc::now(),
        ignore_territories: request.ignore_territories,
        pins: request.pins.clone(),
        longest_day_s: used.iter().copied().max().unwrap_or(0),
        mean_day_s: if used.is_empty() {
            0
        } else {
            used.iter().sum::<i64>() / used.len() as i64
        },
        total_drive_s: out.iter().map(|r| r.route.totals.drive_s).sum(),
        reps: out,
        dropped,
    })
}

/// Start, stops and end as straight segments.
fn line_of(day: &DaySettings, timed: &TimedRoute) -> Vec<[f64; 2]> {
    let as_pair = |p: LonLat| [p.lon(), p.lat()];
    let mut line = Vec::with_capacity(timed.stops.len() + 2);
    if timed.stops.is_empty() {
        return line;
    }
    line.extend(day.start.map(as_pair));
    line.extend(timed.stops.iter().map(|s| s.location));
    line.extend(day.end.map(as_pair));
    line
}
