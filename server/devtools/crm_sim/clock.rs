//! The simulator's modification clock (strictly increasing milliseconds) and the vendors'
//! timestamp formats.

use chrono::{DateTime, Utc};

/// Hands out modification times that strictly increase, even for several edits within one
/// millisecond or when the wall clock steps back, so "modified after" comparisons are exact.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    last_ms: i64,
}

impl Clock {
    /// The next modification time: `now_ms`, or one past the previous time if that is later.
    pub fn tick(&mut self, now_ms: i64) -> i64 {
        let next = now_ms.max(self.last_ms.saturating_add(1));
        self.last_ms = next;
        next
    }
}

/// Wall-clock time, Unix milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn datetime(at_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at_ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// HubSpot's form, e.g. `2026-11-24T10:00:00.000Z`.
pub fn hubspot_time(at_ms: i64) -> String {
    datetime(at_ms).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Salesforce REST's form, e.g. `2026-11-24T10:00:00.000+0000`.
pub fn salesforce_time(at_ms: i64) -> String {
    datetime(at_ms)
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// Salesforce SOAP's `xsd:dateTime` form, e.g. `2026-11-24T10:00:00.000Z`.
pub fn soap_time(at_ms: i64) -> String {
    hubspot_time(at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_strictly_increases_within_a_millisecond_and_across_steps_back() {
        let mut clock = Clock::default();
        let a = clock.tick(1_000);
        let b = clock.tick(1_000);
        let c = clock.tick(999);
        let d = clock.tick(5_000);
        assert_eq!([a, b, c, d], [1_000, 1_001, 1_002, 5_000]);
    }

    #[test]
    fn timestamps_use_each_vendors_format() {
        let at_ms = 1_795_514_400_123; // 2026-11-24T10:00:00.123Z
        assert_eq!(hubspot_time(at_ms), "2026-11-24T10:00:00.123Z");
        assert_eq!(salesforce_time(at_ms), "2026-11-24T10:00:00.123+0000");
    }
}
