//! Spoofing plausibility: signs that a position was not measured by a moving phone. A flagged
//! ping is stored (the rep's manager sees the counts) but never alerts.

use chrono::{DateTime, Utc};

use super::envelope::{Ping, Tier};
use crate::spatial::LonLat;

/// Implied speed from the previous point above which a ping is flagged, m/s (252 km/h).
pub const MAX_IMPLIED_SPEED_MPS: f64 = 70.0;
/// A too-fast move at least this long is a `teleport` rather than `too_fast`, metres.
pub const TELEPORT_M: f64 = 1000.0;

/// One spoofing sign; the words are stored in `pings.flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Faster than [`MAX_IMPLIED_SPEED_MPS`] from the previous point, over a short move.
    TooFast,
    /// A jump of at least [`TELEPORT_M`] faster than any car.
    Teleport,
    /// An accuracy radius under 1 m (exactly 0 is what mock-location apps send).
    UnrealAccuracy,
    /// Exactly the previous point's coordinates at another time: real fixes jitter.
    RepeatedPosition,
    /// Both coordinates on a 0.001° grid: typed in, not measured.
    RoundCoordinates,
}

impl Flag {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::TooFast => "too_fast",
            Flag::Teleport => "teleport",
            Flag::UnrealAccuracy => "unreal_accuracy",
            Flag::RepeatedPosition => "repeated_position",
            Flag::RoundCoordinates => "round_coordinates",
        }
    }

    /// Every flag, in the order above.
    pub const ALL: [Flag; 5] = [
        Flag::TooFast,
        Flag::Teleport,
        Flag::UnrealAccuracy,
        Flag::RepeatedPosition,
        Flag::RoundCoordinates,
    ];

    /// The flag a stored word names.
    pub fn parse(word: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.as_str() == word)
    }
}

/// The previous precise point of the same rep, as measured and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Previous {
    pub recorded_at: DateTime<Utc>,
    pub position: LonLat,
}

/// The spoofing signs of `ping` (measured, before privacy) after `previous`. Position signs
/// are judged on precise pings only: a coarse one is snapped anyway.
pub fn flags(ping: &Ping, previous: Option<Previous>) -> Vec<Flag> {
    let mut out = Vec::new();
    if ping.accuracy_m < 1.0 {
        out.push(Flag::UnrealAccuracy);
    }
    if ping.tier != Tier::Precise {
        return out;
    }
    if on_grid(ping.position.lon()) && on_grid(ping.position.lat()) {
        out.push(Flag::RoundCoordinates);
    }
    let Some(prev) = previous else {
        return out;
    };
    let distance_m = prev.position.distance_m(ping.position);
    let dt_s = (ping.recorded_at - prev.recorded_at)
        .num_milliseconds()
        .unsigned_abs() as f64
        / 1e3;
    if distance_m == 0.0 && dt_s > 0.0 {
        out.push(Flag::RepeatedPosition);
    }
    // Over less than a second any move of some size is a jump; below 30 m it is GPS noise.
    let implied_mps = if dt_s >= 1.0 {
        distance_m / dt_s
    } else {
        distance_m
    };
    if distance_m > 30.0 && implied_mps > MAX_IMPLIED_SPEED_MPS {
        out.push(if distance_m >= TELEPORT_M {
            Flag::Teleport
        } else {
            Flag::TooFast
        });
    }
    out
}

/// True when `deg` is a whole multiple of 0.001°.
fn on_grid(deg: f64) -> bool {
    let scaled = deg * 1000.0;
    (scaled - scaled.round()).abs() < 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn ping(lon: f64, lat: f64, at_s: i64) -> Ping {
        Ping {
            event_id: Uuid::new_v4(),
            device_id: "d".into(),
            recorded_at: Utc
                .timestamp_opt(1_800_000_000 + at_s, 0)
                .single()
                .expect("valid in tests"),
            position: LonLat::new(lon, lat).expect("valid in tests"),
            accuracy_m: 7.3,
            speed_mps: None,
            heading_deg: None,
            tier: Tier::Precise,
        }
    }

    fn after(p: &Ping) -> Previous {
        Previous {
            recorded_at: p.recorded_at,
            position: p.position,
        }
    }

    #[test]
    fn a_drive_at_road_speed_is_not_flagged() {
        let a = ping(7.42461, 43.73841, 0);
        // About 150 m in 10 s: 54 km/h.
        let b = ping(7.42641, 43.73871, 10);
        assert_eq!(flags(&a, None), vec![]);
        assert_eq!(flags(&b, Some(after(&a))), vec![]);
    }

    #[test]
    fn a_jump_across_the_country_is_a_teleport() {
        let a = ping(7.42461, 43.73841, 0);
        let b = ping(2.35221, 48.85661, 60);
        assert_eq!(flags(&b, Some(after(&a))), vec![Flag::Teleport]);
    }

    #[test]
    fn a_short_move_too_fast_is_too_fast() {
        let a = ping(7.42461, 43.73841, 0);
        let b = ping(7.43261, 43.73841, 5); // ~640 m in 5 s
        assert_eq!(flags(&b, Some(after(&a))), vec![Flag::TooFast]);
    }

    #[test]
    fn phone_impossible_values_are_flagged() {
        let mut a = ping(7.425, 43.738, 0);
        a.accuracy_m = 0.0;
        assert_eq!(
            flags(&a, None),
            vec![Flag::UnrealAccuracy, Flag::RoundCoordinates]
        );
        let b = ping(7.42461, 43.73841, 0);
        let c = ping(7.42461, 43.73841, 30);
        assert_eq!(flags(&c, Some(after(&b))), vec![Flag::RepeatedPosition]);
    }
}
