//! Who has been near what, per rep: an account qualifies once the rep is still near it after
//! the rules' seconds or on their count of pings in a row; an account just checked stays
//! quiet for a while (alerted: the cooldown; refused by the database's rules: a minute).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::live::rules::Rules;

/// Since when, and on how many pings in a row, the rep has been near an account.
#[derive(Debug, Clone, Copy)]
struct Near {
    since: DateTime<Utc>,
    pings: i32,
}

/// One rep's state.
#[derive(Debug, Default)]
pub struct RepNear {
    near: HashMap<Uuid, Near>,
    quiet_until: HashMap<Uuid, DateTime<Utc>>,
    /// When this instance raised the rep's alerts of the last hour (the database counts all
    /// instances'; this only spares it checks that cannot pass).
    raised: VecDeque<DateTime<Utc>>,
    /// The last ping seen, to forget reps who went away.
    pub last_at: Option<DateTime<Utc>>,
}

impl RepNear {
    /// Takes in one ping at `at` that found `nearby` (account, metres; nearest first) and
    /// returns those that now qualify (not quiet), nearest first. An account no longer near
    /// starts over.
    pub fn observe(
        &mut self,
        at: DateTime<Utc>,
        nearby: &[(Uuid, f64)],
        rules: &Rules,
    ) -> Vec<(Uuid, f64)> {
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
        self.near
            .retain(|account, _| nearby.iter().any(|(a, _)| a == account));
        self.quiet_until.retain(|_, until| *until > at);
        let dwell = Duration::seconds(i64::from(rules.dwell_s));
        let mut qualifying = Vec::new();
        for &(account, distance) in nearby {
            let near = self.near.entry(account).or_insert(Near {
                since: at,
                pings: 0,
            });
            near.pings += 1;
            let dwelled = near.pings >= rules.dwell_pings || at - near.since >= dwell;
            if dwelled && !self.quiet_until.contains_key(&account) {
                qualifying.push((account, distance));
            }
        }
        qualifying
    }

    /// Notes an alert raised for the rep at `at`.
    pub fn raised(&mut self, at: DateTime<Utc>) {
        self.raised.push_back(at);
    }

    /// Whether the rep had `max_per_hour` alerts in the hour before `at` (from this
    /// instance's own).
    pub fn at_cap(&mut self, at: DateTime<Utc>, max_per_hour: i32) -> bool {
        while self
            .raised
            .front()
            .is_some_and(|t| at - *t >= Duration::hours(1))
        {
            self.raised.pop_front();
        }
        self.raised.len() >= usize::try_from(max_per_hour).unwrap_or(usize::MAX)
    }

    /// Keeps `account` from qualifying again before `until`.
    pub fn quiet(&mut self, account: Uuid, until: DateTime<Utc>) {
        let slot = self.quiet_until.entry(account).or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + s)
    }

    #[test]
    fn an_account_qualifies_on_the_second_ping_near_it() {
        let rules = Rules::default();
        let a = Uuid::new_v4();
        let mut rep = RepNear::default();
        assert!(rep.observe(at(0), &[(a, 120.0)], &rules).is_empty());
        assert_eq!(rep.observe(at(2), &[(a, 100.0)], &rules), vec![(a, 100.0)]);
    }

    #[test]
    fn leaving_starts_over_and_a_quiet_account_waits() {
        let rules = Rules {
            dwell_pings: 3,
            dwell_s: 600,
            ..Rules::default()
        };
        let a = Uuid::new_v4();
        let mut rep = RepNear::default();
        rep.observe(at(0), &[(a, 120.0)], &rules);
        rep.observe(at(1), &[(a, 120.0)], &rules);
        // Gone on the third ping: the count starts over.
        assert!(rep.observe(at(2), &[], &rules).is_empty());
        rep.observe(at(3), &[(a, 120.0)], &rules);
        rep.observe(at(4), &[(a, 120.0)], &rules);
        assert_eq!(rep.observe(at(5), &[(a, 90.0)], &rules).len(), 1);
        rep.quiet(a, at(60));
        assert!(rep.observe(at(6), &[(a, 90.0)], &rules).is_empty());
        assert_eq!(rep.observe(at(61), &[(a, 90.0)], &rules).len(), 1);
    }

    #[test]
    fn the_hourly_cap_counts_the_last_hour_only() {
        let mut rep = RepNear::default();
        rep.raised(at(0));
        rep.raised(at(10));
        assert!(rep.at_cap(at(20), 2));
        assert!(!rep.at_cap(at(20), 3));
        assert!(!rep.at_cap(at(3600), 2), "the first is an hour old");
    }

    #[test]
    fn time_near_qualifies_too() {
        let rules = Rules {
            dwell_pings: 10,
            dwell_s: 30,
            ..Rules::default()
        };
        let a = Uuid::new_v4();
        let mut rep = RepNear::default();
        rep.observe(at(0), &[(a, 120.0)], &rules);
        assert!(rep.observe(at(29), &[(a, 120.0)], &rules).is_empty());
        assert_eq!(rep.observe(at(30), &[(a, 120.0)], &rules).len(), 1);
    }
}
