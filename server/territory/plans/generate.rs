//! Generating a plan's assignments: its method over its base plan, or a stability rebalance.

use crate::db::Bind;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::edit::refresh_metrics;
use super::{
    DEFAULT_TOLERANCE, MAX_DRIVE_PAIRS, Method, PLAN_JOB_STATE, PlanStatus, PlanTerritory, Travel,
    get, plan_territories,
};
use crate::audit::{self, AuditEvent};
use crate::routing::{CoordinateRole, OsrmClient, parse_points};
use crate::spatial::{H3Cell, LonLat};
use crate::territory::TerritoryError;
use crate::territory::balance::{self, DriveMinutes, Mode, Options, TerritorySeed, Unit};
use crate::territory::cells;
use crate::territory::rules::{self, Claim};

/// One account of a plan's book, as the SQL gives it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct BookRow {
    account_id: Uuid,
    lon: f64,
    lat: f64,
    workload: f64,
    crm_owner_id: Option<String>,
    current_territory: Option<Uuid>,
}

/// A computed assignment of one account.
#[derive(Debug, Clone)]
struct Assigned {
    territory: usize,
    source: &'static str,
    rule_id: Option<Uuid>,
    reason: String,
}

/// Runs a plan's generation (its method over its base plan) and stores the result. The page
/// runs it as a job (`crate::jobs`), which records failures for the page.
#[tracing::instrument(skip(pool), err)]
pub async fn generate(pool: &PgPool, plan_id: Uuid) -> Result<(), TerritoryError> {
    generate_with(pool, None, plan_id).await
}

/// [`generate`], with the OSRM a drive-time plan asks for its travel times (without one such
/// a plan fails with a message saying so).
#[tracing::instrument(skip(pool, osrm), err)]
pub async fn generate_with(
    pool: &PgPool,
    osrm: Option<&OsrmClient>,
    plan_id: Uuid,
) -> Result<(), TerritoryError> {
    generate_inner(pool, osrm, plan_id, None).await
}

/// Prepares a draft for rebalancing in place (stability from itself; hand moves are kept as
/// fixed) inside the caller's transaction, which then queues the job (`crate::jobs`) that runs
/// [`rebalance`]. Refused for a plan that is not a draft or whose job is queued or running.
pub async fn start_rebalance_in(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    tolerance: Option<f64>,
    user_id: Option<Uuid>,
) -> Result<Uuid, TerritoryError> {
    let tolerance = tolerance.unwrap_or(DEFAULT_TOLERANCE);
    if !(0.005..=0.5).contains(&tolerance) {
        return Err(TerritoryError::Invalid(
            "tolerance must be between 0.005 (0.5%) and 0.5 (50%)".into(),
        ));
    }
    let plan = get(&mut *tx, plan_id)
        .await?
        .ok_or(TerritoryError::NotFound)?;
    // A drive-time plan is measured by road again: refuse now what the job would fail on.
    if plan.params().travel == Travel::DriveTime {
        check_drive_time(&mut *tx, plan_id, plan.team_id).await?;
    }
    let updated = sqlx::query(&format!(
        "update territory_plans set job_progress = 0, job_message = null,
                params = params || jsonb_build_object('tolerance', $2::float8)
         where id = $1 and status = 'draft' and {PLAN_JOB_STATE} not in ('queued', 'running')"
    ))
    .bind_all((plan_id, tolerance))
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(TerritoryError::Conflict(
            if plan.status == PlanStatus::Draft {
                "the plan is already being computed".into()
            } else {
                "only drafts can be rebalanced".into()
            },
        ));
    }
    audit::record(
        &mut *tx,
        AuditEvent::new(user_id, "territory.plan_rebalanced")
            .about("territory_plan", plan_id.to_string())
            .with(json!({"tolerance": tolerance})),
    )
    .await?;
    Ok(plan.team_id)
}

/// The rebalance started by [`start_rebalance_in`] (a drive-time plan asks `osrm` for its
/// drive times again, as in [`generate_with`]).
pub async fn rebalance(
    pool: &PgPool,
    osrm: Option<&OsrmClient>,
    plan_id: Uuid,
) -> Result<(), TerritoryError> {
    generate_inner(pool, osrm, plan_id, Some(plan_id)).await
}

async fn generate_inner(
    pool: &PgPool,
    osrm: Option<&OsrmClient>,
    plan_id: Uuid,
    rebalance_from: Option<Uuid>,
) -> Result<(), TerritoryError> {
    let plan = get(pool, plan_id).await?.ok_or(TerritoryError::NotFound)?;
    let method = if rebalance_from.is_some() {
        Method::Stability
    } else {
        Method::parse(&plan.method).ok_or_else(|| {
            TerritoryError::Internal(anyhow::anyhow!("unknown plan method {}", plan.method))
        })?
    };
    let params = plan.params();
    let base = rebalance_from.or(plan.parent_plan_id);
    let book: Vec<BookRow> = sqlx::query_as(include_str!("../sql/book.sql"))
        .bind_all((plan.team_id, base))
        .fetch_all(pool)
        .await?;
    let territories = plan_territories(pool, plan_id).await?;
    if territories.is_empty() {
        return Err(TerritoryError::Invalid(
            "the team has no reps, so no territories to plan".into(),
        ));
    }
    let index: HashMap<Uuid, usize> = territories
        .iter()
        .enumerate()
        .map(|(i, t)| (t.territory_id, i))
        .collect();
    // Locks and rules fix accounts; on a rebalance, so do hand moves.
    let mut fixed: HashMap<Uuid, Assigned> = HashMap::new();
    if method != Method::Copy && method != Method::Current {
        for claim in rules::claims(pool, plan.team_id, None).await? {
            if let Some(&t) = index.get(&claim.territory_id) {
                fixed.insert(claim.account_id, assigned_by_claim(&claim, t));
            }
        }
    }
    if let Some(from) = rebalance_from {
        let manual: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "select account_id, territory_id, reason from plan_assignments
             where plan_id = $1 and source = 'manual'",
        )
        .bind(from)
        .fetch_all(pool)
        .await?;
        for (account, territory, reason) in manual {
            if let Some(&t) = index.get(&territory) {
                fixed.entry(account).or_insert(Assigned {
                    territory: t,
                    source: "manual",
                    rule_id: None,
                    reason,
                });
            }
        }
    }
    let copied: HashMap<Uuid, (Uuid, String, Option<Uuid>, String)> = if method == Method::Copy {
        sqlx::query_as::<_, (Uuid, Uuid, String, Option<Uuid>, String)>(
            "select account_id, territory_id, source::text, rule_id, reason
             from plan_assignments where plan_id = $1",
        )
        .bind(base)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(a, t, s, r, why)| (a, (t, s, r, why)))
        .collect()
    } else {
        HashMap::new()
    };

    let current: Vec<Option<usize>> = book
        .iter()
        .map(|b| b.current_territory.and_then(|t| index.get(&t).copied()))
        .collect();
    let units: Vec<Unit> = book
        .iter()
        .zip(&current)
        .map(|(b, cur)| Unit {
            lon: b.lon,
            lat: b.lat,
            workload: b.workload,
            fixed: fixed
                .get(&b.account_id)
                .map(|a| u32::try_from(a.territory).unwrap_or(u32::MAX)),
            current: cur.map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
        })
        .collect();

    let progress = Arc::new(AtomicU32::new(0f32.to_bits()));
    let (assignments, cell_list, warnings) = match method {
        Method::Balanced | Method::Stability => {
            let seeds: Vec<TerritorySeed> = territories
                .iter()
                .map(|t| TerritorySeed { home: t.home })
                .collect();
            // A drive-time plan keeps measuring by road when it is rebalanced.
            let drive_minutes = if params.travel == Travel::DriveTime {
                Some(drive_minutes(osrm, &territories, &units).await?)
            } else {
                None
            };
            let options = Options {
                tolerance: params.tolerance,
                mode: if method == Method::Stability {
                    Mode::Stability
                } else {
                    Mode::Fresh
                },
                use_home_bases: params.use_home_bases,
                rng_seed: 0x07e2_2a4e,
                drive_minutes,
                ..Options::default()
            };
            // Aborted when dropped: a job handed back at shutdown drops this future midway.
            let reporter = AbortOnDrop(tokio::spawn(report_progress(
                pool.clone(),
                plan_id,
                Arc::clone(&progress),
            )));
            let job_units = units.clone();
            let job_progress = Arc::clone(&progress);
            let outcome = tokio::task::spawn_blocking(move || {
                balance::balance(&job_units, &seeds, &options, &|p: f32| {
                    job_progress.store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
                })
            })
            .await
            .map_err(|e| TerritoryError::Internal(anyhow::anyhow!("the optimizer panicked: {e}")));
            drop(reporter);
            let outcome = outcome??;
            let assigned: Vec<Assigned> = book
                .iter()
                .zip(&outcome.assignment)
                .zip(&current)
                .map(|((b, &t), cur)| {
                    let t = t as usize;
                    if let Some(f) = fixed.get(&b.account_id) {
                        return f.clone();
                    }
                    let reason = match (method, *cur == Some(t)) {
                        (Method::Stability, true) => "stability rebalance: kept in its territory",
                        (Method::Stability, false) => {
                            "stability rebalance: moved to even out workload"
                        }
                        _ => "balanced plan: compact territory with workload within tolerance",
                    };
                    Assigned {
                        territory: t,
                        source: "optimizer",
                        rule_id: None,
                        reason: reason.into(),
                    }
                })
                .collect();
            let cells: Vec<(H3Cell, usize)> = outcome
                .cells
                .iter()
                .map(|&(c, t)| (c, t as usize))
                .collect();
            (assigned, cells, outcome.warnings)
        }
        Method::Current | Method::Rules | Method::Copy => {
            let assigned = assign_without_optimizer(&book, &current, &fixed, &copied, &index);
            let points: Vec<(f64, f64, f64, usize)> = book
                .iter()
                .zip(&assigned)
                .map(|(b, a)| (b.lon, b.lat, b.workload, a.territory))
                .collect();
            (assigned, cells::majority_cells(&points), Vec::new())
        }
    };

    let mut tx = pool.begin().await?;
    save_assignments(&mut tx, plan_id, &book, &assignments, &territories).await?;
    cells::save(&mut tx, plan_id, &cell_list, &territories_ids(&territories)).await?;
    cells::rebuild_shapes(&mut tx, plan_id, None).await?;
    let message = (!warnings.is_empty()).then(|| warnings.join("; "));
    sqlx::query("update territory_plans set job_message = $2, job_progress = 1 where id = $1")
        .bind_all((plan_id, message))
        .execute(&mut *tx)
        .await?;
    refresh_metrics(&mut tx, plan_id).await?;
    tx.commit().await?;
    Ok(())
}

fn territories_ids(territories: &[PlanTerritory]) -> Vec<Uuid> {
    territories.iter().map(|t| t.territory_id).collect()
}

fn assigned_by_claim(claim: &Claim, territory: usize) -> Assigned {
    Assigned {
        territory,
        source: if claim.rule_id.is_some() {
            "rule"
        } else {
            "lock"
        },
        rule_id: claim.rule_id,
        reason: claim.reason.clone(),
    }
}

/// Today's territories (or a copied plan's), with rules and locks on top; accounts that
/// belong nowhere go to the territory whose accounts' centre is nearest.
fn assign_without_optimizer(
    book: &[BookRow],
    current: &[Option<usize>],
    fixed: &HashMap<Uuid, Assigned>,
    copied: &HashMap<Uuid, (Uuid, String, Option<Uuid>, String)>,
    index: &HashMap<Uuid, usize>,
) -> Vec<Assigned> {
    let mut assigned: Vec<Option<Assigned>> = book
        .iter()
        .zip(current)
        .map(|(b, cur)| {
            if let Some(f) = fixed.get(&b.account_id) {
                return Some(f.clone());
            }
            if let Some((t, source, rule, reason)) = copied.get(&b.account_id)
                && let Some(&t) = index.get(t)
            {
                return Some(Assigned {
                    territory: t,
                    source: source_static(source),
                    rule_id: *rule,
                    reason: reason.clone(),
                });
            }
            cur.map(|t| Assigned {
                territory: t,
                source: "current",
                rule_id: None,
                reason: "today's territory".into(),
            })
        })
        .collect();
    // Centres of what is assigned, for the rest.
    let k = index.len();
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); k];
    for (b, a) in book.iter().zip(&assigned) {
        if let Some(a) = a {
            let s = &mut sums[a.territory];
            s.0 += b.lon;
            s.1 += b.lat;
            s.2 += 1;
        }
    }
    for (b, a) in book.iter().zip(assigned.iter_mut()) {
        if a.is_none() {
            let nearest = sums
                .iter()
                .enumerate()
                .filter(|(_, s)| s.2 > 0)
                .min_by(|(_, x), (_, y)| {
                    let dx = (x.0 / x.2 as f64 - b.lon).hypot(x.1 / x.2 as f64 - b.lat);
                    let dy = (y.0 / y.2 as f64 - b.lon).hypot(y.1 / y.2 as f64 - b.lat);
                    dx.total_cmp(&dy)
                })
                .map_or(0, |(i, _)| i);
            *a = Some(Assigned {
                territory: nearest,
                source: "current",
                rule_id: None,
                reason: "no territory or owner yet: the nearest territory".into(),
            });
        }
    }
    assigned.into_iter().flatten().collect()
}

fn source_static(source: &str) -> &'static str {
    match source {
        "rule" => "rule",
        "lock" => "lock",
        "optimizer" => "optimizer",
        "manual" => "manual",
        "arrival" => "arrival",
        _ => "current",
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn report_progress(pool: PgPool, plan_id: Uuid, progress: Arc<AtomicU32>) {
    let mut last = -1.0f32;
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let p = f32::from_bits(progress.load(Ordering::Relaxed));
        if (p - last).abs() >= 0.01 {
            last = p;
            let _ = sqlx::query("update territory_plans set job_progress = $2 where id = $1")
                .bind_all((plan_id, p))
                .execute(&pool)
                .await;
        }
    }
}

async fn save_assignments(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
    book: &[BookRow],
    assigned: &[Assigned],
    territories: &[PlanTerritory],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from plan_assignments where plan_id = $1")
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
    let accounts: Vec<Uuid> = book.iter().map(|b| b.account_id).collect();
    let terr: Vec<Uuid> = assigned
        .iter()
        .map(|a| territories[a.territory].territory_id)
        .collect();
    let sources: Vec<&str> = assigned.iter().map(|a| a.source).collect();
    let rules: Vec<Option<Uuid>> = assigned.iter().map(|a| a.rule_id).collect();
    let reasons: Vec<&str> = assigned.iter().map(|a| a.reason.as_str()).collect();
    let owners: Vec<Option<&str>> = book.iter().map(|b| b.crm_owner_id.as_deref()).collect();
    let workloads: Vec<f64> = book.iter().map(|b| b.workload).collect();
    sqlx::query(
        "insert into plan_assignments (plan_id, account_id, territory_id, source, rule_id, reason,
                                       crm_owner_at_plan, workload)
         select $1, a, t, s::assignment_source, r, left(why, 500), o, w
         from unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[],
                     $8::float8[]) as x(a, t, s, r, why, o, w)",
    )
    .bind_all((
        plan_id, &accounts, &terr, &sources, &rules, &reasons, &owners, &workloads,
    ))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// [`drive_time_limits`] for the plan's territories and its team's book.
pub(super) async fn check_drive_time(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    team_id: Uuid,
) -> Result<(), TerritoryError> {
    let (with_home, accounts): (i64, i64) = sqlx::query_as(
        "select (select count(*) from plan_territories pt join reps r on r.id = pt.rep_id
                 where pt.plan_id = $1 and r.home_base is not null),
                (select count(*) from territory_team_book($2))",
    )
    .bind_all((plan_id, team_id))
    .fetch_one(db)
    .await?;
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    drive_time_limits(count(with_home), count(accounts))
}

/// Whether a drive-time plan can be made for `accounts` accounts from `with_home` home bases:
/// at least one home base, at most [`MAX_DRIVE_PAIRS`] pairs. Checked when the plan is
/// created (a 400) and again by its job (homes and accounts may change in between).
fn drive_time_limits(with_home: usize, accounts: usize) -> Result<(), TerritoryError> {
    if with_home == 0 {
        return Err(TerritoryError::Invalid(
            "no rep of the team has a home base, so there is nothing to measure drive times from"
                .into(),
        ));
    }
    if with_home.saturating_mul(accounts) > MAX_DRIVE_PAIRS {
        return Err(TerritoryError::Invalid(format!(
            "{with_home} home bases × {accounts} accounts is more than {MAX_DRIVE_PAIRS} drive \
             times; plan this team with straight-line distances"
        )));
    }
    Ok(())
}

/// Drive minutes from each territory's home base to each account, from OSRM (unroutable
/// pairs estimated from straight-line distance; territories without a home base NaN).
async fn drive_minutes(
    osrm: Option<&OsrmClient>,
    territories: &[PlanTerritory],
    units: &[Unit],
) -> Result<DriveMinutes, TerritoryError> {
    let osrm = osrm.ok_or_else(|| {
        TerritoryError::Invalid("drive-time plans need OSRM, which this run does not have".into())
    })?;
    let homes: Vec<Option<LonLat>> = territories.iter().map(|t| t.home).collect();
    drive_time_limits(homes.iter().flatten().count(), units.len())?;
    let osrm_failed = |e| TerritoryError::Internal(anyhow::anyhow!("drive times from OSRM: {e}"));
    let pairs: Vec<(f64, f64)> = units.iter().map(|u| (u.lon, u.lat)).collect();
    let points = parse_points(CoordinateRole::Destination, &pairs).map_err(osrm_failed)?;
    let times = crate::territory::travel::home_drive_minutes(osrm, &homes, &points)
        .await
        .map_err(osrm_failed)?;
    Ok(DriveMinutes {
        units: units.len(),
        minutes: times.territory_major_minutes(),
    })
}
