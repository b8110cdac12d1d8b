-- API tokens for machine clients: shown once at creation, stored only as a SHA-256 hash.

create table api_tokens (
    id            uuid primary key default gen_random_uuid(),
    name          text not null check (length(name) between 1 and 100),
    -- SHA-256 of the whole token; the token has 256 random bits, so a fast hash is enough.
    token_hash    bytea not null check (length(token_hash) = 32),
    -- The first characters, so admins can tell tokens apart without seeing them.
    display_prefix text not null,
    scopes        text[] not null check (cardinality(scopes) > 0),
    created_by    uuid references users (id) on delete set null,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    constraint api_tokens_hash_key unique (token_hash)
);
