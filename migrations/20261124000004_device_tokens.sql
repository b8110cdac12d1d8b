-- Short-lived tokens for reps' devices (location streams over WebSockets).

create table device_tokens (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid not null references users (id) on delete cascade,
    token_hash  bytea not null check (length(token_hash) = 32),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    constraint device_tokens_hash_key unique (token_hash)
);
create index device_tokens_user_idx on device_tokens (user_id) where revoked_at is null;
