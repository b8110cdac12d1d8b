//! The problem as the search reads it: dense travel matrices with unreachable cells marked,
//! which vehicles may serve which stop, granular neighbour lists, and a small seeded PRNG.

use super::problem::{Objective, Problem};

/// A travel cell that cannot be used (`None` in the matrix). Large enough to dominate any
/// route, small enough that a handful of them still fit in an `i64`.
pub(super) const UNREACHABLE: i64 = 1 << 50;

/// Larger travel cells, times or services are treated as unusable, so that sums over a route
/// of any length stay far from overflow.
const LIMIT: i64 = 1_000_000_000_000;

/// Largest prize the search uses, so that the sum over 10,000 dropped stops fits an `i64`.
const PRIZE_MAX: i64 = 100_000_000_000_000;

/// Largest matrix copied into dense `i64` rows (2 × 3,000² × 8 bytes = 144 MB).
const DENSE_MAX: usize = 3_000;

/// How many neighbours each stop keeps for the granular moves.
const GRANULAR: usize = 20;

/// Up to this many locations, a stop's reachability from a vehicle's start (and to its end)
/// is judged by shortest paths through other stops, not only the direct cell: with an
/// unreachable cell a stop may still be served after (or before) another stop. Above it,
/// one shortest-path pass per depot (O(n²) each) would cost too much set-up time, and only
/// the direct cell is read.
const PATHS_MAX: usize = 1_000;

pub(super) struct Instance<'a> {
    pub problem: &'a Problem,
    pub stops: usize,
    pub vehicles: usize,
    size: usize,
    dur: Vec<i64>,
    dist: Vec<i64>,
    /// `allowed[stop * vehicles + vehicle]`.
    allowed: Vec<bool>,
    /// Stops some vehicle can reach; the others are dropped before the search.
    pub routable: Vec<bool>,
    /// Per depot location, the least travel from it (forward) or to it (backward) to every
    /// location through stop locations; empty when only direct cells count (above
    /// `PATHS_MAX`, or when the direct cells allow every stop on every vehicle).
    from_depot: Vec<(usize, Vec<i64>)>,
    to_depot: Vec<(usize, Vec<i64>)>,
    /// Nearest stops by a time-window-aware proximity, closest first.
    pub neighbours: Vec<Vec<usize>>,
    /// Every stop has at most one window and no vehicle has a break: the O(1) segment
    /// evaluation is exact for such instances.
    pub simple: bool,
    /// Every vehicle is the same and no stop is tied to some: one empty route is as good as
    /// another.
    pub identical: bool,
    /// What a dropped stop costs the search (prizes compressed to the routes' scale).
    pub search_prize: Vec<i64>,
}

impl<'a> Instance<'a> {
    pub fn new(problem: &'a Problem) -> Self {
        let size = problem.matrix.size;
        let cells = size * size;

        // A dense copy is faster to read; above DENSE_MAX locations it would cost too much
        // memory, and the cells are read from the problem instead.
        let dense = size <= DENSE_MAX;
        let copy = |values: &[Option<i64>]| -> Vec<i64> {
            if dense {
                (0..cells).map(|i| read_cell(values, i)).collect()
            } else {
                Vec::new()
            }
        };
        let dur = copy(&problem.matrix.durations);
        let dist = copy(&problem.matrix.distances);
        let stops = problem.stops.len();
        let vehicles = problem.vehicles.len();
        let mut instance = Self {
            problem,
            stops,
            vehicles,
            size,
            dur,
            dist,
            allowed: vec![false; stops * vehicles],
            routable: vec![false; stops],
            from_depot: Vec::new(),
            to_depot: Vec::new(),
            neighbours: vec![Vec::new(); stops],
            simple: problem.vehicles.iter().all(|v| v.break_.is_none())
                && problem.stops.iter().all(|s| s.windows.len() <= 1),
            search_prize: Vec::new(),
            identical: problem.stops.iter().all(|s| s.vehicles.is_none())
                && problem.vehicles.windows(2).all(|w| w[0] == w[1]),
        };
        instance.allowed = (0..stops * vehicles)
            .map(|i| instance.may_serve(i / vehicles.max(1), i % vehicles.max(1)))
            .collect();
        // Paths through other stops only matter for pairs the direct cells rule out.
        if size <= PATHS_MAX && instance.allowed.iter().any(|a| !a) {
            instance.shortest_paths();
            instance.allowed = (0..stops * vehicles)
                .map(|i| instance.may_serve(i / vehicles.max(1), i % vehicles.max(1)))
                .collect();
        }
        instance.routable = (0..stops)
            .map(|s| (0..vehicles).any(|v| instance.allowed[s * vehicles + v]))
            .collect();
        instance.neighbours = instance.granular_neighbours();
        instance.search_prize = instance.compress_prizes();
        instance
    }

    fn location_ok(&self, location: usize) -> bool {
        location < self.size
    }

    /// A stop a vehicle can serve alone: allowed, reachable from its start and to its end,
    /// with a window it could make inside its shift and a demand within its capacity.
    fn may_serve(&self, stop: usize, vehicle: usize) -> bool {
        let s = &self.problem.stops[stop];
        let v = &self.problem.vehicles[vehicle];
        let sane = |t: i64| (-LIMIT..=LIMIT).contains(&t);
        if !self.location_ok(s.location)
            || !(0..=LIMIT).contains(&s.service)
            || !(0..=LIMIT).contains(&s.demand)
            || s.windows.iter().any(|w| !sane(w.start) || !sane(w.end))
            || s.windows.windows(2).any(|w| w[0].end > w[1].start)
            || !sane(v.shift.start)
            || !sane(v.shift.end)
            || v.break_.is_some_and(|b| {
                !sane(b.window.start) || !sane(b.window.end) || !(0..=LIMIT).contains(&b.duration)
            })
        {
            return false;
        }
        if let Some(list) = &s.vehicles
            && !list.contains(&vehicle)
        {
            return false;
        }
        if v.start.is_some_and(|l| !self.location_ok(l))
            || v.end.is_some_and(|l| !self.location_ok(l))
        {
            return false;
        }
        let to = v
            .start
            .map_or(0, |l| self.least_travel(l, s.location, true));
        let back = v.end.map_or(0, |l| self.least_travel(l, s.location, false));
        if to >= UNREACHABLE || back >= UNREACHABLE {
            return false;
        }
        if v.capacity.is_some_and(|c| s.demand > c) || v.shift.start > v.shift.end {
            return false;
        }
        if s.windows.iter().any(|w| w.start > w.end) {
            return false;
        }
        let arrival = v.shift.start.saturating_add(to);
        let start = if s.windows.is_empty() {
            Some(arrival)
        } else {
            s.windows
                .iter()
                .find(|w| w.end >= arrival)
                .map(|w| w.start.max(arrival))
        };
        start.is_some_and(|t| t.saturating_add(s.service).saturating_add(back) <= v.shift.end)
    }

    /// Least travel from depot `depot` to `location` (`forward`) or back, through stop
    /// locations when the shortest paths were computed, else the direct cell. A lower bound
    /// on any route's travel between them, since services and waits only add time.
    fn least_travel(&self, depot: usize, location: usize, forward: bool) -> i64 {
        let table = if forward {
            &self.from_depot
        } else {
            &self.to_depot
        };
        match table.iter().find(|(d, _)| *d == depot) {
            Some((_, paths)) => paths[location],
            None if forward => self.dur(depot, location),
            None => self.dur(location, depot),
        }
    }

    /// Fills `from_depot` and `to_depot` for every vehicle's start and end location.
    fn shortest_paths(&mut self) {
        let mut through = vec![false; self.size];
        for s in &self.problem.stops {
            if self.location_ok(s.location) {
                through[s.location] = true;
            }
        }
        for v in &self.problem.vehicles {
            if let Some(l) = v.start.filter(|&l| self.location_ok(l))
                && self.from_depot.iter().all(|(d, _)| *d != l)
            {
                let paths = self.dijkstra(l, true, &through);
                self.from_depot.push((l, paths));
            }
            if let Some(l) = v.end.filter(|&l| self.location_ok(l))
                && self.to_depot.iter().all(|(d, _)| *d != l)
            {
                let paths = self.dijkstra(l, false, &through);
                self.to_depot.push((l, paths));
            }
        }
    }

    /// Dense Dijkstra from `source` (on the reversed arcs when not `forward`), passing only
    /// through locations marked in `through`; unreachable locations stay `UNREACHABLE`.
    fn dijkstra(&self, source: usize, forward: bool, through: &[bool]) -> Vec<i64> {
        let mut best = vec![UNREACHABLE; self.size];
        let mut done = vec![false; self.size];
        best[source] = 0;
        loop {
            let next = (0..self.size)
                .filter(|&u| !done[u] && best[u] < UNREACHABLE)
                .min_by_key(|&u| best[u]);
            let Some(u) = next else { break };
            done[u] = true;
            if u != source && !through[u] {
                continue;
            }
            for w in 0..self.size {
                let t = if forward {
                    self.dur(u, w)
                } else {
                    self.dur(w, u)
                };
                if !done[w] && t < UNREACHABLE && best[u] + t < best[w] {
                    best[w] = best[u] + t;
                }
            }
        }
        best
    }

    pub fn dur(&self, from: usize, to: usize) -> i64 {
        match self.dur.get(from * self.size + to) {
            Some(&v) => v,
            None => read_cell(&self.problem.matrix.durations, from * self.size + to),
        }
    }

    pub fn dist(&self, from: usize, to: usize) -> i64 {
        match self.dist.get(from * self.size + to) {
            Some(&v) => v,
            None => read_cell(&self.problem.matrix.distances, from * self.size + to),
        }
    }

    /// The objective's cost of one arc (distance or duration).
    pub fn cost(&self, from: usize, to: usize) -> i64 {
        match self.problem.objective {
            Objective::TotalDistance => self.dist(from, to),
            Objective::TotalDuration | Objective::MinMaxDuration => self.dur(from, to),
        }
    }

    pub fn allowed(&self, stop: usize, vehicle: usize) -> bool {
        self.allowed[stop * self.vehicles + vehicle]
    }

    pub fn location(&self, stop: usize) -> usize {
        self.problem.stops[stop].location
    }

    /// Proximity from `a` to `b` (Vidal et al. 2013): travel plus the waiting and the time
    /// warp that serving `b` right after `a` would cause, weighted, over their outer windows.
    fn proximity(&self, a: usize, b: usize) -> i64 {
        let sa = &self.problem.stops[a];
        let sb = &self.problem.stops[b];
        let travel = self.dur(sa.location, sb.location);
        let cost = self.cost(sa.location, sb.location);
        if travel >= UNREACHABLE || cost >= UNREACHABLE {
            return UNREACHABLE;
        }
        let (Some(fa), Some(la), Some(fb), Some(lb)) = (
            sa.windows.first(),
            sa.windows.last(),
            sb.windows.first(),
            sb.windows.last(),
        ) else {
            return cost;
        };
        let wait = (fb.start - sa.service - travel - la.end).max(0);
        let warp = (fa.start + sa.service + travel - lb.end).max(0);
        cost + (wait / 5) + warp
    }

    fn granular_neighbours(&self) -> Vec<Vec<usize>> {
        (0..self.stops)
            .map(|a| {
                if !self.routable[a] {
                    return Vec::new();
                }
                let mut near: Vec<(i64, usize)> = (0..self.stops)
                    .filter(|&b| b != a && self.routable[b])
                    .map(|b| (self.proximity(a, b).min(self.proximity(b, a)), b))
                    .filter(|&(p, _)| p < UNREACHABLE)
                    .collect();
                if near.len() > GRANULAR {
                    near.select_nth_unstable(GRANULAR);
                    near.truncate(GRANULAR);
                }
                near.sort_unstable();
                near.into_iter().map(|(_, b)| b).collect()
            })
            .collect()
    }

    /// Prizes above a cap (a hundred times the largest arc cost) only need to rank among
    /// themselves in the search; the final comparison uses the exact prizes.
    fn compress_prizes(&self) -> Vec<i64> {
        let mut largest = 1;
        for i in 0..self.size {
            for j in 0..self.size {
                let c = self.cost(i, j);
                if c < UNREACHABLE {
                    largest = largest.max(c);
                }
            }
        }
        let cap = largest.saturating_mul(100).min(1 << 40);
        self.problem
            .stops
            .iter()
            .map(|s| {
                let prize = s.prize.max(0);
                if prize <= cap {
                    prize
                } else {
                    // Cubic in the order of magnitude: one stop of a much higher tier
                    // (an appointment) outweighs several of the next (due visits).
                    let tier = i64::from((prize / cap).ilog2()) + 2;
                    cap.saturating_mul(tier * tier * tier / 8).min(PRIZE_MAX)
                }
            })
            .collect()
    }
}

/// A matrix cell as the search reads it: missing, `None` or absurd cells are unreachable.
fn read_cell(values: &[Option<i64>], i: usize) -> i64 {
    values
        .get(i)
        .copied()
        .flatten()
        .filter(|v| *v <= LIMIT)
        .map_or(UNREACHABLE, |v| v.max(0))
}

/// xorshift64* (Vigna 2016): small, fast, and the same sequence on every machine.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // SplitMix64 scrambles the seed so nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
