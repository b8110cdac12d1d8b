-- Sign-in, roles, teams and the append-only audit log.

create type user_role as enum ('admin', 'manager', 'rep');

-- People who can sign in. `role` null means "waiting for access": signed in, sees nothing.
create table users (
    id              uuid primary key default gen_random_uuid(),
    email           text not null check (position('@' in email) > 1),
    name            text not null default '',
    role            user_role,
    -- Set for role = rep: the rep record whose accounts, routes and alerts are theirs.
    rep_id          uuid references reps (id) on delete set null,
    oidc_issuer     text,
    oidc_subject    text,
    disabled        boolean not null default false,
    last_sign_in_at timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint users_email_key unique (email),
    constraint users_rep_id_key unique (rep_id),
    constraint users_oidc_key unique (oidc_issuer, oidc_subject)
);
create trigger users_touch before update on users
    for each row execute function terrane_touch_updated_at();

-- A manager's team of reps; a rep is in at most one team.
create table teams (
    id              uuid primary key default gen_random_uuid(),
    name            text not null check (length(name) between 1 and 200),
    manager_user_id uuid references users (id) on delete set null,
    created_at      timestamptz not null default now(),
    constraint teams_name_key unique (name)
);
create table team_members (
    team_id uuid not null references teams (id) on delete cascade,
    rep_id  uuid not null references reps (id) on delete cascade,
    primary key (team_id, rep_id),
    constraint team_members_rep_key unique (rep_id)
);

-- Append-only: the trigger below refuses UPDATE, DELETE and TRUNCATE for every role,
-- including the table's owner, so the application cannot rewrite history.
create table audit_log (
    id            bigint generated always as identity primary key,
    at            timestamptz not null default now(),
    actor_user_id uuid,
    action        text not null check (length(action) between 1 and 100),
    subject_type  text,
    subject_id    text,
    details       jsonb not null default '{}'
);
create index audit_log_at_idx on audit_log (at desc);

create function audit_log_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_log is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_log_no_update before update or delete on audit_log
    for each row execute function audit_log_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse_change();
revoke update, delete, truncate on audit_log from public;

-- Browser sessions (tower-sessions' PostgreSQL store reads and writes this table; created
-- here rather than at start-up so the server never runs DDL).
create table sessions (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);
create index sessions_expiry_idx on sessions (expiry_date);
