//! A rep's day settings: the shift, the break (minutes taken wholly inside a window) and the
//! chosen start and end of the day (none: the home base). Checked and written here; the day
//! planner reads them (`dayplan::inputs`).

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Bind;
use crate::spatial::LonLat;

/// The longest break, in minutes (the `reps.break_minutes` check).
pub const MAX_BREAK_MINUTES: i16 = 240;

/// A rep's shift, break and start/end points, in the rep's local time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepDaySettings {
    /// When the shift starts, `HH:MM`.
    #[serde(with = "clock")]
    #[schema(value_type = String, example = "08:30")]
    pub work_start: NaiveTime,
    /// When the shift ends, `HH:MM`, later than `work_start`.
    #[serde(with = "clock")]
    #[schema(value_type = String, example = "17:30")]
    pub work_end: NaiveTime,
    /// Minutes of break, 0 (no break) to 240, taken wholly between `break_earliest` and
    /// `break_latest`.
    #[schema(minimum = 0, maximum = 240)]
    pub break_minutes: i16,
    #[serde(with = "clock")]
    #[schema(value_type = String, example = "12:00")]
    pub break_earliest: NaiveTime,
    #[serde(with = "clock")]
    #[schema(value_type = String, example = "14:00")]
    pub break_latest: NaiveTime,
    /// `[lon, lat]` where the day starts; `null`: the home base.
    #[serde(default)]
    #[schema(value_type = Option<[f64]>)]
    pub day_start: Option<LonLat>,
    /// `[lon, lat]` where the day ends; `null`: the home base.
    #[serde(default)]
    #[schema(value_type = Option<[f64]>)]
    pub day_end: Option<LonLat>,
}

/// Why day settings were refused, in a sentence for the user.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum DaySettingsError {
    #[error("work_end must be later than work_start")]
    ShiftOrder,
    #[error("break_minutes must be a whole number from 0 to 240")]
    BreakMinutes,
    #[error("break_latest must be later than break_earliest")]
    BreakWindowOrder,
    #[error("the break is longer than its window (break_earliest to break_latest)")]
    BreakLongerThanWindow,
    #[error(
        "the break must fit in the shift: its window overlaps the shift by less than break_minutes"
    )]
    BreakOutsideShift,
}

/// Checks a break on its own: minutes in range, the window in order and long enough.
pub fn check_break(
    minutes: i16,
    earliest: NaiveTime,
    latest: NaiveTime,
) -> Result<(), DaySettingsError> {
    if !(0..=MAX_BREAK_MINUTES).contains(&minutes) {
        return Err(DaySettingsError::BreakMinutes);
    }
    if earliest >= latest {
        return Err(DaySettingsError::BreakWindowOrder);
    }
    if (latest - earliest).num_minutes() < i64::from(minutes) {
        return Err(DaySettingsError::BreakLongerThanWindow);
    }
    Ok(())
}

impl RepDaySettings {
    /// The rules: the shift in order, the break valid on its own and, when there is one, room
    /// for it where its window and the shift overlap. A window reaching past the shift is
    /// allowed (the part outside is never used).
    pub fn check(&self) -> Result<(), DaySettingsError> {
        if self.work_start >= self.work_end {
            return Err(DaySettingsError::ShiftOrder);
        }
        check_break(self.break_minutes, self.break_earliest, self.break_latest)?;
        let from = self.break_earliest.max(self.work_start);
        let to = self.break_latest.min(self.work_end);
        if self.break_minutes > 0
            && (to <= from || (to - from).num_minutes() < i64::from(self.break_minutes))
        {
            return Err(DaySettingsError::BreakOutsideShift);
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    work_start: NaiveTime,
    work_end: NaiveTime,
    break_minutes: i16,
    break_earliest: NaiveTime,
    break_latest: NaiveTime,
    start_lon: Option<f64>,
    start_lat: Option<f64>,
    end_lon: Option<f64>,
    end_lat: Option<f64>,
}

fn point(lon: Option<f64>, lat: Option<f64>) -> Option<LonLat> {
    LonLat::new(lon?, lat?).ok()
}

/// A rep's day settings; `None` when there is no such rep.
pub async fn get(
    db: impl PgExecutor<'_>,
    rep_id: Uuid,
) -> Result<Option<RepDaySettings>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(include_str!("sql/day_settings_get.sql"))
        .bind(rep_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| RepDaySettings {
        work_start: r.work_start,
        work_end: r.work_end,
        break_minutes: r.break_minutes,
        break_earliest: r.break_earliest,
        break_latest: r.break_latest,
        day_start: point(r.start_lon, r.start_lat),
        day_end: point(r.end_lon, r.end_lat),
    }))
}

/// Stores a rep's day settings (checked by the caller with [`RepDaySettings::check`]):
/// `Some(true)` changed, `Some(false)` already so, `None` no such rep.
pub async fn set(
    db: &mut PgConnection,
    rep_id: Uuid,
    s: &RepDaySettings,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(include_str!("sql/day_settings_set.sql"))
        .bind_all((
            rep_id,
            s.work_start,
            s.work_end,
            s.break_minutes,
            s.break_earliest,
            s.break_latest,
            s.day_start.map(LonLat::lon),
            s.day_start.map(LonLat::lat),
            s.day_end.map(LonLat::lon),
            s.day_end.map(LonLat::lat),
        ))
        .fetch_optional(db)
        .await
}

/// `HH:MM` on the wire (seconds accepted on input).
mod clock {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "the signature serde's `with` calls"
    )]
    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(|_| serde::de::Error::custom("times must be HH:MM, such as 08:30"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").expect("time")
    }

    fn settings() -> RepDaySettings {
        RepDaySettings {
            work_start: t("08:30"),
            work_end: t("17:30"),
            break_minutes: 30,
            break_earliest: t("12:00"),
            break_latest: t("14:00"),
            day_start: None,
            day_end: None,
        }
    }

    #[test]
    fn settings_are_checked_shift_then_break() {
        assert_eq!(settings().check(), Ok(()));
        let cases = [
            (
                RepDaySettings {
                    work_end: t("08:30"),
                    ..settings()
                },
                DaySettingsError::ShiftOrder,
            ),
            (
                RepDaySettings {
                    break_minutes: 241,
                    ..settings()
                },
                DaySettingsError::BreakMinutes,
            ),
            (
                RepDaySettings {
                    break_minutes: -1,
                    ..settings()
                },
                DaySettingsError::BreakMinutes,
            ),
            (
                RepDaySettings {
                    break_latest: t("12:00"),
                    ..settings()
                },
                DaySettingsError::BreakWindowOrder,
            ),
            (
                RepDaySettings {
                    break_minutes: 121,
                    ..settings()
                },
                DaySettingsError::BreakLongerThanWindow,
            ),
            (
                RepDaySettings {
                    work_end: t("12:15"),
                    ..settings()
                },
                DaySettingsError::BreakOutsideShift,
            ),
            (
                RepDaySettings {
                    work_start: t("14:30"),
                    ..settings()
                },
                DaySettingsError::BreakOutsideShift,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(s.check(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn a_window_past_the_shift_or_no_break_is_allowed() {
        let partly_outside = RepDaySettings {
            work_end: t("12:30"),
            ..settings()
        };
        assert_eq!(partly_outside.check(), Ok(()));
        let no_break = RepDaySettings {
            break_minutes: 0,
            work_start: t("15:00"),
            ..settings()
        };
        assert_eq!(no_break.check(), Ok(()));
    }

    #[test]
    fn times_travel_as_hh_mm() {
        let json = serde_json::to_value(settings()).expect("json");
        assert_eq!(json["work_start"], "08:30");
        assert_eq!(json["day_start"], serde_json::Value::Null);
        let back: RepDaySettings = serde_json::from_value(json).expect("back");
        assert_eq!(back, settings());
        let bad = serde_json::json!({"work_start": "8h", "work_end": "17:00", "break_minutes": 0,
            "break_earliest": "12:00", "break_latest": "13:00"});
        assert!(serde_json::from_value::<RepDaySettings>(bad).is_err());
    }
}
