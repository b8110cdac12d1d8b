-- Proximity alerts (issue 17): each team's rules, the alerts themselves, and the managers
-- allowed to see reps' precise positions. Owned by server/live/ (rules: live::rules, alerts:
-- live::alerts).

-- A team's rules; a team without a row uses the defaults below (docs/live.md, "Alerts").
create table proximity_rules (
    team_id                 uuid primary key references teams (id) on delete cascade,
    -- How near an account the rep must be, in metres.
    radius_m                integer not null default 300 check (radius_m between 150 and 2000),
    -- Priority 1 is the highest: accounts with a priority number above this never alert...
    max_priority            smallint not null default 3 check (max_priority between 1 and 5),
    -- ... nor those worth less than this a year (0: any value).
    min_annual_value        numeric(14, 2) not null default 0 check (min_annual_value >= 0),
    -- An account visited (a visit that counts) within this many days does not alert.
    visited_within_days     integer not null default 14 check (visited_within_days between 0 and 365),
    -- The rep must still be near after this many seconds, or on this many pings in a row.
    dwell_s                 integer not null default 30 check (dwell_s between 0 and 600),
    dwell_pings             integer not null default 2 check (dwell_pings between 1 and 10),
    -- After an alert, the same account does not alert the same rep for this long.
    cooldown_minutes        integer not null default 240 check (cooldown_minutes between 1 and 43200),
    -- At most this many alerts per rep per hour.
    max_per_hour            integer not null default 4 check (max_per_hour between 1 and 60),
    updated_by              uuid references users (id) on delete set null,
    updated_at              timestamptz not null default now()
);

create type proximity_alert_state as enum
    ('open', 'acknowledged', 'dismissed', 'snoozed', 'added_to_route', 'task_requested');

-- An alert: the rep came near an account worth a stop. Holds the distance, never the rep's
-- position. Deleted with the rep's track (retention, erasure).
create table proximity_alerts (
    id              uuid primary key default gen_random_uuid(),
    rep_id          uuid not null references reps (id) on delete cascade,
    account_id      uuid not null references accounts (id) on delete cascade,
    -- The ping that raised it (the rep's device's event id).
    ping_event_id   uuid not null,
    distance_m      real not null check (distance_m >= 0),
    state           proximity_alert_state not null default 'open',
    created_at      timestamptz not null default now(),
    acted_at        timestamptz,
    -- While snoozed, the account does not alert the rep again before this instant.
    snoozed_until   timestamptz,
    -- The appointment "add to route" booked.
    appointment_id  uuid references appointments (id) on delete set null,
    constraint proximity_alerts_ping_key unique (rep_id, ping_event_id, account_id)
);
create index proximity_alerts_rep_recent on proximity_alerts (rep_id, created_at desc);
create index proximity_alerts_rep_account on proximity_alerts (rep_id, account_id, created_at desc);
create index proximity_alerts_created on proximity_alerts (created_at);

-- Managers who may see their team's precise positions on the live map (each look audited).
-- Admins may always; everyone else sees positions snapped to geohash 7 (about 150 m).
alter table users add column live_precise boolean not null default false;

-- "Add to route" books an appointment from an alert.
alter type appointment_source add value if not exists 'alert';

-- The proximity index reads the accounts changed since its last refresh (server/live/).
create index if not exists accounts_updated_at on accounts (updated_at);
