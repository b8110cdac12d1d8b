//! The per-rep token bucket on current pings (late ones, an offline backlog, do not spend it).
//! In memory per instance: a rep's device talks to one instance at a time.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

/// Reps remembered before the limiter forgets those whose bucket is full again ...
const PRUNE_AT: usize = 10_000;
/// ... at most this often (a pass walks every rep).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a batch may not spend the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Ok,
    /// The bucket holds too little now; this long until it does.
    Wait(Duration),
    /// More current pings than the bucket ever holds.
    TooMany,
}

pub struct PingLimiter {
    limiter: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
    pruned: std::sync::Mutex<std::time::Instant>,
}

impl PingLimiter {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
            pruned: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    /// Takes `n` pings from `rep`'s bucket, all or none.
    pub fn spend(&self, rep: Uuid, n: u32) -> Spend {
        let Some(n) = NonZeroU32::new(n) else {
            return Spend::Ok;
        };
        if self.limiter.len() >= PRUNE_AT {
            let mut pruned = self
                .pruned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pruned.elapsed() >= PRUNE_EVERY {
                *pruned = std::time::Instant::now();
                drop(pruned);
                self.limiter.retain_recent();
            }
        }
        match self.limiter.check_key_n(&rep, n) {
            Ok(Ok(())) => Spend::Ok,
            Ok(Err(not_until)) => Spend::Wait(not_until.wait_time_from(self.clock.now())),
            Err(_) => Spend::TooMany,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_and_the_next_ping_waits() {
        let l = PingLimiter::new(
            NonZeroU32::new(60).expect("valid in tests"),
            NonZeroU32::new(10).expect("valid in tests"),
        );
        let rep = Uuid::new_v4();
        assert_eq!(l.spend(rep, 10), Spend::Ok);
        assert!(matches!(l.spend(rep, 1), Spend::Wait(d) if d <= Duration::from_secs(1)));
        assert_eq!(l.spend(Uuid::new_v4(), 11), Spend::TooMany);
        assert_eq!(l.spend(rep, 0), Spend::Ok);
    }
}
