//! The ping envelope as devices send it (`docs/live.md`), and its parse into a [`Ping`]: every
//! value checked at the edge, each refusal a stable reason the device can act on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::spatial::LonLat;

/// Largest plausible accuracy radius, in metres (a phone without a fix reports more).
pub const MAX_ACCURACY_M: f64 = 5000.0;
/// Fastest plausible ground speed, in m/s (324 km/h).
pub const MAX_SPEED_MPS: f64 = 90.0;

/// One location report as the device sends it. Values are checked one by one
/// ([`RawPing::parse`]), so one bad ping is refused with its reason and the rest go on.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[schema(as = LivePingEnvelope)]
pub struct RawPing {
    /// The device's id for this ping (a UUID); sending it again is answered `duplicate`.
    pub event_id: String,
    /// The device's own id (an install id), 1 to 64 characters of `[A-Za-z0-9._-]`.
    pub device_id: String,
    /// When the position was taken (RFC 3339).
    pub recorded_at: String,
    pub lon: f64,
    pub lat: f64,
    /// Radius of the 68% confidence circle, metres.
    pub accuracy_m: f64,
    /// Ground speed, m/s, when the device knows it.
    #[serde(default)]
    pub speed_mps: Option<f64>,
    /// Direction of travel, degrees clockwise from north in [0, 360), when known.
    #[serde(default)]
    pub heading_deg: Option<f64>,
    /// `precise`, `coarse` or `off`.
    pub tier: String,
}

/// What the rep chose to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The position as measured.
    Precise,
    /// Snapped to a geohash cell before anything is stored.
    Coarse,
}

impl Tier {
    /// The stored word (`pings.tier`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Precise => "precise",
            Tier::Coarse => "coarse",
        }
    }
}

/// A checked ping; its position is still as measured (privacy is applied by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Ping {
    pub event_id: Uuid,
    pub device_id: String,
    pub recorded_at: DateTime<Utc>,
    pub position: LonLat,
    pub accuracy_m: f64,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
    pub tier: Tier,
}

/// Why a ping was not stored; the words are the API's (`PingResult.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PingDropReason {
    /// The rep's sharing is off: the ping is refused and kept nowhere.
    TierOff,
    /// Not a sharing tier.
    InvalidTier,
    InvalidEventId,
    InvalidDeviceId,
    InvalidTimestamp,
    /// Longitude or latitude out of range.
    InvalidPosition,
    InvalidAccuracy,
    InvalidSpeed,
    InvalidHeading,
    /// Recorded further in the future than the allowed clock skew.
    FutureTimestamp,
    /// Older than the retention period: it would be purged at once.
    Expired,
    /// Recorded outside the rep's shift: nothing is tracked then.
    OutOfShift,
}

impl RawPing {
    /// The ping, or why it is refused. `off` is answered first, before any other value is
    /// looked at, so nothing of an unshared ping is used.
    pub fn parse(&self) -> Result<Ping, PingDropReason> {
        let tier = match self.tier.as_str() {
            "off" => return Err(PingDropReason::TierOff),
            "precise" => Tier::Precise,
            "coarse" => Tier::Coarse,
            _ => return Err(PingDropReason::InvalidTier),
        };
        let event_id =
            Uuid::parse_str(&self.event_id).map_err(|_| PingDropReason::InvalidEventId)?;
        let device_ok = (1..=64).contains(&self.device_id.len())
            && self
                .device_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !device_ok {
            return Err(PingDropReason::InvalidDeviceId);
        }
        let recorded_at = DateTime::parse_from_rfc3339(&self.recorded_at)
            .map_err(|_| PingDropReason::InvalidTimestamp)?
            .with_timezone(&Utc);
        let position =
            LonLat::new(self.lon, self.lat).map_err(|_| PingDropReason::InvalidPosition)?;
        if !(0.0..=MAX_ACCURACY_M).contains(&self.accuracy_m) {
            return Err(PingDropReason::InvalidAccuracy);
        }
        if self
            .speed_mps
            .is_some_and(|s| !(0.0..=MAX_SPEED_MPS).contains(&s))
        {
            return Err(PingDropReason::InvalidSpeed);
        }
        if self.heading_deg.is_some_and(|h| !(0.0..360.0).contains(&h)) {
            return Err(PingDropReason::InvalidHeading);
        }
        Ok(Ping {
            event_id,
            device_id: self.device_id.clone(),
            recorded_at,
            position,
            accuracy_m: self.accuracy_m,
            speed_mps: self.speed_mps,
            heading_deg: self.heading_deg,
            tier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawPing {
        RawPing {
            event_id: "6f1c2a7e-0d1b-4c55-9a8e-2f0d8a1b3c4d".into(),
            device_id: "pixel-7".into(),
            recorded_at: "2026-12-08T09:00:00Z".into(),
            lon: 7.4246,
            lat: 43.7384,
            accuracy_m: 8.5,
            speed_mps: Some(12.0),
            heading_deg: Some(90.0),
            tier: "precise".into(),
        }
    }

    #[test]
    fn a_well_formed_ping_parses() {
        let p = raw().parse().expect("valid");
        assert_eq!(p.tier, Tier::Precise);
        assert_eq!(p.position.lon(), 7.4246);
    }

    #[test]
    fn each_bad_value_has_its_reason() {
        type Spoil = fn(&mut RawPing);
        let cases: [(Spoil, PingDropReason); 10] = [
            (|r| r.tier = "off".into(), PingDropReason::TierOff),
            (|r| r.tier = "exact".into(), PingDropReason::InvalidTier),
            (|r| r.event_id = "42".into(), PingDropReason::InvalidEventId),
            (
                |r| r.device_id = "a b".into(),
                PingDropReason::InvalidDeviceId,
            ),
            (
                |r| r.recorded_at = "yesterday".into(),
                PingDropReason::InvalidTimestamp,
            ),
            (|r| r.lat = 91.0, PingDropReason::InvalidPosition),
            (|r| r.accuracy_m = -1.0, PingDropReason::InvalidAccuracy),
            (|r| r.accuracy_m = 5000.5, PingDropReason::InvalidAccuracy),
            (|r| r.speed_mps = Some(91.0), PingDropReason::InvalidSpeed),
            (
                |r| r.heading_deg = Some(360.0),
                PingDropReason::InvalidHeading,
            ),
        ];
        for (spoil, reason) in cases {
            let mut r = raw();
            spoil(&mut r);
            assert_eq!(r.parse(), Err(reason));
        }
    }

    #[test]
    fn off_is_refused_whatever_else_the_ping_says() {
        let mut r = raw();
        r.tier = "off".into();
        r.lat = f64::NAN;
        assert_eq!(r.parse(), Err(PingDropReason::TierOff));
    }
}
