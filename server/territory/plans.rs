//! Plans: drafts beside the published plan, made from today's owners, the rules, the
//! optimizer or a stability rebalance; edited by hand; compared; published atomically with the
//! CRM owner changes queued in the same transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::balance::{self, DriveMinutes, Mode, Options, TerritorySeed, Unit};
use super::cells;
use super::metrics::{self, PlanMetrics};
use super::rules::{self, Claim};
use super::{TerritoryError, teams};
use crate::audit::{self, AuditEvent};
use crate::crm::writeback::{self, OwnerChange};
use crate::routing::OsrmClient;

/// Default workload tolerance: every territory within ±5% of the mean.
pub const DEFAULT_TOLERANCE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Today's territories and owners.
    Current,
    /// Rules and locks, then today's territories.
    Rules,
    /// Rules and locks, then the optimizer from scratch.
    Balanced,
    /// Rules and locks, then the optimizer starting from a plan, moving as little as possible.
    Stability,
    /// A copy of another plan.
    Copy,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Rules => "rules",
            Self::Balanced => "balanced",
            Self::Stability => "stability",
            Self::Copy => "copy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "current" => Self::Current,
            "rules" => Self::Rules,
            "balanced" => Self::Balanced,
            "stability" => Self::Stability,
            "copy" => Self::Copy,
            _ => return None,
        })
    }
}

/// How the optimizer measures how far an account is from a rep's home base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Travel {
    /// Straight-line distance.
    #[default]
    StraightLine,
    /// Drive time by road from each rep's home base (OSRM); balanced plans with home bases
    /// only.
    DriveTime,
}

/// Most (home base, account) pairs a drive-time plan asks OSRM for.
pub const MAX_DRIVE_PAIRS: usize = 5_000_000;

/// What a manager asks for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub name: String,
    pub method: Method,
    pub from_plan_id: Option<Uuid>,
    pub tolerance: Option<f64>,
    #[serde(default)]
    pub use_home_bases: bool,
    #[serde(default)]
    pub travel: Travel,
}

/// Plan parameters kept with the plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Params {
    pub tolerance: f64,
    #[serde(default)]
    pub use_home_bases: bool,
    #[serde(default)]
    pub travel: Travel,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub status: String,
    pub method: String,
    pub parent_plan_id: Option<Uuid>,
    pub params: sqlx::types::Json<Value>,
    pub job_state: String,
    pub job_progress: f32,
    pub job_message: Option<String>,
    pub metrics: Option<sqlx::types::Json<Value>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PlanRow {
    /// The parameters kept with the plan (the defaults for a row that holds none).
    pub fn params(&self) -> Params {
        serde_json::from_value(self.params.0.clone()).unwrap_or(Params {
            tolerance: DEFAULT_TOLERANCE,
            use_home_bases: false,
            travel: Travel::StraightLine,
        })
    }
}

/// A plan's job state as the page shows it, from its newest job (`server/jobs/`): `idle` when
/// it has none or the job is done, else the job's `queued`, `running` or `failed`.
pub const PLAN_JOB_STATE: &str = "coalesce((select case j.state when 'done' then 'idle' \
     else j.state::text end from jobs j where j.plan_id = territory_plans.id \
     order by j.id desc limit 1), 'idle')";

/// The job's sentence when it failed, else the plan's own note (warnings of its last run).
const PLAN_JOB_MESSAGE: &str = "coalesce((select j.message from jobs j \
     where j.plan_id = territory_plans.id order by j.id desc limit 1), job_message)";

static PLAN_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "id, team_id, name, status::text as status, method, parent_plan_id, params, \
         {PLAN_JOB_STATE} as job_state, job_progress, {PLAN_JOB_MESSAGE} as job_message, \
         metrics, created_at, published_at"
    )
});

pub async fn get(db: impl PgExecutor<'_>, plan_id: Uuid) -> Result<Option<PlanRow>, sqlx::Error> {
    sqlx::query_as::<_, PlanRow>(&format!(
        "select {} from territory_plans where id = $1",
        *PLAN_COLUMNS
    ))
    .bind(plan_id)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, team_id: Uuid) -> Result<Vec<PlanRow>, sqlx::Error> {
    sqlx::query_as::<_, PlanRow>(&format!(
        "select {} from territory_plans where team_id = $1
         order by (status = 'published') desc, created_at desc",
        *PLAN_COLUMNS
    ))
    .bind(team_id)
    .fetch_all(db)
    .await
}

pub async fn published(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from territory_plans where team_id = $1 and status = 'published'")
        .bind(team_id)
        .fetch_optional(db)
        .await
}

/// Creates a draft; the caller runs [`generate`] next (inline in tests and commands; the page
/// queues a job with `crate::jobs::start_plan`, which calls [`create_in`]).
pub async fn create(
    pool: &PgPool,
    team_id: Uuid,
    user_id: Option<Uuid>,
    input: &NewPlan,
) -> Result<Uuid, TerritoryError> {
    let mut tx = pool.begin().await?;
    let plan_id = create_in(&mut tx, team_id, user_id, input).await?;
    tx.commit().await?;
    Ok(plan_id)
}

/// [`create`] inside the caller's transaction (so a job can be queued with the draft, or
/// neither).
pub async fn create_in(
    tx: &mut sqlx::PgConnection,
    team_id: Uuid,
    user_id: Option<Uuid>,
    input: &NewPlan,
) -> Result<Uuid, TerritoryError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(TerritoryError::Invalid(
            "a plan needs a name of 1 to 200 characters".into(),
        ));
    }
    let tolerance = input.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    if !(0.005..=0.5).contains(&tolerance) {
        return Err(TerritoryError::Invalid(
            "tolerance must be between 0.005 (0.5%) and 0.5 (50%)".into(),
        ));
    }
    teams::ensure_territories(&mut *tx, team_id).await?;
    let base = match input.from_plan_id {
        Some(id) => {
            let plan = get(&mut *tx, id).await?.ok_or(TerritoryError::NotFound)?;
            if plan.team_id != team_id {
                return Err(TerritoryError::Invalid(
                    "from_plan_id is another team's plan".into(),
                ));
            }
            Some(id)
        }
        None => published(&mut *tx, team_id).await?,
    };
    if input.method == Method::Copy && input.from_plan_id.is_none() && base.is_none() {
        return Err(TerritoryError::Invalid(
            "copy needs from_plan_id (the team has no published plan)".into(),
        ));
    }
    if input.travel == Travel::DriveTime
        && (input.method != Method::Balanced || !input.use_home_bases)
    {
        return Err(TerritoryError::Invalid(
            "travel \"drive_time\" needs method \"balanced\" with use_home_bases: drive times \
             are measured from the reps' home bases"
                .into(),
        ));
    }
    let params = Params {
        tolerance,
        use_home_bases: input.use_home_bases,
        travel: input.travel,
    };
    let plan_id: Uuid = sqlx::query_scalar(
        "insert into territory_plans (team_id, name, method, parent_plan_id, params, created_by)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(team_id)
    .bind(name)
    .bind(input.method.as_str())
    .bind(base)
    .bind(sqlx::types::Json(&params))
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    // The base plan's territories and reps, else the team's.
    sqlx::query(
        "insert into plan_territories (plan_id, territory_id, rep_id)
         select $1, pt.territory_id, pt.rep_id from plan_territories pt
         join territories t on t.id = pt.territory_id and t.team_id = $2
         where pt.plan_id = $3
         union all
         select $1, t.id, t.rep_id from territories t
         where t.team_id = $2
           and not exists (select 1 from plan_territories pt
                           where pt.plan_id = $3 and pt.territory_id = t.id)",
    )
    .bind(plan_id)
    .bind(team_id)
    .bind(base)
    .execute(&mut *tx)
    .await?;
    if input.travel == Travel::DriveTime {
        // What the job would find out only after the 202: refused here instead.
        check_drive_time(&mut *tx, plan_id, team_id).await?;
    }
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.plan_created",
            subject_type: Some("territory_plan"),
            subject_id: Some(plan_id.to_string()),
            details: json!({"team_id": team_id, "method": input.method.as_str(), "base": base}),
        },
    )
    .await?;
    Ok(plan_id)
}

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
    .bind(plan_id)
    .bind(tolerance)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(TerritoryError::Conflict(if plan.status != "draft" {
            "only drafts can be rebalanced".into()
        } else {
            "the plan is already being computed".into()
        }));
    }
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.plan_rebalanced",
            subject_type: Some("territory_plan"),
            subject_id: Some(plan_id.to_string()),
            details: json!({"tolerance": tolerance}),
        },
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
    let book: Vec<BookRow> = sqlx::query_as(include_str!("sql/book.sql"))
        .bind(plan.team_id)
        .bind(base)
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
                rng_seed: 0x7e22a4e,
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
            let cells: Vec<(u64, usize)> = outcome
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
        .bind(plan_id)
        .bind(message)
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
                .bind(plan_id)
                .bind(p)
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
    .bind(plan_id)
    .bind(&accounts)
    .bind(&terr)
    .bind(&sources)
    .bind(&rules)
    .bind(&reasons)
    .bind(&owners)
    .bind(&workloads)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// [`drive_time_limits`] for the plan's territories and its team's book.
async fn check_drive_time(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    team_id: Uuid,
) -> Result<(), TerritoryError> {
    let (with_home, accounts): (i64, i64) = sqlx::query_as(
        "select (select count(*) from plan_territories pt join reps r on r.id = pt.rep_id
                 where pt.plan_id = $1 and r.home_base is not null),
                (select count(*) from territory_team_book($2))",
    )
    .bind(plan_id)
    .bind(team_id)
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
    let homes: Vec<Option<(f64, f64)>> = territories.iter().map(|t| t.home).collect();
    drive_time_limits(homes.iter().flatten().count(), units.len())?;
    let points: Vec<(f64, f64)> = units.iter().map(|u| (u.lon, u.lat)).collect();
    let times = super::travel::home_drive_minutes(osrm, &homes, &points)
        .await
        .map_err(|e| TerritoryError::Internal(anyhow::anyhow!("drive times from OSRM: {e}")))?;
    Ok(DriveMinutes {
        units: units.len(),
        minutes: times.territory_major_minutes(),
    })
}

/// A territory of a plan with its rep.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTerritory {
    pub territory_id: Uuid,
    pub name: String,
    pub color: String,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub rep_crm_owner_id: Option<String>,
    #[serde(skip)]
    pub home: Option<(f64, f64)>,
}

pub async fn plan_territories(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<PlanTerritory>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        name: String,
        color: String,
        rep_id: Option<Uuid>,
        rep_name: Option<String>,
        rep_crm_owner_id: Option<String>,
        lon: Option<f64>,
        lat: Option<f64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select t.id, t.name, t.color, pt.rep_id, r.name as rep_name,
                r.crm_owner_id as rep_crm_owner_id,
                st_x(r.home_base) as lon, st_y(r.home_base) as lat
         from plan_territories pt
         join territories t on t.id = pt.territory_id
         left join reps r on r.id = pt.rep_id
         where pt.plan_id = $1
         order by t.name, t.id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PlanTerritory {
            territory_id: r.id,
            name: r.name,
            color: r.color,
            rep_id: r.rep_id,
            rep_name: r.rep_name,
            rep_crm_owner_id: r.rep_crm_owner_id,
            home: r.lon.zip(r.lat),
        })
        .collect())
}

/// Per-territory figures of a plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TerritoryFigures {
    pub id: Uuid,
    pub name: String,
    pub color: String,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub accounts: i64,
    pub workload: f64,
    pub value: f64,
}

pub async fn territory_figures(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<TerritoryFigures>, sqlx::Error> {
    sqlx::query_as::<_, TerritoryFigures>(
        "select t.id, t.name, t.color, pt.rep_id, r.name as rep_name,
                count(pa.account_id) as accounts,
                coalesce(sum(pa.workload), 0)::float8 as workload,
                coalesce(sum(a.annual_value), 0)::float8 as value
         from plan_territories pt
         join territories t on t.id = pt.territory_id
         left join reps r on r.id = pt.rep_id
         left join plan_assignments pa
                on pa.plan_id = pt.plan_id and pa.territory_id = pt.territory_id
         left join accounts a on a.id = pa.account_id
         where pt.plan_id = $1
         group by t.id, t.name, t.color, pt.rep_id, r.name
         order by t.name, t.id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await
}

/// Recomputes and stores a plan's metrics (after generation and after every hand move).
pub async fn refresh_metrics(
    tx: &mut sqlx::PgConnection,
    plan_id: Uuid,
) -> Result<Value, TerritoryError> {
    let rows: Vec<(f64, f64, f64, f64, Uuid, Option<Uuid>)> = sqlx::query_as(
        "select st_x(a.location), st_y(a.location), pa.workload, a.annual_value::float8,
                pa.territory_id, pub.territory_id
         from plan_assignments pa
         join accounts a on a.id = pa.account_id
         join territory_plans p on p.id = pa.plan_id
         left join territory_plans pp on pp.team_id = p.team_id and pp.status = 'published'
         left join plan_assignments pub on pub.plan_id = pp.id and pub.account_id = pa.account_id
         where pa.plan_id = $1 and a.location is not null",
    )
    .bind(plan_id)
    .fetch_all(&mut *tx)
    .await?;
    let territories = plan_territories(&mut *tx, plan_id).await?;
    let index: HashMap<Uuid, usize> = territories
        .iter()
        .enumerate()
        .map(|(i, t)| (t.territory_id, i))
        .collect();
    let mut units = Vec::with_capacity(rows.len());
    let mut assignment = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    let mut moved_value = 0.0;
    let mut moved = 0u64;
    for (lon, lat, workload, value, territory, published) in &rows {
        let t = index.get(territory).copied().unwrap_or(0);
        let p = published.and_then(|p| index.get(&p).copied());
        units.push(Unit {
            lon: *lon,
            lat: *lat,
            workload: *workload,
            fixed: None,
            current: p.map(|p| u32::try_from(p).unwrap_or(u32::MAX)),
        });
        assignment.push(u32::try_from(t).unwrap_or(u32::MAX));
        values.push(*value);
        if published.is_some_and(|p| p != *territory) {
            moved += 1;
            moved_value += value;
        }
    }
    let m: PlanMetrics = metrics::compute(&units, &assignment, territories.len(), Some(&values));
    let mut value = serde_json::to_value(&m).map_err(|e| TerritoryError::Internal(e.into()))?;
    if let Value::Object(map) = &mut value {
        // The names the page and the API document.
        map.insert("territories".into(), json!(m.territories.len()));
        map.insert("max_deviation".into(), json!(m.max_workload_deviation));
        map.insert("cv".into(), json!(m.workload_cv));
        map.insert("gini".into(), json!(m.workload_gini));
        map.insert("msd_km2".into(), json!(m.msd_m2 / 1e6));
        map.insert("moved_accounts".into(), json!(moved));
        map.insert("moved_value".into(), json!(moved_value));
    }
    sqlx::query("update territory_plans set metrics = $2 where id = $1")
        .bind(plan_id)
        .bind(&value)
        .execute(&mut *tx)
        .await?;
    Ok(value)
}

/// Moves accounts of a draft to a territory by hand. Locked accounts are refused.
pub async fn move_accounts(
    pool: &PgPool,
    plan_id: Uuid,
    account_ids: &[Uuid],
    territory_id: Uuid,
    user_id: Option<Uuid>,
    user_label: &str,
) -> Result<u64, TerritoryError> {
    if account_ids.is_empty() {
        return Err(TerritoryError::Invalid("no accounts to move".into()));
    }
    if account_ids.len() > 100_000 {
        return Err(TerritoryError::Invalid(
            "at most 100,000 accounts per move".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let plan: Option<(String, String)> = sqlx::query_as(&format!(
        "select status::text, {PLAN_JOB_STATE} from territory_plans where id = $1 for update"
    ))
    .bind(plan_id)
    .fetch_optional(&mut *tx)
    .await?;
    match plan {
        None => return Err(TerritoryError::NotFound),
        Some((status, _)) if status != "draft" => {
            return Err(TerritoryError::Conflict(
                "only drafts can be edited; copy this plan into a draft first".into(),
            ));
        }
        Some((_, job)) if job == "running" || job == "queued" => {
            return Err(TerritoryError::Conflict(
                "the plan is being computed; wait for it to finish".into(),
            ));
        }
        Some(_) => {}
    }
    let in_plan: bool = sqlx::query_scalar(
        "select exists (select 1 from plan_territories where plan_id = $1 and territory_id = $2)",
    )
    .bind(plan_id)
    .bind(territory_id)
    .fetch_one(&mut *tx)
    .await?;
    if !in_plan {
        return Err(TerritoryError::Invalid(
            "territory_id is not a territory of this plan".into(),
        ));
    }
    let locked: Vec<String> = sqlx::query_scalar(
        // Only accounts of this plan: ids sent from elsewhere must not reveal other teams' names.
        "select a.name from territory_locks l join accounts a on a.id = l.account_id
         join plan_assignments pa on pa.account_id = l.account_id and pa.plan_id = $3
         where l.account_id = any($1) and l.territory_id <> $2 order by a.name limit 10",
    )
    .bind(account_ids)
    .bind(territory_id)
    .bind(plan_id)
    .fetch_all(&mut *tx)
    .await?;
    if !locked.is_empty() {
        return Err(TerritoryError::Conflict(format!(
            "locked accounts cannot move: {}",
            locked.join(", ")
        )));
    }
    let moved = sqlx::query(
        "update plan_assignments set territory_id = $3, source = 'manual', rule_id = null,
                reason = left('moved by hand by ' || $4, 500)
         where plan_id = $1 and account_id = any($2) and territory_id <> $3",
    )
    .bind(plan_id)
    .bind(account_ids)
    .bind(territory_id)
    .bind(user_label)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let known: i64 = sqlx::query_scalar(
        "select count(*) from plan_assignments where plan_id = $1 and account_id = any($2)",
    )
    .bind(plan_id)
    .bind(account_ids)
    .fetch_one(&mut *tx)
    .await?;
    if known < i64::try_from(account_ids.len()).unwrap_or(i64::MAX) {
        return Err(TerritoryError::Invalid(
            "some accounts are not in this plan".into(),
        ));
    }
    let touched = cells::follow_moves(&mut tx, plan_id, account_ids).await?;
    if !touched.is_empty() {
        cells::rebuild_shapes(&mut tx, plan_id, Some(&touched)).await?;
    }
    refresh_metrics(&mut tx, plan_id).await?;
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.accounts_moved",
            subject_type: Some("territory_plan"),
            subject_id: Some(plan_id.to_string()),
            details: json!({"territory_id": territory_id, "accounts": account_ids.len(), "moved": moved}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// Deletes a draft.
pub async fn delete(pool: &PgPool, plan_id: Uuid) -> Result<(), TerritoryError> {
    let plan = get(pool, plan_id).await?.ok_or(TerritoryError::NotFound)?;
    if plan.status == "published" {
        return Err(TerritoryError::Conflict(
            "the published plan cannot be deleted; publish another one first".into(),
        ));
    }
    sqlx::query("delete from territory_plans where id = $1")
        .bind(plan_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// One account that changes territory between two plans.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Change {
    pub account_id: Uuid,
    pub name: String,
    pub annual_value: f64,
    pub from_territory_id: Option<Uuid>,
    pub from_name: Option<String>,
    pub from_rep_name: Option<String>,
    pub to_territory_id: Uuid,
    pub to_name: String,
    pub to_rep_name: Option<String>,
}

/// Accounts of `plan_id` in another territory (or absent) in `against`.
pub async fn changes(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
    against: Option<Uuid>,
) -> Result<Vec<Change>, sqlx::Error> {
    sqlx::query_as::<_, Change>(
        "select a.id as account_id, a.name, a.annual_value::float8 as annual_value,
                o.territory_id as from_territory_id, ot.name as from_name, orp.name as from_rep_name,
                n.territory_id as to_territory_id, nt.name as to_name, nrp.name as to_rep_name
         from plan_assignments n
         join accounts a on a.id = n.account_id
         join territories nt on nt.id = n.territory_id
         join plan_territories npt on npt.plan_id = n.plan_id and npt.territory_id = n.territory_id
         left join reps nrp on nrp.id = npt.rep_id
         left join plan_assignments o on o.plan_id = $2 and o.account_id = n.account_id
         left join territories ot on ot.id = o.territory_id
         left join plan_territories opt on opt.plan_id = o.plan_id and opt.territory_id = o.territory_id
         left join reps orp on orp.id = opt.rep_id
         where n.plan_id = $1 and (o.territory_id is null or o.territory_id <> n.territory_id)
         order by a.annual_value desc, a.id",
    )
    .bind(plan_id)
    .bind(against)
    .fetch_all(db)
    .await
}

/// The CRM owner changes publishing `plan_id` would make: accounts whose territory's rep has
/// a CRM owner id other than the account's CRM owner today.
pub async fn owner_changes(
    db: impl PgExecutor<'_>,
    plan_id: Uuid,
) -> Result<Vec<OwnerChange>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, Option<String>, String)> = sqlx::query_as(
        "select a.id, a.crm_source, a.crm_id, pa.crm_owner_at_plan, r.crm_owner_id
         from plan_assignments pa
         join accounts a on a.id = pa.account_id and a.deleted_at is null
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         join reps r on r.id = pt.rep_id and r.crm_owner_id is not null
         where pa.plan_id = $1 and a.crm_owner_id is distinct from r.crm_owner_id
         order by a.crm_source, a.crm_id",
    )
    .bind(plan_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(account_id, crm_source, crm_id, expected_owner, new_owner)| OwnerChange {
                account_id,
                crm_source,
                crm_id,
                expected_owner,
                new_owner,
            },
        )
        .collect())
}

/// What publishing did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Published {
    pub published: Uuid,
    pub superseded: Option<Uuid>,
    pub accounts_moved: u64,
    pub owner_changes: usize,
    pub queued: u64,
    pub skipped: u64,
}

/// Publishes a draft atomically: it becomes the team's plan, the accounts and territories
/// follow it, and the CRM owner changes are queued for write-back, all in one transaction.
pub async fn publish(
    pool: &PgPool,
    plan_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Published, TerritoryError> {
    let mut tx = pool.begin().await?;
    let plan: Option<(Uuid, String, String)> = sqlx::query_as(&format!(
        "select team_id, status::text, {PLAN_JOB_STATE} from territory_plans
             where id = $1 for update"
    ))
    .bind(plan_id)
    .fetch_optional(&mut *tx)
    .await?;
    let team_id = match plan {
        None => return Err(TerritoryError::NotFound),
        Some((_, status, _)) if status != "draft" => {
            return Err(TerritoryError::Conflict(format!(
                "only drafts can be published (this plan is {status}); to go back to an earlier plan, roll back to it"
            )));
        }
        Some((_, _, job)) if job != "idle" => {
            return Err(TerritoryError::Conflict(
                "the plan is being computed or its computation failed".into(),
            ));
        }
        Some((team, _, _)) => team,
    };
    // One publisher per team at a time.
    sqlx::query("select pg_advisory_xact_lock(hashtext('territory-publish'), hashtext($1::text))")
        .bind(team_id)
        .execute(&mut *tx)
        .await?;
    let superseded: Option<Uuid> = sqlx::query_scalar(
        "update territory_plans set status = 'superseded'
         where team_id = $1 and status = 'published' returning id",
    )
    .bind(team_id)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "update territory_plans set status = 'published', published_at = now(), published_by = $2
         where id = $1",
    )
    .bind(plan_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "update territories t set rep_id = pt.rep_id
         from plan_territories pt
         where pt.plan_id = $1 and pt.territory_id = t.id and t.rep_id is distinct from pt.rep_id",
    )
    .bind(plan_id)
    .execute(&mut *tx)
    .await?;
    let changes = owner_changes(&mut *tx, plan_id).await?;
    let accounts_moved = sqlx::query(
        "update accounts a set territory_id = pa.territory_id,
                owner_rep_id = coalesce(pt.rep_id, a.owner_rep_id)
         from plan_assignments pa
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         where pa.plan_id = $1 and a.id = pa.account_id
           and (a.territory_id, a.owner_rep_id) is distinct from
               (pa.territory_id, coalesce(pt.rep_id, a.owner_rep_id))",
    )
    .bind(plan_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let summary = writeback::enqueue(&mut tx, plan_id, &changes).await?;
    refresh_metrics(&mut tx, plan_id).await?;
    audit::record(
        &mut *tx,
        AuditEvent {
            actor_user_id: user_id,
            action: "territory.plan_published",
            subject_type: Some("territory_plan"),
            subject_id: Some(plan_id.to_string()),
            details: json!({
                "team_id": team_id, "superseded": superseded, "accounts_moved": accounts_moved,
                "owner_changes": changes.len(), "queued": summary.queued,
                "skipped": summary.skipped,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Published {
        published: plan_id,
        superseded,
        accounts_moved,
        owner_changes: changes.len(),
        queued: summary.queued,
        skipped: summary.skipped,
    })
}

/// Rolls back to an earlier (superseded) plan: copies it into a new draft, taking today's CRM
/// owners as the expected ones, and publishes that.
pub async fn rollback(
    pool: &PgPool,
    plan_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Published, TerritoryError> {
    let plan = get(pool, plan_id).await?.ok_or(TerritoryError::NotFound)?;
    if plan.status != "superseded" {
        return Err(TerritoryError::Conflict(
            "only a superseded plan can be rolled back to".into(),
        ));
    }
    let copy = create(
        pool,
        plan.team_id,
        user_id,
        &NewPlan {
            name: format!("Rollback to {}", plan.name)
                .chars()
                .take(200)
                .collect(),
            method: Method::Copy,
            from_plan_id: Some(plan_id),
            tolerance: None,
            use_home_bases: false,
            travel: Travel::StraightLine,
        },
    )
    .await?;
    generate(pool, copy).await?;
    publish(pool, copy, user_id).await
}

/// For every team with reps and no published plan yet: makes today's territories (one per rep,
/// accounts with their owners) and publishes them, so arrivals have a plan to go into. Returns
/// the teams' names and plans. Used by `terrane seed`.
pub async fn publish_current_where_missing(
    pool: &PgPool,
) -> Result<Vec<(String, Uuid)>, TerritoryError> {
    let teams: Vec<(Uuid, String)> = sqlx::query_as(
        "select t.id, t.name from teams t
         where exists (select 1 from team_members m where m.team_id = t.id)
           and not exists (select 1 from territory_plans p
                           where p.team_id = t.id and p.status = 'published')
         order by t.name",
    )
    .fetch_all(pool)
    .await?;
    let mut done = Vec::with_capacity(teams.len());
    for (team_id, name) in teams {
        let plan_id = create(
            pool,
            team_id,
            None,
            &NewPlan {
                name: "Today's territories".into(),
                method: Method::Current,
                from_plan_id: None,
                tolerance: None,
                use_home_bases: false,
                travel: Travel::StraightLine,
            },
        )
        .await?;
        generate(pool, plan_id).await?;
        publish(pool, plan_id, None).await?;
        done.push((name, plan_id));
    }
    Ok(done)
}
