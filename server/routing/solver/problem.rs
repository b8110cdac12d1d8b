//! The day-planning problem the solver takes and the plan it returns: plain integers, no
//! database or HTTP types, so the solver, the feasibility checker, the benchmarks and the
//! exhaustive-search tests all speak the same language.
//!
//! Units: times and durations in seconds (any epoch; the route service uses seconds since
//! local midnight of the planned day), distances in metres. Benchmarks may scale (Solomon:
//! ×1000 Euclidean distance as both distance and duration).
//!
//! Timing rules, shared by solver and checker:
//! - a stop's `windows` constrain the **start of service** (opening hours are turned into
//!   start windows `[open, close - service]` by the caller); an empty list means any time;
//!   windows are sorted, non-overlapping, `start <= end`;
//! - arriving before a window waits for it; arriving after every window's end is infeasible;
//! - a vehicle leaves its start no earlier than `shift.start` and reaches its end (or, with
//!   no end location, finishes its last service) no later than `shift.end`; it may leave
//!   later than `shift.start` to avoid waiting, and the route's duration (its "day") is end
//!   time minus departure time;
//! - the break is taken once, in one gap between consecutive nodes of a used route (start,
//!   stops, end), wholly inside its window: in the gap from node `i` (departing at `d_i`) to
//!   node `j` (service starting at `s_j`, or arrival at the end), a break starting at `b`
//!   needs `d_i <= b`, `b + duration <= s_j`, `d_i + travel(i, j) + duration <= s_j`,
//!   `window.start <= b`, `b + duration <= window.end`. An unused route takes no break;
//! - a route's total demand must not exceed the vehicle's capacity (when it has one).

/// A location's index into the matrices.
pub type Location = usize;

/// Square matrices, row-major: `durations[from * n + to]` seconds, `distances[...]` metres.
/// `None` cells are unreachable by road (both directions are checked independently).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub size: usize,
    pub durations: Vec<Option<i64>>,
    pub distances: Vec<Option<i64>>,
}

impl Matrix {
    /// A matrix where every pair is reachable.
    pub fn full(size: usize, durations: Vec<i64>, distances: Vec<i64>) -> Self {
        Self {
            size,
            durations: durations.into_iter().map(Some).collect(),
            distances: distances.into_iter().map(Some).collect(),
        }
    }

    pub fn duration(&self, from: Location, to: Location) -> Option<i64> {
        self.durations[from * self.size + to]
    }

    pub fn distance(&self, from: Location, to: Location) -> Option<i64> {
        self.distances[from * self.size + to]
    }
}

/// A closed interval of time, `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// A stop to serve at most once.
#[derive(Clone, Debug, PartialEq)]
pub struct Stop {
    pub location: Location,
    /// Service time, seconds.
    pub service: i64,
    /// Allowed service start times; empty = any time.
    pub windows: Vec<Window>,
    /// Capacity used (Solomon's demand); 0 for sales visits.
    pub demand: i64,
    /// What leaving the stop out costs. Appointments and due visits carry a prize larger
    /// than any route can cost, so they are dropped only when they cannot fit at all.
    pub prize: i64,
    /// Vehicles allowed to serve it (indexes into `Problem::vehicles`); `None` = any.
    /// A rep's own appointments are fixed to them this way.
    pub vehicles: Option<Vec<usize>>,
}

/// A break of `duration` seconds, taken wholly inside `window` (see the module's rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Break {
    pub window: Window,
    pub duration: i64,
}

/// A rep (or a Solomon vehicle).
#[derive(Clone, Debug, PartialEq)]
pub struct Vehicle {
    /// Where the day starts; `None` = at the first stop.
    pub start: Option<Location>,
    /// Where the day ends; `None` = at the last stop.
    pub end: Option<Location>,
    pub shift: Window,
    /// Maximum demand on the route; `None` = unlimited.
    pub capacity: Option<i64>,
    pub break_: Option<Break>,
}

/// What "cheaper" means, after dropped prizes (always first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Sum over routes of travel `distance` (Solomon's convention).
    TotalDistance,
    /// Sum over routes of travel `duration` (a rep's day: least driving).
    TotalDuration,
    /// Lexicographic: the longest route duration (end − departure, waiting included) first,
    /// then the total travel duration. A team's day: nobody drives until eight while a
    /// colleague is home at three.
    MinMaxDuration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub matrix: Matrix,
    pub stops: Vec<Stop>,
    pub vehicles: Vec<Vehicle>,
    pub objective: Objective,
}

/// Search limits. A run is deterministic for a seed when it stops on `max_iterations`
/// (the time limit is a safety net that makes the result depend on the machine's speed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub time: std::time::Duration,
    pub max_iterations: Option<u64>,
    pub seed: u64,
}

/// One visited stop with the times the solver planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Visit {
    pub stop: usize,
    pub arrival: i64,
    /// Service start (arrival plus any wait).
    pub start: i64,
    /// Service end = start + service.
    pub departure: i64,
}

/// Where the break was placed: in the gap before `visits[before]` (or before the end when
/// `before == visits.len()`), starting at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedBreak {
    pub before: usize,
    pub start: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub vehicle: usize,
    /// Departure from the start location (or service start of the first stop when the
    /// vehicle has no start location).
    pub departure: i64,
    pub visits: Vec<Visit>,
    pub break_: Option<PlacedBreak>,
    /// Arrival at the end location (or departure from the last stop with no end location).
    pub end: i64,
    pub travel_duration: i64,
    pub travel_distance: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    /// One route per vehicle, in vehicle order. An unused vehicle has no visits, no break, no
    /// travel, and `departure == end == shift.start`.
    pub routes: Vec<Route>,
    /// Stops left out, ascending.
    pub dropped: Vec<usize>,
}
