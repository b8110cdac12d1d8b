-- API tokens may expire; a token is also revoked when its creator stops being an enabled admin
-- (the revocation reason says why, for the tokens page and the audit log).
alter table api_tokens
    add column expires_at timestamptz,
    add column revoked_reason text check (length(revoked_reason) <= 100);
