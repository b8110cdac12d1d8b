-- Foundation schema: PostGIS, reps, territories, accounts.
-- Geometry is always SRID 4326 (longitude, latitude). Later issues add their own tables.

create extension if not exists postgis;

-- Shared trigger keeping updated_at honest without relying on every writer.
create or replace function terrane_touch_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create table reps (
    id              uuid primary key default gen_random_uuid(),
    name            text not null check (length(name) between 1 and 200),
    email           text not null check (position('@' in email) > 1),
    crm_owner_id    text,
    home_base       geometry(Point, 4326),
    -- Working hours in the rep's local time; workdays are ISO weekdays (1 = Monday).
    work_start      time not null default '08:30',
    work_end        time not null default '17:30',
    workdays        smallint[] not null default '{1,2,3,4,5}',
    timezone        text not null default 'Europe/Monaco',
    active          boolean not null default true,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint reps_email_key unique (email),
    constraint reps_crm_owner_id_key unique (crm_owner_id),
    constraint reps_hours_order check (work_start < work_end)
);
create trigger reps_touch before update on reps
    for each row execute function terrane_touch_updated_at();

create table territories (
    id              uuid primary key default gen_random_uuid(),
    name            text not null check (length(name) between 1 and 200),
    color           text not null default '#3b82f6' check (color ~ '^#[0-9a-fA-F]{6}$'),
    rep_id          uuid references reps (id) on delete set null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint territories_name_key unique (name)
);
create trigger territories_touch before update on territories
    for each row execute function terrane_touch_updated_at();

create type geocode_status as enum ('pending', 'ok', 'failed', 'manual');
create type geocode_precision as enum
    ('rooftop', 'interpolated', 'street', 'postal_code', 'locality', 'manual');
create type account_tier as enum ('A', 'B', 'C');

create table accounts (
    id                  uuid primary key default gen_random_uuid(),
    crm_source          text not null check (length(crm_source) between 1 and 100),
    crm_id              text not null check (length(crm_id) between 1 and 200),
    name                text not null check (length(name) between 1 and 500),
    industry            text,
    -- Structured address as the CRM sent it.
    address_line        text,
    house_number        text,
    street              text,
    postal_code         text,
    city                text,
    country_code        text check (country_code ~ '^[A-Z]{2}$'),
    -- Stable normalized form (the geocoding cache key); set by the geocoding capability.
    address_normalized  text,
    location            geometry(Point, 4326),
    geocode_status      geocode_status not null default 'pending',
    geocode_precision   geocode_precision,
    geocode_confidence  real check (geocode_confidence between 0 and 1),
    geocode_source      text,
    geocoded_at         timestamptz,
    -- H3 cell (resolution 9) of location, as the 64-bit index.
    h3_cell             bigint,
    tier                account_tier not null default 'C',
    annual_value        numeric(14, 2) not null default 0 check (annual_value >= 0),
    visits_per_year     integer not null default 4 check (visits_per_year between 0 and 366),
    priority            smallint not null default 3 check (priority between 1 and 5),
    territory_id        uuid references territories (id) on delete set null,
    owner_rep_id        uuid references reps (id) on delete set null,
    -- True for demo prospects invented by the seed builder (not real businesses).
    synthetic           boolean not null default false,
    crm_updated_at      timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    deleted_at          timestamptz,
    constraint accounts_crm_key unique (crm_source, crm_id),
    constraint accounts_location_range check (
        location is null or (
            st_x(location) between -180 and 180 and st_y(location) between -90 and 90
        )
    )
);
create trigger accounts_touch before update on accounts
    for each row execute function terrane_touch_updated_at();

create index accounts_location_gist on accounts using gist (location) where deleted_at is null;
create index accounts_owner_idx on accounts (owner_rep_id) where deleted_at is null;
create index accounts_territory_idx on accounts (territory_id) where deleted_at is null;
create index accounts_geocode_pending_idx on accounts (id) where geocode_status = 'pending' and deleted_at is null;
