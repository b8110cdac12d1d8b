-- Live location, first slice: the pings reps' devices send (issue 17). Owned by server/live/.
-- Positions are stored as they may be kept: `coarse` pings are already snapped to their
-- geohash cell's centre; `off` pings never reach this table.
create table pings (
    id           bigint generated always as identity primary key,
    rep_id       uuid not null references reps (id) on delete cascade,
    -- The device's own id for itself (an install id), as the envelope states it.
    device_id    text not null check (length(device_id) between 1 and 64),
    -- The device's id for this ping: a repeat of it by the same rep is a duplicate.
    event_id     uuid not null,
    recorded_at  timestamptz not null,
    received_at  timestamptz not null default now(),
    position     geometry(Point, 4326) not null,
    accuracy_m   real not null check (accuracy_m >= 0 and accuracy_m <= 5000),
    speed_mps    real check (speed_mps >= 0 and speed_mps <= 90),
    -- The API takes [0, 360); 360 is allowed here because a value just under it rounds to
    -- 360 as a real.
    heading_deg  real check (heading_deg >= 0 and heading_deg <= 360),
    tier         text not null check (tier in ('precise', 'coarse')),
    -- Spoofing signs (server/live/plausibility.rs); a flagged ping never alerts.
    flags        text[] not null default '{}' check (flags <@ array[
                     'too_fast', 'teleport', 'unreal_accuracy', 'repeated_position',
                     'round_coordinates']::text[]),
    -- Recorded long before it arrived (an offline backlog): kept, never alerts.
    late         boolean not null default false,
    constraint pings_rep_event_key unique (rep_id, event_id)
);
create index pings_rep_recorded on pings (rep_id, recorded_at desc);
-- The retention purge deletes by age.
create index pings_recorded on pings (recorded_at);
