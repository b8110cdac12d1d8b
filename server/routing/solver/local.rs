//! Granular local search (Toth & Vigo 2003; Vidal et al. 2013): for each stop and each of its
//! nearest neighbours, Relocate of 1–3 stops, Swap, 2-opt* (tail exchange) and 2-opt inside a
//! route, plus inserting and removing optional stops; first improvement, until no move helps.
//! Each move is screened by its O(1) change in arc cost before the routes are evaluated.

use super::data::{Instance, Rng};
use super::eval::{RouteEval, evaluate};
use super::search::{DROPPED, State, Weights};

pub(super) struct LocalSearch<'a, 'p> {
    inst: &'a Instance<'p>,
    pub weights: Weights,
    order: Vec<usize>,
    buf_a: Vec<usize>,
    buf_b: Vec<usize>,
    reversed: Vec<usize>,
    minmax: bool,
    identical: bool,
}

struct Outcome {
    a: usize,
    eval_a: RouteEval,
    b: Option<(usize, RouteEval)>,
}

/// A move's proposed routes: which route gets which pieces.
struct Proposal<'s> {
    a: usize,
    pieces_a: [&'s [usize]; 4],
    b: Option<usize>,
    pieces_b: [&'s [usize]; 4],
}

impl<'a, 'p> LocalSearch<'a, 'p> {
    pub fn new(inst: &'a Instance<'p>, weights: Weights) -> Self {
        Self {
            inst,
            weights,
            order: (0..inst.stops).filter(|&s| inst.routable[s]).collect(),
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            reversed: Vec::new(),
            minmax: super::search::minmax(inst),
            identical: inst.identical,
        }
    }

    fn arc(&self, a: Option<usize>, b: Option<usize>) -> i64 {
        match (a, b) {
            (Some(x), Some(y)) => self.inst.cost(x, y),
            _ => 0,
        }
    }

    fn loc(&self, stop: usize) -> Option<usize> {
        Some(self.inst.location(stop))
    }

    /// Runs until no move improves; `max_rounds` bounds the passes over all stops.
    pub fn run(&mut self, st: &mut State, rng: &mut Rng, deadline: &dyn Fn() -> bool) {
        let mut order = std::mem::take(&mut self.order);
        rng.shuffle(&mut order);
        let mut improved = true;
        let mut rounds = 0;
        while improved && rounds < 1_000 {
            improved = false;
            rounds += 1;
            for &u in &order {
                if deadline() {
                    break;
                }
                if self.improve_stop(st, u) {
                    improved = true;
                }
            }
        }
        self.order = order;
    }

    fn improve_stop(&mut self, st: &mut State, u: usize) -> bool {
        let inst = self.inst;
        let mut any = false;
        if st.pos[u].0 == DROPPED {
            return self.try_insert(st, u);
        }
        if self.try_remove(st, u) {
            return true;
        }
        for ni in 0..inst.neighbours[u].len() {
            let v = inst.neighbours[u][ni];
            if st.pos[u].0 == DROPPED {
                break;
            }
            if st.pos[v].0 == DROPPED {
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

    /// Evaluates a proposal (its routes land in the buffers); `Some` when the penalised
    /// objective drops. `extra` is a change outside the routes (a prize).
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
        let pen = w.penalty(&old_a) + old_b.map_or(0, |e| w.penalty(&e));
        let mut bound = delta_cost + extra - pen;
        let other = if self.minmax {
            let other = st.longest_except(p.a, p.b.unwrap_or(p.a));
            bound += w.longest * (other - st.longest());
            other
        } else {
            0
        };
        if bound >= 0 {
            return None;
        }
        let new_a = evaluate(self.inst, p.a, &p.pieces_a, &mut self.buf_a, self.minmax);
        if !new_a.valid {
            return None;
        }
        let new_b = match p.b {
            Some(b) => {
                let e = evaluate(self.inst, b, &p.pieces_b, &mut self.buf_b, self.minmax);
                if !e.valid {
                    return None;
                }
                Some(e)
            }
            None => None,
        };
        let mut delta = extra + w.score(&new_a) - w.score(&old_a);
        if let (Some(nb), Some(ob)) = (new_b, old_b) {
            delta += w.score(&nb) - w.score(&ob);
        }
        if self.minmax {
            let new_long = other
                .max(new_a.duration)
                .max(new_b.map_or(0, |e| e.duration));
            delta += w.longest * (new_long - st.longest());
        }
        if delta >= 0 {
            return None;
        }
        Some(Outcome {
            a: p.a,
            eval_a: new_a,
            b: p.b.zip(new_b),
        })
    }

    /// Applies an accepted proposal from the buffers.
    fn commit(&mut self, st: &mut State, o: Option<Outcome>) -> bool {
        let Some(o) = o else {
            return false;
        };
        st.routes[o.a].clone_from(&self.buf_a);
        st.evals[o.a] = o.eval_a;
        if let Some((b, eb)) = o.b {
            st.routes[b].clone_from(&self.buf_b);
            st.evals[b] = eb;
            st.reindex(b);
        }
        st.reindex(o.a);
        true
    }

    fn try_insert(&mut self, st: &mut State, u: usize) -> bool {
        let Some((delta, r, i, _)) =
            st.best_insertion(self.inst, &self.weights, u, false, &mut self.buf_a)
        else {
            return false;
        };
        if delta < self.inst.search_prize[u] {
            st.insert(self.inst, u, r, i);
            return true;
        }
        false
    }

    fn try_remove(&mut self, st: &mut State, u: usize) -> bool {
        let inst = self.inst;
        let (r, i) = st.pos[u];
        let outcome = {
            let seq = &st.routes[r];
            let (a, b) = (st_before(inst, r, i, seq), st_after(inst, r, i, seq));
            let lu = self.loc(u);
            let delta = self.arc(a, b) - self.arc(a, lu) - self.arc(lu, b);
            let p = Proposal {
                a: r,
                pieces_a: [&seq[..i], &seq[i + 1..], &[], &[]],
                b: None,
                pieces_b: [&[]; 4],
            };
            self.attempt(st, &p, delta, inst.search_prize[u])
        };
        if self.commit(st, outcome) {
            st.pos[u] = (DROPPED, 0);
            return true;
        }
        false
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
                if ru == rv && (q == pu || q == pu + k) {
                    continue;
                }
                if k > 1 && q == pv {
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
        let outcome = {
            let from = &st.routes[rf];
            let to = &st.routes[rt];
            let first = self.loc(from[p]);
            let last = self.loc(from[p + k - 1]);
            let a = st_before(inst, rf, p, from);
            let b = st_after(inst, rf, p + k - 1, from);
            let removed = self.arc(a, first) + self.arc(last, b) - self.arc(a, b);
            let c = st_before(inst, rt, q, to);
            let d = if q < to.len() {
                self.loc(to[q])
            } else {
                inst.problem.vehicles[rt].end
            };
            let added = self.arc(c, first) + self.arc(last, d) - self.arc(c, d);
            let seg = &from[p..p + k];
            let prop = if rf == rt {
                let pieces_a = if q < p {
                    [&from[..q], seg, &from[q..p], &from[p + k..]]
                } else {
                    [&from[..p], &from[p + k..q], seg, &from[q..]]
                };
                Proposal {
                    a: rf,
                    pieces_a,
                    b: None,
                    pieces_b: [&[]; 4],
                }
            } else {
                Proposal {
                    a: rf,
                    pieces_a: [&from[..p], &from[p + k..], &[], &[]],
                    b: Some(rt),
                    pieces_b: [&to[..q], seg, &to[q..], &[]],
                }
            };
            self.attempt(st, &prop, added - removed, 0)
        };
        self.commit(st, outcome)
    }

    fn try_swap(&mut self, st: &mut State, u: usize, v: usize) -> bool {
        let inst = self.inst;
        let (ru, pu) = st.pos[u];
        let (rv, pv) = st.pos[v];
        if ru == rv || !inst.allowed(u, rv) || !inst.allowed(v, ru) {
            return false;
        }
        let outcome = {
            let (ra, rb) = (&st.routes[ru], &st.routes[rv]);
            let (au, bu) = (st_before(inst, ru, pu, ra), st_after(inst, ru, pu, ra));
            let (av, bv) = (st_before(inst, rv, pv, rb), st_after(inst, rv, pv, rb));
            let (lu, lv) = (self.loc(u), self.loc(v));
            let delta = self.arc(au, lv) + self.arc(lv, bu) - self.arc(au, lu) - self.arc(lu, bu)
                + self.arc(av, lu)
                + self.arc(lu, bv)
                - self.arc(av, lv)
                - self.arc(lv, bv);
            let prop = Proposal {
                a: ru,
                pieces_a: [&ra[..pu], &rb[pv..=pv], &ra[pu + 1..], &[]],
                b: Some(rv),
                pieces_b: [&rb[..pv], &ra[pu..=pu], &rb[pv + 1..], &[]],
            };
            self.attempt(st, &prop, delta, 0)
        };
        self.commit(st, outcome)
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
        if ra[cu..].iter().any(|&s| !inst.allowed(s, rv))
            || rb[cv..].iter().any(|&s| !inst.allowed(s, ru))
        {
            return false;
        }
        let outcome = {
            let end_u = inst.problem.vehicles[ru].end;
            let end_v = inst.problem.vehicles[rv].end;
            let (hu, hv) = (st_before(inst, ru, cu, ra), st_before(inst, rv, cv, rb));
            let tail_arcs = |h: Option<usize>, tail: &[usize], end: Option<usize>| -> i64 {
                match (tail.first(), tail.last()) {
                    (Some(&f), Some(&l)) => {
                        self.arc(h, Some(inst.location(f))) + self.arc(Some(inst.location(l)), end)
                    }
                    _ => self.arc(h, end),
                }
            };
            let (tu, tv) = (&ra[cu..], &rb[cv..]);
            let delta = tail_arcs(hu, tv, end_u) + tail_arcs(hv, tu, end_v)
                - tail_arcs(hu, tu, end_u)
                - tail_arcs(hv, tv, end_v);
            let prop = Proposal {
                a: ru,
                pieces_a: [&ra[..cu], tv, &[], &[]],
                b: Some(rv),
                pieces_b: [&rb[..cv], tu, &[], &[]],
            };
            self.attempt(st, &prop, delta, 0)
        };
        self.commit(st, outcome)
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
        let outcome = {
            let seq = &st.routes[ru];
            let after_v = st_after(inst, ru, pv, seq);
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
                pieces_a: [&seq[..=pu], &reversed, &seq[pv + 1..], &[]],
                b: None,
                pieces_b: [&[]; 4],
            };
            self.attempt(st, &prop, delta, 0)
        };
        self.reversed = reversed;
        self.commit(st, outcome)
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
            if self.identical {
                break;
            }
        }
        false
    }
}

fn st_before(inst: &Instance, route: usize, i: usize, seq: &[usize]) -> Option<usize> {
    if i == 0 {
        inst.problem.vehicles[route].start
    } else {
        Some(inst.location(seq[i - 1]))
    }
}

fn st_after(inst: &Instance, route: usize, i: usize, seq: &[usize]) -> Option<usize> {
    if i + 1 >= seq.len() {
        inst.problem.vehicles[route].end
    } else {
        Some(inst.location(seq[i + 1]))
    }
}
