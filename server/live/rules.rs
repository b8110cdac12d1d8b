//! Each team's proximity rules (`proximity_rules`; a team without a row uses the defaults):
//! read for the reps whose pings may alert, shown and changed by the team's manager.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::db::Bind;

/// When an account near a rep is worth an alert (`docs/live.md`, "Alerts").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
#[schema(as = ProximityRules)]
pub struct Rules {
    /// How near, in metres (150 to 2000; default 300).
    #[schema(minimum = 150, maximum = 2000)]
    pub radius_m: i32,
    /// Accounts of this priority or higher (1 is the highest; default 3).
    #[schema(minimum = 1, maximum = 5)]
    pub max_priority: i16,
    /// Accounts worth at least this a year (default 0: any).
    #[schema(minimum = 0)]
    pub min_annual_value: f64,
    /// Not when a visit that counts was logged within this many days (0 to 365; default 14).
    #[schema(minimum = 0, maximum = 365)]
    pub visited_within_days: i32,
    /// The rep must still be near after this many seconds (0 to 600; default 30) ...
    #[schema(minimum = 0, maximum = 600)]
    pub dwell_s: i32,
    /// ... or on this many pings in a row (1 to 10; default 2), whichever comes first.
    #[schema(minimum = 1, maximum = 10)]
    pub dwell_pings: i32,
    /// The same account does not alert the same rep again for this long (1 to 43200
    /// minutes; default 240).
    #[schema(minimum = 1, maximum = 43200)]
    pub cooldown_minutes: i32,
    /// At most this many alerts per rep per hour (1 to 60; default 4).
    #[schema(minimum = 1, maximum = 60)]
    pub max_per_hour: i32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            radius_m: 300,
            max_priority: 3,
            min_annual_value: 0.0,
            visited_within_days: 14,
            dwell_s: 30,
            dwell_pings: 2,
            cooldown_minutes: 240,
            max_per_hour: 4,
        }
    }
}

/// Why rules were refused, in a sentence for the manager.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum RulesError {
    #[error("radius_m must be from 150 to 2000 metres")]
    Radius,
    #[error("max_priority must be from 1 to 5")]
    Priority,
    #[error("min_annual_value must be a number from 0 up")]
    Value,
    #[error("visited_within_days must be from 0 to 365")]
    Visited,
    #[error("dwell_s must be from 0 to 600 and dwell_pings from 1 to 10")]
    Dwell,
    #[error("cooldown_minutes must be from 1 to 43200")]
    Cooldown,
    #[error("max_per_hour must be from 1 to 60")]
    PerHour,
}

impl Rules {
    /// Checks every value against its range (the table's checks, said in words).
    pub fn check(&self) -> Result<(), RulesError> {
        if !(150..=2000).contains(&self.radius_m) {
            return Err(RulesError::Radius);
        }
        if !(1..=5).contains(&self.max_priority) {
            return Err(RulesError::Priority);
        }
        if !(self.min_annual_value.is_finite() && (0.0..1e12).contains(&self.min_annual_value)) {
            return Err(RulesError::Value);
        }
        if !(0..=365).contains(&self.visited_within_days) {
            return Err(RulesError::Visited);
        }
        if !(0..=600).contains(&self.dwell_s) || !(1..=10).contains(&self.dwell_pings) {
            return Err(RulesError::Dwell);
        }
        if !(1..=43_200).contains(&self.cooldown_minutes) {
            return Err(RulesError::Cooldown);
        }
        if !(1..=60).contains(&self.max_per_hour) {
            return Err(RulesError::PerHour);
        }
        Ok(())
    }
}

/// A rep's team (none: not in a team) and the rules that apply to them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepRules {
    pub team: Option<Uuid>,
    pub rules: Rules,
}

#[derive(sqlx::FromRow)]
struct RepRulesRow {
    rep_id: Uuid,
    team_id: Option<Uuid>,
    rules: Option<sqlx::types::Json<Rules>>,
}

/// The team and rules of each of `reps` (the defaults for a team without its own, and for a
/// rep in no team).
pub async fn for_reps(db: &PgPool, reps: &[Uuid]) -> Result<HashMap<Uuid, RepRules>, sqlx::Error> {
    if reps.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<RepRulesRow> = sqlx::query_as(include_str!("sql/rules_for_reps.sql"))
        .bind(reps)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.rep_id,
                RepRules {
                    team: r.team_id,
                    rules: r.rules.map(|j| j.0).unwrap_or_default(),
                },
            )
        })
        .collect())
}

/// The team's rules (the defaults when it has none of its own).
pub async fn get(db: impl PgExecutor<'_>, team: Uuid) -> Result<Rules, sqlx::Error> {
    let row: Option<Rules> = sqlx::query_as(include_str!("sql/rules_get.sql"))
        .bind(team)
        .fetch_optional(db)
        .await?;
    Ok(row.unwrap_or_default())
}

/// Sets the team's rules (checked first), audited (`proximity_rules.update`) in the same
/// transaction.
pub async fn set(
    db: &PgPool,
    actor: Uuid,
    team: Uuid,
    rules: &Rules,
) -> Result<Result<Rules, RulesError>, sqlx::Error> {
    if let Err(e) = rules.check() {
        return Ok(Err(e));
    }
    let mut tx = db.begin().await?;
    sqlx::query(include_str!("sql/rules_set.sql"))
        .bind_all((
            team,
            rules.radius_m,
            rules.max_priority,
            rules.min_annual_value,
            rules.visited_within_days,
            rules.dwell_s,
            rules.dwell_pings,
            rules.cooldown_minutes,
            rules.max_per_hour,
            actor,
        ))
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new(Some(actor), "proximity_rules.update")
        .about("team", team.to_string())
        .with(serde_json::to_value(rules).unwrap_or_default());
    audit::commit_with(tx, event).await?;
    Ok(Ok(*rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_each_range_is_checked() {
        assert_eq!(Rules::default().check(), Ok(()));
        let with = |f: fn(&mut Rules)| {
            let mut r = Rules::default();
            f(&mut r);
            r.check()
        };
        assert_eq!(with(|r| r.radius_m = 149), Err(RulesError::Radius));
        assert_eq!(with(|r| r.max_priority = 0), Err(RulesError::Priority));
        assert_eq!(
            with(|r| r.min_annual_value = f64::NAN),
            Err(RulesError::Value)
        );
        assert_eq!(
            with(|r| r.visited_within_days = -1),
            Err(RulesError::Visited)
        );
        assert_eq!(with(|r| r.dwell_pings = 0), Err(RulesError::Dwell));
        assert_eq!(with(|r| r.cooldown_minutes = 0), Err(RulesError::Cooldown));
        assert_eq!(with(|r| r.max_per_hour = 61), Err(RulesError::PerHour));
    }
}
