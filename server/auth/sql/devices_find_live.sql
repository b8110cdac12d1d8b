select d.id, d.user_id, d.expires_at from device_tokens d join users u on u.id = d.user_id
where d.token_hash = $1 and d.revoked_at is null and d.expires_at > now() and not u.disabled
