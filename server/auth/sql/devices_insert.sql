insert into device_tokens (user_id, token_hash, expires_at)
values ($1, $2, now() + make_interval(secs => $3)) returning expires_at
