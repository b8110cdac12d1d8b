-- CRM sync in: connections with encrypted secrets, the durable webhook inbox, reconciliation
-- reports, and the account columns the sync needs.

create type crm_kind as enum ('hubspot', 'salesforce', 'standard');

create table crm_connections (
    id                  uuid primary key default gen_random_uuid(),
    -- Also the accounts' `crm_source` and the `{connection}` of the Standard Webhooks URL.
    name                text not null check (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    kind                crm_kind not null,
    -- The CRM's API (HubSpot: https://api.hubapi.com; Salesforce: the login or My Domain URL).
    api_base_url        text check (api_base_url ~ '^https?://'),
    -- The CRM account the connection belongs to: the Salesforce organization id (15 or 18
    -- characters; Outbound Messages must carry it) or the HubSpot account (portal) id, which
    -- webhooks must carry when set (one HubSpot app's secret signs for every portal using it).
    organization_id     text check (organization_id ~ '^[0-9A-Za-z]{1,18}$'),
    enabled             boolean not null default true,
    -- AES-256-GCM sealed JSON (webhook secrets, OAuth2 client and refresh token); never shown.
    secrets             bytea,
    -- What is set, without the values: {"webhook_secrets": 2, "oauth_client": true, ...}.
    secrets_summary     jsonb not null default '{}',
    -- Sealed cached OAuth2 access token (and Salesforce instance URL).
    oauth_token         bytea,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    constraint crm_connections_name_key unique (name),
    constraint crm_connections_salesforce_org check (
        kind <> 'salesforce' or organization_id ~ '^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$'),
    constraint crm_connections_hubspot_portal check (
        kind <> 'hubspot' or organization_id is null or organization_id ~ '^[0-9]{1,18}$')
);
create trigger crm_connections_touch before update on crm_connections
    for each row execute function terrane_touch_updated_at();

create type crm_inbox_status as enum ('pending', 'done', 'dead');

-- Raw events as the CRM sent them, committed before the webhook is acknowledged.
create table crm_inbox (
    id                  bigint generated always as identity primary key,
    connection_id       uuid not null references crm_connections (id) on delete cascade,
    event_id            text not null check (length(event_id) between 1 and 300),
    received_at         timestamptz not null default now(),
    payload             jsonb not null,
    status              crm_inbox_status not null default 'pending',
    attempts            integer not null default 0,
    next_attempt_at     timestamptz not null default now(),
    -- Why the last attempt failed; names fields, never their values.
    last_error          text,
    -- applied | stale (older than what we hold) | ignored (not about accounts)
    outcome             text,
    processed_at        timestamptz,
    constraint crm_inbox_event_key unique (connection_id, event_id)
);
create index crm_inbox_due_idx on crm_inbox (next_attempt_at, id) where status = 'pending';
create index crm_inbox_dead_idx on crm_inbox (id) where status = 'dead';
create index crm_inbox_processed_idx on crm_inbox (processed_at) where status = 'done';

create type crm_reconcile_status as enum ('running', 'ok', 'failed');

create table crm_reconciliations (
    id                  bigint generated always as identity primary key,
    connection_id       uuid not null references crm_connections (id) on delete cascade,
    trigger             text not null check (trigger in ('schedule', 'command', 'page', 'test')),
    status              crm_reconcile_status not null default 'running',
    started_at          timestamptz not null default now(),
    finished_at         timestamptz,
    remote_records      integer not null default 0,
    created             integer not null default 0,
    updated             integer not null default 0,
    deleted             integer not null default 0,
    unchanged           integer not null default 0,
    errors              integer not null default 0,
    -- Up to 20 {crm_id, reason} samples; reasons name fields, never values.
    error_samples       jsonb not null default '[]',
    failure             text
);
create index crm_reconciliations_recent_idx on crm_reconciliations (connection_id, id desc);

alter table accounts
    add column crm_owner_id text,
    -- Set when the CRM merged this record into another; the survivor's id.
    add column merged_into uuid references accounts (id) on delete set null;

-- One comparable text for an address however the CRM splits it ("6 Quai X" as one line or as
-- house number + street), so re-sending the same address never triggers re-geocoding.
create or replace function terrane_address_text(
    line text, house_number text, street text, postal_code text, city text, country_code text
) returns text
language sql immutable parallel safe as $$
    select lower(regexp_replace(concat_ws(' ',
        coalesce(nullif(btrim(line), ''), concat_ws(' ', nullif(btrim(house_number), ''), nullif(btrim(street), ''))),
        nullif(btrim(postal_code), ''), nullif(btrim(city), ''), nullif(btrim(country_code), '')),
        '\s+', ' ', 'g'))
$$;
