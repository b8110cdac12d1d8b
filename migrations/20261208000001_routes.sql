-- Routes (issue 16): what a rep's day plan needs — breaks and chosen start/end per rep,
-- service minutes per account, opening hours, appointments, visits — and the plans themselves.

-- A rep's break: `break_minutes` taken wholly between `break_earliest` and `break_latest`
-- (local time, like work_start/work_end); 0 = no break. The day starts and ends at the home
-- base unless a start or end point is chosen.
alter table reps
    add column break_minutes  smallint not null default 30 check (break_minutes between 0 and 240),
    add column break_earliest time not null default '12:00',
    add column break_latest   time not null default '14:00',
    add column day_start      geometry(Point, 4326),
    add column day_end        geometry(Point, 4326),
    add constraint reps_break_window check (break_earliest < break_latest);

-- Minutes a visit takes at this account; null = the team's tier default.
alter table accounts
    add column service_minutes integer check (service_minutes between 1 and 600);

-- Opening hours: several windows per ISO weekday (1 = Monday). An account with rows is closed
-- on weekdays that have none; an account without rows has unknown hours (any time of the shift).
create type opening_hours_source as enum ('crm', 'csv', 'osm', 'manual');
create table account_opening_hours (
    account_id  uuid not null references accounts (id) on delete cascade,
    weekday     smallint not null check (weekday between 1 and 7),
    opens       time not null,
    closes      time not null,
    source      opening_hours_source not null,
    primary key (account_id, weekday, opens),
    constraint account_opening_hours_order check (opens < closes)
);

create type appointment_status as enum ('booked', 'cancelled');
create type appointment_source as enum ('page', 'api', 'csv');

-- An appointment: `duration_minutes` at the account, starting at `window_start` (a fixed
-- time: the window is exactly as long as the visit) or anywhere that ends by `window_end`.
create table appointments (
    id                uuid primary key default gen_random_uuid(),
    rep_id            uuid not null references reps (id) on delete cascade,
    account_id        uuid not null references accounts (id) on delete cascade,
    window_start      timestamptz not null,
    window_end        timestamptz not null,
    duration_minutes  integer not null check (duration_minutes between 5 and 600),
    status            appointment_status not null default 'booked',
    note              text check (length(note) <= 2000),
    source            appointment_source not null,
    -- The CSV's own id for the row (re-importing a file updates instead of duplicating).
    external_ref      text check (length(external_ref) between 1 and 200),
    created_by        uuid references users (id) on delete set null,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint appointments_window_order check (window_start < window_end),
    constraint appointments_duration_fits
        check (window_end - window_start >= make_interval(mins => duration_minutes)),
    constraint appointments_external_ref_key unique (rep_id, external_ref)
);
create index appointments_rep_day on appointments (rep_id, window_start) where status = 'booked';

create type visit_outcome as enum ('met', 'no_one_available', 'follow_up', 'other');
create type visit_source as enum ('app', 'crm');

-- A visit (check-in). `event_id` is the client's own id: a phone that sends the same visit
-- twice (offline queue, retry) records it once. A visit logged far from the account
-- (`far_from_account`) is kept for the manager but does not count as the last visit.
create table visits (
    id                uuid primary key default gen_random_uuid(),
    event_id          text not null check (length(event_id) between 8 and 100),
    rep_id            uuid not null references reps (id) on delete cascade,
    account_id        uuid not null references accounts (id) on delete cascade,
    visited_at        timestamptz not null,
    outcome           visit_outcome not null,
    note              text check (length(note) <= 2000),
    source            visit_source not null,
    -- Metres between the phone (when the rep shared its position) and the account; the
    -- position itself is not kept.
    distance_m        real check (distance_m >= 0),
    far_from_account  boolean not null default false,
    created_at        timestamptz not null default now(),
    constraint visits_event_id_key unique (event_id)
);
create index visits_account_latest on visits (account_id, visited_at desc) where not far_from_account;
create index visits_rep_day on visits (rep_id, visited_at);

-- The current plan of a rep's day, as the API returns it. `stale` is set in the transaction
-- that changes an input (an appointment, a visit): the next read plans the day again.
create table route_days (
    rep_id        uuid not null references reps (id) on delete cascade,
    day           date not null,
    plan          jsonb not null,
    stale         boolean not null default false,
    computed_at   timestamptz not null default now(),
    primary key (rep_id, day)
);
