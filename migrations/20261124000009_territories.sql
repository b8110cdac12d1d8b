-- Territories: teams' territories, ordered assignment rules, locks, the workload model, plans
-- (drafts beside the published one) with per-account assignments and their explanations, and
-- the CRM owner write-back outbox.

-- Territories belong to a team; a team's catch-all flag says where accounts go that no
-- team's rules or reps claim (one team at most).
alter table territories add column team_id uuid references teams (id) on delete cascade;
create index territories_team_idx on territories (team_id);
alter table teams add column catch_all boolean not null default false;
create unique index teams_one_catch_all on teams ((true)) where catch_all;

-- Workload model per team and tier: yearly workload of an account =
-- visits per year x (service minutes + travel minutes per visit).
-- `visits_per_year` null: use the account's own (from the CRM); `travel_minutes` null:
-- estimate from the distance to the account's nearest neighbours.
create table workload_tiers (
    team_id         uuid not null references teams (id) on delete cascade,
    tier            account_tier not null,
    visits_per_year integer check (visits_per_year between 0 and 366),
    service_minutes integer not null check (service_minutes between 0 and 1440),
    travel_minutes  integer check (travel_minutes between 0 and 1440),
    primary key (team_id, tier)
);

create type territory_rule_kind as enum ('postal_code', 'polygon', 'attribute', 'named');

-- Ordered per team: the first enabled rule that matches an account assigns it.
create table territory_rules (
    id              uuid primary key default gen_random_uuid(),
    team_id         uuid not null references teams (id) on delete cascade,
    position        integer not null check (position >= 0),
    kind            territory_rule_kind not null,
    territory_id    uuid not null references territories (id) on delete cascade,
    name            text not null default '' check (length(name) <= 200),
    -- postal_code: exact codes and prefixes, compared normalized (upper case, no spaces).
    postal_codes    text[] not null default '{}',
    postal_prefixes text[] not null default '{}',
    country_code    text check (country_code ~ '^[A-Z]{2}$'),
    -- polygon: drawn or imported; valid and capped in vertices (checked by the service too).
    area            geometry(MultiPolygon, 4326) check (area is null or st_isvalid(area)),
    -- attribute: {"tiers": ["A"], "industries": [...], "min_value": 0, "max_value": 100000}
    predicate       jsonb not null default '{}',
    -- named: these accounts.
    account_ids     uuid[] not null default '{}',
    enabled         boolean not null default true,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint territory_rules_position_key unique (team_id, position) deferrable initially deferred,
    constraint territory_rules_shape check (
        (kind = 'postal_code' and cardinality(postal_codes) + cardinality(postal_prefixes) > 0)
        or (kind = 'polygon' and area is not null)
        or (kind = 'attribute' and predicate <> '{}'::jsonb)
        or (kind = 'named' and cardinality(account_ids) > 0))
);
create trigger territory_rules_touch before update on territory_rules
    for each row execute function terrane_touch_updated_at();
create index territory_rules_area_idx on territory_rules using gist (area);

-- A locked account stays in its territory whatever rules and the optimizer say.
create table territory_locks (
    account_id      uuid primary key references accounts (id) on delete cascade,
    territory_id    uuid not null references territories (id) on delete cascade,
    locked_by       uuid references users (id) on delete set null,
    reason          text not null default '' check (length(reason) <= 500),
    created_at      timestamptz not null default now()
);

create type territory_plan_status as enum ('draft', 'published', 'superseded');

create table territory_plans (
    id              uuid primary key default gen_random_uuid(),
    team_id         uuid not null references teams (id) on delete cascade,
    name            text not null check (length(name) between 1 and 200),
    status          territory_plan_status not null default 'draft',
    -- How it was made: current (today's owners), rules, balanced, stability, copy.
    method          text not null check (method in ('current', 'rules', 'balanced', 'stability', 'copy')),
    parent_plan_id  uuid references territory_plans (id) on delete set null,
    params          jsonb not null default '{}',
    -- Background generation: idle | running | failed, with progress 0..1 for the page.
    job_state       text not null default 'idle' check (job_state in ('idle', 'running', 'failed')),
    job_progress    real not null default 0,
    job_message     text,
    metrics         jsonb,
    created_by      uuid references users (id) on delete set null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    published_at    timestamptz,
    published_by    uuid references users (id) on delete set null
);
create trigger territory_plans_touch before update on territory_plans
    for each row execute function terrane_touch_updated_at();
create unique index territory_plans_one_published on territory_plans (team_id)
    where status = 'published';

-- The territories of a plan, each with its rep and its shape (union of H3 cells).
create table plan_territories (
    plan_id         uuid not null references territory_plans (id) on delete cascade,
    territory_id    uuid not null references territories (id) on delete cascade,
    rep_id          uuid references reps (id) on delete set null,
    shape           geometry(MultiPolygon, 4326),
    primary key (plan_id, territory_id)
);

create type assignment_source as enum ('rule', 'lock', 'optimizer', 'manual', 'current', 'arrival');

-- Every account of a plan, where it goes and why.
create table plan_assignments (
    plan_id         uuid not null,
    account_id      uuid not null references accounts (id) on delete cascade,
    territory_id    uuid not null,
    source          assignment_source not null,
    rule_id         uuid references territory_rules (id) on delete set null,
    reason          text not null check (length(reason) <= 500),
    -- The CRM owner id the account had when the plan was computed: write-back compares it
    -- with the CRM's current owner and marks a conflict instead of overwriting.
    crm_owner_at_plan text,
    -- The account's yearly workload (minutes) as the plan computed it.
    workload        double precision not null default 0 check (workload >= 0),
    primary key (plan_id, account_id),
    foreign key (plan_id, territory_id)
        references plan_territories (plan_id, territory_id) on delete cascade
);
create index plan_assignments_territory_idx on plan_assignments (plan_id, territory_id);

-- The H3 cells (any resolution) each territory of a plan is made of, empty ones included so
-- shapes have no holes where no account lies; a shape is the union of its cells.
create table plan_cells (
    plan_id         uuid not null,
    cell            bigint not null,
    territory_id    uuid not null,
    primary key (plan_id, cell),
    foreign key (plan_id, territory_id)
        references plan_territories (plan_id, territory_id) on delete cascade
);

-- A team's book: the live, located accounts it plans. An account in a territory belongs to
-- that territory's team; one without a territory to its owner's team; one with neither (or
-- owned by a rep in no team) to the catch-all team, if there is one.
create function territory_team_book(team uuid) returns setof uuid
language sql stable as $$
    select a.id
    from accounts a
    left join territories t on t.id = a.territory_id
    left join team_members m on m.rep_id = a.owner_rep_id
    where a.deleted_at is null and a.location is not null
      and (t.team_id = team
           or (a.territory_id is null and m.team_id = team)
           or (a.territory_id is null and m.team_id is null
               and exists (select 1 from teams c where c.id = team and c.catch_all)))
$$;

-- CRM owner write-back: one row per owner change to send, queued when a plan is published.
create type crm_outbox_status as enum ('pending', 'done', 'conflict', 'failed');

create table crm_outbox (
    id              bigint generated always as identity primary key,
    connection_id   uuid not null references crm_connections (id) on delete cascade,
    account_id      uuid references accounts (id) on delete set null,
    crm_id          text not null,
    -- The CRM owner id expected there now (null: none); a different one is a conflict.
    expected_owner  text,
    new_owner       text not null,
    plan_id         uuid references territory_plans (id) on delete set null,
    status          crm_outbox_status not null default 'pending',
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    -- Why the last attempt failed or what the conflict was; ids, never personal data.
    last_error      text,
    created_at      timestamptz not null default now(),
    done_at         timestamptz,
    -- One change per plan and account, so a retried publish queues nothing twice.
    idempotency_key text not null,
    constraint crm_outbox_idempotency_key unique (idempotency_key)
);
create index crm_outbox_due_idx on crm_outbox (next_attempt_at, id) where status = 'pending';
create index crm_outbox_plan_idx on crm_outbox (plan_id);

-- An account's yearly workload in a team's model (minutes): visits per year x (service
-- minutes + travel minutes per visit). The tier's settings win over the defaults (service
-- A 60, B 45, C 30 minutes; the account's own visits); travel is estimated from the distance
-- to the three nearest other accounts (x 1.3 for roads, at 30 km/h), from 2 to 90 minutes.
create function territory_workload(team uuid, account uuid) returns float8
language sql stable as $$
    select coalesce(w.visits_per_year, a.visits_per_year)::float8
           * (coalesce(w.service_minutes,
                       case a.tier when 'A' then 60 when 'B' then 45 else 30 end)::float8
              + coalesce(w.travel_minutes::float8, travel.minutes))
    from accounts a
    left join workload_tiers w on w.team_id = team and w.tier = a.tier
    cross join lateral (
        select least(90.0, greatest(2.0,
                   coalesce(avg(st_distance(a.location::geography, n.location::geography)), 0)
                   * 1.3 / 500.0))::float8 as minutes
        from (select o.location from accounts o
              where o.deleted_at is null and o.location is not null and o.id <> a.id
              order by o.location <-> a.location
              limit 3) n
    ) travel
    where a.id = account
$$;
