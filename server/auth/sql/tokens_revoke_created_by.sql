update api_tokens set revoked_at = now(), revoked_reason = $2
where created_by = $1 and revoked_at is null returning id
