//! What a rep's day is planned from, read in one place: the rep's shift, break and start/end,
//! the day's appointments, the accounts due a visit, prospects, opening hours and today's
//! visits. Times become seconds since the day's local midnight here.

use crate::db::Bind;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset as _, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::routing::solver::Window;
use crate::spatial::LonLat;

use super::model::{Candidate, DaySettings, Hours, StopKind};

/// Accounts due a visit offered to one day's plan at most (the most pressing first).
pub const MAX_DUE: usize = 60;
/// Prospects looked at for one day (the most valuable first).
pub const MAX_PROSPECTS: usize = 20;
/// An account counts as due from this overdue ratio on.
const DUE_FROM: f64 = 1.0;
/// A prospect is not offered again within this many days of a visit.
const PROSPECT_REST_DAYS: f64 = 14.0;

/// A rep's day, read from the database.
#[derive(Debug, Clone)]
pub struct RepDayInputs {
    pub rep_id: Uuid,
    pub rep_name: String,
    pub day: NaiveDate,
    pub active: bool,
    pub workday: bool,
    pub settings: DaySettings,
    pub midnight: DateTime<FixedOffset>,
    /// Seconds since local midnight now (negative before the day, past 86,400 after it).
    pub now_s: i64,
    pub appointments: Vec<Candidate>,
    pub due: Vec<Candidate>,
    pub prospects: Vec<Candidate>,
    /// Accounts visited on the day, latest first, with when and where the account is.
    pub visited: Vec<Visited>,
}

#[derive(sqlx::FromRow)]
struct RepRow {
    name: String,
    active: bool,
    workday: bool,
    shift_start_s: i64,
    shift_end_s: i64,
    break_minutes: i64,
    break_earliest_s: i64,
    break_latest_s: i64,
    start_lon: Option<f64>,
    start_lat: Option<f64>,
    end_lon: Option<f64>,
    end_lat: Option<f64>,
    midnight: DateTime<Utc>,
    utc_offset_s: i32,
    now_s: i64,
    team_id: Option<Uuid>,
    timezone: String,
}

/// An account visited on the day.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Visited {
    pub account_id: Uuid,
    pub visited_at: DateTime<Utc>,
    lon: Option<f64>,
    lat: Option<f64>,
}

impl Visited {
    pub fn location(&self) -> Option<LonLat> {
        point(self.lon, self.lat)
    }
}

#[derive(sqlx::FromRow)]
struct AppointmentRow {
    appointment_id: Uuid,
    account_id: Uuid,
    name: String,
    lon: Option<f64>,
    lat: Option<f64>,
    priority: i16,
    annual_value: f64,
    earliest_s: i64,
    window_end_s: i64,
    service_s: i64,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    account_id: Uuid,
    name: String,
    lon: Option<f64>,
    lat: Option<f64>,
    priority: i16,
    annual_value: f64,
    service_s: i64,
    overdue: f64,
    days_since_visit: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct HoursRow {
    account_id: Uuid,
    open_today: bool,
    opens_s: Vec<i64>,
    closes_s: Vec<i64>,
}

fn point(lon: Option<f64>, lat: Option<f64>) -> Option<LonLat> {
    LonLat::new(lon?, lat?).ok()
}

/// Reads a rep's day; `None` when there is no such rep.
pub async fn rep_day(
    db: &PgPool,
    rep_id: Uuid,
    day: NaiveDate,
) -> Result<Option<RepDayInputs>, sqlx::Error> {
    let Some(rep) = sqlx::query_as::<_, RepRow>(include_str!("sql/inputs_rep_day.sql"))
        .bind_all((rep_id, day))
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    let timezone = rep.timezone.clone();
    let offset = FixedOffset::east_opt(rep.utc_offset_s).unwrap_or(Utc.fix());
    let midnight = rep.midnight.with_timezone(&offset);

    let appointments: Vec<AppointmentRow> =
        sqlx::query_as(include_str!("sql/inputs_appointments.sql"))
            .bind_all((rep_id, day, &timezone))
            .fetch_all(db)
            .await?;
    let visited: Vec<Visited> = sqlx::query_as(include_str!("sql/inputs_visited_today.sql"))
        .bind_all((rep_id, rep.midnight))
        .fetch_all(db)
        .await?;
    let mut skip: Vec<Uuid> = appointments.iter().map(|a| a.account_id).collect();
    skip.extend(visited.iter().map(|v| v.account_id));
    let mut accounts: Vec<AccountRow> = sqlx::query_as(include_str!("sql/inputs_accounts.sql"))
        .bind_all((rep_id, rep.team_id, rep.midnight, &skip))
        .fetch_all(db)
        .await?;

    // Due: most pressing first (priority weight × overdue); prospects: most valuable first
    // among those not due and not seen lately.
    accounts.sort_by(|a, b| {
        pressing(b)
            .total_cmp(&pressing(a))
            .then(a.account_id.cmp(&b.account_id))
    });
    let due_rows: Vec<&AccountRow> = accounts
        .iter()
        .filter(|a| a.overdue >= DUE_FROM)
        .take(MAX_DUE)
        .collect();
    let mut prospect_rows: Vec<&AccountRow> = accounts
        .iter()
        .filter(|a| a.overdue < DUE_FROM && a.location_known() && a.rested())
        .collect();
    prospect_rows.sort_by(|a, b| {
        b.annual_value
            .total_cmp(&a.annual_value)
            .then(a.account_id.cmp(&b.account_id))
    });
    prospect_rows.truncate(MAX_PROSPECTS);

    let ids: Vec<Uuid> = due_rows
        .iter()
        .chain(&prospect_rows)
        .map(|a| a.account_id)
        .collect();
    let weekday = i16::try_from(day.weekday().number_from_monday()).unwrap_or(1);
    let hours: HashMap<Uuid, Hours> =
        sqlx::query_as::<_, HoursRow>(include_str!("sql/inputs_hours.sql"))
            .bind_all((&ids, weekday))
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|h| (h.account_id, hours_of(&h)))
            .collect();
    let hours_for = |id: Uuid| hours.get(&id).cloned().unwrap_or(Hours::Unknown);

    let candidate = |a: &AccountRow, kind: StopKind| Candidate {
        account_id: a.account_id,
        name: a.name.clone(),
        location: point(a.lon, a.lat),
        kind,
        service_s: a.service_s,
        hours: hours_for(a.account_id),
        priority: a.priority,
        annual_value: a.annual_value,
    };
    let due = due_rows
        .iter()
        .map(|a| candidate(a, StopKind::Due { overdue: a.overdue }))
        .collect();
    let prospects = prospect_rows
        .iter()
        .map(|a| candidate(a, StopKind::Prospect))
        .collect();
    let appointments = appointments
        .into_iter()
        .map(|a| Candidate {
            account_id: a.account_id,
            name: a.name,
            location: point(a.lon, a.lat),
            kind: StopKind::Appointment {
                appointment_id: a.appointment_id,
                earliest: a.earliest_s,
                latest: a.window_end_s - a.service_s,
            },
            service_s: a.service_s,
            hours: Hours::Unknown,
            priority: a.priority,
            annual_value: a.annual_value,
        })
        .collect();

    let shift = Window {
        start: rep.shift_start_s,
        end: rep.shift_end_s,
    };
    let break_ = (rep.break_minutes > 0).then(|| {
        (
            Window {
                start: rep.break_earliest_s,
                end: rep.break_latest_s,
            },
            rep.break_minutes * 60,
        )
    });
    Ok(Some(RepDayInputs {
        rep_id,
        rep_name: rep.name,
        day,
        active: rep.active,
        workday: rep.workday,
        settings: DaySettings {
            shift,
            break_,
            start: point(rep.start_lon, rep.start_lat),
            end: point(rep.end_lon, rep.end_lat),
        },
        midnight,
        now_s: rep.now_s,
        appointments,
        due,
        prospects,
        visited,
    }))
}

impl AccountRow {
    fn location_known(&self) -> bool {
        point(self.lon, self.lat).is_some()
    }

    /// Not visited within the prospect rest period.
    fn rested(&self) -> bool {
        self.days_since_visit
            .is_none_or(|d| d >= PROSPECT_REST_DAYS)
    }
}

/// Priority weight (1 → 5, 5 → 1) times how overdue, capped like the prize.
fn pressing(a: &AccountRow) -> f64 {
    f64::from(6 - a.priority.clamp(1, 5)) * a.overdue.min(4.0)
}

fn hours_of(h: &HoursRow) -> Hours {
    if !h.open_today {
        return Hours::Closed;
    }
    Hours::Open(
        h.opens_s
            .iter()
            .zip(&h.closes_s)
            .map(|(&start, &end)| Window { start, end })
            .collect(),
    )
}
