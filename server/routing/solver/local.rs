//! Granular local search (Toth & Vigo 2003; Vidal et al. 2013): for each stop and each of its
//! nearest neighbours, Relocate of 1–3 stops, Swap, 2-opt* (tail exchange) and 2-opt inside a
//! route, plus inserting and removing optional stops; first improvement, until no move helps.
//! Each move is screened by its O(1) change in arc cost before the routes are evaluated, and
//! pairs whose routes did not change since they were last tested are skipped.

use super::data::{Instance, Rng};
use super::eval::RouteEval;
use super::search::{DROPPED, Fit, Piece, State, Weights};

pub(super) struct LocalSearch<'a, 'p> {
    inst: &'a Instance<'p>,
    pub weights: Weights,
    order: Vec<usize>,
    buf_a: Vec<usize>,
    buf_b: Vec<usize>,
    reversed: Vec<usize>,
    /// Move counter; a route's stamp is the counter value when it last changed.
    clock: u64,
    stamp: Vec<u64>,
    /// Counter value when each stop's moves were last tested.
    tested: Vec<u64>,
}

struct Outcome {
    a: usize,
    eval_a: RouteEval,
    b: Option<(usize, RouteEval)>,
}

/// A move's proposed routes: which route gets which pieces.
struct Proposal<'s> {
    a: usize,
    pieces_a: [Piece<'s>; 4],
    b: Option<usize>,
    pieces_b: [Piece<'s>; 4],
    /// Min-max screening: the change in travel and in service time of routes a and b.
    grow: [Grow; 2],
}

/// How a move changes one route's travel and service time (both zero when unknown).
#[derive(Clone, Copy, Default)]
struct Grow {
    travel: i64,
    service: i64,
}

const SAME: [Grow; 2] = [Grow {
    travel: 0,
    service: 0,
}; 2];

const NONE: Piece<'static> = Piece::Stops(&[]);

impl<'a, 'p> LocalSearch<'a, 'p> {
    pub fn new(inst: &'a Instance<'p>, weights: Weights) -> Self {
        Self {
            inst,
            weights,
            order: (0..inst.stops).filter(|&s| inst.routable[s]).collect(),
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            reversed: Vec::new(),
            clock: 1,
            stamp: vec![0; inst.vehicles],
            tested: vec![0; inst.stops],
        }
    }

    fn arc(&self, a: Option<usize>, b: Option<usize>) -> i64 {
        match (a, b) {
            (Some(x), Some(y)) => self.inst.cost(x, y),
            _ => 0,
        }
    }

    fn loc(&self, stop: usize) -> Option<usize> {
        self.inst.problem.stops.get(stop).map(|s| s.location)
    }

    fn before(&self, route: usize, i: usize, seq: &[usize]) -> Option<usize> {
        if i == 0 {
            self.inst.problem.vehicles[route].start
        } else {
            Some(self.inst.location(seq[i - 1]))
        }
    }

    fn after(&self, route: usize, i: usize, seq: &[usize]) -> Option<usize> {
        if i + 1 >= seq.len() {
            self.inst.problem.vehicles[route].end
        } else {
            Some(self.inst.location(seq[i + 1]))
        }
    }

    /// Improves `st` until no move helps (or `stop()` says so). Only routes marked dirty in
    /// `st` are assumed to have changed since `st` was last a local optimum.
    pub fn run(&mut self, st: &mut State, rng: &mut Rng, stop: &dyn Fn() -> bool) {
        self.clock += 1;
        for r in 0..self.inst.vehicles {
            self.stamp[r] = if st.dirty[r] { self.clock } else { 0 };
            st.dirty[r] = false;
        }
        self.tested.fill(0);
        let mut order = std::mem::take(&mut self.order);
        rng.shuffle(&mut order);
        let mut improved = true;
        while improved {
            improved = false;
            for &u in &order {
                if stop() {
                    break;
                }
                if self.improve_stop(st, u) {
                    improved = true;
                }
            }
        }
        self.order = order;
        st.dirty.fill(false);
    }

    fn improve_stop(&mut self, st: &mut State, u: usize) -> bool {
        let inst = self.inst;
        if st.pos[u].0 == DROPPED {
            return self.try_insert(st, u);
        }
        let since = self.tested[u];
        self.tested[u] = self.clock;
        if self.stamp[st.pos[u].0] > since && self.try_remove(st, u) {
            return true;
        }
        let mut any = false;
        for ni in 0..inst.neighbours[u].len() {
            let v = inst.neighbours[u][ni];
            let (ru, rv) = (st.pos[u].0, st.pos[v].0);
            if ru == DROPPED {
                return any;
            }
            if rv == DROPPED || self.stamp[ru].max(self.stamp[rv]) <= since {
                continue;
            }
            let moved = self.try_relocate(st, u, v)
                || self.try_swap(st, u, v)
                || self.try_two_opt_star(st, u, v)
                || self.try_two_opt(st, u, v);
            any |= moved;
        }
        if st.pos[u].0 != DROPPED && self.try_empty_route(st, u) {
            any = true;
        }
        any
    }

    /// Evaluates a proposal; `Some` when the penalised objective drops. `extra` is a change
    /// outside the routes (a prize).
    fn attempt(
        &mut self,
        st: &State,
        p: &Proposal,
        delta_cost: i64,
        extra: i64,
    ) -> Option<Outcome> {
        let w = self.weights;
        let old_a = st.evals[p.a];
        let old_b = p.b.map(|b| st.evals[b]);
        // Scores never drop below the arc costs: a bound before any evaluation. Under
        // min-max (arc cost = travel), nor below the longest-day term of the day's lower
        // bound, travel + services + break.
        let slack = w.score(&old_a) - old_a.cost + old_b.map_or(0, |e| w.score(&e) - e.cost);
        let floor_a = self.day_floor(st, p.a, &p.pieces_a, p.grow[0]);
        let floor_b =
            p.b.map_or(0, |b| self.day_floor(st, b, &p.pieces_b, p.grow[1]));
        if (delta_cost + extra - slack).saturating_add(floor_a.saturating_add(floor_b)) >= 0 {
            return None;
        }
        let new_a = st.eval_pieces(self.inst, p.a, &p.pieces_a, &mut self.buf_a);
        if !new_a.valid {
            return None;
        }
        let mut delta = extra + w.score(&new_a) - w.score(&old_a);
        let new_b = match (p.b, old_b) {
            (Some(b), Some(ob)) => {
                if delta.saturating_add(floor_b) - w.score(&ob) >= 0 {
                    // Route b cannot cost less than its floor: no gain possible.
                    return None;
                }
                let e = st.eval_pieces(self.inst, b, &p.pieces_b, &mut self.buf_b);
                if !e.valid {
                    return None;
                }
                delta += w.score(&e) - w.score(&ob);
                Some(e)
            }
            _ => None,
        };
        if delta >= 0 {
            return None;
        }
        Some(Outcome {
            a: p.a,
            eval_a: new_a,
            b: p.b.zip(new_b),
        })
    }

    /// A lower bound on the longest-day term of the route `pieces` would make on `route`
    /// (0 outside min-max): its travel, services and break against the target.
    fn day_floor(&self, st: &State, route: usize, pieces: &[Piece], grow: Grow) -> i64 {
        if self.weights.longest == 0 || pieces.iter().all(|p| st.len(p) == 0) {
            return 0;
        }
        let brk = self.inst.problem.vehicles[route]
            .break_
            .map_or(0, |b| b.duration);
        let day = st.evals[route].travel + grow.travel + st.service[route] + grow.service + brk;
        self.weights.over(day)
    }

    fn service(&self, stops: &[usize]) -> i64 {
        stops
            .iter()
            .map(|&s| self.inst.problem.stops[s].service)
            .sum()
    }

    /// Travel along `stops` (their internal arcs).
    fn internal(&self, stops: &[usize]) -> i64 {
        stops
            .windows(2)
            .map(|p| {
                self.inst
                    .cost(self.inst.location(p[0]), self.inst.location(p[1]))
            })
            .sum()
    }

    /// `attempt`, and on success the new routes spelled out in the buffers.
    fn decide(&mut self, st: &State, p: &Proposal, delta_cost: i64, extra: i64) -> Option<Outcome> {
        let o = self.attempt(st, p, delta_cost, extra)?;
        st.materialize(&p.pieces_a, &mut self.buf_a);
        if p.b.is_some() {
            st.materialize(&p.pieces_b, &mut self.buf_b);
        }
        Some(o)
    }

    /// Applies an accepted proposal from the buffers.
    fn apply(&mut self, st: &mut State, o: Option<Outcome>) -> bool {
        let Some(o) = o else {
            return false;
        };
        self.clock += 1;
        st.set_route(self.inst, o.a, &self.buf_a);
        self.stamp[o.a] = self.clock;
        debug_assert_eq!(st.evals[o.a].cost, o.eval_a.cost);
        if let Some((b, _)) = o.b {
            st.set_route(self.inst, b, &self.buf_b);
            self.stamp[b] = self.clock;
        }
        true
    }

    fn try_insert(&mut self, st: &mut State, u: usize) -> bool {
        let Some((delta, r, i)) =
            st.best_insertion(self.inst, &self.weights, u, Fit::NoWorse, &mut self.buf_a)
        else {
            return false;
        };
        if delta < self.inst.search_prize[u] {
            st.insert(self.inst, u, r, i, &mut self.buf_a);
            self.clock += 1;
            self.stamp[r] = self.clock;
            return true;
        }
        false
    }

    fn try_remove(&mut self, st: &mut State, u: usize) -> bool {
        let (r, i) = st.pos[u];
        let seq = &st.routes[r];
        let (a, b) = (self.before(r, i, seq), self.after(r, i, seq));
        let lu = self.loc(u);
        let delta = self.arc(a, b) - self.arc(a, lu) - self.arc(lu, b);
        let p = Proposal {
            a: r,
            pieces_a: [Piece::Prefix(r, i), Piece::Suffix(r, i + 1), NONE, NONE],
            b: None,
            pieces_b: [NONE; 4],
            grow: [
                Grow {
                    travel: delta,
                    service: -self.service(&[u]),
                },
                Grow::default(),
            ],
        };
        let o = self.decide(st, &p, delta, self.inst.search_prize[u]);
        self.apply(st, o)
    }

    fn try_relocate(&mut self, st: &mut State, u: usize, v: usize) -> bool {
        let inst = self.inst;
        let (ru, pu) = st.pos[u];
        let (rv, pv) = st.pos[v];
        for k in 1..=3 {
            if pu + k > st.routes[ru].len() || (ru == rv && pv >= pu && pv < pu + k) {
                break;
            }
            if !inst.allowed(st.routes[ru][pu + k - 1], rv) {
                break;
            }
            for q in [pv + 1, pv] {
                if (ru == rv && (q == pu || q == pu + k)) || (k > 1 && q == pv) {
                    continue;
                }
                if self.relocate(st, ru, pu, k, rv, q) {
                    return true;
                }
            }
        }
        false
    }

    /// Moves `rf[p..p + k]` to index `q` of `rt` (an index in `rt` before the move).
    fn relocate(
        &mut self,
        st: &mut State,
        rf: usize,
        p: usize,
        k: usize,
        rt: usize,
        q: usize,
    ) -> bool {
        let inst = self.inst;
        let (from, to) = (&st.routes[rf], &st.routes[rt]);
        let first = self.loc(from[p]);
        let last = self.loc(from[p + k - 1]);
        let (a, b) = (self.before(rf, p, from), self.after(rf, p + k - 1, from));
        let removed = self.arc(a, first) + self.arc(last, b) - self.arc(a, b);
        let c = self.before(rt, q, to);
        let d = if q < to.len() {
            self.loc(to[q])
        } else {
            inst.problem.vehicles[rt].end
        };
        let added = self.arc(c, first) + self.arc(last, d) - self.arc(c, d);
        let seg = &from[p..p + k];
        let prop = if rf == rt {
            let pieces_a = if q < p {
                [
                    Piece::Prefix(rf, q),
                    Piece::Stops(seg),
                    Piece::Stops(&from[q..p]),
                    Piece::Suffix(rf, p + k),
                ]
            } else {
                [
                    Piece::Prefix(rf, p),
                    Piece::Stops(&from[p + k..q]),
                    Piece::Stops(seg),
                    Piece::Suffix(rf, q),
                ]
            };
            Proposal {
                a: rf,
                pieces_a,
                b: None,
                pieces_b: [NONE; 4],
                grow: [
                    Grow {
                        travel: added - removed,
                        service: 0,
                    },
                    Grow::default(),
                ],
            }
        } else {
            let service = self.service(seg);
            Proposal {
                a: rf,
                pieces_a: [Piece::Prefix(rf, p), Piece::Suffix(rf, p + k), NONE, NONE],
                b: Some(rt),
                pieces_b: [
                    Piece::Prefix(rt, q),
                    Piece::Stops(seg),
                    Piece::Suffix(rt, q),
                    NONE,
                ],
                grow: [
                    Grow {
                        travel: -removed,
                        service: -service,
                    },
                    Grow {
                        travel: added,
                        service,
                    },
                ],
            }
        };
        let o = self.decide(st, &prop, added - removed, 0);
        self.apply(st, o)
    }

    fn try_swap(&mut self, st: &mut State, u: usize, v: usize) -> bool {
        let inst = self.inst;
        let (ru, pu) = st.pos[u];
        let (rv, pv) = st.pos[v];
        if ru == rv || !inst.allowed(u, rv) || !inst.allowed(v, ru) {
            return false;
        }
        let (ra, rb) = (&st.routes[ru], &st.routes[rv]);
        let (au, bu) = (self.before(ru, pu, ra), self.after(ru, pu, ra));
        let (av, bv) = (self.before(rv, pv, rb), self.after(rv, pv, rb));
        let (lu, lv) = (self.loc(u), self.loc(v));
        let delta_u = self.arc(au, lv) + self.arc(lv, bu) - self.arc(au, lu) - self.arc(lu, bu);
        let delta_v = self.arc(av, lu) + self.arc(lu, bv) - self.arc(av, lv) - self.arc(lv, bv);
        let (su, sv) = ([u], [v]);
        let service = self.service(&sv) - self.service(&su);
        let prop = Proposal {
            a: ru,
            pieces_a: [
                Piece::Prefix(ru, pu),
                Piece::Stops(&sv),
                Piece::Suffix(ru, pu + 1),
                NONE,
            ],
            b: Some(rv),
            pieces_b: [
                Piece::Prefix(rv, pv),
                Piece::Stops(&su),
                Piece::Suffix(rv, pv + 1),
                NONE,
            ],
            grow: [
                Grow {
                    travel: delta_u,
                    service,
                },
                Grow {
                    travel: delta_v,
                    service: -service,
                },
            ],
        };
        let o = self.decide(st, &prop, delta_u + delta_v, 0);
        self.apply(st, o)
    }

    fn try_two_opt_star(&mut self, st: &mut State, u: usize, v: usize) -> bool {
        let (ru, pu) = st.pos[u];
        let (rv, pv) = st.pos[v];
        if ru == rv {
            return false;
        }
        // u then v's old successor; or u then v itself.
        self.exchange_tails(st, ru, pu + 1, rv, pv + 1)
            || self.exchange_tails(st, ru, pu + 1, rv, pv)
    }

    /// Keeps the first `cu` stops of `ru` and `cv` of `rv`, and swaps what follows.
    fn exchange_tails(
        &mut self,
        st: &mut State,
        ru: usize,
        cu: usize,
        rv: usize,
        cv: usize,
    ) -> bool {
        let inst = self.inst;
        let (ra, rb) = (&st.routes[ru], &st.routes[rv]);
        if !inst.identical
            && (ra[cu..].iter().any(|&s| !inst.allowed(s, rv))
                || rb[cv..].iter().any(|&s| !inst.allowed(s, ru)))
        {
            return false;
        }
        let end_u = inst.problem.vehicles[ru].end;
        let end_v = inst.problem.vehicles[rv].end;
        let (hu, hv) = (self.before(ru, cu, ra), self.before(rv, cv, rb));
        let tail_arcs = |h: Option<usize>, tail: &[usize], end: Option<usize>| -> i64 {
            match (tail.first(), tail.last()) {
                (Some(&f), Some(&l)) => self.arc(h, self.loc(f)) + self.arc(self.loc(l), end),
                _ => self.arc(h, end),
            }
        };
        let (tu, tv) = (&ra[cu..], &rb[cv..]);
        let delta_u = tail_arcs(hu, tv, end_u) - tail_arcs(hu, tu, end_u);
        let delta_v = tail_arcs(hv, tu, end_v) - tail_arcs(hv, tv, end_v);
        let grow = if self.weights.longest > 0 {
            let travel = self.internal(tv) - self.internal(tu);
            let service = self.service(tv) - self.service(tu);
            [
                Grow {
                    travel: delta_u + travel,
                    service,
                },
                Grow {
                    travel: delta_v - travel,
                    service: -service,
                },
            ]
        } else {
            SAME
        };
        let prop = Proposal {
            a: ru,
            pieces_a: [Piece::Prefix(ru, cu), Piece::Suffix(rv, cv), NONE, NONE],
            b: Some(rv),
            pieces_b: [Piece::Prefix(rv, cv), Piece::Suffix(ru, cu), NONE, NONE],
            grow,
        };
        let o = self.decide(st, &prop, delta_u + delta_v, 0);
        self.apply(st, o)
    }

    /// 2-opt inside a route: u followed by v, the stops between reversed.
    fn try_two_opt(&mut self, st: &mut State, u: usize, v: usize) -> bool {
        let inst = self.inst;
        let (ru, pu) = st.pos[u];
        let (rv, pv) = st.pos[v];
        if ru != rv || pv <= pu + 1 {
            return false;
        }
        let mut reversed = std::mem::take(&mut self.reversed);
        let seq = &st.routes[ru];
        let after_v = self.after(ru, pv, seq);
        let mut delta = self.arc(self.loc(u), self.loc(v))
            + self.arc(self.loc(seq[pu + 1]), after_v)
            - self.arc(self.loc(u), self.loc(seq[pu + 1]))
            - self.arc(self.loc(v), after_v);
        for i in pu + 1..pv {
            let (x, y) = (inst.location(seq[i]), inst.location(seq[i + 1]));
            delta += inst.cost(y, x) - inst.cost(x, y);
        }
        reversed.clear();
        reversed.extend(seq[pu + 1..=pv].iter().rev());
        let prop = Proposal {
            a: ru,
            pieces_a: [
                Piece::Prefix(ru, pu + 1),
                Piece::Stops(&reversed),
                Piece::Suffix(ru, pv + 1),
                NONE,
            ],
            b: None,
            pieces_b: [NONE; 4],
            grow: [
                Grow {
                    travel: delta,
                    service: 0,
                },
                Grow::default(),
            ],
        };
        let o = self.decide(st, &prop, delta, 0);
        self.reversed = reversed;
        self.apply(st, o)
    }

    /// Moves a stop alone into an empty route (the first one when vehicles are identical).
    fn try_empty_route(&mut self, st: &mut State, u: usize) -> bool {
        let (ru, pu) = st.pos[u];
        for r in 0..self.inst.vehicles {
            if r == ru || !st.routes[r].is_empty() || !self.inst.allowed(u, r) {
                continue;
            }
            if self.relocate(st, ru, pu, 1, r, 0) {
                return true;
            }
            if self.inst.identical {
                break;
            }
        }
        false
    }
}
