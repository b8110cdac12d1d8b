//! Background jobs (`server/jobs/`): plans survive a killed or stopped server, fail with a
//! sentence after too many attempts, one plan job per team, at most the instance's slots at once.

use crate::helpers::send_get;
use crate::helpers::{rebalanced, stored_plan};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use terrane::jobs::{self, JobKind, JobState, Lane, Outcome};
use terrane::territory::plans::{self, Method, NewPlan, PlanJobState, Travel};

use crate::helpers::{
    Server, csrf_in, database_url_of, page_html, seed_demo, spawn_app, team_id, test_jobs,
};

fn balanced(name: &str) -> NewPlan {
    NewPlan {
        name: name.into(),
        method: Method::Balanced,
        from_plan_id: None,
        tolerance: None,
        use_home_bases: false,
        travel: Travel::StraightLine,
    }
}

/// The newest job of a plan.
async fn job_of(pool: &PgPool, plan: Uuid) -> jobs::Job {
    jobs::db::latest_of_plan(pool, plan)
        .await
        .expect("job")
        .expect("the plan has a job")
}

async fn plan_job_state(pool: &PgPool, plan: Uuid) -> (PlanJobState, Option<String>) {
    let p = stored_plan(pool, plan).await;
    (p.job_state, p.job_message)
}

/// Queues a rebalance of `plan` and runs it to the end.
async fn rebalance_now(queue: &jobs::Jobs, plan: Uuid) {
    let outcomes = rebalanced(queue, plan).await;
    assert!(matches!(outcomes[..], [Outcome::Done(_)]), "{outcomes:?}");
}

/// The demo data, Team A's id, a job queue and a balanced plan named `name` queued on it.
async fn queued_plan(pool: &PgPool, name: &str) -> (Uuid, jobs::Jobs, Uuid) {
    seed_demo(pool).await;
    let team_a = team_id(pool, "Team A").await;
    let queue = test_jobs(pool, None);
    let (plan, _) = queue
        .start_plan(team_a, None, &balanced(name))
        .await
        .expect("queued");
    (team_a, queue, plan)
}

/// Makes the running jobs' leases lapse, as if their worker had been killed.
async fn lapse_leases(pool: &PgPool) {
    sqlx::query(
        "update jobs set lease_until = now() - interval '1 second' where state = 'running'",
    )
    .execute(pool)
    .await
    .expect("lapse");
}

#[sqlx::test]
async fn a_second_plan_request_for_a_team_while_one_is_queued_is_a_409(pool: PgPool) {
    seed_demo(&pool).await;
    let (team_a, team_b) = (
        team_id(&pool, "Team A").await,
        team_id(&pool, "Team B").await,
    );
    let app = spawn_app(pool.clone()).await;
    let manager = app.client_as("manager.a@example.com").await;
    let csrf = csrf_in(&page_html(&manager, &app, "/").await);
    let request = |team: Uuid, name: &str| {
        manager
            .post(app.url(&format!("/api/teams/{team}/plans")))
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": name, "method": "balanced"}))
            .send()
    };
    let first = request(team_a, "First").await.expect("request");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let first_id: Uuid = serde_json::from_value(first["id"].clone()).expect("id");
    let (state, _) = plan_job_state(&pool, first_id).await;
    assert_eq!(
        state,
        PlanJobState::Queued,
        "no worker runs in tests: it waits"
    );

    let second = request(team_a, "Second").await.expect("request");
    assert_eq!(second.status(), 409);
    let body: Value = second.json().await.expect("a JSON error");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("already queued or being computed"),
        "{body}"
    );
    // Refused whole: no second draft was left behind.
    assert_eq!(plans::list(&pool, team_a).await.expect("plans").len(), 1);
    // The database enforces it whatever the early check says: a second plan job of the team
    // is refused by the partial unique index.
    let direct = jobs::db::insert(
        &pool,
        &jobs::NewJob {
            kind: JobKind::PlanGenerate,
            payload: json!({}),
            team_id: Some(team_a),
            plan_id: Some(first_id),
            connection_id: None,
        },
        3,
    )
    .await
    .expect_err("one plan job per team");
    assert!(
        matches!(jobs::JobError::from(direct), jobs::JobError::TeamBusy),
        "the unique violation reads as TeamBusy"
    );
    // A rebalance of the queued draft is refused too.
    let r = manager
        .post(app.url(&format!("/api/plans/{first_id}/rebalance")))
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 409);

    // Another team is not held up by this one.
    let admin = app.client_as(crate::helpers::ADMIN).await;
    let admin_csrf = csrf_in(&page_html(&admin, &app, "/").await);
    let r = admin
        .post(app.url(&format!("/api/teams/{team_b}/plans")))
        .header("x-csrf-token", &admin_csrf)
        .json(&json!({"name": "B", "method": "balanced"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 202);

    // Once the job is done the team may ask again.
    let outcomes = app.state.jobs.drain(Lane::Plans).await.expect("drain");
    assert!(
        matches!(outcomes[..], [Outcome::Done(_), Outcome::Done(_)]),
        "{outcomes:?}"
    );
    assert_eq!(plan_job_state(&pool, first_id).await.0, PlanJobState::Idle);
    let third = request(team_a, "Third").await.expect("request");
    assert_eq!(third.status(), 202);
}

#[sqlx::test]
async fn an_instance_runs_no_more_plan_jobs_than_its_slots(pool: PgPool) {
    let (_, queue, plan) = queued_plan(&pool, "Limited").await;
    // The one slot is taken (another plan computing here): nothing is claimed.
    let taken = queue.plan_slots().try_acquire().expect("a free slot");
    assert_eq!(
        queue.drain(Lane::Plans).await.expect("step"),
        [Outcome::AtCapacity]
    );
    assert_eq!(job_of(&pool, plan).await.state, JobState::Queued);
    drop(taken);
    let outcomes = queue.drain(Lane::Plans).await.expect("drain");
    assert!(matches!(outcomes[..], [Outcome::Done(_)]), "{outcomes:?}");
    assert_eq!(job_of(&pool, plan).await.attempts, 1);
}

#[sqlx::test]
async fn a_job_whose_worker_died_is_run_again_and_the_plan_can_be_published(pool: PgPool) {
    let (_, queue, plan) = queued_plan(&pool, "Survivor").await;
    // A worker claims it and dies (its lease is never renewed).
    let claimed = jobs::db::claim(&pool, &[JobKind::PlanGenerate], Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(plan_job_state(&pool, plan).await.0, PlanJobState::Running);
    // While it holds the lease nobody else takes it, and the plan refuses changes.
    assert!(
        queue.drain(Lane::Plans).await.expect("drain").is_empty(),
        "a live lease is respected"
    );
    let refused = plans::publish(&pool, plan, None)
        .await
        .expect_err("busy plans are not published");
    assert!(refused.to_string().contains("being computed"), "{refused}");

    lapse_leases(&pool).await;
    let outcomes = queue.drain(Lane::Plans).await.expect("drain");
    assert_eq!(outcomes, [Outcome::Done(claimed.id)]);
    let job = job_of(&pool, plan).await;
    assert_eq!(job.attempts, 2);
    assert!(
        job.last_error.as_deref().unwrap_or("").contains("lease"),
        "{job:?}"
    );
    // A worker that comes back after its lease lapsed changes nothing.
    assert!(
        !jobs::db::complete(&pool, claimed.id, claimed.attempts)
            .await
            .expect("update")
    );

    rebalance_now(&queue, plan).await;
    plans::publish(&pool, plan, None).await.expect("published");
}

#[sqlx::test]
async fn a_job_whose_worker_dies_every_time_fails_with_a_sentence_and_can_be_restarted(
    pool: PgPool,
) {
    let (team_a, queue, plan) = queued_plan(&pool, "Unlucky").await;
    let max = queue.settings().max_attempts;
    for attempt in 1..=max {
        let job = jobs::db::claim(&pool, &[JobKind::PlanGenerate], Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("claimed again after its lease lapsed");
        assert_eq!(job.attempts, attempt);
        lapse_leases(&pool).await;
    }
    assert_eq!(
        queue.drain(Lane::Plans).await.expect("drain"),
        [Outcome::Abandoned(1)]
    );
    let (state, message) = plan_job_state(&pool, plan).await;
    assert_eq!(state, PlanJobState::Failed);
    let message = message.expect("a message");
    assert!(message.contains("interrupted too many times"), "{message}");
    assert!(
        !message.contains("lease"),
        "internal words stay out: {message}"
    );

    // Not stuck: the team may start another plan, and this one can be computed again.
    rebalance_now(&queue, plan).await;
    assert_eq!(plan_job_state(&pool, plan).await.0, PlanJobState::Idle);
    queue
        .start_plan(team_a, None, &balanced("Again"))
        .await
        .expect("the team is free");
}

#[sqlx::test]
async fn internal_errors_are_retried_then_shown_as_a_sentence_not_as_their_text(pool: PgPool) {
    let (team_a, queue, plan) = queued_plan(&pool, "Broken").await;
    let app = spawn_app(pool.clone()).await;
    // The database breaks under the plan: saving its cells fails with an internal error.
    sqlx::query("alter table plan_cells rename to plan_cells_gone")
        .execute(&pool)
        .await
        .expect("rename");
    let outcomes = queue.drain(Lane::Plans).await.expect("drain");
    assert!(
        matches!(
            outcomes[..],
            [
                Outcome::Retrying(_),
                Outcome::Retrying(_),
                Outcome::Failed(_)
            ]
        ),
        "{outcomes:?}"
    );
    let job = job_of(&pool, plan).await;
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or("")
            .contains("plan_cells"),
        "the cause is kept for operators: {job:?}"
    );
    sqlx::query("alter table plan_cells_gone rename to plan_cells")
        .execute(&pool)
        .await
        .expect("rename back");
    // What the manager sees: a sentence, and nothing of the cause.
    let manager = app.client_as("manager.a@example.com").await;
    for path in [
        format!("/api/plans/{plan}"),
        format!("/api/teams/{team_a}/plans"),
    ] {
        let body = page_html(&manager, &app, &path).await;
        assert!(body.contains("problem on the server"), "{path}: {body}");
        for internal in ["plan_cells", "relation", "does not exist"] {
            assert!(
                !body.contains(internal),
                "{path} shows {internal:?}: {body}"
            );
        }
    }
    rebalance_now(&queue, plan).await;
}

/// Waits (bounded) until the plan's job is in `state`.
async fn until_job(pool: &PgPool, plan: Uuid, state: JobState) -> jobs::Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = job_of(pool, plan).await;
        if job.state == state {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "the job never reached {state:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A queued balanced plan for Team A, and a transaction holding its row so that its job, once
/// claimed, cannot finish (its results are written under that row) until the hold is released.
async fn plan_held_mid_job(pool: &PgPool) -> (Uuid, sqlx::Transaction<'static, sqlx::Postgres>) {
    seed_demo(pool).await;
    let team_a = team_id(pool, "Team A").await;
    let (plan, _) = test_jobs(pool, None)
        .start_plan(team_a, None, &balanced("Through a crash"))
        .await
        .expect("queued");
    let mut hold = pool.begin().await.expect("tx");
    sqlx::query("select 1 from territory_plans where id = $1 for update")
        .bind(plan)
        .execute(&mut *hold)
        .await
        .expect("hold the plan row");
    (plan, hold)
}

#[sqlx::test]
async fn a_plan_computing_when_the_server_is_killed_finishes_after_restart(pool: PgPool) {
    let url = database_url_of(&pool).await;
    let (plan, hold) = plan_held_mid_job(&pool).await;
    let mut server = Server::start(&url);
    let running = until_job(&pool, plan, JobState::Running).await;
    assert_eq!(running.attempts, 1);

    // Killed mid-job: nothing hands the job back.
    server.signal(nix::sys::signal::Signal::SIGKILL);
    server.exited().await;
    let orphan = job_of(&pool, plan).await;
    assert_eq!(orphan.state, JobState::Running, "the kill landed mid-job");
    hold.rollback().await.expect("release");

    // After restart the lease lapses and the job runs again to the end.
    let mut server = Server::start(&url);
    let done = until_job(&pool, plan, JobState::Done).await;
    assert_eq!(done.attempts, 2);
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.exited().await.success());

    rebalance_now(&test_jobs(&pool, None), plan).await;
    plans::publish(&pool, plan, None).await.expect("published");
}

#[sqlx::test]
async fn sigterm_hands_a_running_job_back_and_the_next_start_finishes_it(pool: PgPool) {
    let url = database_url_of(&pool).await;
    let (plan, hold) = plan_held_mid_job(&pool).await;
    let mut server = Server::start(&url);
    until_job(&pool, plan, JobState::Running).await;

    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.exited().await.success(), "a clean stop");
    let handed_back = job_of(&pool, plan).await;
    assert_eq!(handed_back.state, JobState::Queued);
    assert_eq!(
        handed_back.attempts, 0,
        "the interrupted attempt is not counted"
    );
    assert_eq!(plan_job_state(&pool, plan).await.0, PlanJobState::Queued);
    hold.rollback().await.expect("release");

    let mut server = Server::start(&url);
    let done = until_job(&pool, plan, JobState::Done).await;
    assert_eq!(done.attempts, 1);
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.exited().await.success());
    assert_eq!(plan_job_state(&pool, plan).await.0, PlanJobState::Idle);
}

#[sqlx::test]
async fn pages_answer_while_heavy_jobs_hold_every_connection_of_their_share(pool: PgPool) {
    seed_demo(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let heavy = app.state.jobs.heavy_pool();
    let share = app.state.config.jobs.db_connections;
    assert_eq!(share, 4, "a quarter of the default pool of 16");
    let mut held = Vec::new();
    for _ in 0..share {
        held.push(heavy.acquire().await.expect("a connection of the share"));
    }
    assert!(
        heavy.try_acquire().is_none(),
        "plans can take no more than their share"
    );
    // Requests run on the rest of the pool.
    let manager = app.client_as("manager.a@example.com").await;
    for path in ["/readyz", "/api/teams", "/territories"] {
        let r = send_get(&manager, &app, path).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    drop(held);
}

#[sqlx::test(migrations = false)]
async fn plans_left_running_before_the_jobs_table_become_failed_and_can_be_rebalanced(
    pool: PgPool,
) {
    // The schema as it was before the jobs table, with a plan its detached task left running.
    let all = &terrane::db::MIGRATOR;
    let jobs_at = all
        .migrations
        .iter()
        .position(|m| m.description.contains("jobs"))
        .expect("the jobs migration");
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(all.migrations[..jobs_at].to_vec()),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    before.run(&pool).await.expect("older migrations");
    seed_demo(&pool).await;
    let team_a = team_id(&pool, "Team A").await;
    let stuck = plans::create(&pool, team_a, None, &balanced("Stuck"))
        .await
        .expect("draft");
    sqlx::query("update territory_plans set job_state = 'running' where id = $1")
        .bind(stuck)
        .execute(&pool)
        .await
        .expect("stuck");

    all.run(&pool).await.expect("the jobs migration");
    let (state, message) = plan_job_state(&pool, stuck).await;
    assert_eq!(state, PlanJobState::Failed);
    assert!(
        message.as_deref().unwrap_or("").contains("restart"),
        "{message:?}"
    );
    rebalance_now(&test_jobs(&pool, None), stuck).await;
    assert_eq!(plan_job_state(&pool, stuck).await.0, PlanJobState::Idle);
    plans::publish(&pool, stuck, None).await.expect("published");
}
