//! Fault injection on the vendor endpoints: added latency, a per-second rate limit (429 with
//! `Retry-After`), random 500/503 answers, each in the vendor's error shape, and for write-back
//! tests: the next N calls rate limited, writes answered late (after they were applied), and
//! every API call refused with 401. Every vendor call is counted for `/_sim/state`. This file
//! holds the settings, the verdicts and the call log; the layer that applies them is in
//! `middleware`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vendor::Vendor;

/// The knobs, settable by flags and by `POST /_sim/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaultSettings {
    /// Fraction of calls answered 500 or 503.
    pub fail_rate: f64,
    /// Calls per second and vendor before 429; 0 = unlimited.
    pub rate_limit: u32,
    /// Delay added before answering, milliseconds.
    pub latency_ms: u64,
    /// `Retry-After` of 429 answers, seconds.
    #[serde(default = "one_second")]
    pub retry_after_s: u64,
    /// The next this many calls are answered 429 (then it counts down to 0).
    #[serde(default)]
    pub rate_limit_next: u32,
    /// Writes (HubSpot batch update, Salesforce collections update) are applied, then answered
    /// this many milliseconds later: a client with a shorter timeout sees no answer.
    #[serde(default)]
    pub write_delay_ms: u64,
    /// Every API call is refused with 401 (tokens are still issued), as after a revoked app.
    #[serde(default)]
    pub unauthorized: bool,
    /// The org has no Task External ID field `Terrane_Visit_Id__c`: upserts answer 404.
    #[serde(default)]
    pub task_field_missing: bool,
}

fn one_second() -> u64 {
    1
}

impl FaultSettings {
    /// Only the flag-settable knobs; the others start off.
    pub fn new(fail_rate: f64, rate_limit: u32, latency_ms: u64) -> Self {
        Self {
            fail_rate,
            rate_limit,
            latency_ms,
            retry_after_s: 1,
            rate_limit_next: 0,
            write_delay_ms: 0,
            unauthorized: false,
            task_field_missing: false,
        }
    }
}

/// A partial update of the settings.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    pub fail_rate: Option<f64>,
    pub rate_limit: Option<u32>,
    pub latency_ms: Option<u64>,
    pub retry_after_s: Option<u64>,
    pub rate_limit_next: Option<u32>,
    pub write_delay_ms: Option<u64>,
    pub unauthorized: Option<bool>,
    pub task_field_missing: Option<bool>,
}

/// Calls counted in the current one-second window.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    second: i64,
    calls: u32,
}

#[derive(Debug)]
pub struct Faults {
    pub settings: FaultSettings,
    hubspot: Window,
    salesforce: Window,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    RateLimited { retry_after_s: u64 },
    Fail { status: u16 },
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Self {
            settings,
            hubspot: Window::default(),
            salesforce: Window::default(),
        }
    }

    pub fn apply(&mut self, patch: FaultPatch) -> Result<(), String> {
        if let Some(rate) = patch.fail_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err("fail_rate must be between 0 and 1".into());
            }
            self.settings.fail_rate = rate;
        }
        if let Some(limit) = patch.rate_limit {
            self.settings.rate_limit = limit;
        }
        if let Some(latency) = patch.latency_ms {
            self.settings.latency_ms = latency;
        }
        if let Some(seconds) = patch.retry_after_s {
            self.settings.retry_after_s = seconds;
        }
        if let Some(n) = patch.rate_limit_next {
            self.settings.rate_limit_next = n;
        }
        if let Some(delay) = patch.write_delay_ms {
            self.settings.write_delay_ms = delay;
        }
        if let Some(refuse) = patch.unauthorized {
            self.settings.unauthorized = refuse;
        }
        if let Some(missing) = patch.task_field_missing {
            self.settings.task_field_missing = missing;
        }
        Ok(())
    }

    /// Judges one call at `now_ms`; `roll` is uniform in [0, 1) and decides failures.
    pub fn judge(&mut self, vendor: Vendor, now_ms: i64, roll: f64) -> Verdict {
        let limit = self.settings.rate_limit;
        let retry_after_s = self.settings.retry_after_s;
        if self.settings.rate_limit_next > 0 {
            self.settings.rate_limit_next -= 1;
            return Verdict::RateLimited { retry_after_s };
        }
        let window = match vendor {
            Vendor::HubSpot => &mut self.hubspot,
            Vendor::Salesforce => &mut self.salesforce,
        };
        let second = now_ms.div_euclid(1000);
        if window.second != second {
            *window = Window { second, calls: 0 };
        }
        if limit > 0 {
            if window.calls >= limit {
                return Verdict::RateLimited { retry_after_s };
            }
            window.calls += 1;
        }
        let fail_rate = self.settings.fail_rate;
        if roll < fail_rate {
            // The lower half of the failing range answers 500, the upper half 503.
            let status = if roll < fail_rate / 2.0 { 500 } else { 503 };
            return Verdict::Fail { status };
        }
        Verdict::Pass
    }
}

/// Vendor calls received, per vendor and `METHOD /route` (route patterns, not ids).
#[derive(Debug, Default)]
pub struct CallLog {
    hubspot: BTreeMap<String, u64>,
    salesforce: BTreeMap<String, u64>,
}

impl CallLog {
    pub fn count(&mut self, vendor: Vendor, route: &str) {
        let log = match vendor {
            Vendor::HubSpot => &mut self.hubspot,
            Vendor::Salesforce => &mut self.salesforce,
        };
        *log.entry(route.to_owned()).or_default() += 1;
    }

    /// `{hubspot: {"POST /oauth/v1/token": 1, ...}, salesforce: {...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "hubspot": self.hubspot, "salesforce": self.salesforce })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(fail_rate: f64, rate_limit: u32) -> Faults {
        Faults::new(FaultSettings::new(fail_rate, rate_limit, 0))
    }

    #[test]
    fn rate_limit_counts_per_second_and_vendor() {
        let mut f = faults(0.0, 2);
        assert_eq!(f.judge(Vendor::HubSpot, 1_000, 0.5), Verdict::Pass);
        assert_eq!(f.judge(Vendor::HubSpot, 1_500, 0.5), Verdict::Pass);
        assert_eq!(
            f.judge(Vendor::HubSpot, 1_999, 0.5),
            Verdict::RateLimited { retry_after_s: 1 }
        );
        assert_eq!(f.judge(Vendor::Salesforce, 1_999, 0.5), Verdict::Pass);
        assert_eq!(f.judge(Vendor::HubSpot, 2_000, 0.5), Verdict::Pass);
    }

    #[test]
    fn the_next_calls_can_be_rate_limited_with_a_chosen_retry_after() {
        let mut f = faults(0.0, 0);
        f.apply(FaultPatch {
            rate_limit_next: Some(2),
            retry_after_s: Some(30),
            ..FaultPatch::default()
        })
        .expect("valid");
        for _ in 0..2 {
            assert_eq!(
                f.judge(Vendor::Salesforce, 0, 0.5),
                Verdict::RateLimited { retry_after_s: 30 }
            );
        }
        assert_eq!(f.judge(Vendor::Salesforce, 0, 0.5), Verdict::Pass);
        assert_eq!(f.settings.rate_limit_next, 0);
    }

    #[test]
    fn failures_follow_the_roll() {
        let mut f = faults(0.5, 0);
        assert_eq!(
            f.judge(Vendor::HubSpot, 0, 0.1),
            Verdict::Fail { status: 500 }
        );
        assert_eq!(
            f.judge(Vendor::HubSpot, 0, 0.4),
            Verdict::Fail { status: 503 }
        );
        assert_eq!(f.judge(Vendor::HubSpot, 0, 0.6), Verdict::Pass);
        assert!(
            f.apply(FaultPatch {
                fail_rate: Some(2.0),
                ..FaultPatch::default()
            })
            .is_err()
        );
    }
}
