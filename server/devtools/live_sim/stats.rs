//! What the simulator counts while reps drive, and the JSON summary it prints at the end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// Counters shared by every rep (atomics: read every 10 s for the progress line).
#[derive(Default)]
pub struct Counters {
    pub connected: AtomicU64,
    pub open: AtomicU64,
    pub socket_failures: AtomicU64,
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub dropped: AtomicU64,
    pub late: AtomicU64,
    pub rate_limited: AtomicU64,
    pub errors: AtomicU64,
    pub out_of_order: AtomicU64,
    pub unanswered: AtomicU64,
    pub alerts: AtomicU64,
    pub alerts_unmatched: AtomicU64,
    pub http_batches: AtomicU64,
    pub http_pings: AtomicU64,
    pub http_accepted: AtomicU64,
    pub http_duplicate: AtomicU64,
    pub http_dropped: AtomicU64,
    pub http_late: AtomicU64,
    pub http_429: AtomicU64,
    pub http_failures: AtomicU64,
    /// Reasons of dropped pings, spoofing flags and error codes (rare: a lock is fine).
    pub named: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn name(&self, what: &str) {
        if let Ok(mut m) = self.named.lock() {
            *m.entry(what.to_owned()).or_default() += 1;
        }
    }

    /// One line for stderr while running.
    pub fn progress(&self, elapsed_s: f64) -> String {
        format!(
            "t={elapsed_s:.0}s open={} sent={} accepted={} dropped={} rate_limited={} errors={} alerts={} failures={}",
            Self::get(&self.open),
            Self::get(&self.sent),
            Self::get(&self.accepted),
            Self::get(&self.dropped),
            Self::get(&self.rate_limited),
            Self::get(&self.errors),
            Self::get(&self.alerts),
            Self::get(&self.socket_failures),
        )
    }
}

/// Latencies of one rep in microseconds, merged at the end.
#[derive(Default)]
pub struct Samples {
    pub ack_us: Vec<u32>,
    pub alert_us: Vec<u32>,
    pub connect_us: Vec<u32>,
}

impl Samples {
    pub fn merge(&mut self, other: Samples) {
        self.ack_us.extend(other.ack_us);
        self.alert_us.extend(other.alert_us);
        self.connect_us.extend(other.connect_us);
    }
}

/// Microseconds, saturating.
pub fn micros(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Count, p50, p99 and max in milliseconds.
pub fn percentiles(mut us: Vec<u32>) -> Value {
    if us.is_empty() {
        return json!({ "n": 0 });
    }
    us.sort_unstable();
    let at = |q: f64| {
        let i = ((us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(us[i.min(us.len() - 1)]) / 1000.0
    };
    json!({
        "n": us.len(),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": at(1.0),
    })
}

/// The summary printed at the end of a run.
pub fn summary(c: &Counters, samples: Samples, settings: Value, wall_s: f64) -> Value {
    let g = Counters::get;
    let named = c.named.lock().map(|m| m.clone()).unwrap_or_default();
    json!({
        "settings": settings,
        "wall_s": (wall_s * 10.0).round() / 10.0,
        "sockets": {
            "connected": g(&c.connected),
            "failures": g(&c.socket_failures),
            "connect_ms": percentiles(samples.connect_us),
        },
        "pings_sent": g(&c.sent),
        "acks": {
            "accepted": g(&c.accepted),
            "duplicate": g(&c.duplicate),
            "dropped": g(&c.dropped),
            "late": g(&c.late),
        },
        "rate_limited": g(&c.rate_limited),
        "errors": g(&c.errors),
        "answers_out_of_order": g(&c.out_of_order),
        "unanswered": g(&c.unanswered),
        "named": named,
        "ack_ms": percentiles(samples.ack_us),
        "alerts": g(&c.alerts),
        "alerts_unmatched": g(&c.alerts_unmatched),
        "ping_to_alert_ms": percentiles(samples.alert_us),
        "http": {
            "batches": g(&c.http_batches),
            "pings": g(&c.http_pings),
            "accepted": g(&c.http_accepted),
            "duplicate": g(&c.http_duplicate),
            "dropped": g(&c.http_dropped),
            "late": g(&c.http_late),
            "status_429": g(&c.http_429),
            "failures": g(&c.http_failures),
        },
        "accepted_total": g(&c.accepted) + g(&c.http_accepted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds() {
        let v = percentiles((1..=100).map(|i| i * 1000).collect());
        assert_eq!(v["n"], 100);
        assert_eq!(v["p50"], 51.0);
        assert_eq!(v["p99"], 99.0);
        assert_eq!(v["max"], 100.0);
        assert_eq!(percentiles(Vec::new())["n"], 0);
    }
}
