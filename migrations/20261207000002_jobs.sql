-- Background jobs (plan generation, rebalancing, "reconcile now") as rows, so a restart or a
-- crash cannot lose them: claimed with `for update skip locked` under a lease that expires,
-- handed back on graceful shutdown, failed with a sentence after too many attempts.

create type job_kind as enum ('plan_generate', 'plan_rebalance', 'crm_reconcile');
create type job_state as enum ('queued', 'running', 'done', 'failed');

create table jobs (
    -- Ordered: a plan's newest job is the one with the largest id.
    id              bigint generated always as identity primary key,
    kind            job_kind not null,
    payload         jsonb not null default '{}',
    team_id         uuid references teams (id) on delete cascade,
    plan_id         uuid references territory_plans (id) on delete cascade,
    connection_id   uuid references crm_connections (id) on delete cascade,
    state           job_state not null default 'queued',
    -- Counted when a worker claims the job; not counted when shutdown hands it back.
    attempts        integer not null default 0 check (attempts >= 0),
    max_attempts    integer not null check (max_attempts between 1 and 100),
    -- Not claimed before (a retry waits a little).
    not_before      timestamptz not null default now(),
    -- A running job whose lease passed lost its worker (killed): it is claimed again.
    lease_until     timestamptz,
    -- The cause, for the logs and operators; never shown to managers.
    last_error      text,
    -- What the page shows when the job failed: a sentence.
    message         text,
    created_at      timestamptz not null default now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    check ((kind in ('plan_generate', 'plan_rebalance')) = (plan_id is not null and team_id is not null)),
    check ((kind = 'crm_reconcile') = (connection_id is not null))
);

-- One plan job per team at a time: a second request while one is queued or running is a 409.
create unique index jobs_one_plan_job_per_team on jobs (team_id)
    where state in ('queued', 'running') and team_id is not null;
-- One reconciliation per connection waiting or running.
create unique index jobs_one_reconcile_per_connection on jobs (connection_id)
    where state in ('queued', 'running') and connection_id is not null;
create index jobs_claimable_idx on jobs (id) where state in ('queued', 'running');
create index jobs_plan_idx on jobs (plan_id, id desc) where plan_id is not null;

-- A plan's job state now comes from its newest job. Plans left `running` by the detached
-- tasks of before could never finish: they become failed jobs the manager can start again.
insert into jobs (kind, team_id, plan_id, state, attempts, max_attempts, last_error, message,
                  finished_at)
select 'plan_generate', team_id, id, 'failed', 1, 1,
       case job_state when 'running' then 'interrupted before the jobs table existed'
                      else job_message end,
       case job_state
           when 'running' then 'The computation was interrupted by a server restart; rebalance the plan or create it again.'
           else 'The computation failed; rebalance the plan or create it again.'
       end,
       now()
from territory_plans where job_state in ('running', 'failed');
alter table territory_plans drop column job_state;
