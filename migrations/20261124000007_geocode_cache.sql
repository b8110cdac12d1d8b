-- Geocoding: the result cache (keyed on the normalized address), and the worker's bookkeeping
-- on accounts.

create table geocode_cache (
    -- `NormalizedAddress::key()`: versioned, so a change of normalization rules misses old rows.
    key             text primary key,
    -- Null for a negative result ("no provider knows this address").
    lon             float8 check (lon between -180 and 180),
    lat             float8 check (lat between -90 and 90),
    precision       geocode_precision,
    confidence      real check (confidence between 0 and 1),
    provider        text not null,
    fetched_at      timestamptz not null default now(),
    -- Set by the provider's policy; negative results expire sooner.
    expires_at      timestamptz not null,
    hits            bigint not null default 0,
    constraint geocode_cache_point_or_nothing check ((lon is null) = (lat is null))
);
create index geocode_cache_expiry_idx on geocode_cache (expires_at);

alter table accounts
    add column geocode_attempts integer not null default 0,
    add column geocode_next_attempt_at timestamptz,
    -- Why the last attempt failed, without the address.
    add column geocode_error text;

create index accounts_geocode_due_idx on accounts (geocode_next_attempt_at nulls first, id)
    where geocode_status = 'pending' and deleted_at is null;
