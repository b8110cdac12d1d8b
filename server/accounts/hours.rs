//! Opening hours of accounts (`account_opening_hours`): several windows per weekday, read
//! from a CSV column or OSM's `opening_hours` tag in the common subset of its syntax
//! (`Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00; Su off`, `24/7`). Day plans read them to
//! visit accounts only while they are open.

use crate::db::Bind;
use chrono::NaiveTime;
use sqlx::PgConnection;
use thiserror::Error;
use uuid::Uuid;

/// One opening interval on an ISO weekday (1 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Opening {
    pub weekday: i16,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// Where the hours came from; the database enum `opening_hours_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "opening_hours_source", rename_all = "lowercase")]
pub enum HoursSource {
    Crm,
    Csv,
    Osm,
    Manual,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HoursError {
    #[error("opening hours: unknown day {0:?} (use Mo, Tu, We, Th, Fr, Sa, Su)")]
    Day(String),
    #[error("opening hours: {0:?} is not a time span like 09:00-12:30")]
    Span(String),
    #[error("opening hours: a rule needs days and times, like \"Mo-Fr 09:00-17:00\": {0:?}")]
    Rule(String),
}

const DAYS: [&str; 7] = ["mo", "tu", "we", "th", "fr", "sa", "su"];

fn day(s: &str) -> Result<i16, HoursError> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s.trim()))
        .map(|i| i as i16 + 1)
        .ok_or_else(|| HoursError::Day(s.trim().to_owned()))
}

/// `Mo-Fr`, `Mo,We,Fr`, `Sa`: the weekdays, wrapping (`Fr-Mo`).
fn days(selector: &str) -> Result<Vec<i16>, HoursError> {
    let mut out = Vec::new();
    for part in selector.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = d % 7 + 1;
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

fn clock(s: &str) -> Option<NaiveTime> {
    if s == "24:00" {
        return NaiveTime::from_hms_opt(23, 59, 59);
    }
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// `09:00-12:00,14:00-18:00`; a span that ends past midnight is cut at midnight.
fn spans(text: &str) -> Result<Vec<(NaiveTime, NaiveTime)>, HoursError> {
    text.split(',')
        .map(|span| {
            let bad = || HoursError::Span(span.trim().to_owned());
            let (a, b) = span.trim().split_once('-').ok_or_else(bad)?;
            let (opens, closes) = (
                clock(a.trim()).ok_or_else(bad)?,
                clock(b.trim()).ok_or_else(bad)?,
            );
            let closes = if closes <= opens {
                NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(bad)?
            } else {
                closes
            };
            Ok((opens, closes))
        })
        .collect()
}

/// Parses opening hours; a later rule for a day replaces an earlier one (as in OSM).
pub fn parse(text: &str) -> Result<Vec<Opening>, HoursError> {
    let text = text.trim();
    let midnight = NaiveTime::MIN;
    let last = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(midnight);
    if text == "24/7" {
        return Ok((1..=7)
            .map(|weekday| Opening {
                weekday,
                opens: midnight,
                closes: last,
            })
            .collect());
    }
    let mut by_day: [Option<Vec<(NaiveTime, NaiveTime)>>; 7] = Default::default();
    for rule in text.split(';').map(str::trim).filter(|r| !r.is_empty()) {
        // A rule of times alone (`10:00-23:30`) holds every day.
        let (selector, times) = if rule.starts_with(|c: char| c.is_ascii_digit()) {
            ("Mo-Su", rule)
        } else {
            rule.split_once(' ')
                .ok_or_else(|| HoursError::Rule(rule.to_owned()))?
        };
        let times = times.trim();
        let spans = if times.eq_ignore_ascii_case("off") || times.eq_ignore_ascii_case("closed") {
            Vec::new()
        } else {
            spans(times)?
        };
        for d in days(selector)? {
            by_day[(d - 1) as usize] = Some(spans.clone());
        }
    }
    let mut out: Vec<Opening> = by_day
        .iter()
        .enumerate()
        .flat_map(|(i, spans)| {
            spans.iter().flatten().map(move |&(opens, closes)| Opening {
                weekday: i as i16 + 1,
                opens,
                closes,
            })
        })
        .collect();
    out.sort();
    out.dedup_by(|b, a| a.weekday == b.weekday && a.opens == b.opens);
    Ok(out)
}

/// Replaces an account's opening hours (none: hours unknown).
pub async fn replace(
    tx: &mut PgConnection,
    account_id: Uuid,
    hours: &[Opening],
    source: HoursSource,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from account_opening_hours where account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    let weekdays: Vec<i16> = hours.iter().map(|h| h.weekday).collect();
    let opens: Vec<NaiveTime> = hours.iter().map(|h| h.opens).collect();
    let closes: Vec<NaiveTime> = hours.iter().map(|h| h.closes).collect();
    sqlx::query(
        "insert into account_opening_hours (account_id, weekday, opens, closes, source)
         select $1, w, o, c, $5 from unnest($2::int2[], $3::time[], $4::time[]) as t (w, o, c)",
    )
    .bind_all((account_id, &weekdays, &opens, &closes, source))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").expect("time")
    }

    #[test]
    fn osm_style_rules_become_windows_per_weekday() {
        let hours = parse("Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00; Su off").expect("valid");
        assert_eq!(hours.len(), 11);
        assert_eq!(
            hours[0],
            Opening {
                weekday: 1,
                opens: t("09:00"),
                closes: t("12:00")
            }
        );
        assert_eq!(
            hours[1],
            Opening {
                weekday: 1,
                opens: t("14:00"),
                closes: t("18:00")
            }
        );
        assert!(hours.iter().all(|h| h.weekday != 7), "closed on Sundays");
        // A later rule replaces an earlier one for its days.
        let hours = parse("Mo-Sa 08:00-19:00; We 08:00-12:00").expect("valid");
        assert_eq!(hours.iter().filter(|h| h.weekday == 3).count(), 1);
        assert_eq!(
            hours.iter().find(|h| h.weekday == 3).map(|h| h.closes),
            Some(t("12:00"))
        );
        // Times alone hold every day; a later rule closes Mondays.
        let hours = parse("08:00-23:30; Su 08:00-15:30; Mo off").expect("valid");
        assert_eq!(hours.len(), 6);
        assert!(hours.iter().all(|h| h.weekday != 1));
        // Wrapping ranges and 24/7.
        assert_eq!(parse("Fr-Mo 10:00-14:00").expect("valid").len(), 4);
        assert_eq!(parse("24/7").expect("valid").len(), 7);
    }

    #[test]
    fn what_it_cannot_read_is_an_error_not_a_guess() {
        assert!(matches!(parse("Mo-Fr"), Err(HoursError::Rule(_))));
        assert!(matches!(parse("Xy 09:00-12:00"), Err(HoursError::Day(_))));
        assert!(matches!(parse("Mo 9h-12h"), Err(HoursError::Span(_))));
        assert!(matches!(
            parse("Mo-Fr sunrise-sunset"),
            Err(HoursError::Span(_))
        ));
    }
}
