insert into api_tokens (name, token_hash, display_prefix, scopes, created_by, expires_at)
values ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) returning id
