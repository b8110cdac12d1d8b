//! Territory planning on the demo data: rules and their precedence and explanations, plans
//! (current, rules, balanced, stability), hand moves, publishing with the owner write-back
//! queued, rollback, arrivals, and who may see what.

use crate::helpers::scalar_by;
use crate::helpers::{rebalanced, stored_plan};
use crate::helpers::{send_get, sent};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use terrane::territory::plans::{self, Method, NewPlan, PlanJobState, Travel};
use terrane::territory::rules::RuleInput;
use terrane::territory::{arrival, rules, teams};

use terrane::routing::OsrmClient;

use terrane::jobs::{Lane, Outcome};

use crate::helpers::{
    csrf_in, osrm_url, page_html, seed_demo, spawn_app, team_id as team, team_of_territory,
    test_jobs,
};

async fn new_plan(pool: &PgPool, team_id: Uuid, method: Method, from: Option<Uuid>) -> Uuid {
    let id = plans::create(
        pool,
        team_id,
        None,
        &NewPlan {
            name: format!("{method:?} plan"),
            method,
            from_plan_id: from,
            tolerance: None,
            use_home_bases: false,
            travel: Travel::StraightLine,
        },
    )
    .await
    .expect("plan created");
    plans::generate(pool, id).await.expect("plan generated");
    id
}

async fn territory_named(pool: &PgPool, team_id: Uuid, rep_owner: &str) -> Uuid {
    sqlx::query_scalar(
        "select t.id from territories t join reps r on r.id = t.rep_id
         where t.team_id = $1 and r.crm_owner_id = $2",
    )
    .bind(team_id)
    .bind(rep_owner)
    .fetch_one(pool)
    .await
    .expect("territory of the rep")
}

async fn assignment_of(pool: &PgPool, plan: Uuid, account: Uuid) -> (Uuid, String, String) {
    sqlx::query_as(
        "select territory_id, source::text, reason from plan_assignments
         where plan_id = $1 and account_id = $2",
    )
    .bind(plan)
    .bind(account)
    .fetch_one(pool)
    .await
    .expect("assignment")
}

fn rule(v: Value) -> RuleInput {
    serde_json::from_value(v).expect("rule input")
}

async fn add_rule(pool: &PgPool, team_id: Uuid, v: Value) -> Uuid {
    let mut conn = pool.acquire().await.expect("conn");
    rules::create(
        &mut conn,
        team_id,
        &rule(v).validate().expect("valid"),
        None,
    )
    .await
    .expect("rule stored")
    .id
}

#[sqlx::test]
async fn the_current_plan_keeps_every_account_with_its_owner_and_explains_it(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    let plan = new_plan(&pool, team_a, Method::Current, None).await;
    // Every Team A account lands in its owner's territory.
    let misplaced: i64 = scalar_by(
        &pool,
        "select count(*) from plan_assignments pa
         join accounts a on a.id = pa.account_id
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         where pa.plan_id = $1 and pt.rep_id is distinct from a.owner_rep_id",
        plan,
    )
    .await;
    assert_eq!(misplaced, 0);
    let (count, team_accounts): (i64, i64) = sqlx::query_as(
        "select (select count(*) from plan_assignments where plan_id = $1),
                (select count(*) from accounts a join team_members m on m.rep_id = a.owner_rep_id
                 where m.team_id = $2 and a.deleted_at is null and a.location is not null)",
    )
    .bind(plan)
    .bind(team_a)
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert!(count > 100, "{count} accounts planned");
    assert_eq!(count, team_accounts);
    let metrics = stored_plan(&pool, plan).await.metrics.expect("metrics").0;
    assert!(metrics["max_deviation"].as_f64().expect("deviation") > 0.0);
    // Shapes were built from cells.
    let shapes: i64 = scalar_by(
        &pool,
        "select count(*) from plan_territories where plan_id = $1 and shape is not null
           and st_isvalid(shape)",
        plan,
    )
    .await;
    assert_eq!(shapes, 3);
}

#[sqlx::test]
async fn locks_beat_named_accounts_which_beat_ordered_rules(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    // The first plan makes the team's territories.
    let current = new_plan(&pool, team_a, Method::Current, None).await;
    let (t1, t2, t3) = (
        territory_named(&pool, team_a, "owner-1").await,
        territory_named(&pool, team_a, "owner-2").await,
        territory_named(&pool, team_a, "owner-3").await,
    );
    // Two tier A accounts of the team in Monaco (98000) and one elsewhere.
    let monaco_a: Vec<Uuid> = sqlx::query_scalar(
        "select pa.account_id from plan_assignments pa join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and a.tier = 'A' and a.postal_code = '98000'
         order by a.crm_id limit 3",
    )
    .bind(current)
    .fetch_all(&pool)
    .await
    .expect("monaco tier A");
    assert_eq!(monaco_a.len(), 3, "the demo has tier A accounts in 98000");
    let other_a: Uuid = scalar_by(
        &pool,
        "select pa.account_id from plan_assignments pa join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and a.tier = 'A' and a.postal_code <> '98000'
         order by a.crm_id limit 1",
        current,
    )
    .await;

    add_rule(
        &pool,
        team_a,
        json!({"kind": "postal_code", "territory_id": t1, "name": "Monaco",
                                   "country_code": "MC", "postal_codes": ["98000"]}),
    )
    .await;
    add_rule(
        &pool,
        team_a,
        json!({"kind": "attribute", "territory_id": t2, "name": "Key accounts",
                                   "predicate": {"tiers": ["A"]}}),
    )
    .await;
    add_rule(
        &pool,
        team_a,
        json!({"kind": "named", "territory_id": t3,
                                   "account_ids": [monaco_a[1]]}),
    )
    .await;
    teams::lock(
        &pool,
        team_of_territory(&pool, t2).await,
        monaco_a[2],
        t2,
        None,
        "customer asked for Luca",
    )
    .await
    .expect("lock");

    let plan = new_plan(&pool, team_a, Method::Rules, None).await;
    let (t, source, reason) = assignment_of(&pool, plan, monaco_a[0]).await;
    assert_eq!(
        (t, source.as_str()),
        (t1, "rule"),
        "postal rule comes first: {reason}"
    );
    assert!(
        reason.contains("rule 1") && reason.contains("98000"),
        "{reason}"
    );
    let (t, source, reason) = assignment_of(&pool, plan, monaco_a[1]).await;
    assert_eq!(
        (t, source.as_str()),
        (t3, "rule"),
        "named beats the order: {reason}"
    );
    assert!(reason.contains("named account"), "{reason}");
    let (t, source, reason) = assignment_of(&pool, plan, monaco_a[2]).await;
    assert_eq!((t, source.as_str()), (t2, "lock"));
    assert!(reason.contains("customer asked for Luca"), "{reason}");
    let (t, source, reason) = assignment_of(&pool, plan, other_a).await;
    assert_eq!((t, source.as_str()), (t2, "rule"));
    assert!(reason.contains("Key accounts"), "{reason}");

    // A disabled rule no longer claims anything.
    sqlx::query("update territory_rules set enabled = false where team_id = $1")
        .bind(team_a)
        .execute(&pool)
        .await
        .expect("disable");
    let plain = new_plan(&pool, team_a, Method::Rules, None).await;
    let (_, source, _) = assignment_of(&pool, plain, monaco_a[0]).await;
    assert_eq!(source, "current");
}

#[sqlx::test]
async fn bad_rules_get_clear_errors_through_the_api(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    new_plan(&pool, team_a, Method::Current, None).await;
    let t1 = territory_named(&pool, team_a, "owner-1").await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let csrf = csrf_in(&page_html(&manager, &app, "/").await);
    let post = |body: Value| {
        manager
            .post(app.url(&format!("/api/teams/{team_a}/rules")))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    // A bow tie: its edges cross.
    let bowtie = json!({"type": "Polygon", "coordinates": [[[7.40, 43.72], [7.44, 43.76], [7.44, 43.72], [7.40, 43.76], [7.40, 43.72]]]});
    let r = post(json!({"kind": "polygon", "territory_id": t1, "area": bowtie}))
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("not a valid polygon"), "{message}");

    let r = post(
        json!({"kind": "postal_code", "territory_id": t1, "country_code": "XX",
                        "postal_codes": ["123"]}),
    )
    .await
    .expect("request");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("no postal code format is known for country XX")
    );

    let square = json!({"type": "Polygon", "coordinates": [[[7.40, 43.72], [7.44, 43.72], [7.44, 43.76], [7.40, 43.76], [7.40, 43.72]]]});
    let r = post(json!({"kind": "polygon", "territory_id": t1, "area": square, "name": "Port"}))
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["area"]["type"], "MultiPolygon");
    assert_eq!(created["position"], 0);
    // Only the stored rule has an audit row, written in its transaction.
    assert_eq!(
        crate::helpers::audit_count(&pool, "territory.rule_created").await,
        1
    );

    // Another team's manager cannot see this team's rules.
    let other = app.client_as("manager.b@example.com").await;
    assert_eq!(
        crate::helpers::status_of(&other, app.url(&format!("/api/teams/{team_a}/rules"))).await,
        404
    );
}

/// The demo seeded, Team A's current plan published, and a draft copy of it: (team, published
/// plan, draft).
async fn draft_of_todays_plan(pool: &PgPool) -> (Uuid, Uuid, Uuid) {
    seed_demo(pool).await;
    let team_a = team(pool, "Team A").await;
    let current = new_plan(pool, team_a, Method::Current, None).await;
    plans::publish(pool, current, None)
        .await
        .expect("published");
    let draft = new_plan(pool, team_a, Method::Copy, Some(current)).await;
    (team_a, current, draft)
}

async fn cells_of(pool: &PgPool, plan: Uuid, territory: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from plan_cells where plan_id = $1 and territory_id = $2")
        .bind(plan)
        .bind(territory)
        .fetch_one(pool)
        .await
        .expect("cells")
}

/// Holes in a plan's shapes; those no other territory of the plan covers (slivers); and the
/// small ones (under 5,000 m², where slivers are filled) that the plan's shapes cover only in
/// part, more than a square metre being left uncovered (an enclave with slivers around it).
async fn holes_in_shapes(pool: &PgPool, plan: Uuid) -> (i64, i64, i64) {
    sqlx::query_as(
        "with rings as (
             select pt.territory_id, (st_dumprings((st_dump(pt.shape)).geom)) as r
             from plan_territories pt where pt.plan_id = $1 and pt.shape is not null)
         select count(*),
                count(*) filter (where not exists (
                    select 1 from plan_territories o
                    where o.plan_id = $1 and o.territory_id <> rings.territory_id
                      and st_intersects(o.shape, (r).geom)
                      and st_area(st_intersection(o.shape, (r).geom)) > 0.5 * st_area((r).geom))),
                count(*) filter (where st_area((r).geom::geography) < 5000
                    and st_area(st_difference((r).geom, coalesce((
                        select st_union(o.shape) from plan_territories o
                        where o.plan_id = $1 and o.shape && (r).geom),
                        st_setsrid('POLYGON EMPTY'::geometry, 4326)))::geography) > 1)
         from rings where (r).path[1] > 0",
    )
    .bind(plan)
    .fetch_one(pool)
    .await
    .expect("holes")
}

/// The holes of a plan's shapes that `holes_in_shapes` counts as slivers or as partly
/// uncovered, each as "territory, area m², uncovered m², WKT": for the failure messages.
async fn suspect_holes(pool: &PgPool, plan: Uuid) -> Vec<String> {
    let rows: Vec<(Uuid, f64, f64, String)> = sqlx::query_as(
        "with rings as (
             select pt.territory_id, (st_dumprings((st_dump(pt.shape)).geom)) as r
             from plan_territories pt where pt.plan_id = $1 and pt.shape is not null),
         measured as (
             select territory_id, (r).geom as g, st_area((r).geom::geography) as area,
                    st_area(st_difference((r).geom, coalesce((
                        select st_union(o.shape) from plan_territories o
                        where o.plan_id = $1 and o.territory_id <> rings.territory_id
                          and o.shape && (r).geom),
                        st_setsrid('POLYGON EMPTY'::geometry, 4326)))::geography) as uncovered
             from rings where (r).path[1] > 0)
         select territory_id, area, uncovered, st_astext(g) from measured
         where uncovered > 0.5 * area or (area < 5000 and uncovered > 1)",
    )
    .bind(plan)
    .fetch_all(pool)
    .await
    .expect("suspect holes");
    rows.into_iter()
        .map(|(t, area, uncovered, wkt)| format!("{t}, {area:.1} m², {uncovered:.1} m²: {wkt}"))
        .collect()
}

/// Pairs of territories of a plan whose shapes overlap by more than a square metre, and the
/// largest such overlap (m²).
async fn overlaps_between_shapes(pool: &PgPool, plan: Uuid) -> (i64, f64) {
    sqlx::query_as(
        "select count(*), coalesce(max(area), 0) from (
             select st_area(st_intersection(a.shape, b.shape)::geography) as area
             from plan_territories a join plan_territories b
               on b.plan_id = a.plan_id and a.territory_id < b.territory_id
             where a.plan_id = $1 and st_intersects(a.shape, b.shape)) o
         where area > 1",
    )
    .bind(plan)
    .fetch_one(pool)
    .await
    .expect("overlaps")
}

#[sqlx::test]
async fn a_balanced_plan_meets_the_tolerance_keeps_locks_and_is_contiguous(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    let current = new_plan(&pool, team_a, Method::Current, None).await;
    let today = stored_plan(&pool, current).await;
    let today_deviation = today.metrics.expect("metrics").0["max_deviation"]
        .as_f64()
        .expect("deviation");
    assert!(
        today_deviation > 0.2,
        "today's owners are unbalanced: {today_deviation}"
    );

    let balanced = new_plan(&pool, team_a, Method::Balanced, None).await;
    let plan = stored_plan(&pool, balanced).await;
    assert_eq!(plan.job_state, PlanJobState::Idle, "{:?}", plan.job_message);
    let m = plan.metrics.expect("metrics").0;
    let deviation = m["max_deviation"].as_f64().expect("deviation");
    assert!(deviation <= 0.05 + 1e-9, "workload deviation {deviation}");
    assert_eq!(m["contiguous"], true, "{m}");
    assert_eq!(m["pieces"], 3, "{m}");
    let optimized: i64 = scalar_by(
        &pool,
        "select count(*) from plan_assignments where plan_id = $1 and source = 'optimizer'",
        balanced,
    )
    .await;
    assert!(optimized > 100);

    // Lock five accounts of one balanced territory into another territory: they stay there
    // in the next balanced plan, which still meets the tolerance.
    let t2 = territory_named(&pool, team_a, "owner-2").await;
    let locked: Vec<Uuid> = sqlx::query_scalar(
        "select account_id from plan_assignments where plan_id = $1 and territory_id <> $2
         order by account_id limit 5",
    )
    .bind(balanced)
    .bind(t2)
    .fetch_all(&pool)
    .await
    .expect("accounts");
    for id in &locked {
        teams::lock(&pool, team_of_territory(&pool, t2).await, *id, t2, None, "")
            .await
            .expect("lock");
    }
    let again = new_plan(&pool, team_a, Method::Balanced, None).await;
    let plan = stored_plan(&pool, again).await;
    let m = plan.metrics.expect("metrics").0;
    let deviation = m["max_deviation"].as_f64().expect("deviation");
    assert!(
        deviation <= 0.05 + 1e-9,
        "workload deviation with locks {deviation}"
    );
    for id in &locked {
        let (t, source, _) = assignment_of(&pool, again, *id).await;
        assert_eq!((t, source.as_str()), (t2, "lock"));
    }
    // No slivers: where coarse and fine cells of a territory meet, the union of their
    // outlines leaves thin holes that no territory covers; they are filled.
    // No overlaps: where a coarse cell meets finer cells of another territory, its outline
    // reaches into theirs; the finer cells keep that ground.
    for plan in [balanced, again] {
        let (holes, slivers, partly) = holes_in_shapes(&pool, plan).await;
        if slivers > 0 || partly > 0 {
            let suspects = suspect_holes(&pool, plan).await;
            panic!(
                "{slivers} of {holes} holes are slivers, {partly} small holes are not all \
                 enclave: {suspects:#?}"
            );
        }
        let (pairs, largest) = overlaps_between_shapes(&pool, plan).await;
        assert_eq!(
            pairs, 0,
            "{pairs} pairs of shapes overlap, the largest by {largest:.0} m²"
        );
    }

    // Stability from the balanced plan after the locks: few moves, tolerance kept.
    let stable = new_plan(&pool, team_a, Method::Stability, Some(again)).await;
    let moved: i64 = sqlx::query_scalar(
        "select count(*) from plan_assignments s join plan_assignments b
           on b.plan_id = $2 and b.account_id = s.account_id
         where s.plan_id = $1 and s.territory_id <> b.territory_id",
    )
    .bind(stable)
    .bind(again)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert!(
        moved <= 10,
        "{moved} accounts moved by a rebalance of a balanced plan"
    );
}

#[sqlx::test]
async fn publishing_moves_accounts_queues_owner_changes_and_rollback_restores(pool: PgPool) {
    seed_demo(&pool).await;
    sqlx::query(
        "insert into crm_connections (name, kind, api_base_url) values
         ('demo-hubspot', 'hubspot', 'http://127.0.0.1:9'),
         ('demo-salesforce', 'salesforce', 'http://127.0.0.1:9')
         on conflict (name) do nothing",
    )
    .execute(&pool)
    .await
    .expect("connections");
    let team_a = team(&pool, "Team A").await;
    let current = new_plan(&pool, team_a, Method::Current, None).await;
    let first = plans::publish(&pool, current, None)
        .await
        .expect("published");
    assert_eq!(first.owner_changes, 0, "today's plan changes no owner");

    let draft = new_plan(&pool, team_a, Method::Copy, Some(current)).await;
    let t3 = territory_named(&pool, team_a, "owner-3").await;
    let moving: Vec<Uuid> = sqlx::query_scalar(
        "select pa.account_id from plan_assignments pa
         where pa.plan_id = $1 and pa.territory_id <> $2 order by pa.account_id limit 4",
    )
    .bind(draft)
    .bind(t3)
    .fetch_all(&pool)
    .await
    .expect("accounts");
    plans::move_accounts(&pool, draft, &moving, t3, None, "test")
        .await
        .expect("moved");
    let diff = plans::changes(&pool, draft, Some(current))
        .await
        .expect("diff");
    assert_eq!(diff.len(), 4);
    let published = plans::publish(&pool, draft, None).await.expect("published");
    assert_eq!(published.superseded, Some(current));
    assert_eq!(published.owner_changes, 4);
    assert_eq!(published.queued, 4);
    let rep3_owner = "owner-3".to_owned();
    let queued: Vec<(Uuid, Option<String>, String)> = sqlx::query_as(
        "select account_id, expected_owner, new_owner from crm_outbox where plan_id = $1
         order by account_id",
    )
    .bind(draft)
    .fetch_all(&pool)
    .await
    .expect("outbox");
    assert_eq!(queued.len(), 4);
    for (account, expected, new) in &queued {
        assert!(moving.contains(account));
        assert_eq!(new, &rep3_owner);
        assert!(expected.is_some(), "the owner seen when the plan was made");
    }
    let in_t3: i64 = sqlx::query_scalar(
        "select count(*) from accounts where id = any($1) and territory_id = $2",
    )
    .bind(&moving)
    .bind(t3)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(in_t3, 4);
    // Publishing twice is refused; a second publish of the team never leaves two published.
    assert!(plans::publish(&pool, draft, None).await.is_err());

    let back = plans::rollback(&pool, current, None)
        .await
        .expect("rolled back");
    assert_eq!(back.superseded, Some(draft));
    let home: i64 = sqlx::query_scalar(
        "select count(*) from accounts where id = any($1) and territory_id <> $2",
    )
    .bind(&moving)
    .bind(t3)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(home, 4, "the accounts are back in their territories");
    let published: i64 = scalar_by(
        &pool,
        "select count(*) from territory_plans where team_id = $1 and status = 'published'",
        team_a,
    )
    .await;
    assert_eq!(published, 1);
    assert_eq!(
        crate::helpers::audit_count(&pool, "territory.plan_published").await,
        3
    );
}

#[sqlx::test]
async fn hand_moves_change_the_metrics_and_locked_accounts_refuse_to_move(pool: PgPool) {
    let (team_a, current, draft) = draft_of_todays_plan(&pool).await;
    let t1 = territory_named(&pool, team_a, "owner-1").await;
    let t2 = territory_named(&pool, team_a, "owner-2").await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let csrf = csrf_in(&page_html(&manager, &app, "/").await);

    let (status, before) = app_get(&manager, &app, &format!("/api/plans/{draft}")).await;
    assert_eq!(status, 200);
    let accounts_of = |plan: &Value, t: Uuid| {
        plan["territories"]
            .as_array()
            .expect("territories")
            .iter()
            .find(|x| x["id"] == json!(t))
            .expect("territory")["accounts"]
            .as_i64()
            .expect("count")
    };
    let account: Uuid = sqlx::query_scalar(
        "select account_id from plan_assignments where plan_id = $1 and territory_id = $2
         order by account_id limit 1",
    )
    .bind(draft)
    .bind(t1)
    .fetch_one(&pool)
    .await
    .expect("account");
    let r = manager
        .post(app.url(&format!("/api/plans/{draft}/moves")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"account_ids": [account], "territory_id": t2}))
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.expect("json");
    assert_eq!(accounts_of(&after, t1), accounts_of(&before, t1) - 1);
    assert_eq!(accounts_of(&after, t2), accounts_of(&before, t2) + 1);
    assert_eq!(after["metrics"]["moved_accounts"], 1);
    let (_, source, reason) = assignment_of(&pool, draft, account).await;
    assert_eq!(source, "manual");
    assert!(reason.contains("moved by hand"), "{reason}");

    // Without the CSRF header: refused.
    let r = sent(
        manager
            .post(app.url(&format!("/api/plans/{draft}/moves")))
            .json(&json!({"account_ids": [account], "territory_id": t1})),
    )
    .await;
    assert_eq!(r.status(), 403);

    // A locked account does not move.
    let other: Uuid = sqlx::query_scalar(
        "select account_id from plan_assignments where plan_id = $1 and territory_id = $2
         order by account_id offset 1 limit 1",
    )
    .bind(draft)
    .bind(t1)
    .fetch_one(&pool)
    .await
    .expect("account");
    teams::lock(
        &pool,
        team_of_territory(&pool, t1).await,
        other,
        t1,
        None,
        "",
    )
    .await
    .expect("lock");
    let r = manager
        .post(app.url(&format!("/api/plans/{draft}/moves")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"account_ids": [other], "territory_id": t2}))
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 409);
    let (t, _, _) = assignment_of(&pool, draft, other).await;
    assert_eq!(t, t1);

    // The published plan cannot be edited; bad input is a 4xx with a JSON body.
    let r = manager
        .post(app.url(&format!("/api/plans/{current}/moves")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"account_ids": [account], "territory_id": t2}))
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    let r = manager
        .post(app.url(&format!("/api/plans/{draft}/moves")))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body("{\"account_ids\": 5}")
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json error body");
    assert!(body["error"]["message"].is_string());

    // Team B's manager sees nothing of Team A's plans; a rep may not plan.
    let other_manager = app.client_as("manager.b@example.com").await;
    let (status, _) = app_get(&other_manager, &app, &format!("/api/plans/{draft}")).await;
    assert_eq!(status, 404);
    let rep = app.client_as("camille.martin@example.com").await;
    let (status, _) = app_get(&rep, &app, &format!("/api/plans/{draft}")).await;
    assert_eq!(status, 403);
}

async fn app_get(
    client: &reqwest::Client,
    app: &crate::helpers::TestApp,
    path: &str,
) -> (u16, Value) {
    let r = send_get(client, app, path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[sqlx::test]
async fn arriving_accounts_are_assigned_into_the_published_plan(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    let t1 = {
        let current = new_plan(&pool, team_a, Method::Current, None).await;
        plans::publish(&pool, current, None)
            .await
            .expect("published");
        territory_named(&pool, team_a, "owner-1").await
    };
    // A new account owned by rep 2 but inside a drawn area of territory 1, and one owned by
    // rep 2 outside any rule.
    let area = json!({"type": "Polygon", "coordinates": [[[7.415, 43.725], [7.425, 43.725], [7.425, 43.735], [7.415, 43.735], [7.415, 43.725]]]});
    add_rule(
        &pool,
        team_a,
        json!({"kind": "polygon", "territory_id": t1, "area": area}),
    )
    .await;
    let insert = |crm_id: &'static str, lon: f64, lat: f64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>(
                "insert into accounts (crm_source, crm_id, name, location, geocode_status,
                                       owner_rep_id, crm_owner_id)
                 select 'test', $1, 'New shop', st_setsrid(st_makepoint($2, $3), 4326), 'ok',
                        r.id, r.crm_owner_id
                 from reps r where r.crm_owner_id = 'owner-2'
                 returning id",
            )
            .bind(crm_id)
            .bind(lon)
            .bind(lat)
            .fetch_one(&pool)
            .await
            .expect("account")
        }
    };
    let inside = insert("new-1", 7.42, 43.73).await;
    let elsewhere = insert("new-2", 7.47, 43.77).await;
    let report = arrival::assign(&pool, None).await.expect("assigned");
    assert_eq!(report.assigned, 2);
    let plan = plans::published(&pool, team_a)
        .await
        .expect("q")
        .expect("plan");
    let (t, source, reason) = assignment_of(&pool, plan, inside).await;
    assert_eq!((t, source.as_str()), (t1, "rule"), "{reason}");
    assert!(reason.contains("drawn area"), "{reason}");
    assert!(
        reason.contains("kept"),
        "the CRM owner differs and is kept: {reason}"
    );
    let (_, source, _) = assignment_of(&pool, plan, elsewhere).await;
    assert_eq!(source, "arrival");
    let territory: Option<Uuid> = scalar_by(
        &pool,
        "select territory_id from accounts where id = $1",
        inside,
    )
    .await;
    assert_eq!(territory, Some(t1));
    // A second pass finds nothing new.
    assert_eq!(
        arrival::assign(&pool, None).await.expect("again").assigned,
        0
    );
}

#[sqlx::test]
async fn the_workload_model_is_set_per_tier_and_drives_new_plans(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    let before = new_plan(&pool, team_a, Method::Current, None).await;
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let csrf = csrf_in(&page_html(&manager, &app, "/").await);
    let (status, tiers) = app_get(&manager, &app, &format!("/api/teams/{team_a}/workload")).await;
    assert_eq!(status, 200);
    assert_eq!(tiers.as_array().expect("tiers").len(), 3);
    assert_eq!(
        tiers[0]["service_minutes"],
        Value::Null,
        "defaults at first"
    );

    // Tier A: 10 visits a year of 4 hours each, no travel.
    let r = manager
        .put(app.url(&format!("/api/teams/{team_a}/workload")))
        .header("x-csrf-token", &csrf)
        .json(
            &json!([{"tier": "A", "visits_per_year": 10, "service_minutes": 240,
                       "travel_minutes": 0}]),
        )
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let bad = manager
        .put(app.url(&format!("/api/teams/{team_a}/workload")))
        .header("x-csrf-token", &csrf)
        .json(&json!([{"tier": "D", "service_minutes": 10}]))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 400);

    let after = new_plan(&pool, team_a, Method::Current, None).await;
    let workloads: Vec<(String, f64, f64)> = sqlx::query_as(
        "select a.tier::text, b.workload, n.workload
         from plan_assignments n
         join plan_assignments b on b.plan_id = $2 and b.account_id = n.account_id
         join accounts a on a.id = n.account_id
         where n.plan_id = $1",
    )
    .bind(after)
    .bind(before)
    .fetch_all(&pool)
    .await
    .expect("workloads");
    let tier_a: Vec<_> = workloads.iter().filter(|w| w.0 == "A").collect();
    assert!(!tier_a.is_empty());
    for (_, _, new) in &tier_a {
        assert!((new - 2400.0).abs() < 1e-6, "10 × 240 minutes, got {new}");
    }
    for (tier, old, new) in workloads.iter().filter(|w| w.0 != "A") {
        assert!((old - new).abs() < 1e-6, "tier {tier} unchanged");
    }
    assert_eq!(
        crate::helpers::audit_count(&pool, "territory.workload_changed").await,
        1
    );
}

/// Sum over a plan's accounts of the drive minutes from their territory's rep's home base.
async fn drive_minutes_home_to_accounts(pool: &PgPool, osrm: &OsrmClient, plan: Uuid) -> f64 {
    let rows: Vec<(f64, f64, f64, f64)> = sqlx::query_as(
        "select st_x(r.home_base), st_y(r.home_base), st_x(a.location), st_y(a.location)
         from plan_assignments pa
         join accounts a on a.id = pa.account_id
         join plan_territories pt on pt.plan_id = pa.plan_id and pt.territory_id = pa.territory_id
         join reps r on r.id = pt.rep_id
         where pa.plan_id = $1 and r.home_base is not null",
    )
    .bind(plan)
    .fetch_all(pool)
    .await
    .expect("rows");
    assert!(rows.len() > 100, "{} accounts with a home", rows.len());
    // One matrix per home base.
    type LonLat = (f64, f64);
    let mut by_home: Vec<(LonLat, Vec<LonLat>)> = Vec::new();
    for (hx, hy, ax, ay) in rows {
        match by_home.iter_mut().find(|(h, _)| *h == (hx, hy)) {
            Some((_, accounts)) => accounts.push((ax, ay)),
            None => by_home.push(((hx, hy), vec![(ax, ay)])),
        }
    }
    let mut total = 0.0;
    for (home, accounts) in by_home {
        let home = terrane::spatial::LonLat::new(home.0, home.1).expect("valid home");
        let accounts: Vec<terrane::spatial::LonLat> = accounts
            .iter()
            .map(|&(lon, lat)| terrane::spatial::LonLat::new(lon, lat).expect("valid account"))
            .collect();
        let m = osrm.table(&[home], &accounts).await.expect("table");
        total += (0..accounts.len())
            .map(|j| f64::from(m.get(0, j).expect("routable")))
            .sum::<f64>();
    }
    total
}

#[sqlx::test]
async fn drive_time_plans_ask_osrm_from_home_bases_and_say_when_they_cannot(pool: PgPool) {
    seed_demo(&pool).await;
    let team_a = team(&pool, "Team A").await;
    let input = |travel| NewPlan {
        name: "By road".into(),
        method: Method::Balanced,
        from_plan_id: None,
        tolerance: None,
        use_home_bases: true,
        travel,
    };
    // Drive times only make sense from home bases in a balanced plan.
    let refused = plans::create(
        &pool,
        team_a,
        None,
        &NewPlan {
            method: Method::Rules,
            ..input(Travel::DriveTime)
        },
    )
    .await
    .expect_err("rules plans have no drive times");
    assert!(refused.to_string().contains("drive_time"), "{refused}");

    // Without OSRM the plan's job fails, and says why.
    let no_osrm = test_jobs(&pool, None);
    let (id, _) = no_osrm
        .start_plan(team_a, None, &input(Travel::DriveTime))
        .await
        .expect("created");
    let outcomes = no_osrm.drain(Lane::Plans).await.expect("drained");
    assert!(matches!(outcomes[..], [Outcome::Failed(_)]), "{outcomes:?}");
    let failed = stored_plan(&pool, id).await;
    assert_eq!(failed.job_state, PlanJobState::Failed);
    assert!(
        failed.job_message.as_deref().unwrap_or("").contains("OSRM"),
        "{:?}",
        failed.job_message
    );

    // With the real OSRM: balanced and contiguous, and less driving from the home bases than
    // the plan made with straight-line distances from the same homes.
    let osrm = OsrmClient::new(
        reqwest::Url::parse(&osrm_url()).expect("url"),
        std::time::Duration::from_secs(30),
    )
    .expect("client");
    let by_road = plans::create(&pool, team_a, None, &input(Travel::DriveTime))
        .await
        .expect("created");
    plans::generate_with(&pool, Some(&osrm), by_road)
        .await
        .expect("drive-time plan");
    let straight = plans::create(&pool, team_a, None, &input(Travel::StraightLine))
        .await
        .expect("created");
    plans::generate_with(&pool, Some(&osrm), straight)
        .await
        .expect("straight-line plan");
    for id in [by_road, straight] {
        let plan = stored_plan(&pool, id).await;
        let metrics = plan.metrics.expect("metrics").0;
        assert!(
            metrics["max_deviation"].as_f64().expect("dev") <= 0.05,
            "{metrics}"
        );
        assert_eq!(metrics["contiguous"], json!(true), "{metrics}");
    }
    let params = stored_plan(&pool, by_road).await.params.0;
    assert_eq!(params["travel"], json!("drive_time"));
    let road_minutes = drive_minutes_home_to_accounts(&pool, &osrm, by_road).await;
    let straight_minutes = drive_minutes_home_to_accounts(&pool, &osrm, straight).await;
    eprintln!("drive minutes: by road {road_minutes:.0}, straight line {straight_minutes:.0}");
    // Planning by road shortens the reps' drives from home (summed over their accounts).
    assert!(
        road_minutes < straight_minutes - 1.0,
        "the drive-time plan drives {road_minutes:.0} min, the straight-line one {straight_minutes:.0}"
    );

    // Rebalancing a drive-time plan measures by road again: without OSRM it fails and says
    // so; with it, it stays balanced and contiguous.
    let outcomes = rebalanced(&no_osrm, by_road).await;
    assert!(matches!(outcomes[..], [Outcome::Failed(_)]), "{outcomes:?}");
    let failed = stored_plan(&pool, by_road).await;
    assert_eq!(failed.job_state, PlanJobState::Failed);
    assert!(
        failed.job_message.as_deref().unwrap_or("").contains("OSRM"),
        "{:?}",
        failed.job_message
    );
    let with_osrm = no_osrm.with_osrm(Some(osrm.clone()));
    let outcomes = rebalanced(&with_osrm, by_road).await;
    assert!(matches!(outcomes[..], [Outcome::Done(_)]), "{outcomes:?}");
    let plan = stored_plan(&pool, by_road).await;
    assert_eq!(plan.job_state, PlanJobState::Idle);
    let metrics = plan.metrics.expect("metrics").0;
    assert!(
        metrics["max_deviation"].as_f64().expect("dev") <= 0.05,
        "{metrics}"
    );
    assert_eq!(metrics["contiguous"], json!(true), "{metrics}");

    // Without home bases a drive-time rebalance is refused before it starts, and so is a new
    // drive-time plan.
    sqlx::query("update reps set home_base = null")
        .execute(&pool)
        .await
        .expect("clear homes");
    let refused = with_osrm
        .start_rebalance(by_road, None, None)
        .await
        .expect_err("no home bases");
    assert!(refused.to_string().contains("home base"), "{refused}");
    let plan = stored_plan(&pool, by_road).await;
    assert_eq!(
        plan.job_state,
        PlanJobState::Idle,
        "a refused rebalance does not start"
    );
    // A team whose reps have no home base is refused when the plan is created, not after.
    let plans_before = plans::list(&pool, team_a).await.expect("plans").len();
    let refused = plans::create(&pool, team_a, None, &input(Travel::DriveTime))
        .await
        .expect_err("no home bases");
    assert!(
        matches!(refused, terrane::territory::TerritoryError::Invalid(_))
            && refused.to_string().contains("home base"),
        "{refused}"
    );
    assert_eq!(
        plans::list(&pool, team_a).await.expect("plans").len(),
        plans_before,
        "a refused plan leaves no draft behind"
    );
}

#[sqlx::test]
async fn hand_moves_rebuild_the_shapes_of_the_territories_that_changed(pool: PgPool) {
    let (team_a, _, draft) = draft_of_todays_plan(&pool).await;
    let (t1, t2, t3) = (
        territory_named(&pool, team_a, "owner-1").await,
        territory_named(&pool, team_a, "owner-2").await,
        territory_named(&pool, team_a, "owner-3").await,
    );
    let shape_of = |t: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select st_astext(shape) from plan_territories where plan_id = $1 and territory_id = $2",
            )
            .bind(draft)
            .bind(t)
            .fetch_one(&pool)
            .await
            .expect("shape")
        }
    };
    let (t2_cells, t3_shape) = (cells_of(&pool, draft, t2).await, shape_of(t3).await);
    // Move every one of owner-1's accounts in the cell where owner-1 has the most: that cell
    // must then follow them to owner-2 (owner-1 had the most workload there, and owner-2 now
    // has that plus its own).
    let t1_cells: std::collections::HashSet<u64> = sqlx::query_scalar::<_, i64>(
        "select cell from plan_cells where plan_id = $1 and territory_id = $2",
    )
    .bind(draft)
    .bind(t1)
    .fetch_all(&pool)
    .await
    .expect("cells")
    .into_iter()
    .map(i64::cast_unsigned)
    .collect();
    let t1_accounts: Vec<(Uuid, f64, f64)> = sqlx::query_as(
        "select pa.account_id, st_x(a.location), st_y(a.location)
         from plan_assignments pa join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and pa.territory_id = $2 and a.location is not null",
    )
    .bind(draft)
    .bind(t1)
    .fetch_all(&pool)
    .await
    .expect("accounts");
    let mut by_cell: std::collections::BTreeMap<u64, Vec<Uuid>> =
        std::collections::BTreeMap::default();
    for (id, lon, lat) in t1_accounts {
        let at = h3o::LatLng::new(lat, lon).expect("a location");
        if let Some(cell) = h3o::Resolution::range(h3o::Resolution::Zero, h3o::Resolution::Fifteen)
            .map(|r| u64::from(at.to_cell(r)))
            .find(|c| t1_cells.contains(c))
        {
            by_cell.entry(cell).or_default().push(id);
        }
    }
    let moving = by_cell
        .into_values()
        .max_by_key(Vec::len)
        .expect("owner-1 has accounts in its cells");
    plans::move_accounts(&pool, draft, &moving, t2, None, "test")
        .await
        .expect("moved");
    // Cells followed the accounts, and the shapes of the territories that changed were
    // rebuilt: every cell's centre lies in its own territory's shape.
    assert!(cells_of(&pool, draft, t2).await > t2_cells);
    let cells: Vec<(i64, Uuid)> =
        sqlx::query_as("select cell, territory_id from plan_cells where plan_id = $1")
            .bind(draft)
            .fetch_all(&pool)
            .await
            .expect("cells");
    let (ids, lons, lats): (Vec<Uuid>, Vec<f64>, Vec<f64>) = cells
        .iter()
        .map(|&(c, t)| {
            let centre =
                h3o::LatLng::from(h3o::CellIndex::try_from(c.cast_unsigned()).expect("a cell"));
            (t, centre.lng(), centre.lat())
        })
        .fold((vec![], vec![], vec![]), |mut acc, (t, x, y)| {
            acc.0.push(t);
            acc.1.push(x);
            acc.2.push(y);
            acc
        });
    let outside: i64 = sqlx::query_scalar(
        "select count(*) from unnest($2::uuid[], $3::float8[], $4::float8[]) as c(t, x, y)
         join plan_territories pt on pt.plan_id = $1 and pt.territory_id = c.t
         where not st_covers(pt.shape, st_setsrid(st_makepoint(c.x, c.y), 4326))",
    )
    .bind(draft)
    .bind(&ids)
    .bind(&lons)
    .bind(&lats)
    .fetch_one(&pool)
    .await
    .expect("outside");
    assert_eq!(
        outside, 0,
        "cells outside their territory's shape after a move"
    );
    let (pairs, largest) = overlaps_between_shapes(&pool, draft).await;
    assert_eq!(
        pairs, 0,
        "{pairs} pairs of shapes overlap after a move, the largest by {largest:.0} m²"
    );
    // A territory that neither gained nor lost a cell keeps its shape as it was.
    assert_eq!(shape_of(t3).await, t3_shape);
}

#[sqlx::test]
async fn a_manager_cannot_lock_or_unlock_another_teams_accounts_nor_learn_their_names(
    pool: PgPool,
) {
    let (team_a, _, draft) = draft_of_todays_plan(&pool).await;
    let team_b = team(&pool, "Team B").await;
    let plan_b = new_plan(&pool, team_b, Method::Current, None).await;
    let t_a = territory_named(&pool, team_a, "owner-1").await;
    let (account_b, t_b, name_b): (Uuid, Uuid, String) = sqlx::query_as(
        "select pa.account_id, pa.territory_id, a.name
         from plan_assignments pa join accounts a on a.id = pa.account_id
         where pa.plan_id = $1 and a.owner_rep_id is not null order by pa.account_id limit 1",
    )
    .bind(plan_b)
    .fetch_one(&pool)
    .await
    .expect("an account of team B");
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let csrf = csrf_in(&page_html(&manager, &app, "/").await);
    let lock = |territory: Uuid| {
        manager
            .post(app.url(&format!("/api/accounts/{account_b}/lock")))
            .header("x-csrf-token", &csrf)
            .json(&json!({"territory_id": territory, "reason": "mine now"}))
            .send()
    };
    let locked_in = || async {
        sqlx::query_scalar::<_, Uuid>(
            "select territory_id from territory_locks where account_id = $1",
        )
        .bind(account_b)
        .fetch_optional(&pool)
        .await
        .expect("lock")
    };

    // Not Team A's account: refused as if unknown.
    let r = lock(t_a).await.expect("lock");
    assert_eq!(r.status(), 400);
    assert_eq!(locked_in().await, None);

    // Team B locks it. Moving it inside Team A's draft (where it is not) does not name it.
    teams::lock(&pool, team_b, account_b, t_b, None, "team B keeps it")
        .await
        .expect("team B locks");

    let r = manager
        .post(app.url(&format!("/api/plans/{draft}/moves")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"account_ids": [account_b], "territory_id": t_a}))
        .send()
        .await
        .expect("move");
    let body = r.text().await.expect("body");
    assert!(
        !body.contains(&name_b),
        "the answer names another team's account: {body}"
    );

    // Then it becomes Team A's too (put in Team A's draft): Team A still cannot take Team B's
    // lock over, nor remove it.
    sqlx::query(
        "insert into plan_assignments (plan_id, account_id, territory_id, source, reason)
         values ($1, $2, $3, 'manual', 'shared')",
    )
    .bind(draft)
    .bind(account_b)
    .bind(t_a)
    .execute(&pool)
    .await
    .expect("in both teams' plans");
    let r = lock(t_a).await.expect("lock");
    assert_eq!(r.status(), 409);
    assert_eq!(locked_in().await, Some(t_b), "team B's lock stays");
    let r = manager
        .delete(app.url(&format!("/api/accounts/{account_b}/lock")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("unlock");
    assert_eq!(r.status(), 404);
    assert_eq!(locked_in().await, Some(t_b));
}
