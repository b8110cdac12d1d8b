//! The access matrix: every route the router declares, every method, against every kind of
//! caller, with real ids of team A in the paths and valid CSRF tokens, so a missing check shows
//! as a 2xx where a 401/403/404 is expected; bodies are checked for the other team's names.

use crate::helpers::{scalar, scalar_by, user_id};
use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::PgPool;
use terrane::accounts::CrmRef;
use terrane::auth::tokens::{self, TokenScope};
use terrane::crm::connection::CrmKind;
use terrane::crm::writeback::{self, OwnerChange};
use terrane::territory::plans::{self, Method, NewPlan, Travel};
use terrane::territory::rules::RuleInput;
use uuid::Uuid;

use crate::helpers::{
    ADMIN, TestApp, cookie_client, csrf_in, demo_dataset, page_html, seed_demo, spawn_app_with,
    team_id,
};

const MANAGER_A: &str = "manager.a@example.com";
const MANAGER_B: &str = "manager.b@example.com";

/// The columns of the matrix, in the order callers are tried on each route.
const CALLERS: [&str; 8] = [
    "anonymous",
    "rep A",
    "rep B",
    "manager B",
    "token accounts:read",
    "token territories:read",
    "manager A",
    "admin",
];

/// What a request carries.
#[derive(Clone, Copy)]
enum Body {
    None,
    /// A JSON body (a template: `{name}` placeholders are replaced).
    Json(&'static str),
    /// Form fields (templates); session callers add their `csrf` field.
    Form(&'static [(&'static str, &'static str)]),
    /// A `multipart/form-data` upload of these parts, plus the caller's `csrf` part.
    Multipart(&'static [(&'static str, &'static str)]),
}

/// One row: method and route as the router declares them, the concrete path (a template),
/// the body, and the status each caller gets, in the order of [`CALLERS`].
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Body,
    expected: [u16; 8],
}

const fn row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Body,
    expected: [u16; 8],
) -> Row {
    Row {
        method,
        route,
        path,
        body,
        expected,
    }
}

/// A caller: a browser session (with its CSRF token) or an API token.
struct Caller {
    label: &'static str,
    email: Option<&'static str>,
    client: reqwest::Client,
    csrf: Option<String>,
    bearer: Option<String>,
    /// Strings this caller must never read: names and ids of what is not theirs.
    secrets: Vec<String>,
}

/// The ids the matrix puts in paths and bodies.
struct Fixture {
    team_a: Uuid,
    plan_a: Uuid,
    plan_b: Uuid,
    /// A draft of team A that stays one (the cross-team moves row).
    draft_a: Uuid,
    account_a: Uuid,
    territory_a: Uuid,
    territory_a2: Uuid,
    team_b: Uuid,
    territory_b: Uuid,
    rule_a: Uuid,
    rule_b: Uuid,
    outbox_a: i64,
    outbox_b: i64,
    connection: String,
    victim_user: Uuid,
    victim_token: Uuid,
    rep_a: Uuid,
}

fn rep_a() -> &'static str {
    &demo_dataset().reps[0].email
}
fn rep_b() -> &'static str {
    &demo_dataset().reps[demo_dataset().reps.len() - 1].email
}

/// The first account (by CRM id) the user's rep owns: (id, name).
async fn account_of(pool: &PgPool, email: &str) -> (Uuid, String) {
    sqlx::query_as(
        "select a.id, a.name from accounts a join users u on u.rep_id = a.owner_rep_id
         where u.email = $1 and a.deleted_at is null order by a.crm_id limit 1",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("an account of the rep")
}

async fn new_plan(pool: &PgPool, team: Uuid, name: &str, generate: bool) -> Uuid {
    let id = plans::create(
        pool,
        team,
        None,
        &NewPlan {
            name: name.to_owned(),
            method: Method::Current,
            from_plan_id: None,
            tolerance: None,
            use_home_bases: false,
            travel: Travel::StraightLine,
        },
    )
    .await
    .expect("plan created");
    if generate {
        plans::generate(pool, id).await.expect("plan generated");
    }
    id
}

async fn new_rule(pool: &PgPool, team: Uuid, territory: Uuid) -> Uuid {
    let input: RuleInput = serde_json::from_value(serde_json::json!({
        "kind": "postal_code", "territory_id": territory, "name": "Monaco",
        "country_code": "MC", "postal_codes": ["98000"]
    }))
    .expect("rule input");
    let mut conn = pool.acquire().await.expect("conn");
    terrane::territory::rules::create(&mut conn, team, &input.validate().expect("valid"), None)
        .await
        .expect("rule stored")
        .id
}

/// The CRM source (connection name) of an account.
async fn source_of(pool: &PgPool, account: Uuid) -> String {
    scalar_by(
        pool,
        "select crm_source from accounts where id = $1",
        account,
    )
    .await
}

/// Queues an owner change of `account` under `plan` (its connection made if need be): the row.
async fn queue_owner_change(pool: &PgPool, plan: Uuid, account: Uuid) -> i64 {
    let source = source_of(pool, account).await;
    let known: bool = scalar_by(
        pool,
        "select exists (select 1 from crm_connections where name = $1)",
        &source,
    )
    .await;
    if !known {
        crate::crm_sync::add_connection(
            pool,
            &source,
            CrmKind::HubSpot,
            crate::crm_sync::HUBSPOT_SECRET,
            Some("http://127.0.0.1:9".into()),
        )
        .await;
    }
    let crm_id: String =
        scalar_by(pool, "select crm_id from accounts where id = $1", account).await;
    let mut tx = pool.begin().await.expect("tx");
    writeback::enqueue(
        &mut tx,
        plan,
        &[OwnerChange {
            account_id: account,
            crm: CrmRef::new(source, crm_id),
            expected_owner: None,
            new_owner: "owner-9".into(),
        }],
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
    scalar_by(pool, "select id from crm_outbox where plan_id = $1", plan).await
}

impl Fixture {
    async fn new(pool: &PgPool) -> (Self, Vec<String>, Vec<String>) {
        let team_a = team_id(pool, "Team A").await;
        let team_b = team_id(pool, "Team B").await;
        let plan_a = new_plan(pool, team_a, "Matrix plan of team A", true).await;
        let plan_b = new_plan(pool, team_b, "Matrix plan of team B", false).await;
        let draft_a = new_plan(pool, team_a, "Matrix draft of team A", true).await;
        let (account_a, account_a_name) = account_of(pool, rep_a()).await;
        let (account_b, account_b_name) = account_of(pool, rep_b()).await;
        let territories: Vec<Uuid> = sqlx::query_scalar(
            "select t.id from territories t join team_members m on m.rep_id = t.rep_id
             where m.team_id = $1 order by (t.rep_id = (select rep_id from users where email = $2)) desc, t.name",
        )
        .bind(team_a)
        .bind(rep_a())
        .fetch_all(pool)
        .await
        .expect("territories of team A");
        let rule_a = new_rule(pool, team_a, territories[0]).await;
        let territory_b: Uuid = scalar_by(
            pool,
            "select t.id from territories t join team_members m on m.rep_id = t.rep_id
             where m.team_id = $1 order by t.name limit 1",
            team_b,
        )
        .await;
        let rule_b = new_rule(pool, team_b, territory_b).await;
        let connection = source_of(pool, account_a).await;
        let outbox_a = queue_owner_change(pool, plan_a, account_a).await;
        let outbox_b = queue_owner_change(pool, plan_b, account_b).await;
        let victim_user: Uuid = scalar(pool, "insert into users (email, name, role) values ('victim@example.com', 'Victim', 'manager')
             returning id").await;
        let admin = user_id(pool, ADMIN).await;
        let (victim_token, _) =
            tokens::create(pool, admin, "victim", &[TokenScope::AccountsRead], None)
                .await
                .expect("token");
        let secrets_a = vec![
            plan_a.to_string(),
            "Matrix plan of team A".to_owned(),
            account_a_name,
        ];
        let secrets_b = vec![
            plan_b.to_string(),
            "Matrix plan of team B".to_owned(),
            account_b_name,
        ];
        (
            Self {
                team_a,
                plan_a,
                plan_b,
                draft_a,
                account_a,
                territory_a: territories[0],
                territory_a2: territories[1],
                team_b,
                territory_b,
                rule_a,
                rule_b,
                outbox_a,
                outbox_b,
                connection,
                victim_user,
                victim_token,
                rep_a: scalar_by(pool, "select rep_id from users where email = $1", rep_a()).await,
            },
            secrets_a,
            secrets_b,
        )
    }

    /// `template` with its placeholders replaced; `{doomed_plan}` and `{doomed_rule}` are made
    /// fresh for each request (they are deleted by those who may), and the outbox row is failed
    /// again so each caller may retry it.
    async fn fill(&self, pool: &PgPool, template: &str) -> String {
        let mut s = template
            .replace("{team_a}", &self.team_a.to_string())
            .replace("{plan_a}", &self.plan_a.to_string())
            .replace("{plan_b}", &self.plan_b.to_string())
            .replace("{draft_a}", &self.draft_a.to_string())
            .replace("{account_a}", &self.account_a.to_string())
            .replace("{territory_a}", &self.territory_a.to_string())
            .replace("{territory_a2}", &self.territory_a2.to_string())
            .replace("{rule_a}", &self.rule_a.to_string())
            .replace("{team_b}", &self.team_b.to_string())
            .replace("{territory_b}", &self.territory_b.to_string())
            .replace("{rule_b}", &self.rule_b.to_string())
            .replace("{outbox_a}", &self.outbox_a.to_string())
            .replace("{outbox_b}", &self.outbox_b.to_string())
            .replace("{connection}", &self.connection)
            .replace("{victim_user}", &self.victim_user.to_string())
            .replace("{victim_token}", &self.victim_token.to_string());
        if s.contains("{doomed_plan}") {
            let plan = new_plan(pool, self.team_a, "doomed", false).await;
            s = s.replace("{doomed_plan}", &plan.to_string());
        }
        s = s.replace("{rep_a}", &self.rep_a.to_string());
        if s.contains("{doomed_appointment}") {
            let id: Uuid = sqlx::query_scalar(
                "insert into appointments (rep_id, account_id, window_start, window_end,
                                           duration_minutes, source)
                 values ($1, $2, '2026-12-08T08:00:00Z', '2026-12-08T16:00:00Z', 30, 'api')
                 returning id",
            )
            .bind(self.rep_a)
            .bind(self.account_a)
            .fetch_one(pool)
            .await
            .expect("an appointment of rep A");
            s = s.replace("{doomed_appointment}", &id.to_string());
        }
        if s.contains("{fresh_alert}") {
            let id: Uuid = sqlx::query_scalar(
                "insert into proximity_alerts (rep_id, account_id, ping_event_id, distance_m)
                 values ($1, $2, gen_random_uuid(), 120) returning id",
            )
            .bind(self.rep_a)
            .bind(self.account_a)
            .fetch_one(pool)
            .await
            .expect("an alert of rep A");
            s = s.replace("{fresh_alert}", &id.to_string());
        }
        if s.contains("{doomed_rule}") {
            let rule = new_rule(pool, self.team_a, self.territory_a).await;
            s = s.replace("{doomed_rule}", &rule.to_string());
        }
        if template.contains("{outbox_") {
            sqlx::query(
                "update crm_outbox set status = 'failed', last_error = 'HTTP 500'
                 where id = any($1)",
            )
            .bind(vec![self.outbox_a, self.outbox_b])
            .execute(pool)
            .await
            .expect("failed again");
        }
        s
    }
}

/// A session's CSRF token, from a page it may read.
async fn csrf_of(app: &TestApp, client: &reqwest::Client, signed_in: bool) -> String {
    csrf_in(&page_html(client, app, if signed_in { "/" } else { "/login" }).await)
}

async fn session_caller(app: &TestApp, label: &'static str, email: Option<&'static str>) -> Caller {
    let client = match email {
        Some(e) => app.client_as(e).await,
        None => cookie_client(),
    };
    let csrf = csrf_of(app, &client, email.is_some()).await;
    Caller {
        label,
        email,
        client,
        csrf: Some(csrf),
        bearer: None,
        secrets: Vec::new(),
    }
}

async fn token_caller(app: &TestApp, label: &'static str, scope: TokenScope) -> Caller {
    let admin = user_id(&app.state.db, ADMIN).await;
    let (_, token) = tokens::create(&app.state.db, admin, label, &[scope], None)
        .await
        .expect("token");
    Caller {
        label,
        email: None,
        client: cookie_client(),
        csrf: None,
        bearer: Some(token),
        secrets: Vec::new(),
    }
}

/// Sends `row` as `caller`: (status, body, the path as sent).
async fn send(app: &TestApp, fx: &Fixture, caller: &Caller, row: &Row) -> (u16, String, String) {
    let pool = &app.state.db;
    let path = fx.fill(pool, row.path).await;
    let method = reqwest::Method::from_bytes(row.method.to_uppercase().as_bytes()).expect("method");
    let mut req = caller.client.request(method, app.url(&path));
    if let Some(token) = &caller.bearer {
        req = req.bearer_auth(token);
    }
    if let Some(csrf) = caller.csrf.as_ref().filter(|_| row.method != "get") {
        req = req.header("x-csrf-token", csrf);
    }
    match row.body {
        Body::None => {}
        Body::Json(template) => {
            let json: Value =
                serde_json::from_str(&fx.fill(pool, template).await).expect("JSON template");
            req = req.json(&json);
        }
        Body::Form(fields) => {
            let mut form = Vec::new();
            for (k, v) in fields {
                let v = fx.fill(pool, v).await;
                let v = if v == "{self}" {
                    caller.email.unwrap_or(rep_a()).to_owned()
                } else {
                    v
                };
                form.push(((*k).to_owned(), v));
            }
            if let Some(csrf) = &caller.csrf {
                form.push(("csrf".to_owned(), csrf.clone()));
            }
            req = req.form(&form);
        }
        Body::Multipart(parts) => {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in parts {
                form = form.text(*k, *v);
            }
            if let Some(csrf) = &caller.csrf {
                form = form.text("csrf", csrf.clone());
            }
            req = req.multipart(form);
        }
    }
    let resp = req.send().await.expect("request reaches the server");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default(), path)
}

/// Every route × caller. Rows follow the router's order. Signing in and out run on a fresh
/// session of the caller (see [`FRESH`]).
fn matrix() -> Vec<Row> {
    use Body::{Form, Json, Multipart, None as Empty};
    const DAY_SETTINGS: &str = r#"{"work_start":"08:00","work_end":"17:00","break_minutes":30,"break_earliest":"12:00","break_latest":"14:00","day_start":null,"day_end":null}"#;
    const APPOINTMENT: &str = r#"{"account_id":"{account_a}","start":"2026-12-08T08:00:00Z","end":"2026-12-08T16:00:00Z","duration_minutes":30}"#;
    vec![
        row(
            "get",
            "/api/routes/reps/{rep}/days/{day}",
            "/api/routes/reps/{rep_a}/days/2026-12-08",
            Empty,
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/routes/reps/{rep}/days/{day}/replan",
            "/api/routes/reps/{rep_a}/days/2026-12-08/replan",
            Json("{}"),
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/reps/{rep}/day-settings",
            "/api/reps/{rep_a}/day-settings",
            Empty,
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "put",
            "/api/reps/{rep}/day-settings",
            "/api/reps/{rep_a}/day-settings",
            Json(DAY_SETTINGS),
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/teams/{team}/days/{day}",
            "/api/teams/{team_a}/days/2026-12-08",
            Json("{}"),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/teams/{team}/visits/{day}",
            "/api/teams/{team_a}/visits/2026-12-08",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/appointments",
            "/api/appointments",
            Json(APPOINTMENT),
            [401, 201, 400, 400, 401, 401, 201, 201],
        ),
        row(
            "put",
            "/api/appointments/{id}",
            "/api/appointments/{doomed_appointment}",
            Json(APPOINTMENT),
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "delete",
            "/api/appointments/{id}",
            "/api/appointments/{doomed_appointment}",
            Empty,
            [401, 200, 404, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/visits",
            "/api/visits",
            Json(r#"{"event_id":"matrix-visit-0001","account_id":"{account_a}","outcome":"met"}"#),
            [401, 201, 400, 403, 401, 401, 403, 403],
        ),
        row(
            "get",
            "/today",
            "/today",
            Empty,
            [303, 200, 200, 303, 303, 303, 303, 303],
        ),
        row(
            "get",
            "/team-day",
            "/team-day",
            Empty,
            [303, 403, 403, 200, 303, 303, 200, 200],
        ),
        row(
            "get",
            "/",
            "/",
            Empty,
            [303, 200, 200, 200, 303, 303, 200, 200],
        ),
        row(
            "get",
            "/territories",
            "/territories",
            Empty,
            [303, 403, 403, 200, 303, 303, 200, 200],
        ),
        row(
            "get",
            "/api/teams",
            "/api/teams",
            Empty,
            [401, 403, 403, 200, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/teams/{team}/plans",
            "/api/teams/{team_a}/plans",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/teams/{team}/plans",
            "/api/teams/{team_a}/plans",
            Json(r#"{"name":"matrix","method":"current"}"#),
            [401, 403, 403, 404, 401, 401, 202, 409],
        ),
        row(
            "get",
            "/api/teams/{team}/rules",
            "/api/teams/{team_a}/rules",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/teams/{team}/rules",
            "/api/teams/{team_a}/rules",
            Json(
                r#"{"kind":"postal_code","territory_id":"{territory_a}","name":"Matrix","country_code":"MC","postal_codes":["98000"]}"#,
            ),
            [401, 403, 403, 404, 401, 401, 201, 201],
        ),
        row(
            "post",
            "/api/teams/{team}/rules/order",
            "/api/teams/{team_a}/rules/order",
            Json(r#"{"ids":["{rule_a}"]}"#),
            [401, 403, 403, 404, 401, 401, 400, 400],
        ),
        row(
            "get",
            "/api/teams/{team}/workload",
            "/api/teams/{team_a}/workload",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "put",
            "/api/teams/{team}/workload",
            "/api/teams/{team_a}/workload",
            Json(r#"[{"tier":"A","visits_per_year":12,"service_minutes":30,"travel_minutes":20}]"#),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "put",
            "/api/rules/{id}",
            "/api/rules/{rule_a}",
            Json(
                r#"{"kind":"postal_code","territory_id":"{territory_a}","name":"Monaco","country_code":"MC","postal_codes":["98000"]}"#,
            ),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "delete",
            "/api/rules/{id}",
            "/api/rules/{doomed_rule}",
            Empty,
            [401, 403, 403, 404, 401, 401, 204, 204],
        ),
        row(
            "get",
            "/api/plans/compare",
            "/api/plans/compare?a={plan_a}&b={plan_a}",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/plans/{id}",
            "/api/plans/{plan_a}",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "delete",
            "/api/plans/{id}",
            "/api/plans/{doomed_plan}",
            Empty,
            [401, 403, 403, 404, 401, 401, 204, 204],
        ),
        row(
            "get",
            "/api/plans/{id}/accounts",
            "/api/plans/{plan_a}/accounts",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/plans/{id}/shapes",
            "/api/plans/{plan_a}/shapes",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/plans/{id}/tiles",
            "/api/plans/{plan_a}/tiles",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/plans/{id}/tiles/{z}/{x}/{y}",
            "/api/plans/{plan_a}/tiles/0/0/0",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/plans/{id}/moves",
            "/api/plans/{plan_a}/moves",
            Json(r#"{"account_ids":["{account_a}"],"territory_id":"{territory_a2}"}"#),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/plans/{id}/rebalance",
            "/api/plans/{plan_a}/rebalance",
            Json(r"{}"),
            [401, 403, 403, 404, 401, 401, 409, 409],
        ),
        row(
            "get",
            "/api/plans/{id}/diff",
            "/api/plans/{plan_a}/diff",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/plans/{id}/writeback-preview",
            "/api/plans/{plan_a}/writeback-preview",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "post",
            "/api/plans/{id}/publish",
            "/api/plans/{plan_a}/publish",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 409],
        ),
        row(
            "post",
            "/api/plans/{id}/rollback",
            "/api/plans/{plan_a}/rollback",
            Empty,
            [401, 403, 403, 404, 401, 401, 409, 409],
        ),
        row(
            "post",
            "/api/accounts/{id}/lock",
            "/api/accounts/{account_a}/lock",
            Json(r#"{"territory_id":"{territory_a}","reason":"matrix"}"#),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "delete",
            "/api/accounts/{id}/lock",
            "/api/accounts/{account_a}/lock",
            Empty,
            [401, 403, 403, 404, 401, 401, 204, 404],
        ),
        row(
            "get",
            "/api/accounts/{id}/assignment",
            "/api/accounts/{account_a}/assignment",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/openapi.json",
            "/api/openapi.json",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "get",
            "/docs/api",
            "/docs/api",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "get",
            "/healthz",
            "/healthz",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "get",
            "/readyz",
            "/readyz",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "get",
            "/metrics",
            "/metrics",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "get",
            "/api/accounts",
            "/api/accounts?limit=50000",
            Empty,
            [401, 200, 200, 200, 200, 403, 200, 200],
        ),
        row(
            "post",
            "/api/accounts/{id}/location",
            "/api/accounts/{account_a}/location",
            Json(r#"{"lon":7.42,"lat":43.73}"#),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/admin/geocoding",
            "/admin/geocoding",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/geocoding/{id}/retry",
            "/admin/geocoding/{account_a}/retry",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 404],
        ),
        row(
            "post",
            "/api/device-token",
            "/api/device-token",
            Json(r"{}"),
            [401, 201, 201, 403, 401, 401, 403, 403],
        ),
        row(
            "post",
            "/api/device-tokens/revoke",
            "/api/device-tokens/revoke",
            Empty,
            [401, 200, 200, 200, 401, 401, 200, 200],
        ),
        // Only reps send pings (their session with CSRF here; their phone's device token in
        // tests/it/live_pings.rs); an API token is not a device token.
        row(
            "post",
            "/api/pings",
            "/api/pings",
            Json(r#"{"pings": []}"#),
            [401, 200, 200, 403, 401, 401, 403, 403],
        ),
        // A rep's own track: only reps have one, and only their own.
        row(
            "get",
            "/api/me/track",
            "/api/me/track",
            Empty,
            [401, 200, 200, 403, 401, 401, 403, 403],
        ),
        row(
            "delete",
            "/api/me/track",
            "/api/me/track",
            Empty,
            [401, 200, 200, 403, 401, 401, 403, 403],
        ),
        // Proximity alerts: a rep's own (another's is not found), the team's for its manager;
        // the live map socket refuses before it looks at the handshake (400: not a WebSocket).
        row(
            "get",
            "/api/me/alerts",
            "/api/me/alerts",
            Empty,
            [401, 200, 200, 403, 401, 401, 403, 403],
        ),
        row(
            "post",
            "/api/alerts/{id}/actions",
            "/api/alerts/{fresh_alert}/actions",
            Json(r#"{"action": "acknowledge"}"#),
            [401, 200, 404, 403, 401, 401, 403, 403],
        ),
        row(
            "get",
            "/api/teams/{team}/alerts",
            "/api/teams/{team_a}/alerts",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/teams/{team}/proximity-rules",
            "/api/teams/{team_a}/proximity-rules",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "put",
            "/api/teams/{team}/proximity-rules",
            "/api/teams/{team_a}/proximity-rules",
            Json(
                r#"{"radius_m": 250, "max_priority": 2, "min_annual_value": 1000, "visited_within_days": 10, "dwell_s": 20, "dwell_pings": 2, "cooldown_minutes": 120, "max_per_hour": 5}"#,
            ),
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/api/teams/{team}/live",
            "/api/teams/{team_a}/live",
            Empty,
            [401, 403, 403, 404, 401, 401, 200, 200],
        ),
        row(
            "get",
            "/live",
            "/live",
            Empty,
            [303, 403, 403, 200, 303, 303, 200, 200],
        ),
        row(
            "get",
            "/live/team/ws",
            "/live/team/ws?team={team_a}",
            Empty,
            [303, 403, 403, 404, 303, 303, 400, 400],
        ),
        row(
            "put",
            "/api/admin/users/{id}/live-precise",
            "/api/admin/users/{victim_user}/live-precise",
            Json(r#"{"allowed": true}"#),
            [401, 403, 403, 403, 401, 401, 403, 200],
        ),
        row(
            "delete",
            "/api/admin/reps/{rep}/track",
            "/api/admin/reps/{rep_a}/track",
            Empty,
            [401, 403, 403, 403, 401, 401, 403, 200],
        ),
        row(
            "get",
            "/live/ws",
            "/live/ws",
            Empty,
            [400, 400, 400, 400, 400, 400, 400, 400],
        ),
        row(
            "post",
            "/webhooks/hubspot",
            "/webhooks/hubspot",
            Json(r"[]"),
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        row(
            "post",
            "/webhooks/salesforce",
            "/webhooks/salesforce",
            Empty,
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        row(
            "post",
            "/webhooks/salesforce/{token}",
            "/webhooks/salesforce/not-a-token",
            Empty,
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        row(
            "post",
            "/webhooks/standard/{connection}",
            "/webhooks/standard/{connection}",
            Json(r"{}"),
            [404, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            "get",
            "/login",
            "/login",
            Empty,
            [200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            "post",
            "/auth/demo",
            "/auth/demo",
            Form(&[("email", "{self}")]),
            [303, 303, 303, 303, 422, 422, 303, 303],
        ),
        row(
            "get",
            "/auth/login",
            "/auth/login",
            Empty,
            [404, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            "get",
            "/auth/callback",
            "/auth/callback?code=x&state=y",
            Empty,
            [404, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            "post",
            "/auth/logout",
            "/auth/logout",
            Form(&[]),
            [303, 303, 303, 303, 422, 422, 303, 303],
        ),
        row(
            "get",
            "/admin/audit",
            "/admin/audit",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "get",
            "/admin/users",
            "/admin/users",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "get",
            "/admin/tokens",
            "/admin/tokens",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/tokens",
            "/admin/tokens",
            Form(&[("name", "matrix"), ("accounts:read", "on")]),
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/tokens/{id}/revoke",
            "/admin/tokens/{victim_token}/revoke",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "post",
            "/admin/users/{id}/role",
            "/admin/users/{victim_user}/role",
            Form(&[("role", "manager")]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "post",
            "/admin/users/{id}/disable",
            "/admin/users/{victim_user}/disable",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "post",
            "/admin/users/{id}/enable",
            "/admin/users/{victim_user}/enable",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "get",
            "/admin/sync",
            "/admin/sync",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/sync/dead/{id}/retry",
            "/admin/sync/dead/1/retry",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 404],
        ),
        row(
            "post",
            "/admin/sync/reconcile/{name}",
            "/admin/sync/reconcile/{connection}",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/connections",
            "/admin/connections",
            Form(&[("name", "matrix")]),
            [303, 403, 403, 403, 303, 303, 403, 400],
        ),
        row(
            "get",
            "/admin/connections/new",
            "/admin/connections/new",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "get",
            "/admin/connections/{name}",
            "/admin/connections/{connection}",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "post",
            "/admin/connections/{name}",
            "/admin/connections/{connection}",
            Form(&[("name", "{connection}")]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "get",
            "/admin/export/{file}",
            "/admin/export/accounts.csv",
            Empty,
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        row(
            "get",
            "/territories/outbox",
            "/territories/outbox",
            Empty,
            [303, 403, 403, 200, 303, 303, 200, 200],
        ),
        row(
            "post",
            "/territories/outbox/{id}/retry",
            "/territories/outbox/{outbox_a}/retry",
            Form(&[]),
            [303, 403, 403, 404, 303, 303, 303, 303],
        ),
        row(
            "post",
            "/territories/outbox/activities/retry",
            "/territories/outbox/activities/retry",
            Form(&[]),
            [303, 403, 403, 403, 303, 303, 403, 303],
        ),
        row(
            "post",
            "/admin/import/{what}",
            "/admin/import/accounts",
            Multipart(&[("dry_run", "on"), ("file", "crm_id,name\n")]),
            [303, 403, 403, 403, 303, 303, 403, 200],
        ),
        // Across teams: team A's resources with team B's ids in the body or query.
        row(
            "get",
            "/api/teams/{team}/plans",
            "/api/teams/{team_b}/plans",
            Empty,
            [401, 403, 403, 200, 401, 401, 404, 200],
        ),
        row(
            "post",
            "/api/teams/{team}/rules",
            "/api/teams/{team_a}/rules",
            Json(
                r#"{"kind":"postal_code","territory_id":"{territory_b}","name":"Theirs","country_code":"MC","postal_codes":["98000"]}"#,
            ),
            [401, 403, 403, 404, 401, 401, 400, 400],
        ),
        row(
            "post",
            "/api/teams/{team}/rules/order",
            "/api/teams/{team_a}/rules/order",
            Json(r#"{"ids":["{rule_b}"]}"#),
            [401, 403, 403, 404, 401, 401, 400, 400],
        ),
        row(
            "put",
            "/api/rules/{id}",
            "/api/rules/{rule_a}",
            Json(
                r#"{"kind":"postal_code","territory_id":"{territory_b}","name":"Theirs","country_code":"MC","postal_codes":["98000"]}"#,
            ),
            [401, 403, 403, 404, 401, 401, 400, 400],
        ),
        row(
            "put",
            "/api/rules/{id}",
            "/api/rules/{rule_b}",
            Json(
                r#"{"kind":"postal_code","territory_id":"{territory_a}","name":"Mine","country_code":"MC","postal_codes":["98000"]}"#,
            ),
            [401, 403, 403, 400, 401, 401, 404, 400],
        ),
        row(
            "get",
            "/api/plans/compare",
            "/api/plans/compare?a={plan_a}&b={plan_b}",
            Empty,
            [401, 403, 403, 404, 401, 401, 404, 400],
        ),
        row(
            "get",
            "/api/plans/{id}/diff",
            "/api/plans/{plan_a}/diff?against={plan_b}",
            Empty,
            [401, 403, 403, 404, 401, 401, 404, 400],
        ),
        row(
            "post",
            "/api/plans/{id}/moves",
            "/api/plans/{draft_a}/moves",
            Json(r#"{"account_ids":["{account_a}"],"territory_id":"{territory_b}"}"#),
            [401, 403, 403, 404, 401, 401, 400, 400],
        ),
        row(
            "post",
            "/api/accounts/{id}/lock",
            "/api/accounts/{account_a}/lock",
            Json(r#"{"territory_id":"{territory_b}","reason":"theirs"}"#),
            [401, 403, 403, 400, 401, 401, 404, 400],
        ),
        row(
            "get",
            "/territories/outbox",
            "/territories/outbox?plan={plan_b}",
            Empty,
            [303, 403, 403, 200, 303, 303, 200, 200],
        ),
        row(
            "post",
            "/territories/outbox/{id}/retry",
            "/territories/outbox/{outbox_b}/retry",
            Form(&[]),
            [303, 403, 403, 303, 303, 303, 404, 303],
        ),
    ]
}

/// Rows sent on a new session of the caller (they end or replace it).
const FRESH: [&str; 2] = ["/auth/demo", "/auth/logout"];

#[sqlx::test]
async fn every_route_answers_every_kind_of_caller_as_the_matrix_says(pool: PgPool) {
    seed_demo(&pool).await;
    // Sign-ins here: one per session caller, and fresh ones for the sign-in and sign-out rows.
    let app = spawn_app_with(
        pool.clone(),
        &[
            ("TERRANE_SIGNIN_PER_MINUTE", "100"),
            ("TERRANE_ROUTE_ITERATIONS", "500"),
        ],
    )
    .await;
    let (fx, secrets_a, secrets_b) = Fixture::new(&pool).await;
    let mut callers = vec![
        session_caller(&app, "anonymous", None).await,
        session_caller(&app, "rep A", Some(rep_a())).await,
        session_caller(&app, "rep B", Some(rep_b())).await,
        session_caller(&app, "manager B", Some(MANAGER_B)).await,
        token_caller(&app, "token accounts:read", TokenScope::AccountsRead).await,
        token_caller(&app, "token territories:read", TokenScope::TerritoriesRead).await,
        session_caller(&app, "manager A", Some(MANAGER_A)).await,
        session_caller(&app, "admin", Some(ADMIN)).await,
    ];
    for c in &mut callers {
        c.secrets = match c.label {
            // Reps and tokens plan nothing: no plan of either team, and not the other rep's account.
            "anonymous" | "token territories:read" => [&secrets_a[..], &secrets_b[..]].concat(),
            "rep A" => [&secrets_a[..2], &secrets_b[..]].concat(),
            "rep B" => [&secrets_a[..], &secrets_b[..2]].concat(),
            "manager A" => secrets_b.clone(),
            "manager B" => secrets_a.clone(),
            "token accounts:read" => [&secrets_a[..2], &secrets_b[..2]].concat(),
            _ => Vec::new(),
        };
    }
    assert_eq!(
        callers.iter().map(|c| c.label).collect::<Vec<_>>(),
        CALLERS,
        "columns"
    );
    let rows = matrix();

    // Every declared route has exactly one row, and every row is a declared route.
    let declared = terrane::web::routes::declared();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    let missing: Vec<_> = declared.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&declared).collect();

    let mut wrong = Vec::new();
    let mut actual_rows = Vec::new();
    for row in &rows {
        let mut actual = [0u16; 8];
        for (col, caller) in callers.iter().enumerate() {
            let (status, body, path) = if FRESH.contains(&row.route) {
                let fresh = match (caller.email, &caller.bearer) {
                    (_, Some(_)) => None,
                    (email, None) => Some(session_caller(&app, caller.label, email).await),
                };
                send(&app, &fx, fresh.as_ref().unwrap_or(caller), row).await
            } else {
                send(&app, &fx, caller, row).await
            };
            actual[col] = status;
            let what = format!("{} {} {} as {}", row.method, row.path, status, caller.label);
            // An id the caller put in the path may come back (a filter echoed in its form).
            for secret in caller.secrets.iter().filter(|s| !path.contains(s.as_str())) {
                assert!(
                    !body.contains(secret.as_str()),
                    "{what}: the body names {secret:?}"
                );
            }
            if status == 403 && caller.csrf.is_some() {
                assert!(
                    !body.contains("csrf") || body.contains("name=\"csrf\""),
                    "{what}: refused by the CSRF check, not by authorization: {body}"
                );
            }
        }
        // The same request with a wrong CSRF token is refused by the CSRF check for every
        // session caller that may make it (webhooks are signed, not cookie-authenticated).
        if row.method != "get" && !row.route.starts_with("/webhooks/") {
            for (col, caller) in callers.iter().enumerate() {
                // Anonymous callers are sent to sign in (303) except where signing in is the point.
                let refused = [401, 403, 404].contains(&row.expected[col])
                    || (caller.email.is_none() && !FRESH.contains(&row.route));
                let allowed = !refused;
                if caller.csrf.is_none() || !allowed {
                    continue;
                }
                let forged = Caller {
                    label: caller.label,
                    email: caller.email,
                    client: if FRESH.contains(&row.route) {
                        session_caller(&app, caller.label, caller.email)
                            .await
                            .client
                    } else {
                        caller.client.clone()
                    },
                    csrf: Some("forged".to_owned()),
                    bearer: None,
                    secrets: Vec::new(),
                };
                let (status, body, _) = send(&app, &fx, &forged, row).await;
                if status != 403 || !body.to_lowercase().contains("csrf") {
                    wrong.push(format!(
                        "{} {} as {} with a wrong CSRF token: {status} {body:.200}",
                        row.method, row.path, caller.label
                    ));
                }
            }
        }
        if actual != row.expected {
            wrong.push(format!(
                "{} {}: expected {:?}, got {:?}",
                row.method, row.path, row.expected, actual
            ));
        }
        actual_rows.push(format!(
            "row(\"{}\", \"{}\", \"{}\", _, {:?}),",
            row.method, row.route, row.path, actual
        ));
    }
    assert!(
        missing.is_empty() && stale.is_empty() && wrong.is_empty(),
        "routes without a row: {missing:?}\nrows without a route: {stale:?}\nwrong statuses:\n{}\n\nas answered:\n{}",
        wrong.join("\n"),
        actual_rows.join("\n")
    );
}
